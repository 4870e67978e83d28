/* Initial token states from the counter-based RNG keyed by (seed, global index), or from
 * an HDF5 dataset: what a rank gets never depends on how many ranks there are. */
#pragma once
#include "model.h"

typedef enum { MFSA_INIT_UNIFORM, MFSA_INIT_GAUSSIAN, MFSA_INIT_FILE } MfsaInitKind;
extern const char *const MfsaInitNames[];

typedef struct {
  MfsaInitKind kind;
  char         file[PETSC_MAX_PATH_LEN];
  char         dataset[PETSC_MAX_PATH_LEN];
} MfsaInitSpec;

/* Rows lo..lo+nloc-1 (row-major, nloc x d). uniform: uniform on the unit sphere;
 * gaussian: N(0, I) (projected to the sphere when the geometry is the sphere);
 * file: read, checked for shape and finiteness; on the sphere rows must have unit norm
 * to 1e-6 and are then normalised to round-off. */
PetscErrorCode MfsaInitialTokens(AttnModel, const MfsaInitSpec *, PetscInt n, PetscInt lo, PetscInt nloc, PetscReal *x);
/* x_i <- x_i / |x_i| for nloc rows (the sphere's retraction). */
void MfsaNormalizeRows(PetscInt nloc, PetscInt d, PetscReal *x);
