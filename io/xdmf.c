/* The XDMF index <folder>/mfsa.xmf that ParaView opens: a temporal collection with one grid
 * per snapshot file, Polyvertex point clouds (particles) or 3DCoRectMesh images (PDE).
 * Rewritten whole after every snapshot (tmp + rename) so a reader never sees a half-written
 * index. */
#define _POSIX_C_SOURCE 200809L
#include "output_impl.h"
#include "h5_util.h"
#include "reliability.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void WriteDataItem(FILE *fp, const char *indent, const char *dims, const char *type, const char *file, const char *dataset)
{
  fprintf(fp, "%s<DataItem Dimensions=\"%s\" NumberType=\"%s\" Precision=\"8\" Format=\"HDF\">%s:%s</DataItem>\n", indent, dims, type, file, dataset);
}

static void WriteAttribute(FILE *fp, const char *name, const char *dims, const char *type, const char *file, const char *dataset)
{
  fprintf(fp, "        <Attribute Name=\"%s\" AttributeType=\"Scalar\" Center=\"Node\">\n", name);
  WriteDataItem(fp, "          ", dims, type, file, dataset);
  fprintf(fp, "        </Attribute>\n");
}

/* A particle snapshot: a Polyvertex point cloud with s, index and speed on the points. */
static void WriteParticleEntry(FILE *fp, const MfsaSnapshotEntry *s, const char *file)
{
  char dims1[32], dims3[64];

  MfsaFormat(dims1, sizeof(dims1), "%" PetscInt_FMT, s->n);
  MfsaFormat(dims3, sizeof(dims3), "%" PetscInt_FMT " 3", s->n);
  /* explicit connectivity (the global index): ParaView's Xdmf3 reader builds no cells
   * for a Polyvertex topology without it, and then draws nothing */
  fprintf(fp, "        <Topology TopologyType=\"Polyvertex\" NumberOfElements=\"%" PetscInt_FMT "\" NodesPerElement=\"1\">\n", s->n);
  WriteDataItem(fp, "          ", dims1, "Int", file, "/particles/index");
  fprintf(fp, "        </Topology>\n");
  fprintf(fp, "        <Geometry GeometryType=\"XYZ\">\n");
  WriteDataItem(fp, "          ", dims3, "Float", file, s->d == 3 ? "/particles/x" : "/particles/xyz");
  fprintf(fp, "        </Geometry>\n");
  WriteAttribute(fp, "s", dims1, "Float", file, "/particles/s");
  WriteAttribute(fp, "index", dims1, "Int", file, "/particles/index");
  WriteAttribute(fp, "speed", dims1, "Float", file, "/particles/speed");
}

/* A PDE snapshot: the S x M cell-centre grid as a one-layer 3-D image. XDMF lists origin,
 * spacing and dimensions in Z Y X order and the fastest-varying index is X, so the row-major
 * S x M datasets put theta along X and s along Y: the s x theta plane is the X-Y plane that
 * ParaView shows by default (a 2DCoRectMesh would land in the Y-Z plane). The datasets are
 * S x M; the DataItems say "1 S M" (same number of values, same order) because the reader
 * wants attribute dimensions equal to the topology's. */
static void WriteGridEntry(FILE *fp, const MfsaSnapshotEntry *s, const char *file)
{
  char dims[64];

  MfsaFormat(dims, sizeof(dims), "1 %" PetscInt_FMT " %" PetscInt_FMT, s->S, s->M);
  fprintf(fp, "        <Topology TopologyType=\"3DCoRectMesh\" Dimensions=\"%s\"/>\n", dims);
  fprintf(fp, "        <Geometry GeometryType=\"ORIGIN_DXDYDZ\">\n");
  fprintf(fp, "          <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">0 %.17g %.17g</DataItem>\n", 0.5 / (double)s->S, PETSC_PI / (double)s->M);
  fprintf(fp, "          <DataItem Dimensions=\"3\" NumberType=\"Float\" Precision=\"8\" Format=\"XML\">1 %.17g %.17g</DataItem>\n", 1.0 / (double)s->S, 2 * PETSC_PI / (double)s->M);
  fprintf(fp, "        </Geometry>\n");
  WriteAttribute(fp, "rho", dims, "Float", file, "/pde/rho");
  WriteAttribute(fp, "velocity", dims, "Float", file, "/pde/velocity");
}

/* Returns 0 or an errno. File names are relative to the index (same folder) so the
 * folder can be moved or copied as a whole. All entries have the same kind (snapshot.c
 * refuses a second kind). */
static int WriteIndex(const char *path, const MfsaSnapshotEntry *snaps, PetscInt nsnap)
{
  FILE *fp = fopen(path, "w");
  int   e;

  if (!fp) return errno ? errno : EIO;
  fprintf(fp, "<?xml version=\"1.0\" ?>\n");
  fprintf(fp, "<Xdmf Version=\"3.0\">\n");
  fprintf(fp, "  <Domain>\n");
  fprintf(fp, "    <Grid Name=\"%s\" GridType=\"Collection\" CollectionType=\"Temporal\">\n", nsnap && snaps[0].kind == MFSA_SNAPSHOT_GRID ? "pde" : "particles");
  for (PetscInt i = 0; i < nsnap; i++) {
    const MfsaSnapshotEntry *s = &snaps[i];
    char                     file[64];

    MfsaFormat(file, sizeof(file), "snap_%06" PetscInt_FMT ".h5", s->number);
    fprintf(fp, "      <Grid Name=\"snap_%06" PetscInt_FMT "\" GridType=\"Uniform\">\n", s->number);
    /* %.17g round-trips a double exactly: the index time is the file's time attribute. */
    fprintf(fp, "        <Time Value=\"%.17g\"/>\n", (double)s->time);
    if (s->kind == MFSA_SNAPSHOT_GRID) WriteGridEntry(fp, s, file);
    else WriteParticleEntry(fp, s, file);
    fprintf(fp, "      </Grid>\n");
  }
  fprintf(fp, "    </Grid>\n");
  fprintf(fp, "  </Domain>\n");
  fprintf(fp, "</Xdmf>\n");
  /* A full disk shows up at fflush/fclose, not at fprintf. */
  e = ferror(fp) ? (errno ? errno : EIO) : 0;
  if (fclose(fp) && !e) e = errno ? errno : EIO;
  return e;
}

PetscErrorCode MfsaOutputWriteXdmf(MfsaOutput out)
{
  PetscMPIInt    rank;
  PetscErrorCode code = 0;
  char           path[PETSC_MAX_PATH_LEN], tmp[PETSC_MAX_PATH_LEN], msg[2 * PETSC_MAX_PATH_LEN] = "";

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "mfsa.xmf", path, sizeof(path)));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "mfsa.xmf.tmp", tmp, sizeof(tmp)));
  if (rank == 0) {
    int e;
    errno = 0;
    if ((e = WriteIndex(tmp, out->snaps, out->nsnap))) {
      char cause[1024];
      code = PETSC_ERR_FILE_WRITE;
      MfsaWriteFailureCause(out->folder, tmp, strerror(e), cause, sizeof(cause));
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot write the XDMF index %s: %s. The temporary file was removed; %s still lists the earlier snapshots", out->folder, tmp, cause, path);
    } else if (rename(tmp, path)) {
      code = PETSC_ERR_FILE_WRITE;
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot rename %s to %s (%s)", out->folder, tmp, path, strerror(errno));
      (void)unlink(tmp);
    }
  }
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, out->comm, code, "%s", msg);
  PetscFunctionReturn(0);
}
