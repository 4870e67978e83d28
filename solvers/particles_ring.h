/* The ring exchange of the particle solver (Ring Attention): every rank keeps only its own
 * token block plus the blocks in flight, per-rank memory O(largest block) instead of the O(n) of
 * an allgather: n/P unmasked; ~n/sqrt(P) causal, where the pair-balanced ownership gives rank 0
 * the largest block. Blocks travel rank r -> r+1 with non-blocking sends and receives posted
 * ahead, overlapped with the pair kernel on the block at hand; the kernel's online softmax state
 * carries from block to block (AttnField Begin/Accumulate/End). Causal: blocks entirely after a
 * rank's tokens are forwarded but not computed. Ownership is the solver's: contiguous
 * pair-balanced blocks (src/partition.c), the same as the allgather path, so the state layout
 * (snapshots, checkpoints, restarts) does not depend on the exchange. */
#pragma once
#include "attention_field.h"

typedef struct _p_ParticleRing *ParticleRing;

/* n tokens of dimension d on comm; causal picks the partition; precision of the keys sent;
 * inflight = how many blocks may be in flight towards a rank (receives posted ahead), 1 or 2:
 * memory 1 + inflight blocks; results do not depend on it. */
PetscErrorCode ParticleRingCreate(MPI_Comm comm, PetscInt n, PetscInt d, PetscBool causal, PairPrecision precision, PetscInt inflight, ParticleRing *ring);
/* Collective. Velocity (and log Z per head, or NULL) of the local tokens lo..lo+nloc-1 with
 * states x (nloc x d). */
PetscErrorCode ParticleRingEvaluate(ParticleRing ring, AttnField field, const PetscReal *x, PetscReal *vel, PetscReal *logz);
PetscErrorCode ParticleRingDestroy(ParticleRing *ring);
