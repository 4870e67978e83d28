/* Snapshots: one HDF5 file per snapshot, written collectively by all ranks (each its
 * contiguous rows of the global order), under a temporary name that is renamed only once
 * the file is complete, then the XDMF index is rewritten. This file holds the part all
 * snapshot kinds share (numbering, tmp + rename, index entry, block check) and the particle
 * file itself; the PDE grid file is in grid_snapshot.c. */
#define _POSIX_C_SOURCE 200809L
#include "output_impl.h"
#include "h5_util.h"
#include "provenance.h"
#include "reliability.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Shared by every snapshot kind (see output_impl.h): one verdict for all ranks, so a bad
 * decomposition fails collectively instead of leaving ranks waiting in the HDF5 writes. */
PetscErrorCode MfsaCheckBlocks(MPI_Comm comm, PetscInt n, PetscInt lo, PetscInt nloc, PetscInt nsizes, const PetscInt sizes[], PetscBool localbad, PetscBool *ok, PetscInt64 *total)
{
  PetscInt64  mine[2], expect_lo = 0;
  PetscInt    bad, anybad, lohi[2 * 4], glohi[2 * 4];
  PetscMPIInt rank;

  PetscFunctionBegin;
  PetscCheck(nsizes >= 0 && nsizes <= 4, PETSC_COMM_SELF, PETSC_ERR_PLIB, "MfsaCheckBlocks: at most 4 sizes");
  bad     = localbad || !(n >= 1 && lo >= 0 && nloc >= 0 && lo + nloc <= n);
  mine[0] = lo;
  mine[1] = nloc;
  PetscCallMPI(MPI_Exscan(&mine[1], &expect_lo, 1, MPIU_INT64, MPI_SUM, comm));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) expect_lo = 0;
  if (mine[0] != expect_lo) bad = 1;
  PetscCall(MPIU_Allreduce(&mine[1], total, 1, MPIU_INT64, MPI_SUM, comm));
  PetscCall(MPIU_Allreduce(&bad, &anybad, 1, MPIU_INT, MPI_MAX, comm));
  /* max(-size) = -min(size): one reduction tells whether all ranks agree on every size,
   * so no rank can pass the check while another one fails it. */
  for (PetscInt i = 0; i < nsizes; i++) {
    lohi[2 * i]     = sizes[i];
    lohi[2 * i + 1] = -sizes[i];
  }
  if (nsizes) PetscCall(MPIU_Allreduce(lohi, glohi, (PetscMPIInt)(2 * nsizes), MPIU_INT, MPI_MAX, comm));
  for (PetscInt i = 0; i < nsizes; i++)
    if (glohi[2 * i] != -glohi[2 * i + 1]) anybad = 1;
  *ok = (!anybad && *total == n) ? PETSC_TRUE : PETSC_FALSE;
  PetscFunctionReturn(0);
}

/* Checks that the ranks' blocks tile [0, n) in rank order, so the file is in global token
 * order whatever the rank count. Collective; every rank reaches the same verdict. */
static PetscErrorCode CheckFrame(MPI_Comm comm, const MfsaParticleFrame *f)
{
  const PetscInt sizes[2] = {f->n, f->d};
  PetscInt64     total;
  PetscBool      ok;

  PetscFunctionBegin;
  PetscCall(MfsaCheckBlocks(comm, f->n, f->lo, f->nloc, 2, sizes, (f->d < 1) || (f->nloc && !f->x) || (f->nloc && !f->speed), &ok, &total));
  PetscCheck(ok, comm, PETSC_ERR_ARG_WRONG, "MfsaParticleFrame: the ranks' rows [lo, lo+nloc) must tile [0, n) in rank order with x and speed set, and n, d >= 1 equal on all ranks (n = %" PetscInt_FMT ", d = %" PetscInt_FMT ", sum of nloc = %" PetscInt64_FMT ")", f->n, f->d, total);
  PetscCheck(!PetscIsInfOrNanReal(f->time), comm, PETSC_ERR_FP, "MfsaParticleFrame: time is not finite (%g)", (double)f->time);
  PetscFunctionReturn(0);
}

typedef struct {
  const MfsaParticleFrame *f;
  const MfsaProvenance    *prov;
} ParticleWriteCtx;

