/* The attention velocity field f(X)_i = sum_h V_h sum_{j in N(i)} w^h_ij x_j for a block of
 * local tokens against the (gathered) keys, with the sphere's tangent projection.
 * All weights come from the pair kernel; this file only turns (mean, log Z) into the
 * normalisation the model asks for and applies V_h and the geometry. */
#pragma once
#include "model.h"
#include "pair_kernel.h"

typedef struct _p_AttnField *AttnField;

PetscErrorCode AttnFieldCreate(AttnModel, PetscInt nloc, AttnField *);
/* Tokens lo..lo+nloc-1 (global indices) with states x (nloc x d, row-major).
 * vel: nloc x d. logz: nloc x heads (log Z of each token and head) or NULL. */
PetscErrorCode AttnFieldEvaluate(AttnField, const PairKeys *keys, PetscInt lo, PetscInt nloc, const PetscReal *x, PetscReal *vel, PetscReal *logz);
PetscErrorCode AttnFieldDestroy(AttnField *);
