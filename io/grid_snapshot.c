/* PDE grid snapshots: /pde/rho and /pde/velocity (S x M), /pde/mass, /pde/s, /pde/theta in one
 * HDF5 file per snapshot, written collectively (each rank its contiguous slices of the global
 * slice order). Numbering, tmp + rename and the XDMF entry are shared with the particle
 * snapshots (snapshot.c). */
#include "output_impl.h"
#include "h5_util.h"

/* Checks that the ranks' slice blocks tile [0, S) in rank order with the same S and M
 * everywhere, so the file is in global slice order whatever the rank count. Collective. */
static PetscErrorCode CheckGridFrame(MPI_Comm comm, const MfsaGridFrame *f)
{
  const PetscInt sizes[2] = {f->S, f->M};
  PetscInt64     total;
  PetscBool      ok;

  PetscFunctionBegin;
  PetscCall(MfsaCheckBlocks(comm, f->S, f->lo, f->nloc, 2, sizes, (f->M < 1) || (f->nloc && (!f->rho || !f->velocity || !f->mass)), &ok, &total));
  PetscCheck(ok, comm, PETSC_ERR_ARG_WRONG, "MfsaGridFrame: the ranks' slices [lo, lo+nloc) must tile [0, S) in rank order with rho, velocity and mass set, and S, M >= 1 equal on all ranks (S = %" PetscInt_FMT ", M = %" PetscInt_FMT ", sum of nloc = %" PetscInt64_FMT ")", f->S, f->M, total);
  PetscCheck(!PetscIsInfOrNanReal(f->time), comm, PETSC_ERR_FP, "MfsaGridFrame: time is not finite (%g)", (double)f->time);
  PetscFunctionReturn(0);
}

typedef struct {
  const MfsaGridFrame  *f;
  const MfsaProvenance *prov;
} GridWriteCtx;

static PetscErrorCode WriteGridFile(MfsaOutput out, const char *fname, const void *vctx)
{
  const GridWriteCtx   *ctx  = (const GridWriteCtx *)vctx;
  const MfsaGridFrame  *f    = ctx->f;
  const MfsaProvenance *prov = ctx->prov;
  MPI_Comm              comm = out->comm;
  PetscMPIInt           rank;
  hid_t                 file, group, dxpl;
  hsize_t               dims[2];
  PetscReal            *s, *theta = NULL;
  const hsize_t         lo = (hsize_t)f->lo, nloc = (hsize_t)f->nloc, S = (hsize_t)f->S, M = (hsize_t)f->M;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(MfsaSnapshotFileCreate(out, fname, f->time, f->step, prov, &file, &dxpl));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, file, "slices", (int64_t)f->S));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, file, "angles", (int64_t)f->M));

  MfsaH5Check(comm, fname, group = H5Gcreate2(file, "/pde", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  dims[0] = S;
  dims[1] = M;
  PetscCall(MfsaH5WriteRows(comm, fname, group, "rho", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, dims, lo, nloc, f->rho, dxpl));
  PetscCall(MfsaH5WriteRows(comm, fname, group, "velocity", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, dims, lo, nloc, f->velocity, dxpl));
  PetscCall(MfsaH5WriteRows(comm, fname, group, "mass", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, lo, nloc, f->mass, dxpl));

  /* Cell centres, so that analysis code never has to re-derive the grid convention. */
  PetscCall(PetscMalloc1(f->nloc, &s));
  for (PetscInt j = 0; j < f->nloc; j++) s[j] = ((PetscReal)(f->lo + j) + 0.5) / (PetscReal)f->S;
  PetscCall(MfsaH5WriteRows(comm, fname, group, "s", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, lo, nloc, s, dxpl));
  PetscCall(PetscFree(s));
  /* theta is not distributed: rank 0 supplies all of it, the others take part empty. */
  if (rank == 0) {
    PetscCall(PetscMalloc1(f->M, &theta));
    for (PetscInt k = 0; k < f->M; k++) theta[k] = ((PetscReal)k + 0.5) * 2 * PETSC_PI / (PetscReal)f->M;
  }
  dims[0] = M;
  PetscCall(MfsaH5WriteRows(comm, fname, group, "theta", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, 0, rank == 0 ? M : 0, theta, dxpl));
  PetscCall(PetscFree(theta));

  MfsaH5Check(comm, fname, H5Gclose(group));
  PetscCall(MfsaSnapshotFileClose(out, fname, file, dxpl));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputWriteGrid(MfsaOutput out, const MfsaGridFrame *f, const MfsaProvenance *prov)
{
  MfsaSnapshotEntry entry;
  GridWriteCtx      ctx;

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  MfsaValidPointer(f, 2);
  MfsaValidPointer(prov, 3);
  PetscCheck(out->setup, out->comm, PETSC_ERR_ORDER, "call MfsaOutputSetUp() before MfsaOutputWriteGrid()");
  MfsaH5Silence();
  PetscCall(CheckGridFrame(out->comm, f));
  PetscCall(PetscMemzero(&entry, sizeof(entry)));
  entry.kind = MFSA_SNAPSHOT_GRID;
  entry.time = f->time;
  entry.S    = f->S;
  entry.M    = f->M;
  ctx.f      = f;
  ctx.prov   = prov;
  PetscCall(MfsaOutputPublishSnapshot(out, &entry, WriteGridFile, &ctx));
  PetscFunctionReturn(0);
}
