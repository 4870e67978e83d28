/* Per-pair derivatives of the non-exp attention kernels (formulas in
 * pair_kernel_variants_jacobian.h). Straight loops in global index order: for each query the
 * keys j = 0, 1, ...; for each key the queries q = 0, 1, ... (sums never depend on how the
 * tokens are split among ranks). O(d) per pair and head for the pointwise kernels, O(H d^2) per
 * pair for HYLA's key terms (V_h^T of a pair-dependent vector). */
#include "pair_kernel_variants_jacobian.h"
#include <math.h>

static inline PetscReal Dot(PetscInt d, const PetscReal *a, const PetscReal *b)
{
  PetscReal s = 0;
  for (PetscInt c = 0; c < d; c++) s += a[c] * b[c];
  return s;
}

/* w(z) and w'(z) */
static inline void Weight(PairWeight w, PetscReal z, PetscReal *wz, PetscReal *dw)
{
  switch (w) {
  case PAIR_WEIGHT_SIGMOID: {
    const PetscReal s = 1.0 / (1.0 + exp(-z));
    *wz = s;
    *dw = s * (1.0 - s);
  } break;
  case PAIR_WEIGHT_RELU:
    *wz = z > 0 ? z : 0.0;
    *dw = z > 0 ? 1.0 : 0.0;
    break;
  default: /* PAIR_WEIGHT_LINEAR */
    *wz = z;
    *dw = 1.0;
    break;
  }
}

PetscErrorCode PairWeightJvpSum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qu, const PetscReal *qbias, const PetscInt *klim, const PetscReal *x, const PetscReal *u, PetscReal *acc)
{
  PetscFunctionBegin;
  for (PetscInt q = 0; q < nq; q++) {
    const PetscReal *tq = qt + q * d, *uq = qu + q * d, b = qbias ? qbias[q] : 0.0;
    PetscReal       *aq = acc + q * d;
    for (PetscInt j = 0; j < klim[q]; j++) {
      const PetscReal *xj = x + j * d, *uj = u + j * d;
      PetscReal        wz, dw;
      Weight(w, Dot(d, tq, xj) + b, &wz, &dw);
      const PetscReal ds = dw * (Dot(d, uq, xj) + Dot(d, tq, uj));
      for (PetscInt c = 0; c < d; c++) aq[c] += wz * uj[c] + ds * xj[c];
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PairWeightVjpKeySum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, PetscInt klo, PetscInt nk, PetscReal *acc)
{
  PetscFunctionBegin;
  for (PetscInt k = klo; k < klo + nk; k++) {
    const PetscReal *xk = x + k * d;
    PetscReal       *ak = acc + (k - klo) * d;
    for (PetscInt q = 0; q < nq; q++) {
      if (k >= klim[q]) continue;
      const PetscReal *tq = qt + q * d, *zq = zt + q * d;
      PetscReal        wz, dw;
      Weight(w, Dot(d, tq, xk) + (qbias ? qbias[q] : 0.0), &wz, &dw);
      const PetscReal s = dw * Dot(d, zq, xk);
      for (PetscInt c = 0; c < d; c++) ak[c] += wz * zq[c] + s * tq[c];
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PairWeightVjpQuerySum(PairWeight w, PetscInt d, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, const PetscReal *zt, const PetscReal *x, PetscReal *acc)
{
  PetscFunctionBegin;
  for (PetscInt q = 0; q < nq; q++) {
    const PetscReal *tq = qt + q * d, *zq = zt + q * d, b = qbias ? qbias[q] : 0.0;
    PetscReal       *aq = acc + q * d;
    for (PetscInt j = 0; j < klim[q]; j++) {
      const PetscReal *xj = x + j * d;
      PetscReal        wz, dw;
      Weight(w, Dot(d, tq, xj) + b, &wz, &dw);
      const PetscReal s = dw * Dot(d, zq, xj);
      for (PetscInt c = 0; c < d; c++) aq[c] += s * xj[c];
    }
  }
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
