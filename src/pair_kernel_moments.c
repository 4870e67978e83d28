/* PairKernelMoments: weighted sums under attention weights with a known normaliser.
 * Query blocks x key tiles aligned to global multiples of PAIR_KERNEL_TILE (as in
 * PairKernelApply), one fused vectorised loop for the JVP/VJP shape (g = f, h = x, all of the
 * score dimension d = 2, 3, 4), component-outer passes otherwise. */
#include "pair_kernel_moments.h"
#include "pair_kernel_exp.h"
#include <math.h>
#include <string.h>

#define QUERY_BLOCK 32
#define LOG2E       1.4426950408889634074

typedef struct {
  const double *x, *kb, *g, *f, *f0, *h;
  PetscInt      ld;
} Arrays;

/* Sums of one tile [j0, j0+len) for one query: acc = [G (D) | H (D)]. Fused form for the
 * JVP/VJP shape g = f (one array) and h = x (the scoring keys), D = 2, 3, 4, every key component
 * loaded once per loop. BIAS: per-key offsets kbias and f0 present. Without f0,
 * C = sum_j w_j <qc, g_j> = <qc, G> is formed after the loop. Two loops, as in PairKernelApply:
 * (u = log2(e)(score + kbias - qbias), c) into L1-resident buffers, then 2^u and the sums; one
 * fused loop is one long dependency chain per vector that the out-of-order window cannot hide. */
static inline __attribute__((always_inline)) void TileFused(const int D, const int BIAS, const int KEEP, const Arrays *a, PetscInt j0, PetscInt len, const double *restrict q, double qb, const double *restrict qc, double *restrict ub, double *restrict cb, double *restrict wout, double *restrict acc)
{
  const PetscInt ld = a->ld;
  const double *restrict x0 = a->x + j0, *restrict x1 = a->x + ld + j0, *restrict x2 = a->x + (D > 2 ? 2 : 0) * ld + j0, *restrict x3 = a->x + (D > 3 ? 3 : 0) * ld + j0;
  const double *restrict g0 = a->g + j0, *restrict g1 = a->g + ld + j0, *restrict g2 = a->g + (D > 2 ? 2 : 0) * ld + j0, *restrict g3 = a->g + (D > 3 ? 3 : 0) * ld + j0;
  const double *restrict kb = a->kb + j0, *restrict ff = a->f0 + j0;
  /* weights 2^u: the log2(e) folded into the query */
  const double q0 = LOG2E * q[0], q1 = LOG2E * q[1], q2 = D > 2 ? LOG2E * q[2] : 0, q3 = D > 3 ? LOG2E * q[3] : 0, nb = -LOG2E * qb;
  const double c0 = qc[0], c1 = qc[1], c2 = D > 2 ? qc[2] : 0, c3 = D > 3 ? qc[3] : 0;
  double       G0 = 0, G1 = 0, G2 = 0, G3 = 0, H0 = 0, H1 = 0, H2 = 0, H3 = 0, umin = INFINITY;

#pragma omp simd reduction(min : umin)
  for (PetscInt j = 0; j < len; j++) {
    double u = nb + q0 * x0[j] + q1 * x1[j], c = c0 * g0[j] + c1 * g1[j];
    if (D > 2) {
      u += q2 * x2[j];
      c += c2 * g2[j];
    }
    if (D > 3) {
      u += q3 * x3[j];
      c += c3 * g3[j];
    }
    if (BIAS) {
      u += LOG2E * kb[j];
      c += ff[j];
    }
    umin  = u < umin ? u : umin;
    ub[j] = u;
    cb[j] = c;
  }
  if (!(umin >= -1021.0)) { /* rare: weights below 2^-1021 ~ e^-708 (nothing next to the largest, ~1) */
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) ub[j] = ub[j] > -1021.0 ? ub[j] : -1021.0;
  }
#pragma omp simd reduction(+ : G0, G1, G2, G3, H0, H1, H2, H3)
  for (PetscInt j = 0; j < len; j++) {
    const double w = Exp2Kernel(ub[j]), wc = w * cb[j];
    if (KEEP) wout[j] = w;
    G0 += w * g0[j];
    G1 += w * g1[j];
    H0 += wc * x0[j];
    H1 += wc * x1[j];
    if (D > 2) {
      G2 += w * g2[j];
      H2 += wc * x2[j];
    }
    if (D > 3) {
      G3 += w * g3[j];
      H3 += wc * x3[j];
    }
  }
  acc[0] += G0;
  acc[1] += G1;
  if (D > 2) acc[2] += G2;
  if (D > 3) acc[3] += G3;
  acc[D + 0] += H0;
  acc[D + 1] += H1;
  if (D > 2) acc[D + 2] += H2;
  if (D > 3) acc[D + 3] += H3;
}

