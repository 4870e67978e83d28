/* Per-pair derivatives of the non-exp attention kernels (formulas in
 * pair_kernel_variants_jacobian.h). Straight loops in global index order: for each query the
 * keys j = 0, 1, ...; for each key the queries q = 0, 1, ... (sums never depend on how the
 * tokens are split among ranks). O(d) per pair and head for the pointwise kernels, O(H d^2) per
 * pair for HYLA's key terms (V_h^T of a pair-dependent vector). */
#include "pair_kernel_variants_jacobian.h"
#include "pair_kernel_exp.h"
#include <math.h>
#include <stdint.h>

static inline PetscReal Dot(PetscInt d, const PetscReal *a, const PetscReal *b)
{
  PetscReal s = 0;
  for (PetscInt c = 0; c < d; c++) s += a[c] * b[c];
  return s;
}

/* w(z) and w'(z); the sigmoid from e^{-|z|} <= 1 as in the forward kernel (no overflow) */
static inline __attribute__((always_inline)) void Weight(PairWeight w, PetscReal z, PetscReal *wz, PetscReal *dw)
{
  switch (w) {
  case PAIR_WEIGHT_SIGMOID: {
    const PetscReal t = ExpNonPositive(-fabs(z)), r = 1.0 / (1.0 + t);
    *wz = z >= 0 ? r : t * r;
    *dw = t * r * r;
  } break;
  case PAIR_WEIGHT_RELU: { /* branch-free: the sign of a score is a coin flip for the predictor */
    const PetscReal pos = (PetscReal)__builtin_expect_with_probability(z > 0, 1, 0.5);
    *wz = pos * z;
    *dw = pos;
  } break;
  default: /* PAIR_WEIGHT_LINEAR */
    *wz = z;
    *dw = 1.0;
    break;
  }
}

#define PAIR_JAC_MAXD 64 /* the attention Jacobian's limit on d (attention_jacobian.c) */

/* The three pointwise sums are written once with the weight W and the dimension D as parameters
 * and instantiated (Dispatch below) with compile-time constants for W and for D = 2, 3, 4, so
 * that each pair is straight-line code without a branch on W or a loop over D. */
static inline __attribute__((always_inline)) void JvpSum(const PairWeight W, const PetscInt D, PetscInt nq, const PetscReal *qt, const PetscReal *qu, const PetscReal *qbias, const PetscInt *klim, const PetscReal *x, const PetscReal *u, PetscReal *acc)
{
  for (PetscInt q = 0; q < nq; q++) {
    const PetscReal *tq = qt + q * D, *uq = qu + q * D, b = qbias ? qbias[q] : 0.0;
    PetscReal        loc[PAIR_JAC_MAXD] = {0}; /* in registers, not through acc (which may alias x, u) */
    for (PetscInt j = 0; j < klim[q]; j++) {
      const PetscReal *xj = x + j * D, *uj = u + j * D;
      PetscReal        wz, dw;
      Weight(W, Dot(D, tq, xj) + b, &wz, &dw);
      const PetscReal ds = dw * (Dot(D, uq, xj) + Dot(D, tq, uj));
      for (PetscInt c = 0; c < D; c++) loc[c] += wz * uj[c] + ds * xj[c];
    }
    for (PetscInt c = 0; c < D; c++) acc[q * D + c] += loc[c];
  }
}

static inline __attribute__((always_inline)) void VjpKeySum(const PairWeight W, const PetscInt D, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, PetscInt klo, PetscInt nk, PetscReal *acc)
{
  for (PetscInt k = klo; k < klo + nk; k++) {
    const PetscReal *xk = x + k * D;
    PetscReal        loc[PAIR_JAC_MAXD] = {0};
    for (PetscInt q = 0; q < nq; q++) {
      if (k >= klim[q]) continue;
      const PetscReal *tq = qt + q * D, *zq = zt + q * D;
      PetscReal        wz, dw;
      Weight(W, Dot(D, tq, xk) + (qbias ? qbias[q] : 0.0), &wz, &dw);
      const PetscReal s = dw * Dot(D, zq, xk);
      for (PetscInt c = 0; c < D; c++) loc[c] += wz * zq[c] + s * tq[c];
    }
    for (PetscInt c = 0; c < D; c++) acc[(k - klo) * D + c] += loc[c];
  }
}

static inline __attribute__((always_inline)) void VjpQuerySum(const PairWeight W, const PetscInt D, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, PetscReal *acc)
{
  for (PetscInt q = 0; q < nq; q++) {
    const PetscReal *tq = qt + q * D, *zq = zt + q * D, b = qbias ? qbias[q] : 0.0;
    PetscReal        loc[PAIR_JAC_MAXD] = {0};
    for (PetscInt j = 0; j < klim[q]; j++) {
      const PetscReal *xj = x + j * D;
      PetscReal        wz, dw;
      Weight(W, Dot(D, tq, xj) + b, &wz, &dw);
      const PetscReal s = dw * Dot(D, zq, xj);
      for (PetscInt c = 0; c < D; c++) loc[c] += s * xj[c];
    }
    for (PetscInt c = 0; c < D; c++) acc[q * D + c] += loc[c];
  }
}

