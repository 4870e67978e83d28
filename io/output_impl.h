/* Private state of MfsaOutput, shared by the io/ files that implement output.h.
 * Nothing outside io/ may include this. */
#pragma once
#include "output.h"

/* One entry of the XDMF temporal collection. Kept on every rank (it is tiny) so that every
 * rank takes the same decision about which file number a new snapshot gets. */
typedef struct {
  PetscReal time;
  PetscInt  number; /* the NNNNNN of snap_NNNNNN.h5 */
  PetscInt  n, d;
} MfsaSnapshotEntry;

struct _p_MfsaOutput {
  MPI_Comm  comm; /* PetscCommDuplicate of the user's comm: our broadcasts never match theirs */
  char      folder[PETSC_MAX_PATH_LEN];
  PetscReal out_dt; /* 0: only the first and last state */
  PetscBool overwrite;
  PetscBool setup;

  PetscInt           nsnap_files; /* file numbers handed out so far */
  PetscInt           nsnap, maxsnap;
  MfsaSnapshotEntry *snaps;

  /* Diagnostics rows: filled on rank 0 only, the other ranks keep nrows = 0. */
  PetscInt            nrows, maxrows;
  MfsaDiagnosticsRow *rows;
};

/* Longest file name we append to the folder ("/snap_000000.h5.tmp", "/diagnostics.h5.tmp"),
 * so the folder check in SetFromOptions guarantees every path fits in PETSC_MAX_PATH_LEN. */
#define MFSA_OUTPUT_NAME_MAX 48

/* io/xdmf.c: rank 0 rewrites <folder>/mfsa.xmf from out->snaps. Collective (error broadcast). */
PetscErrorCode MfsaOutputWriteXdmf(MfsaOutput);
