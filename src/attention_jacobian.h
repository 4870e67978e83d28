/* Analytic derivatives of the attention velocity map F(X)_i (MODEL.md §1, §5): the
 * Jacobian-vector product (JVP) and the vector-Jacobian product (VJP) for a block of local
 * tokens, masked and unmasked, softmax and unnormalised, several heads, euclidean and
 * sphere-projected (F_i = P_{x_i} f_i with P_x v = v - <x,v> x, as the solver integrates).
 * All weights come from the pair kernel (PairKernelApply for log Z, PairKernelMoments for
 * the weighted sums); this file holds the algebra. Communication is the caller's: the JVP
 * needs every token's direction, the VJP every token's cotangent features (gathered SoA).
 *
 * Per head, with P_ij = e^{s_ij - log Z_i}, m_i = sum_j P_ij x_j, S_i = sum_j P_ij x_j x_j^T,
 * rho_i = 1 (softmax) or Z_i/|N(i)| (unnormalised), q_i = beta B^T x_i:
 *   JVP  df_i = rho_i V [ sum_j P_ij u_j + sum_j P_ij (u_j.q_i) x_j + S_i beta B^T u_i ]
 *               - (softmax) V [ m_i (sum_j P_ij (u_j.q_i) + m_i.beta B^T u_i) ]
 *   VJP  g_k  = sum_{i: k in N(i)} P_ik [ zt_i + beta B^T x_i ((x_k - [m_i]).zt_i) ]
 *               + beta B (S_k - [m_k m_k^T]) zt_k,        zt_i = rho_i V^T w_i
 * ([.]: softmax only). The sphere projection adds its own product-rule terms, and so do the
 * other layer norms (pre: the chain rule through x/|x|; ngpt: through alpha P_x f/|f|).
 * The other kernels (sigmoid, relu, linear, hyla: plain sums of a per-pair function) are
 * dispatched to src/attention_jacobian_variants.c, their per-pair derivatives to
 * src/pair_kernel_variants_jacobian.c; the API below is the same for every kernel. */
#pragma once
#include "model.h"
#include "pair_kernel.h"

typedef struct _p_AttnJacobian *AttnJacobian;

/* Local tokens lo..lo+nloc-1 of n. */
PetscErrorCode AttnJacobianCreate(AttnModel, PetscInt n, PetscInt lo, PetscInt nloc, AttnJacobian *);
/* Linearisation point: keys = all tokens (SoA), x = local rows (nloc x d). Computes and keeps
 * per head log Z, m, S, and the value F(X) of the local rows. */
PetscErrorCode AttnJacobianSetPoint(AttnJacobian, const PairKeys *keys, const PetscReal *x);
/* F(X) of the local rows (nloc x d), valid after SetPoint. */
PetscErrorCode AttnJacobianGetValue(AttnJacobian, const PetscReal **F);
/* JVP: u_all = the direction of every token (SoA, same n and ld as the keys), u = local rows.
 * out: nloc x d. */
PetscErrorCode AttnJacobianApply(AttnJacobian, const PairKeys *u_all, const PetscReal *u, PetscReal *out);

/* VJP in three steps (the transposed sums run over all queries i that attend key k):
 * 1. Features of the local rows for cotangent y (nloc x d): feat, nloc x width (row-major). */
PetscErrorCode AttnJacobianTransposeFeatureWidth(AttnJacobian, PetscInt *width);
PetscErrorCode AttnJacobianTransposeFeatures(AttnJacobian, const PetscReal *y, PetscReal *feat);
/* 2. The transposed sums for keys klo..klo+nk-1 (any block; the caller balances the work):
 * feat_all = every token's features in SoA (width components of leading dimension keys->ld).
 * out: nk x d. */
PetscErrorCode AttnJacobianTransposeSums(AttnJacobian, const PairKeys *keys, const PetscReal *feat_all, PetscInt klo, PetscInt nk, PetscReal *out);
/* 3. g (nloc x d, the local rows of the sums on entry) += diagonal and projection terms. */
PetscErrorCode AttnJacobianTransposeFinish(AttnJacobian, const PetscReal *y, PetscReal *g);
/* Df^T Df u in one sweep over the pairs (what power iteration and Lanczos need): y = Df u of the
 * local rows (nloc x d) and T = the transposed sums of Df^T y contributed by the local queries,
 * for EVERY key (SoA d x keys->ld, zeroed here; the caller sums T over the ranks and adds
 * AttnJacobianTransposeFinish(y) to its own rows). Each query block's weights are kept between the
 * JVP pass and the scatter pass, so each weight costs one exp instead of two. */
PetscErrorCode AttnJacobianNormalApply(AttnJacobian, const PairKeys *u_all, const PetscReal *u, PetscReal *y, PetscReal *T);
PetscErrorCode AttnJacobianDestroy(AttnJacobian *);