/* CALL(W, D) for the runtime (w, d): constant W always, constant D for d = 2, 3, 4. */
#define DISPATCH_W_D(w, d, CALL) \
  do { \
    switch (w) { \
    case PAIR_WEIGHT_SIGMOID: \
      DISPATCH_D(PAIR_WEIGHT_SIGMOID, d, CALL); \
      break; \
    case PAIR_WEIGHT_RELU: \
      DISPATCH_D(PAIR_WEIGHT_RELU, d, CALL); \
      break; \
    case PAIR_WEIGHT_LINEAR: \
      DISPATCH_D(PAIR_WEIGHT_LINEAR, d, CALL); \
      break; \
    } \
  } while (0)
#define DISPATCH_D(W, d, CALL) \
  do { \
    if ((d) == 2) CALL(W, 2); \
    else if ((d) == 3) CALL(W, 3); \
    else if ((d) == 4) CALL(W, 4); \
    else CALL(W, d); \
  } while (0)

PetscErrorCode PairWeightJvpSum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qu, const PetscReal *qbias, const PetscInt *klim, const PetscReal *x, const PetscReal *u, PetscReal *acc)
{
  PetscFunctionBegin;
#define CALL(W, D) JvpSum(W, D, nq, qt, qu, qbias, klim, x, u, acc)
  DISPATCH_W_D(w, d, CALL);
#undef CALL
  PetscFunctionReturn(0);
}

PetscErrorCode PairWeightVjpKeySum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, PetscInt klo, PetscInt nk, PetscReal *acc)
{
  PetscFunctionBegin;
#define CALL(W, D) VjpKeySum(W, D, nq, qt, qbias, klim, zt, x, klo, nk, acc)
  DISPATCH_W_D(w, d, CALL);
#undef CALL
  PetscFunctionReturn(0);
}

PetscErrorCode PairWeightVjpQuerySum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, PetscReal *acc)
{
  PetscFunctionBegin;
#define CALL(W, D) VjpQuerySum(W, D, nq, qt, qbias, klim, zt, x, acc)
  DISPATCH_W_D(w, d, CALL);
#undef CALL
  PetscFunctionReturn(0);
}

/* Per-pair scratch of HYLA: a, at, e (H each), v, p, t (d each). */
typedef struct {
  PetscReal *a, *at, *e, *v, *p, *t;
  PetscReal  r, S;
} HylaPair;

static PetscErrorCode HylaPairCreate(PetscInt H, PetscInt d, HylaPair *hp)
{
  PetscFunctionBegin;
  PetscCall(PetscMalloc6(H, &hp->a, H, &hp->at, H, &hp->e, d, &hp->v, d, &hp->p, d, &hp->t));
  PetscFunctionReturn(0);
}

static PetscErrorCode HylaPairDestroy(HylaPair *hp)
{
  PetscFunctionBegin;
  PetscCall(PetscFree6(hp->a, hp->at, hp->e, hp->v, hp->p, hp->t));
  PetscFunctionReturn(0);
}

/* The forward quantities of pair (q, j): a_h, r, at_h, S and v = sum_h at_h V_h x_j. */
static void HylaForward(const PairHyla *hy, PetscInt d, const PetscReal *tq, PetscInt qld, const PetscReal *xj, const PetscReal *vxj, HylaPair *hp)
{
  const PetscInt H  = hy->H;
  PetscReal      ms = 0;
  for (PetscInt h = 0; h < H; h++) {
    hp->a[h] = Dot(d, tq + h * qld * d, xj);
    ms += hp->a[h] * hp->a[h];
  }
  hp->r = sqrt(ms / (PetscReal)H + hy->eps);
  hp->S = 0;
  for (PetscInt h = 0; h < H; h++) {
    hp->at[h] = hp->a[h] / hp->r;
    hp->S += hp->at[h];
  }
  for (PetscInt c = 0; c < d; c++) hp->v[c] = 0;
  for (PetscInt h = 0; h < H; h++)
    for (PetscInt c = 0; c < d; c++) hp->v[c] += hp->at[h] * vxj[h * d + c];
}

/* The cotangents abar_h (into hp->e) of the scores for cotangent zt of g, and p = [v > 0] zt. */
static void HylaScoreCotangent(PetscInt H, PetscInt d, const PetscReal *zt, const PetscReal *vxj, HylaPair *hp)
{
  PetscReal zu = 0, E = 0;
  for (PetscInt c = 0; c < d; c++) {
    hp->p[c] = hp->v[c] > 0 ? zt[c] : 0.0;
    zu += hp->v[c] > 0 ? zt[c] * hp->v[c] : 0.0;
  }
  for (PetscInt h = 0; h < H; h++) {
    hp->e[h] = zu + hp->S * Dot(d, hp->p, vxj + h * d);
    E += hp->e[h] * hp->at[h];
  }
  for (PetscInt h = 0; h < H; h++) hp->e[h] = (hp->e[h] - hp->at[h] * E / (PetscReal)H) / hp->r;
}