static inline double DotQ(PetscInt d, const double *a, const double *b)
{
  double s = 0;
  for (PetscInt k = 0; k < d; k++) s += a[k] * b[k];
  return s;
}

static void TileFusedDispatch(PetscInt d, PetscBool bias, const Arrays *a, PetscInt j0, PetscInt len, const double *q, double qb, const double *qc, double *ub, double *cb, double *wout, double *acc)
{
#define TILE_CASE(D, B) \
  case 4 * (D) + 2 * (B): TileFused(D, B, 0, a, j0, len, q, qb, qc, ub, cb, NULL, acc); break; \
  case 4 * (D) + 2 * (B) + 1: TileFused(D, B, 1, a, j0, len, q, qb, qc, ub, cb, wout, acc); break;
  switch (4 * d + 2 * (bias ? 1 : 0) + (wout ? 1 : 0)) {
    TILE_CASE(2, 0)
    TILE_CASE(2, 1)
    TILE_CASE(3, 0)
    TILE_CASE(3, 1)
    TILE_CASE(4, 0)
    TILE_CASE(4, 1)
  default:
    break;
  }
#undef TILE_CASE
}

/* Any dimensions: unit-stride passes over the tile through the scratch arrays w and c. */
static void TileGeneral(PetscInt d, PetscInt dg, PetscInt df, PetscInt dh, const Arrays *a, PetscInt j0, PetscInt len, const double *restrict q, double qb, const double *restrict qc, double *restrict w, double *restrict c, double *restrict wout, double *restrict acc)
{
  const PetscInt ld = a->ld;
  {
    const double *restrict kb = a->kb + j0;
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) w[j] = kb[j] - qb;
  }
  for (PetscInt k = 0; k < d; k++) {
    const double *restrict xk = a->x + k * ld + j0;
    const double qk           = q[k];
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) w[j] += qk * xk[j];
  }
#pragma omp simd
  for (PetscInt j = 0; j < len; j++) w[j] = ExpNonPositive(w[j]);
  if (wout) memcpy(wout, w, sizeof(double) * (size_t)len);
  for (PetscInt k = 0; k < dg; k++) {
    const double *restrict gk = a->g + k * ld + j0;
    double sum                = 0;
#pragma omp simd reduction(+ : sum)
    for (PetscInt j = 0; j < len; j++) sum += w[j] * gk[j];
    acc[k] += sum;
  }
  {
    const double *restrict ff = a->f0 + j0;
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) c[j] = ff[j];
  }
  for (PetscInt k = 0; k < df; k++) {
    const double *restrict fk = a->f + k * ld + j0;
    const double ck           = qc[k];
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) c[j] += ck * fk[j];
  }
  double sumc = 0;
#pragma omp simd reduction(+ : sumc)
  for (PetscInt j = 0; j < len; j++) {
    c[j] *= w[j];
    sumc += c[j];
  }
  for (PetscInt k = 0; k < dh; k++) {
    const double *restrict hk = a->h + k * ld + j0;
    double sum                = 0;
#pragma omp simd reduction(+ : sum)
    for (PetscInt j = 0; j < len; j++) sum += c[j] * hk[j];
    acc[dg + k] += sum;
  }
  acc[dg + dh] += sumc;
}

