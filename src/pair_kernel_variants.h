/* The non-exp attention kernels of the pair-kernel layer (MODEL.md §4): sigmoid, relu and
 * linear, whose weight is a pointwise function w of the score, and hyla (attention as a
 * hypernetwork), a per-pair function of every head's score. Together with pair_kernel.c (the
 * exp kernels: softmax, unnormalized) this is the only place where attention weights of pairs
 * are evaluated; solvers and attention_field.c only combine the sums.
 *
 * Unlike softmax these are plain sums over keys (no normaliser, no running max), so a query's
 * sum over several key blocks is the sum of the blocks' sums. Keys are visited in global index
 * order within a block; with all keys in one block the result for a query depends only on its
 * own inputs (bitwise rank invariance). Double precision only.
 *
 * Pointwise weights, z = <qt_q, x_j> + qbias_q (qt = beta B_h^T x_q, qbias = the sigmoid offset):
 *     sigmoid  w = 1/(1 + e^{-z})      relu  w = max(z, 0)      linear  w = z
 *
 * HYLA (per pair q, k; H heads; qt_h = (beta/sqrt(d)) B_h^T x_q so that a_h = <qt_h, x_k>):
 *     r = sqrt(mean_h a_h^2 + eps),  at_h = a_h / r,
 *     u = ReLU(sum_h at_h V_h x_k)  (componentwise),   g(q, k) = (sum_h at_h) u
 * (the value network's second layer is the identity per head, y_qh = sum_k at_h u, summed over h). */
#pragma once
#include "pair_kernel.h"

typedef enum { PAIR_WEIGHT_SIGMOID, PAIR_WEIGHT_RELU, PAIR_WEIGHT_LINEAR } PairWeight;

/* For each query q < nq and key j of the block with j < klim[q] (global index):
 *     acc[q*d + c] += w(z_qj) x_j[c],      wsum[q] += w(z_qj)   (wsum may be NULL)
 * qt: nq x d row-major; qbias: nq values or NULL for 0. Keys must be double precision. */
PetscErrorCode PairKernelWeightSum(PairWeight w, const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, PetscReal *acc, PetscReal *wsum);

typedef struct {
  PetscInt         H;   /* heads (>= 1) */
  const PetscReal *V;   /* H value matrices d x d, row-major (V[h*d*d + a*d + b]) */
  PetscReal        eps; /* added to the mean square of the scores */
} PairHyla;

/* For each query q < nq and key j < klim[q] of the block: acc[q*d + c] += g(q, j)[c].
 * qt: head h of query q at qt[h*qld*d + q*d + c] (qld >= nq). Keys double precision. */
PetscErrorCode PairKernelHylaSum(const PairHyla *hy, const PairKeys *keys, PetscInt nq, const PetscReal *qt, PetscInt qld, const PetscInt *klim, PetscReal *acc);
