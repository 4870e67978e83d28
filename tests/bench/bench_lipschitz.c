/* Benchmark: one JVP + one VJP of attention (the Lipschitz operator), separately and as the
 * one-sweep normal product J^T J u that power iteration and Lanczos use, against one forward
 * evaluation of the velocity (the particle solver's RHS kernel) at the same n, d, mask.
 * Prints seconds (best of -bench_repeat) and the ratio; asserts nothing.
 *   mfsa-mpiexec P bench_lipschitz [-bench_n 16384] [-attn_dim 3] [-attn_mask causal|none] */
#include <petscmat.h>
#include "attention_field.h"
#include "lipschitz.h"
#include "lipschitz_operator.h"
#include "init.h"

int main(int argc, char **argv)
{
  AttnModel      m;
  Mat            J, N;
  Vec            X, U, Y, G;
  AttnField      field;
  PairKeys       keys;
  PetscReal     *store, *xall, *vel, best_f = 1e30, best_jvp = 1e30, best_vjp = 1e30, best_n = 1e30;
  PetscInt       n = 16384, repeat = 3, lo, nloc;
  PetscScalar   *x;
  MfsaInitSpec   init = {.kind = MFSA_INIT_UNIFORM};
  PetscMPIInt    size;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_n", &n, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-bench_repeat", &repeat, NULL));
  PetscCall(AttnModelCreate(PETSC_COMM_WORLD, &m));
  m->geometry = MFSA_GEOMETRY_EUCLIDEAN;
  PetscCall(AttnModelSetFromOptions(m));
  PetscCall(AttnModelSetUp(m));
  PetscCall(LipschitzOperatorCreate(m, n, &J));
  PetscCall(LipschitzOperatorGetOwnership(J, &lo, &nloc));
  PetscCall(MatCreateVecs(J, &X, &Y));
  PetscCall(VecDuplicate(X, &U));
  PetscCall(VecDuplicate(X, &G));
  PetscCall(VecGetArrayWrite(X, &x));
  PetscCall(MfsaInitialTokens(m, &init, n, lo, nloc, x));
  PetscCall(VecRestoreArrayWrite(X, &x));
  PetscCall(VecCopy(X, U));
  PetscCall(LipschitzOperatorSetPoint(J, X));
  PetscCall(LipschitzOperatorCreateNormal(J, &N));

  /* the forward evaluation as the particle solver does it: gather + kernel for the local rows */
  PetscCall(PetscMalloc2(n * m->d, &xall, PetscMax(nloc, 1) * m->d, &vel));
  PetscCall(PairKeysAllocate(n, m->d, &keys, &store));
  PetscCall(AttnFieldCreate(m, PetscMax(nloc, 1), &field));
  for (PetscInt r = 0; r < repeat; r++) {
    PetscLogDouble t0, t1, t2, t3, t4;
    PetscInt       cnt = nloc * m->d;
    PetscMPIInt   *counts, *displs;
    PetscCall(PetscMalloc2(size, &counts, size, &displs));
    PetscCallMPI(MPI_Allgather(&cnt, 1, MPIU_INT, counts, 1, MPI_INT, PETSC_COMM_WORLD));
    displs[0] = 0;
    for (PetscMPIInt k = 1; k < size; k++) displs[k] = displs[k - 1] + counts[k - 1];
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    PetscCall(PetscTime(&t0));
    PetscCall(VecGetArray(X, &x));
    PetscCallMPI(MPI_Allgatherv(x, (PetscMPIInt)cnt, MPIU_REAL, xall, counts, displs, MPIU_REAL, PETSC_COMM_WORLD));
    for (PetscInt j = 0; j < n; j++)
      for (PetscInt a = 0; a < m->d; a++) store[a * keys.ld + j] = xall[j * m->d + a];
    PetscCall(AttnFieldEvaluate(field, &keys, lo, nloc, x, vel, NULL));
    PetscCall(VecRestoreArray(X, &x));
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    PetscCall(PetscTime(&t1));
    PetscCall(MatMult(J, U, Y));
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    PetscCall(PetscTime(&t2));
    PetscCall(MatMultTranspose(J, Y, G));
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    PetscCall(PetscTime(&t3));
    PetscCall(MatMult(N, U, G)); /* J^T J u in one sweep: what power iteration and Lanczos use */
    PetscCallMPI(MPI_Barrier(PETSC_COMM_WORLD));
    PetscCall(PetscTime(&t4));
    best_n   = PetscMin(best_n, t4 - t3);
    best_f   = PetscMin(best_f, t1 - t0);
    best_jvp = PetscMin(best_jvp, t2 - t1);
    best_vjp = PetscMin(best_vjp, t3 - t2);
    PetscCall(PetscFree2(counts, displs));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "lipschitz bench: n = %" PetscInt_FMT ", d = %" PetscInt_FMT ", heads = %" PetscInt_FMT ", mask %s, %d rank(s), best of %" PetscInt_FMT ": forward %.4f s, JVP %.4f s, VJP %.4f s, (JVP + VJP) / forward = %.2f; J^T J u in one sweep %.4f s, / forward = %.2f\n", n, m->d, m->heads, MfsaMaskNames[m->mask], size, repeat, best_f, best_jvp, best_vjp, (best_jvp + best_vjp) / best_f, best_n, best_n / best_f));
  PetscCall(AttnFieldDestroy(&field));
  PetscCall(PairKeysFree(&store));
  PetscCall(PetscFree2(xall, vel));
  PetscCall(VecDestroy(&X));
  PetscCall(VecDestroy(&U));
  PetscCall(VecDestroy(&Y));
  PetscCall(VecDestroy(&G));
  PetscCall(MatDestroy(&N));
  PetscCall(MatDestroy(&J));
  PetscCall(AttnModelDestroy(&m));
  PetscCall(PetscFinalize());
  return 0;
}
