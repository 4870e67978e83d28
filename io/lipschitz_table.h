/* <folder>/lipschitz.h5: one group /lipschitz/<family> per input family of a Lipschitz sweep,
 * one row per estimate (1-D datasets n, estimate, iterations, residual, upper_bound, radius,
 * seconds), the study's parameters as group attributes, provenance on the root. */
#pragma once
#include "output.h"

typedef struct {
  const char       *family;
  PetscInt          rows;
  const PetscInt64 *n, *iterations;
  const PetscReal  *estimate, *residual, *upper_bound, *radius, *seconds;
  PetscReal         radius_family; /* the family's nominal radius R (NaN when none) */
  PetscReal         norm_B, norm_V, crossover_n, tol, slope;
  PetscInt          max_it;
} MfsaLipschitzTable;

/* Collective (rank 0 writes, through a temporary name). Rewrites the whole file. */
PetscErrorCode MfsaOutputWriteLipschitz(MfsaOutput, PetscInt ntables, const MfsaLipschitzTable tables[], const MfsaProvenance *);