static PetscErrorCode Moments(const PairMomentKeys *mk, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscReal *qc, const PetscInt *jlo, const PetscInt *jhi, PetscReal *G, PetscReal *H, PetscReal *C, PetscReal *W, PetscInt wld)
{
  const PetscInt d = mk->keys.d, n = mk->keys.n, dg = mk->dg, df = mk->df, dh = mk->dh, na = dg + dh + 1;
  /* the JVP/VJP shape: g = f, h = the scoring keys; offsets both present or both absent */
  const PetscBool fused = (d >= 2 && d <= 4 && dg == d && df == d && dh == d && mk->g == mk->f && mk->h == mk->keys.x && !mk->kbias == !mk->f0 && !(C && mk->f0)) ? PETSC_TRUE : PETSC_FALSE;
  const PetscBool bias  = mk->kbias ? PETSC_TRUE : PETSC_FALSE;
  PetscReal      *acc, *zeros = NULL, *w, *c;
  Arrays          a;

  PetscFunctionBegin;
  PetscCheck(dg >= 0 && df >= 0 && dh >= 0, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "PairKernelMoments: negative component count");
  PetscCheck((!dg || (mk->g && G)) && (!df || (mk->f && qc)) && (!dh || (mk->h && H)), PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "PairKernelMoments: an array of a non-zero dimension is NULL");
  /* Absent offsets read as zeros, so the hot loops have no branches. */
  if (!mk->kbias || !mk->f0) PetscCall(PetscCalloc1(PetscMax(mk->keys.ld, 1), &zeros));
  a = (Arrays){mk->keys.x, mk->kbias ? mk->kbias : zeros, mk->g, mk->f, mk->f0 ? mk->f0 : zeros, mk->h, mk->keys.ld};
  PetscCall(PetscMalloc3((size_t)QUERY_BLOCK * na, &acc, PAIR_KERNEL_TILE, &w, PAIR_KERNEL_TILE, &c));
  for (PetscInt q0 = 0; q0 < nq; q0 += QUERY_BLOCK) {
    const PetscInt nb = PetscMin(QUERY_BLOCK, nq - q0);
    PetscInt       jmin = n, jmax = 0;
    for (PetscInt b = 0; b < nb; b++) {
      PetscCheck(0 <= jlo[q0 + b] && jlo[q0 + b] <= jhi[q0 + b] && jhi[q0 + b] <= n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "PairKernelMoments: key range [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT "]", jlo[q0 + b], jhi[q0 + b], n);
      jmin = PetscMin(jmin, jlo[q0 + b]);
      jmax = PetscMax(jmax, jhi[q0 + b]);
    }
    PetscCall(PetscArrayzero(acc, (size_t)nb * na));
    /* Tiles outer (a tile of keys stays in cache for the block), at global multiples of the
     * tile size: a query's summation order does not depend on its neighbours in the block. */
    for (PetscInt t0 = (jmin / PAIR_KERNEL_TILE) * PAIR_KERNEL_TILE; t0 < jmax; t0 += PAIR_KERNEL_TILE) {
      for (PetscInt b = 0; b < nb; b++) {
        const PetscInt   i = q0 + b, j0 = PetscMax(t0, jlo[i]), j1 = PetscMin(t0 + PAIR_KERNEL_TILE, jhi[i]);
        const PetscReal *qi = qt + i * d, *ci = df ? qc + i * df : NULL, qb = qbias ? qbias[i] : 0;
        if (j1 <= j0) continue;
        double *wout = W ? W + i * wld + j0 : NULL;
        if (fused) TileFusedDispatch(d, bias, &a, j0, j1 - j0, qi, qb, ci, w, c, wout, acc + b * na);
        else TileGeneral(d, dg, df, dh, &a, j0, j1 - j0, qi, qb, ci, w, c, wout, acc + b * na);
      }
    }
    for (PetscInt b = 0; b < nb; b++) {
      const PetscReal *ab = acc + b * na;
      if (G) PetscCall(PetscArraycpy(G + (q0 + b) * dg, ab, dg));
      if (H) PetscCall(PetscArraycpy(H + (q0 + b) * dh, ab + dg, dh));
      if (C) C[q0 + b] = fused ? DotQ(d, qc + (q0 + b) * df, ab) : ab[dg + dh];
    }
  }
  PetscCall(PetscFree3(acc, w, c));
  PetscCall(PetscFree(zeros));
  PetscFunctionReturn(0);
}

PetscErrorCode PairKernelMoments(const PairMomentKeys *mk, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscReal *qc, const PetscInt *jlo, const PetscInt *jhi, PetscReal *G, PetscReal *H, PetscReal *C)
{
  PetscFunctionBegin;
  PetscCall(Moments(mk, nq, qt, qbias, qc, jlo, jhi, G, H, C, NULL, 0));
  PetscFunctionReturn(0);
}

PetscErrorCode PairKernelMomentsKeepWeights(const PairMomentKeys *mk, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscReal *qc, const PetscInt *jlo, const PetscInt *jhi, PetscReal *G, PetscReal *H, PetscReal *C, PetscReal *W, PetscInt wld)
{
  PetscFunctionBegin;
  PetscCheck(W && wld >= mk->keys.n, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "PairKernelMomentsKeepWeights: weight rows need a leading dimension >= n = %" PetscInt_FMT, mk->keys.n);
  PetscCall(Moments(mk, nq, qt, qbias, qc, jlo, jhi, G, H, C, W, wld));
  PetscFunctionReturn(0);
}

