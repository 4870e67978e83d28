/* Writer of lipschitz.h5 (layout in lipschitz_table.h). Serial HDF5 on rank 0. */
#include "lipschitz_table.h"
#include "h5_util.h"
#include "provenance.h"
#include "rank0_file.h"

typedef struct {
  PetscInt                  ntables;
  const MfsaLipschitzTable *tables;
  const MfsaProvenance     *prov;
  PetscMPIInt               ranks;
} LipWrite;

static PetscErrorCode WriteLipschitz(const char *fname, void *ctx)
{
  const LipWrite *lw   = (const LipWrite *)ctx;
  const MPI_Comm  comm = PETSC_COMM_SELF;
  hid_t           file, fapl, top;

  PetscFunctionBegin;
  PetscCall(MfsaH5SerialFapl(comm, fname, &fapl));
  MfsaH5Check(comm, fname, file = H5Fcreate(fname, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  MfsaH5Check(comm, fname, H5Pclose(fapl));
  PetscCall(MfsaH5WriteProvenance(comm, fname, file, file, lw->prov, lw->ranks, PETSC_TRUE, H5P_DEFAULT));
  PetscCall(MfsaH5WriteAttrString(comm, fname, file, "kind", "lipschitz"));
  MfsaH5Check(comm, fname, top = H5Gcreate2(file, "lipschitz", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  for (PetscInt t = 0; t < lw->ntables; t++) {
    const MfsaLipschitzTable *tb      = &lw->tables[t];
    const hsize_t             dims[1] = {(hsize_t)tb->rows};
    const struct {
      const char      *name;
      const PetscReal *col;
    } real_cols[] = {
      {"estimate", tb->estimate}, {"residual", tb->residual}, {"upper_bound", tb->upper_bound}, {"radius", tb->radius}, {"seconds", tb->seconds}
    };
    hid_t g;
    MfsaH5Check(comm, fname, g = H5Gcreate2(top, tb->family, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    PetscCall(MfsaH5WriteRows(comm, fname, g, "n", H5T_NATIVE_INT64, H5T_STD_I64LE, 1, dims, 0, dims[0], tb->n, H5P_DEFAULT));
    PetscCall(MfsaH5WriteRows(comm, fname, g, "iterations", H5T_NATIVE_INT64, H5T_STD_I64LE, 1, dims, 0, dims[0], tb->iterations, H5P_DEFAULT));
    for (size_t c = 0; c < sizeof(real_cols) / sizeof(real_cols[0]); c++) PetscCall(MfsaH5WriteRows(comm, fname, g, real_cols[c].name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, 0, dims[0], real_cols[c].col, H5P_DEFAULT));
    PetscCall(MfsaH5WriteAttrString(comm, fname, g, "family", tb->family));
    PetscCall(MfsaH5WriteAttrDouble(comm, fname, g, "beta", lw->prov->beta));
    PetscCall(MfsaH5WriteAttrDouble(comm, fname, g, "norm_B", tb->norm_B));
    PetscCall(MfsaH5WriteAttrDouble(comm, fname, g, "norm_V", tb->norm_V));
    PetscCall(MfsaH5WriteAttrDouble(comm, fname, g, "crossover_n", tb->crossover_n));
    PetscCall(MfsaH5WriteAttrDouble(comm, fname, g, "radius", tb->radius_family));
    PetscCall(MfsaH5WriteAttrDouble(comm, fname, g, "slope", tb->slope));
    PetscCall(MfsaH5WriteAttrDouble(comm, fname, g, "tol", tb->tol));
    PetscCall(MfsaH5WriteAttrInt64(comm, fname, g, "max_it", tb->max_it));
    PetscCall(MfsaH5WriteAttrInt64(comm, fname, g, "d", lw->prov->d));
    PetscCall(MfsaH5WriteAttrInt64(comm, fname, g, "heads", lw->prov->heads));
    PetscCall(MfsaH5WriteAttrString(comm, fname, g, "mask", lw->prov->mask));
    PetscCall(MfsaH5WriteAttrString(comm, fname, g, "norm", lw->prov->norm));
    PetscCall(MfsaH5WriteAttrString(comm, fname, g, "geometry", lw->prov->geometry));
    MfsaH5Check(comm, fname, H5Gclose(g));
  }
  MfsaH5Check(comm, fname, H5Gclose(top));
  MfsaH5Check(comm, fname, H5Fclose(file));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputWriteLipschitz(MfsaOutput out, PetscInt ntables, const MfsaLipschitzTable tables[], const MfsaProvenance *prov)
{
  LipWrite lw = {ntables, tables, prov, 0};

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  MfsaValidPointer(prov, 4);
  PetscCheck(out->setup, out->comm, PETSC_ERR_ORDER, "call MfsaOutputSetUp() before MfsaOutputWriteLipschitz()");
  MfsaH5Silence();
  PetscCallMPI(MPI_Comm_size(out->comm, &lw.ranks));
  PetscCall(MfsaOutputWriteRank0File(out, "lipschitz.h5", WriteLipschitz, &lw));
  PetscFunctionReturn(0);
}
