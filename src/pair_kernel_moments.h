/* The pair kernel with known normalisation: weighted sums under attention weights whose
 * log-normaliser (log Z) is already known from PairKernelApply. The Jacobian-vector
 * products of attention (JVP, VJP; src/attention_jacobian.c) and the second moments of the
 * attention weights are built on it; the weights e^{score - log Z} are evaluated here and
 * nowhere else (with the same exp as PairKernelApply).
 *
 * For query q and keys j in [jlo_q, jhi_q), in global index order:
 *     w_qj = exp(<qt_q, x_j> + kbias_j - qbias_q)          (callers keep the argument <= 0)
 *     c_qj = <qc_q, f_j> + f0_j
 *     G_q  = sum_j w_qj g_j,   H_q = sum_j w_qj c_qj h_j,   C_q = sum_j w_qj c_qj
 * x, g, f, h are structure-of-arrays over the keys (component c of key j at [c*ld + j]),
 * all with the leading dimension of `x`. Results depend only on a query's own inputs, never on
 * how queries are split among ranks. */
#pragma once
#include "pair_kernel.h"

typedef struct {
  PairKeys         keys;  /* scoring keys x_j (n, d, ld, x) */
  const PetscReal *kbias; /* n per-key score offsets, or NULL for 0 */
  PetscInt         dg;    /* components of g (0: G not computed) */
  const PetscReal *g;
  PetscInt         df; /* components of f (0: c_qj = f0_j) */
  const PetscReal *f;
  const PetscReal *f0; /* n per-key offsets of c, or NULL for 0 */
  PetscInt         dh; /* components of h (0: H not computed) */
  const PetscReal *h;
} PairMomentKeys;

/* qt: nq x d, qbias: nq (NULL for 0), qc: nq x df (NULL when df = 0). jlo/jhi: key range per
 * query (0 <= jlo <= jhi <= n; an empty range gives zeros). G: nq x dg, H: nq x dh, C: nq;
 * any of them NULL when not wanted (then its dimension must be 0, or C simply skipped). */
PetscErrorCode PairKernelMoments(const PairMomentKeys *mk, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscReal *qc, const PetscInt *jlo, const PetscInt *jhi, PetscReal *G, PetscReal *H, PetscReal *C);

/* PairKernelMoments that also keeps the weights: W[q*wld + j] = w_qj for j in [jlo_q, jhi_q)
 * (other entries untouched; wld >= n). Used to reuse every weight in a second pass. */
PetscErrorCode PairKernelMomentsKeepWeights(const PairMomentKeys *mk, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscReal *qc, const PetscInt *jlo, const PetscInt *jhi, PetscReal *G, PetscReal *H, PetscReal *C, PetscReal *W, PetscInt wld);

/* The transposed (scattered) sums with kept weights, no exp: for query q and keys j in
 * [jlo_q, jhi_q), T_c[j] += W[q*wld + j] (t_qc + (<r_q, x_j> + r0_q) p_qc), c < d. t, r, p: nq x d;
 * r0: nq (NULL for 0); T: SoA d x keys->ld, accumulated (zero it first). */
PetscErrorCode PairKernelScatter(const PairKeys *keys, PetscInt nq, const PetscReal *W, PetscInt wld, const PetscInt *jlo, const PetscInt *jhi, const PetscReal *t, const PetscReal *r, const PetscReal *r0, const PetscReal *p, PetscReal *T);
