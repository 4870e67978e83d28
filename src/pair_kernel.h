/* The pair kernel: the one place in mfsa where softmax-attention weights are evaluated.
 *
 * For a block of queries it computes, over the keys each query may attend to,
 *     mean_q = sum_j P_qj x_j,   P_qj = e^{s_qj} / Z_q,   s_qj = <qt_q, x_j>,
 *     logz_q = log Z_q = log sum_j e^{s_qj},
 * with a one-pass online log-sum-exp (FlashAttention style), so neither large beta nor
 * large |x| overflows. Every normalisation (softmax, unnormalised) is a function of
 * (mean, logz), so callers never touch exp() of a score themselves.
 *
 * Keys may arrive in several blocks (the ring exchange of the particle solver): the online
 * state of every query (running max, sum, weighted sum) is carried from one block to the next
 * (PairKernelAccumulate), and PairKernelFinish turns it into (mean, logz). PairKernelApply is
 * the one-block case. Within a block, keys are visited in global index order in tiles aligned
 * to global multiples of PAIR_KERNEL_TILE: with all keys in one block, the floating-point result
 * for a query depends only on its own inputs, never on how queries are split among ranks
 * (bitwise rank invariance).
 *
 * Precision: keys in double (PAIR_PRECISION_DOUBLE) or float (PAIR_PRECISION_SINGLE: scores,
 * exp and the sums within a tile in float, 8 AVX2 lanes; the state carried across tiles and
 * blocks, mean and log Z in double). */
#pragma once
#include <petscsys.h>

#define PAIR_KERNEL_TILE 512

typedef enum {
  PAIR_PRECISION_DOUBLE,
  PAIR_PRECISION_SINGLE
} PairPrecision;
extern const char *const PairPrecisionNames[]; /* "double", "single", NULL (option values) */

/* A block of keys (= values) in structure-of-arrays layout: global tokens
 * offset .. offset+n-1, component c of token j at x[c*ld + (j - offset)] (or xs[...] in single
 * precision); ld a multiple of 8 and the array 64-byte aligned. A zero-initialised struct plus
 * n, d, ld, x is a double block starting at token 0 (what PairKeysAllocate makes). */
typedef struct {
  PetscInt         n, d, ld;
  const PetscReal *x;         /* PAIR_PRECISION_DOUBLE */
  PetscInt         offset;    /* global index of the block's first key */
  PairPrecision    precision; /* which of x, xs holds the keys */
  const float     *xs;        /* PAIR_PRECISION_SINGLE */
} PairKeys;

/* The online softmax state of nq queries, carried across key blocks. Internal units: m is the
 * running max of log2(e) * score, l = sum_j 2^(log2(e) s_j - m), acc (nq x d) = the same sum
 * weighted by x_j. Create, Reset before the first block, Accumulate each block, Finish. */
typedef struct {
  PetscInt   nq, d;
  PetscReal *m, *l, *acc;
} PairKernelState;

PetscErrorCode PairKernelStateCreate(PetscInt nq, PetscInt d, PairKernelState *st);
PetscErrorCode PairKernelStateReset(PairKernelState *st);
PetscErrorCode PairKernelStateDestroy(PairKernelState *st);

/* qt: nq x d row-major, the transformed queries (beta B^T x_i for attention).
 * klim[q] >= 1: query q attends keys with global index j < klim[q] (n unmasked, i+1 causal);
 * keys of the block at or beyond klim[q] are skipped (a block entirely beyond it costs nothing). */
PetscErrorCode PairKernelAccumulate(const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscInt *klim, PairKernelState *st);
/* mean: nq x d; logz: nq. Every query must have seen at least one key. */
PetscErrorCode PairKernelFinish(const PairKernelState *st, PetscReal *mean, PetscReal *logz);

/* All keys in one block: klim[q] in [offset+1, offset+n]. mean: nq x d; logz: nq. */
PetscErrorCode PairKernelApply(const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscInt *klim, PetscReal *mean, PetscReal *logz);

/* y_i = e^{x_i} for x_i <= 0 with exactly the exp arithmetic the kernel spends per pair (the
 * log2(e) scaling, the clamp, Exp2Kernel / Exp2KernelF): what the benchmark times as the
 * exp-only bound of the kernel, in double and in single precision. */
void PairKernelExp(PetscInt n, const double *x, double *y);
void PairKernelExpSingle(PetscInt n, const float *x, float *y);

/* Allocate / free an SoA key array (n keys from global index 0, double) with the alignment and
 * padding PairKeys requires. */
PetscErrorCode PairKeysAllocate(PetscInt n, PetscInt d, PairKeys *keys, PetscReal **storage);
PetscErrorCode PairKeysFree(PetscReal **storage);
/* The leading dimension PairKeys uses for n keys (n rounded up to a multiple of 8). */
PetscInt PairKeysLeadingDimension(PetscInt n);
