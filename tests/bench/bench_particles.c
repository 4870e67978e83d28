/* Particle-solver figures, all through the solver's real TS right-hand side (so every option
 * the particle solver reads, e.g. the key exchange or the precision, is honoured as given):
 *   - kernel: ns per pair per core of one velocity evaluation = gather + queries + pair kernel
 *     + values + projection; the non-kernel part is O(n d^2), ~0.1 % at n = 16384, d = 3;
 *   - step:   seconds per fixed-step RK4 step (4 evaluations) on all ranks of `comm`;
 *   - velocity dump: x and the velocity x' = f(x) gathered to rank 0 and written as raw float64
 *     (n*d values of x, then n*d of x', row-major), for the NumPy cross-check.
 * Pairs are counted as the mask admits them: n^2 unmasked, n(n+1)/2 causal. */
#include "bench.h"
#include <stdio.h>

static double Pairs(PetscInt n, const char *mask)
{
  PetscBool causal;

  PetscStrcmpNoError(mask, "causal", &causal);
  return causal ? 0.5 * (double)n * ((double)n + 1) : (double)n * (double)n;
}

static PetscErrorCode SetParticleModel(PetscInt n, PetscInt d, const char *mask)
{
  PetscFunctionBegin;
  PetscCall(BenchSetInt("-n", n));
  PetscCall(BenchSetInt("-attn_dim", d));
  PetscCall(PetscOptionsSetValue(NULL, "-attn_mask", mask));
  PetscFunctionReturn(0);
}

PetscErrorCode BenchKernel(MPI_Comm comm, const BenchTiming *tm, PetscInt n, PetscInt ndims, const PetscInt dims[], PetscInt nmasks, char *masks[])
{
  PetscMPIInt size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  for (PetscInt m = 0; m < nmasks; m++)
    for (PetscInt k = 0; k < ndims; k++) {
      double seconds = 0, ns;
      long   reps    = 0;
      PetscCall(SetParticleModel(n, dims[k], masks[m]));
      PetscCall(BenchRhsTime(comm, tm, &seconds, &reps));
      ns = 1e9 * seconds * size / Pairs(n, masks[m]);
      PetscCall(PetscPrintf(comm, "pair kernel (one velocity evaluation, %s, d = %" PetscInt_FMT ", n = %" PetscInt_FMT ", %d rank%s): %.4f s (best of %ld), %.3f ns/pair/core\n", masks[m], dims[k], n, size, size > 1 ? "s" : "", seconds, reps, ns));
      PetscCall(BenchJson(comm, tm, "{\"what\": \"kernel\", \"n\": %d, \"d\": %d, \"mask\": \"%s\", \"ranks\": %d, \"seconds\": %.6g, \"reps\": %ld, \"ns_per_pair_core\": %.6g}", (int)n, (int)dims[k], masks[m], size, seconds, reps, ns));
    }
  PetscFunctionReturn(0);
}

PetscErrorCode BenchStep(MPI_Comm comm, const BenchTiming *tm, PetscInt n, PetscInt d, const char *mask)
{
  AttnModel      model;
  MfsaSolver     solver;
  PetscLogDouble start, t0, t1;
  PetscMPIInt    size;
  double         best = 1e300, ns;
  long           reps = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(SetParticleModel(n, d, mask));
  PetscCall(BenchBuildSolver(comm, &model, &solver));
  if (tm->warmup) PetscCall(TSStep(solver->ts));
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(PetscTime(&start));
  do {
    PetscCallMPI(MPI_Barrier(comm));
    PetscCall(PetscTime(&t0));
    PetscCall(TSStep(solver->ts));
    PetscCallMPI(MPI_Barrier(comm));
    PetscCall(PetscTime(&t1));
    reps++;
    best = PetscMin(best, t1 - t0);
  } while (BenchKeepGoing(comm, tm, t1 - start, reps));
  ns = 1e9 * best * size / (4.0 * Pairs(n, mask));
  PetscCall(PetscPrintf(comm, "particle RK4 step (%s, d = %" PetscInt_FMT ", n = %" PetscInt_FMT ", %d rank%s): %.4f s/step (best of %ld), %.3f steps/s, %.3f ns/pair/core\n", mask, d, n, size, size > 1 ? "s" : "", best, reps, 1.0 / best, ns));
  PetscCall(BenchJson(comm, tm, "{\"what\": \"step\", \"n\": %d, \"d\": %d, \"mask\": \"%s\", \"ranks\": %d, \"seconds\": %.6g, \"reps\": %ld, \"warmup\": %s, \"ns_per_pair_core\": %.6g}", (int)n, (int)d, mask, size, best, reps, tm->warmup ? "true" : "false", ns));
  PetscCall(MfsaSolverDestroy(&solver));
  PetscCall(AttnModelDestroy(&model));
  PetscFunctionReturn(0);
}

PetscErrorCode BenchVelocityDump(MPI_Comm comm, const char *path)
{
  AttnModel          model;
  MfsaSolver         solver;
  Vec                F, X0, F0;
  VecScatter         sc;
  PetscMPIInt        rank;
  PetscInt           N;
  const PetscScalar *x, *f;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(BenchBuildSolver(comm, &model, &solver));
  PetscCall(VecDuplicate(solver->X, &F));
  PetscCall(TSComputeRHSFunction(solver->ts, 0.0, solver->X, F));
  PetscCall(VecScatterCreateToZero(solver->X, &sc, &X0));
  PetscCall(VecDuplicate(X0, &F0));
  PetscCall(VecScatterBegin(sc, solver->X, X0, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sc, solver->X, X0, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterBegin(sc, F, F0, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sc, F, F0, INSERT_VALUES, SCATTER_FORWARD));
  if (rank == 0) {
    FILE *fp;
    PetscCall(VecGetSize(X0, &N));
    PetscCall(VecGetArrayRead(X0, &x));
    PetscCall(VecGetArrayRead(F0, &f));
    fp = fopen(path, "wb");
    PetscCheck(fp, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "-bench_velocity_out %s: cannot open for writing", path);
    PetscCheck(fwrite(x, sizeof(PetscScalar), (size_t)N, fp) == (size_t)N && fwrite(f, sizeof(PetscScalar), (size_t)N, fp) == (size_t)N, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "-bench_velocity_out %s: write failed", path);
    PetscCheck(fclose(fp) == 0, PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "-bench_velocity_out %s: close failed", path);
    PetscCall(VecRestoreArrayRead(F0, &f));
    PetscCall(VecRestoreArrayRead(X0, &x));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "velocity: wrote x and x' (%" PetscInt_FMT " float64 each) to %s\n", N, path));
  }
  PetscCall(VecScatterDestroy(&sc));
  PetscCall(VecDestroy(&X0));
  PetscCall(VecDestroy(&F0));
  PetscCall(VecDestroy(&F));
  PetscCall(MfsaSolverDestroy(&solver));
  PetscCall(AttnModelDestroy(&model));
  PetscFunctionReturn(0);
}
