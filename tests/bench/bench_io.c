/* Snapshot write bandwidth: the real particle snapshot path (MfsaOutputWriteParticles: parallel
 * HDF5 to a .tmp name, rename, XDMF index rewrite) for n tokens in d dimensions on all ranks of
 * `comm`, into the -out folder. Each repetition writes a new snapshot file; timed twice:
 *   - as a run pays it (data handed to the page cache; mfsa does not fsync snapshots),
 *   - plus an fsync of the file by rank 0 (durable, the figure to set against `dd conv=fsync`).
 * Bytes = the snapshot file's size. The `dd` reference runs in tests/bench/suite.py. */
#include "bench.h"
#include "output.h"
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

PetscErrorCode BenchSnapshot(MPI_Comm comm, const BenchTiming *tm, PetscInt n, PetscInt d)
{
  AttnModel          model;
  MfsaSolver         solver;
  MfsaOutput         out;
  MfsaParticleFrame  frame;
  const PetscScalar *x;
  PetscReal         *speed;
  PetscInt           lo, hi;
  PetscMPIInt        rank;
  PetscLogDouble     start, t0, t1, t2;
  double             best = 1e300, best_sync = 1e300, bytes = 0;
  long               reps = 0;
  const char        *folder;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(BenchSetInt("-n", n));
  PetscCall(BenchSetInt("-attn_dim", d));
  PetscCall(BenchBuildSolver(comm, &model, &solver));
  PetscCall(MfsaOutputCreate(comm, &out));
  PetscCall(MfsaOutputSetFromOptions(out));
  PetscCall(MfsaOutputSetUp(out));
  PetscCall(MfsaOutputGetFolder(out, &folder));
  PetscCall(VecGetOwnershipRange(solver->X, &lo, &hi));
  PetscCall(PetscCalloc1(PetscMax((hi - lo) / d, 1), &speed));
  PetscCall(VecGetArrayRead(solver->X, &x));
  frame.n     = n;
  frame.d     = d;
  frame.lo    = lo / d;
  frame.nloc  = (hi - lo) / d;
  frame.x     = x;
  frame.speed = speed;
  PetscCall(PetscTime(&start));
  do {
    char name[PETSC_MAX_PATH_LEN];
    int  err = 0;

    frame.time = (PetscReal)reps; /* a new time: a new file */
    frame.step = (PetscInt)reps;
    PetscCallMPI(MPI_Barrier(comm));
    PetscCall(PetscTime(&t0));
    PetscCall(MfsaOutputWriteParticles(out, &frame, &solver->provenance));
    PetscCallMPI(MPI_Barrier(comm));
    PetscCall(PetscTime(&t1));
    PetscCall(PetscSNPrintf(name, sizeof(name), "%s/snap_%06ld.h5", folder, reps));
    if (rank == 0) {
      struct stat st;
      int         fd = open(name, O_RDONLY);
      err = (fd < 0) || fsync(fd) || close(fd) || stat(name, &st);
      if (!err) bytes = (double)st.st_size;
    }
    PetscCallMPI(MPI_Bcast(&err, 1, MPI_INT, 0, comm));
    PetscCheck(!err, comm, PETSC_ERR_FILE_WRITE, "snapshot benchmark: cannot fsync/stat %s", name);
    PetscCallMPI(MPI_Barrier(comm));
    PetscCall(PetscTime(&t2));
    reps++;
    best      = PetscMin(best, t1 - t0);
    best_sync = PetscMin(best_sync, t2 - t0);
  } while (BenchKeepGoing(comm, tm, t2 - start, reps));
  PetscCallMPI(MPI_Bcast(&bytes, 1, MPI_DOUBLE, 0, comm));
  PetscCall(VecRestoreArrayRead(solver->X, &x));
  PetscCall(PetscPrintf(comm, "snapshot write (n = %" PetscInt_FMT ", d = %" PetscInt_FMT ", file %.1f MB, best of %ld): %.3f s = %.0f MB/s as a run pays it; with fsync %.3f s = %.0f MB/s\n", n, d, bytes / 1e6, reps, best, bytes / 1e6 / best, best_sync, bytes / 1e6 / best_sync));
  PetscCall(BenchJson(comm, tm, "{\"what\": \"snapshot\", \"n\": %d, \"d\": %d, \"bytes\": %.0f, \"reps\": %ld, \"seconds\": %.6g, \"seconds_fsync\": %.6g, \"mb_per_s\": %.6g, \"mb_per_s_fsync\": %.6g}", (int)n, (int)d, bytes, reps, best, best_sync, bytes / 1e6 / best, bytes / 1e6 / best_sync));
  PetscCall(PetscFree(speed));
  PetscCall(MfsaOutputDestroy(&out));
  PetscCall(MfsaSolverDestroy(&solver));
  PetscCall(AttnModelDestroy(&model));
  PetscFunctionReturn(0);
}