static PetscErrorCode WriteParticleFile(MfsaOutput out, const char *fname, const void *vctx)
{
  const ParticleWriteCtx  *ctx  = (const ParticleWriteCtx *)vctx;
  const MfsaParticleFrame *f    = ctx->f;
  const MfsaProvenance    *prov = ctx->prov;
  MPI_Comm                 comm = out->comm;
  hid_t       file, group, dxpl;
  hsize_t     dims[2];
  PetscReal  *s, *xyz = NULL;
  int64_t    *index;
  const hsize_t lo = (hsize_t)f->lo, nloc = (hsize_t)f->nloc, n = (hsize_t)f->n, d = (hsize_t)f->d;

  PetscFunctionBegin;
  PetscCall(MfsaSnapshotFileCreate(out, fname, f->time, f->step, prov, &file, &dxpl));

  MfsaH5Check(comm, fname, group = H5Gcreate2(file, "/particles", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  dims[0] = n;
  dims[1] = d;
  PetscCall(MfsaH5WriteRows(comm, fname, group, "x", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, dims, lo, nloc, f->x, dxpl));

  PetscCall(PetscMalloc2(f->nloc, &s, f->nloc, &index));
  for (PetscInt i = 0; i < f->nloc; i++) {
    const PetscInt64 g = (PetscInt64)f->lo + i;
    s[i]               = (PetscReal)(g + 1) / (PetscReal)f->n; /* token position in (0, 1] */
    index[i]           = (int64_t)g;
  }
  PetscCall(MfsaH5WriteRows(comm, fname, group, "s", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, lo, nloc, s, dxpl));
  PetscCall(MfsaH5WriteRows(comm, fname, group, "index", H5T_NATIVE_INT64, H5T_STD_I64LE, 1, dims, lo, nloc, index, dxpl));
  PetscCall(MfsaH5WriteRows(comm, fname, group, "speed", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, lo, nloc, f->speed, dxpl));
  PetscCall(PetscFree2(s, index));

  /* ParaView wants 3-D points: a zero-padded / truncated copy keeps the XDMF geometry
   * XYZ for every d, while /particles/x stays the exact state. */
  if (f->d != 3) {
    PetscCall(PetscCalloc1(3 * f->nloc, &xyz));
    for (PetscInt i = 0; i < f->nloc; i++)
      for (PetscInt c = 0; c < PetscMin(f->d, 3); c++) xyz[3 * i + c] = f->x[i * f->d + c];
    dims[1] = 3;
    PetscCall(MfsaH5WriteRows(comm, fname, group, "xyz", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, dims, lo, nloc, xyz, dxpl));
    PetscCall(PetscFree(xyz));
  }
  MfsaH5Check(comm, fname, H5Gclose(group));
  PetscCall(MfsaSnapshotFileClose(out, fname, file, dxpl));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSnapshotFileCreate(MfsaOutput out, const char *fname, PetscReal time, PetscInt step, const MfsaProvenance *prov, hid_t *file, hid_t *dxpl)
{
  MPI_Comm    comm = out->comm;
  PetscMPIInt size, rank;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCall(MfsaH5CreateParallel(comm, fname, file));
  PetscCall(MfsaH5CreateDxpl(comm, fname, PETSC_TRUE, dxpl));
  PetscCall(MfsaH5WriteAttrDouble(comm, fname, *file, "time", (double)time));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, *file, "step", (int64_t)step));
  PetscCall(MfsaH5WriteProvenance(comm, fname, *file, *file, prov, size, rank == 0 ? PETSC_TRUE : PETSC_FALSE, *dxpl));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSnapshotFileClose(MfsaOutput out, const char *fname, hid_t file, hid_t dxpl)
{
  PetscFunctionBegin;
  MfsaH5Check(out->comm, fname, H5Pclose(dxpl));
  MfsaH5Check(out->comm, fname, H5Fclose(file));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputPublishSnapshot(MfsaOutput out, const MfsaSnapshotEntry *entry, MfsaSnapshotWriteFn write, const void *ctx)
{
  static const char *kindname[] = {"no", "particle", "grid (PDE)"};
  PetscMPIInt        rank;
  PetscInt           number, slot;
  char               name[MFSA_OUTPUT_NAME_MAX], fname[PETSC_MAX_PATH_LEN], tmpname[PETSC_MAX_PATH_LEN];
  char               msg[2 * PETSC_MAX_PATH_LEN] = "";
  PetscErrorCode     code = 0;

  PetscFunctionBegin;
  PetscCheck(entry->kind == MFSA_SNAPSHOT_PARTICLES || entry->kind == MFSA_SNAPSHOT_GRID, out->comm, PETSC_ERR_PLIB, "unknown snapshot kind %d", (int)entry->kind);
  PetscCheck(out->kind == MFSA_SNAPSHOT_NONE || out->kind == entry->kind, out->comm, PETSC_ERR_ORDER, "-out %s: this run already wrote %s snapshots and cannot add %s snapshots to the same index; a run writes one kind of snapshot (particles or grid), so write the other kind to another -out folder", out->folder, kindname[out->kind], kindname[entry->kind]);
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));

  /* A second snapshot at the same time (e.g. the final state landing on an output time)
   * replaces the previous one under the same file name, so the index never holds a time
   * twice and no orphan file is left behind. */
  if (out->nsnap > 0 && out->snaps[out->nsnap - 1].time == entry->time) {
    slot   = out->nsnap - 1;
    number = out->snaps[slot].number;
  } else {
    slot   = out->nsnap;
    number = out->nsnap_files;
  }
  PetscCheck(number <= 999999, out->comm, PETSC_ERR_SUP, "-out %s: more than 1000000 snapshots; raise -out_dt", out->folder);
  PetscCall(PetscSNPrintf(name, sizeof(name), "snap_%06" PetscInt_FMT ".h5", number));
  PetscCall(MfsaPathJoin(out->comm, out->folder, name, fname, sizeof(fname)));
  PetscCall(PetscSNPrintf(tmpname, sizeof(tmpname), "%s.tmp", fname));

  {
    char what[MFSA_OUTPUT_NAME_MAX + 64];
    MfsaFormat(what, sizeof(what), "snapshot %s (t = %.17g)", name, (double)entry->time);
    /* a failed write (disk full, ulimit -f) removes the temporary and ends the run; the files
     * published before and the index stay as they were */
    PetscCall(MfsaCollectiveWrite(out, what, tmpname, write, ctx));
  }
  /* H5Fclose is collective, but the barrier makes it explicit that no rank still writes
   * when rank 0 publishes the file under its real name. */
  PetscCallMPI(MPI_Barrier(out->comm));
  if (rank == 0 && rename(tmpname, fname)) {
    code = PETSC_ERR_FILE_WRITE;
    MfsaFormat(msg, sizeof(msg), "-out %s: cannot rename %s to %s (%s)", out->folder, tmpname, fname, strerror(errno));
    (void)unlink(tmpname);
  }
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, out->comm, code, "%s", msg);

  if (slot == out->nsnap) {
    if (out->nsnap == out->maxsnap) {
      MfsaSnapshotEntry *grown;
      out->maxsnap = PetscMax(16, 2 * out->maxsnap);
      PetscCall(PetscMalloc1(out->maxsnap, &grown));
      if (out->nsnap) PetscCall(PetscArraycpy(grown, out->snaps, out->nsnap));
      PetscCall(PetscFree(out->snaps));
      out->snaps = grown;
    }
    out->nsnap++;
    out->nsnap_files++;
  }
  out->snaps[slot]        = *entry;
  out->snaps[slot].number = number;
  out->kind               = entry->kind;
  PetscCall(MfsaOutputWriteXdmf(out));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputWriteParticles(MfsaOutput out, const MfsaParticleFrame *f, const MfsaProvenance *prov)
{
  MfsaSnapshotEntry entry;
  ParticleWriteCtx  ctx;

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  MfsaValidPointer(f, 2);
  MfsaValidPointer(prov, 3);
  PetscCheck(out->setup, out->comm, PETSC_ERR_ORDER, "call MfsaOutputSetUp() before MfsaOutputWriteParticles()");
  MfsaH5Silence();
  PetscCall(CheckFrame(out->comm, f));
  PetscCall(PetscMemzero(&entry, sizeof(entry)));
  entry.kind = MFSA_SNAPSHOT_PARTICLES;
  entry.time = f->time;
  entry.n    = f->n;
  entry.d    = f->d;
  ctx.f      = f;
  ctx.prov   = prov;
  PetscCall(MfsaOutputPublishSnapshot(out, &entry, WriteParticleFile, &ctx));
  PetscFunctionReturn(0);
}
