/* HDF5 round trip: the particle solver's state, written as a snapshot by io/ (collective
 * MPI-IO), read back by an independent plain-HDF5 reader on rank 0, must equal the
 * in-memory Vec bit for bit; /particles/s and /particles/index must be (i+1)/n and i. */
#include <petscts.h>
#include <hdf5.h>
#include "solver.h"

static PetscErrorCode ReadDataset(const char *file, const char *name, hid_t memtype, void *buf)
{
  hid_t f, d;

  PetscFunctionBegin;
  f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
  PetscCheck(f >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_OPEN, "cannot open %s", file);
  d = H5Dopen2(f, name, H5P_DEFAULT);
  PetscCheck(d >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "no dataset %s in %s", name, file);
  PetscCheck(H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "read %s failed", name);
  H5Dclose(d);
  H5Fclose(f);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  AttnModel          model;
  MfsaSolver         solver;
  MfsaOutput         out;
  Vec                X0;
  VecScatter         scatter;
  PetscMPIInt        rank, size;
  char               folder[PETSC_MAX_PATH_LEN], file[PETSC_MAX_PATH_LEN + 32];
  const char        *build = getenv("MFSA_BUILD_DIR");
  const PetscInt     n = 37, d = 3;
  PetscInt           failures = 0;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCall(PetscSNPrintf(folder, sizeof(folder), "%s/tests/tmp/roundtrip_np%d", build ? build : ".", size));
  PetscCall(PetscOptionsSetValue(NULL, "-n", "37"));
  PetscCall(PetscOptionsSetValue(NULL, "-attn_qkv", "random"));
  PetscCall(PetscOptionsSetValue(NULL, "-attn_mask", "causal"));
  PetscCall(PetscOptionsSetValue(NULL, "-init", "gaussian"));
  PetscCall(PetscOptionsSetValue(NULL, "-geometry", "euclidean"));
  PetscCall(PetscOptionsSetValue(NULL, "-out", folder));
  PetscCall(PetscOptionsSetValue(NULL, "-out_overwrite", NULL));

  PetscCall(AttnModelCreate(PETSC_COMM_WORLD, &model));
  PetscCall(AttnModelSetFromOptions(model));
  PetscCall(AttnModelSetUp(model));
  PetscCall(MfsaSolverCreate(model, &solver));
  PetscCall(MfsaSolverSetFromOptions(solver));
  PetscCall(MfsaSolverSetUp(solver));
  PetscCall(MfsaOutputCreate(PETSC_COMM_WORLD, &out));
  PetscCall(MfsaOutputSetFromOptions(out));
  PetscCall(MfsaOutputSetUp(out));
  /* take a few steps so the state is not just the initial draw */
  for (int k = 0; k < 3; k++) PetscCall(TSStep(solver->ts));
  PetscCall((*solver->ops.output)(solver, out, 3, 0.01, 0.0));

  PetscCall(VecScatterCreateToZero(solver->X, &scatter, &X0));
  PetscCall(VecScatterBegin(scatter, solver->X, X0, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(scatter, solver->X, X0, INSERT_VALUES, SCATTER_FORWARD));
  if (rank == 0) {
    const PetscScalar *x;
    double            *xf, *s;
    long long         *idx;
    PetscCall(PetscMalloc3(n * d, &xf, n, &s, n, &idx));
    PetscCall(PetscSNPrintf(file, sizeof(file), "%s/snap_000000.h5", folder));
    PetscCall(ReadDataset(file, "/particles/x", H5T_NATIVE_DOUBLE, xf));
    PetscCall(ReadDataset(file, "/particles/s", H5T_NATIVE_DOUBLE, s));
    PetscCall(ReadDataset(file, "/particles/index", H5T_NATIVE_LLONG, idx));
    PetscCall(VecGetArrayRead(X0, &x));
    for (PetscInt k = 0; k < n * d; k++)
      if (memcmp(&x[k], &xf[k], sizeof(double))) failures++;
    for (PetscInt i = 0; i < n; i++) {
      if (idx[i] != i) failures++;
      if (s[i] != (double)(i + 1) / (double)n) failures++;
    }
    PetscCall(VecRestoreArrayRead(X0, &x));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "round trip on %d ranks: %d mismatches in x, s, index (n = %d, d = %d)\n", size, (int)failures, (int)n, (int)d));
    PetscCall(PetscFree3(xf, s, idx));
  }
  PetscCallMPI(MPI_Bcast(&failures, 1, MPIU_INT, 0, PETSC_COMM_WORLD));
  PetscCall(VecScatterDestroy(&scatter));
  PetscCall(VecDestroy(&X0));
  PetscCall(MfsaOutputDestroy(&out));
  PetscCall(MfsaSolverDestroy(&solver));
  PetscCall(AttnModelDestroy(&model));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
