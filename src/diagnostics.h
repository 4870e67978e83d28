/* What researchers measure along a particle run (MODEL.md §7): energy from log Z,
 * order parameter, exact fraction of clustered pairs, log Z range, sphere-norm drift. */
#pragma once
#include "model.h"
#include "pair_kernel.h"
#include "output.h"

/* Collective. x: local rows lo..lo+nloc-1; keys: all tokens (SoA); logz: nloc x heads from
 * the velocity evaluation at the same state. Fills every field of row except time, step, dt, wall. */
PetscErrorCode MfsaParticleDiagnostics(AttnModel, const PairKeys *keys, PetscInt lo, PetscInt nloc, const PetscReal *x, const PetscReal *logz, MfsaDiagnosticsRow *row);

/* Pairs with cos(x_i, x_j) > threshold, exact integer count over local i. lower_only: pairs
 * (i, j < i), summing over ranks gives the unordered count; otherwise ordered pairs (i, j != i),
 * whose sum over ranks is twice the unordered count. */
PetscInt64 MfsaCountClusteredPairs(const PairKeys *keys, PetscInt lo, PetscInt nloc, PetscBool lower_only, PetscReal threshold);
