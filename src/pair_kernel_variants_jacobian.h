/* Derivatives of the non-exp attention kernels (sigmoid, relu, linear, hyla; MODEL.md §4) per
 * pair of tokens, summed over keys or over queries: the one place where the weight derivatives
 * w'(z) and the HYLA per-pair Jacobian are evaluated (the forward sums are in
 * pair_kernel_variants.c). attention_jacobian_variants.c combines these sums with V_h, B_h and
 * the row factors. Double precision only; tokens here are row-major (token j at x[j*d]).
 *
 * Pointwise kernels, per head: z_qj = <qt_q, x_j> + b_q (qt_q = beta B^T x_q, b_q the sigmoid
 * offset), weight w(z), pair term g = w(z) x_j. With ds = <qu_q, x_j> + <qt_q, u_j> the change
 * of the score along a direction u (qu_q = beta B^T u_q):
 *   JVP     sum_j  w(z) u_j + w'(z) ds x_j
 *   VJP     key k:   sum_q  w(z_qk) zt_q + w'(z_qk) <zt_q, x_k> qt_q
 *           query q: sum_j  w'(z_qj) <zt_q, x_j> x_j        (the caller applies beta B)
 * w' = sigma(1 - sigma) (sigmoid), [z > 0] (relu; piecewise), 1 (linear).
 *
 * HYLA, per pair (q, j), heads h < H: a_h = <qt_h, x_j> (qt_h = beta/sqrt(d) B_h^T x_q),
 * r = sqrt(mean_h a_h^2 + eps), at_h = a_h / r, v = sum_h at_h vx_h (vx_h = V_h x_j),
 * u = ReLU(v), S = sum_h at_h, g = S u. Then
 *   dat_h = (da_h - at_h mean_l(at_l da_l)) / r,   dv = sum_h dat_h vx_h + at_h V_h dx_j,
 *   dg = (sum_h dat_h) u + S [v > 0] dv.
 * For a cotangent zt of g: p = [v > 0] zt, e_h = <zt, u> + S <p, vx_h>, the cotangent of a_h
 * abar_h = (e_h - at_h sum_l(e_l at_l) / H) / r, and
 *   key j gets   sum_h abar_h qt_h + S sum_h at_h V_h^T p,
 *   query q gets abar_h x_j per head (the caller applies beta/sqrt(d) B_h). */
#pragma once
#include "pair_kernel_variants.h"

/* JVP sums for nq queries (head arrays qt, qu: nq x d; qbias: nq or NULL) against keys
 * j < klim[q] (x, u: row-major, all tokens): acc[q*d + c] += sum_j (w u_j + w' ds x_j)[c]. */
PetscErrorCode PairWeightJvpSum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qu, const PetscReal *qbias, const PetscInt *klim, const PetscReal *x, const PetscReal *u, PetscReal *acc);
/* VJP key terms of keys klo..klo+nk-1 from the nq queries (qt, zt: nq x d; key k is attended
 * by query q when k < klim[q]); queries are visited in order q = 0..nq-1.
 * acc[(k - klo)*d + c] += sum_q (w zt_q + w' <zt_q, x_k> qt_q)[c]. */
PetscErrorCode PairWeightVjpKeySum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, PetscInt klo, PetscInt nk, PetscReal *acc);
/* VJP query terms: acc[q*d + c] += sum_{j < klim[q]} w'(z_qj) <zt_q, x_j> x_j[c]. */
PetscErrorCode PairWeightVjpQuerySum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, PetscReal *acc);

/* HYLA. Head h of query q at qt[h*qld*d + q*d + c] (qld >= nq, as PairKernelHylaSum; qu
 * likewise for the direction); per token j: vx[j*H*d + h*d + c] = (V_h x_j)[c], vu likewise. */
/* acc[q*d + c] += sum_{j < klim[q]} dg(q, j)[c]. */
PetscErrorCode PairHylaJvpSum(const PairHyla *hy, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qu, PetscInt qld, const PetscInt *klim, const PetscReal *x, const PetscReal *u, const PetscReal *vx, const PetscReal *vu, PetscReal *acc);
/* Key terms for keys klo..klo+nk-1 from the nq queries (zt: nq x d, the cotangents of the
 * queries' sums): acc[(k - klo)*d + c] += sum_q (sum_h abar_h qt_h + S sum_h at_h V_h^T p)[c]. */
PetscErrorCode PairHylaVjpKeySum(const PairHyla *hy, PetscInt d, PetscInt nq, const PetscReal *qt, PetscInt qld, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, const PetscReal *vx, PetscInt klo, PetscInt nk, PetscReal *acc);
/* Query terms: acc[q*H*d + h*d + c] += sum_{j < klim[q]} abar_h x_j[c]. */
PetscErrorCode PairHylaVjpQuerySum(const PairHyla *hy, PetscInt d, PetscInt nq, const PetscReal *qt, PetscInt qld, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, const PetscReal *vx, PetscReal *acc);