PetscErrorCode PairHylaJvpSum(const PairHyla *hy, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qu, PetscInt qld, const PetscInt *klim, const PetscReal *x, const PetscReal *u, const PetscReal *vx, const PetscReal *vu, PetscReal *acc)
{
  const PetscInt H = hy->H;
  HylaPair       hp;

  PetscFunctionBegin;
  PetscCall(HylaPairCreate(H, d, &hp));
  for (PetscInt q = 0; q < nq; q++) {
    const PetscReal *tq = qt + q * d, *uq = qu + q * d;
    PetscReal       *aq = acc + q * d;
    for (PetscInt j = 0; j < klim[q]; j++) {
      const PetscReal *xj = x + j * d, *uj = u + j * d, *vxj = vx + j * H * d, *vuj = vu + j * H * d;
      PetscReal        ma = 0, dS = 0;
      HylaForward(hy, d, tq, qld, xj, vxj, &hp);
      /* hp.e: da_h, then dat_h */
      for (PetscInt h = 0; h < H; h++) {
        hp.e[h] = Dot(d, uq + h * qld * d, xj) + Dot(d, tq + h * qld * d, uj);
        ma += hp.at[h] * hp.e[h];
      }
      ma /= (PetscReal)H;
      for (PetscInt h = 0; h < H; h++) {
        hp.e[h] = (hp.e[h] - hp.at[h] * ma) / hp.r;
        dS += hp.e[h];
      }
      for (PetscInt c = 0; c < d; c++) hp.t[c] = 0;
      for (PetscInt h = 0; h < H; h++)
        for (PetscInt c = 0; c < d; c++) hp.t[c] += hp.e[h] * vxj[h * d + c] + hp.at[h] * vuj[h * d + c];
      for (PetscInt c = 0; c < d; c++) aq[c] += hp.v[c] > 0 ? dS * hp.v[c] + hp.S * hp.t[c] : 0.0;
    }
  }
  PetscCall(HylaPairDestroy(&hp));
  PetscFunctionReturn(0);
}

PetscErrorCode PairHylaVjpKeySum(const PairHyla *hy, PetscInt d, PetscInt nq, const PetscReal *qt, PetscInt qld, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, const PetscReal *vx, PetscInt klo, PetscInt nk, PetscReal *acc)
{
  const PetscInt H = hy->H;
  HylaPair       hp;

  PetscFunctionBegin;
  PetscCall(HylaPairCreate(H, d, &hp));
  for (PetscInt k = klo; k < klo + nk; k++) {
    const PetscReal *xk = x + k * d, *vxk = vx + k * H * d;
    PetscReal       *ak = acc + (k - klo) * d;
    for (PetscInt q = 0; q < nq; q++) {
      if (k >= klim[q]) continue;
      const PetscReal *tq = qt + q * d;
      HylaForward(hy, d, tq, qld, xk, vxk, &hp);
      HylaScoreCotangent(H, d, zt + q * d, vxk, &hp);
      for (PetscInt h = 0; h < H; h++) {
        const PetscReal *V = hy->V + h * d * d, sa = hp.S * hp.at[h];
        for (PetscInt c = 0; c < d; c++) {
          PetscReal vtp = 0; /* (V_h^T p)_c */
          for (PetscInt a = 0; a < d; a++) vtp += V[a * d + c] * hp.p[a];
          ak[c] += hp.e[h] * tq[h * qld * d + c] + sa * vtp;
        }
      }
    }
  }
  PetscCall(HylaPairDestroy(&hp));
  PetscFunctionReturn(0);
}

PetscErrorCode PairHylaVjpQuerySum(const PairHyla *hy, PetscInt d, PetscInt nq, const PetscReal *qt, PetscInt qld, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, const PetscReal *vx, PetscReal *acc)
{
  const PetscInt H = hy->H;
  HylaPair       hp;

  PetscFunctionBegin;
  PetscCall(HylaPairCreate(H, d, &hp));
  for (PetscInt q = 0; q < nq; q++) {
    const PetscReal *tq = qt + q * d;
    PetscReal       *aq = acc + q * H * d;
    for (PetscInt j = 0; j < klim[q]; j++) {
      const PetscReal *xj = x + j * d, *vxj = vx + j * H * d;
      HylaForward(hy, d, tq, qld, xj, vxj, &hp);
      HylaScoreCotangent(H, d, zt + q * d, vxj, &hp);
      for (PetscInt h = 0; h < H; h++)
        for (PetscInt c = 0; c < d; c++) aq[h * d + c] += hp.e[h] * xj[c];
    }
  }
  PetscCall(HylaPairDestroy(&hp));
  PetscFunctionReturn(0);
}