/* One query's scatter over keys [j0, j0+len): T_c[j] += w_j (t_c + (<r, x_j> + r0) p_c). */
static inline __attribute__((always_inline)) void ScatterSmallD(const int D, const double *restrict x, PetscInt ld, PetscInt j0, PetscInt len, const double *restrict w, const double *restrict t, const double *restrict r, double r0, const double *restrict p, double *restrict T)
{
  const double *restrict x0 = x + j0, *restrict x1 = x + ld + j0, *restrict x2 = x + (D > 2 ? 2 : 0) * ld + j0, *restrict x3 = x + (D > 3 ? 3 : 0) * ld + j0;
  double *restrict T0 = T + j0, *restrict T1 = T + ld + j0, *restrict T2 = T + (D > 2 ? 2 : 0) * ld + j0, *restrict T3 = T + (D > 3 ? 3 : 0) * ld + j0;
  const double r0_ = r[0], r1 = r[1], r2 = D > 2 ? r[2] : 0, r3 = D > 3 ? r[3] : 0;
  const double t0 = t[0], t1 = t[1], t2 = D > 2 ? t[2] : 0, t3 = D > 3 ? t[3] : 0;
  const double p0 = p[0], p1 = p[1], p2 = D > 2 ? p[2] : 0, p3 = D > 3 ? p[3] : 0;

#pragma omp simd
  for (PetscInt j = 0; j < len; j++) {
    double c = r0 + r0_ * x0[j] + r1 * x1[j];
    if (D > 2) c += r2 * x2[j];
    if (D > 3) c += r3 * x3[j];
    const double wj = w[j], wc = wj * c;
    T0[j] += wj * t0 + wc * p0;
    T1[j] += wj * t1 + wc * p1;
    if (D > 2) T2[j] += wj * t2 + wc * p2;
    if (D > 3) T3[j] += wj * t3 + wc * p3;
  }
}

static void ScatterGeneral(PetscInt d, const double *restrict x, PetscInt ld, PetscInt j0, PetscInt len, const double *restrict w, const double *restrict t, const double *restrict r, double r0, const double *restrict p, double *restrict T, double *restrict c)
{
#pragma omp simd
  for (PetscInt j = 0; j < len; j++) c[j] = r0;
  for (PetscInt k = 0; k < d; k++) {
    const double *restrict xk = x + k * ld + j0;
    const double rk           = r[k];
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) c[j] += rk * xk[j];
  }
#pragma omp simd
  for (PetscInt j = 0; j < len; j++) c[j] *= w[j];
  for (PetscInt k = 0; k < d; k++) {
    double *restrict Tk = T + k * ld + j0;
    const double tk = t[k], pk = p[k];
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) Tk[j] += w[j] * tk + c[j] * pk;
  }
}

PetscErrorCode PairKernelScatter(const PairKeys *keys, PetscInt nq, const PetscReal *W, PetscInt wld, const PetscInt *jlo, const PetscInt *jhi, const PetscReal *t, const PetscReal *r, const PetscReal *r0, const PetscReal *p, PetscReal *T)
{
  const PetscInt d = keys->d, ld = keys->ld, n = keys->n;
  PetscReal     *c;
  PetscInt       jmin = n, jmax = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(PAIR_KERNEL_TILE, &c));
  for (PetscInt q = 0; q < nq; q++) {
    PetscCheck(0 <= jlo[q] && jlo[q] <= jhi[q] && jhi[q] <= n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "PairKernelScatter: key range [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT "]", jlo[q], jhi[q], n);
    jmin = PetscMin(jmin, jlo[q]);
    jmax = PetscMax(jmax, jhi[q]);
  }
  /* tiles outer: a tile of T and x stays in L1 while every query of the block adds to it, in
   * query order (the order of the sum for key j does not depend on the tiling) */
  for (PetscInt t0 = (jmin / PAIR_KERNEL_TILE) * PAIR_KERNEL_TILE; t0 < jmax; t0 += PAIR_KERNEL_TILE) {
    for (PetscInt q = 0; q < nq; q++) {
      const PetscInt j0 = PetscMax(t0, jlo[q]), j1 = PetscMin(t0 + PAIR_KERNEL_TILE, jhi[q]);
      const double  *wq = W + q * wld + j0, *tq = t + q * d, *rq = r + q * d, *pq = p + q * d, rr = r0 ? r0[q] : 0;
      if (j1 <= j0) continue;
      switch (d) {
      case 2:
        ScatterSmallD(2, keys->x, ld, j0, j1 - j0, wq, tq, rq, rr, pq, T);
        break;
      case 3:
        ScatterSmallD(3, keys->x, ld, j0, j1 - j0, wq, tq, rq, rr, pq, T);
        break;
      case 4:
        ScatterSmallD(4, keys->x, ld, j0, j1 - j0, wq, tq, rq, rr, pq, T);
        break;
      default:
        ScatterGeneral(d, keys->x, ld, j0, j1 - j0, wq, tq, rq, rr, pq, T, c);
      }
    }
  }
  PetscCall(PetscFree(c));
  PetscFunctionReturn(0);
}
