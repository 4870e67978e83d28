/* The pair kernel: the one place in mfsa where softmax-attention weights are evaluated.
 *
 * For a block of queries it computes, over the keys each query may attend to,
 *     mean_q = sum_j P_qj x_j,   P_qj = e^{s_qj} / Z_q,   s_qj = <qt_q, x_j>,
 *     logz_q = log Z_q = log sum_j e^{s_qj},
 * with a one-pass online log-sum-exp (FlashAttention style), so neither large beta nor
 * large |x| overflows. Every normalisation (softmax, unnormalised) is a function of
 * (mean, logz), so callers never touch exp() of a score themselves.
 *
 * Keys are visited in global index order in tiles aligned to global multiples of
 * PAIR_KERNEL_TILE: the floating-point result for a query depends only on its own inputs,
 * never on how queries or keys are split among ranks (bitwise rank invariance). */
#pragma once
#include <petscsys.h>

#define PAIR_KERNEL_TILE 256

/* Keys (= values) in structure-of-arrays layout: component c of token j is x[c*ld + j],
 * j the global token index; ld a multiple of 8 and x 64-byte aligned. */
typedef struct {
  PetscInt         n, d, ld;
  const PetscReal *x;
} PairKeys;

/* qt: nq x d row-major, the transformed queries (beta B^T x_i for attention).
 * klim[q] >= 1: query q attends keys j < klim[q] (n unmasked, i+1 causal).
 * mean: nq x d; logz: nq. */
PetscErrorCode PairKernelApply(const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscInt *klim, PetscReal *mean, PetscReal *logz);

/* y_i = e^{x_i} for x_i <= 0 with the kernel's own vectorised exp: what the benchmark times as
 * the exp-only bound of the kernel. */
void PairKernelExp(PetscInt n, const double *x, double *y);

/* Allocate / free an SoA key array with the alignment and padding PairKeys requires. */
PetscErrorCode PairKeysAllocate(PetscInt n, PetscInt d, PairKeys *keys, PetscReal **storage);
PetscErrorCode PairKeysFree(PetscReal **storage);
