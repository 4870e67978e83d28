/* Private state of MfsaOutput, shared by the io/ files that implement output.h.
 * Nothing outside io/ may include this. */
#pragma once
#include "output.h"
#include <hdf5.h>

/* What a snapshot file holds. A run writes one kind only: the XDMF index is one temporal
 * collection of one grid type, and ParaView cannot animate a mix of point clouds and images. */
typedef enum {
  MFSA_SNAPSHOT_NONE = 0, /* no snapshot written yet */
  MFSA_SNAPSHOT_PARTICLES,
  MFSA_SNAPSHOT_GRID
} MfsaSnapshotKind;

/* One entry of the XDMF temporal collection. Kept on every rank (it is tiny) so that every
 * rank takes the same decision about which file number a new snapshot gets. */
typedef struct {
  MfsaSnapshotKind kind;
  PetscReal        time;
  PetscInt         number; /* the NNNNNN of snap_NNNNNN.h5 */
  PetscInt         n, d;   /* particles: tokens, state dimension */
  PetscInt         S, M;   /* grid: position slices, angles */
} MfsaSnapshotEntry;

struct _p_MfsaOutput {
  MPI_Comm  comm; /* PetscCommDuplicate of the user's comm: our broadcasts never match theirs */
  char      folder[PETSC_MAX_PATH_LEN];
  PetscReal out_dt; /* 0: only the first and last state */
  PetscBool overwrite;
  PetscBool restart; /* the folder holds this run's own earlier output: keep it (checkpoint restart) */
  PetscBool setup;

  MfsaSnapshotKind   kind;        /* of this run's snapshots; NONE until the first one */
  PetscInt           nsnap_files; /* file numbers handed out so far */
  PetscInt           nsnap, maxsnap;
  MfsaSnapshotEntry *snaps;

  /* Diagnostics table. The column names are fixed by the first row and kept on every rank
   * (so a changed column set fails on all ranks alike, without communication); the values,
   * row-major nrows x ncols, are kept on rank 0 only: the other ranks keep nrows = 0. */
  PetscInt   ncols;
  char     **colnames;
  PetscInt   nrows, maxrows;
  PetscReal *rowvalues;
};

/* Longest file name we append to the folder ("/snap_000000.h5.tmp", "/diagnostics.h5.tmp"),
 * so the folder check in SetFromOptions guarantees every path fits in PETSC_MAX_PATH_LEN. */
#define MFSA_OUTPUT_NAME_MAX 48

/* io/snapshot.c: collective. Checks that the ranks' blocks [lo, lo+nloc) tile [0, n) in rank
 * order and that every rank passes the same global sizes sizes[0..nsizes) (n among them);
 * localbad flags a rank-local problem (e.g. a NULL array with nloc > 0). Every rank gets the
 * same *ok, so the caller can fail collectively with its own message; *total is the sum of nloc. */
PetscErrorCode MfsaCheckBlocks(MPI_Comm comm, PetscInt n, PetscInt lo, PetscInt nloc, PetscInt nsizes, const PetscInt sizes[], PetscBool localbad, PetscBool *ok, PetscInt64 *total);

/* io/snapshot.c: collective. The part every snapshot kind shares: picks the file number
 * (a snapshot at the same time as the previous one replaces it under the same number),
 * calls write(out, tmpname, ctx) to write the whole file under <name>.tmp, renames it into
 * place, records `entry` (kind, time and sizes; the number is filled in here) and rewrites
 * the XDMF index. Fails if the run already wrote snapshots of another kind. */
typedef PetscErrorCode (*MfsaSnapshotWriteFn)(MfsaOutput out, const char *tmpname, const void *ctx);
PetscErrorCode MfsaOutputPublishSnapshot(MfsaOutput out, const MfsaSnapshotEntry *entry, MfsaSnapshotWriteFn write, const void *ctx);

/* io/snapshot.c: collective. Every snapshot file starts alike (MPI-IO create, collective
 * transfer list, root attributes time and step, provenance) and ends alike. */
PetscErrorCode MfsaSnapshotFileCreate(MfsaOutput out, const char *fname, PetscReal time, PetscInt step, const MfsaProvenance *prov, hid_t *file, hid_t *dxpl);
PetscErrorCode MfsaSnapshotFileClose(MfsaOutput out, const char *fname, hid_t file, hid_t dxpl);

/* io/xdmf.c: rank 0 rewrites <folder>/mfsa.xmf from out->snaps. Collective (error broadcast). */
PetscErrorCode MfsaOutputWriteXdmf(MfsaOutput);

/* io/diagnostics_table.c: collective; rank 0 rewrites <folder>/diagnostics.h5 from its rows. */
PetscErrorCode MfsaOutputWriteDiagnosticsTable(MfsaOutput, const MfsaProvenance *);

/* io/diagnostics_table.c: forgets the column set and the rows (SetUp starts a new table; Destroy). */
PetscErrorCode MfsaOutputResetDiagnostics(MfsaOutput);
