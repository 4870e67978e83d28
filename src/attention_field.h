/* The attention velocity field f(X)_i = sum_h V_h sum_{j in N(i)} w^h_ij x_j for a block of
 * local tokens against the keys, with the sphere's tangent projection.
 * All weights come from the pair kernel; this file only turns (mean, log Z) into the
 * normalisation the model asks for and applies V_h and the geometry.
 * Keys come either all at once (AttnFieldEvaluate: the gathered keys) or block by block in any
 * order (Begin, Accumulate per block, End: the ring exchange); the kernel's online state of
 * every (token, head) is carried from block to block. */
#pragma once
#include "model.h"
#include "pair_kernel.h"

typedef struct _p_AttnField *AttnField;

PetscErrorCode AttnFieldCreate(AttnModel, PetscInt nloc, AttnField *);
/* Tokens lo..lo+nloc-1 (global indices) with states x (nloc x d, row-major) against all n keys
 * (keys->offset = 0). vel: nloc x d. logz: nloc x heads (log Z of each token and head) or NULL. */
PetscErrorCode AttnFieldEvaluate(AttnField, const PairKeys *keys, PetscInt lo, PetscInt nloc, const PetscReal *x, PetscReal *vel, PetscReal *logz);

/* Block by block: Begin with the n tokens' count and the local queries, Accumulate every key
 * block exactly once (any order; blocks entirely beyond the causal mask cost nothing), End.
 * x must stay unchanged between Begin and End. */
PetscErrorCode AttnFieldBegin(AttnField, PetscInt n, PetscInt lo, PetscInt nloc, const PetscReal *x);
PetscErrorCode AttnFieldAccumulate(AttnField, const PairKeys *block);
PetscErrorCode AttnFieldEnd(AttnField, const PetscReal *x, PetscReal *vel, PetscReal *logz);
/* Called between chunks of queries inside AttnFieldAccumulate (e.g. MPI_Testall on the ring's
 * messages in flight, so that they progress while the kernel computes); NULL: none. */
PetscErrorCode AttnFieldSetProgress(AttnField, PetscErrorCode (*progress)(void *), void *ctx);

PetscErrorCode AttnFieldDestroy(AttnField *);
