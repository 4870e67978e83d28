/* The non-exp attention kernels (sigmoid, relu, linear, hyla): plain sums over a block of keys,
 * in tiles of VARIANT_TILE keys visited in global index order; within a tile each query's
 * contributions are summed left to right, so a query's result depends only on its own inputs.
 * Key tiles are the outer loop so that a tile (and, for hyla, the values V_h x_j of its keys)
 * is loaded once for all queries. */
#include "pair_kernel_variants.h"
#include "pair_kernel_exp.h"
#include <math.h>
#include <stdint.h>

#define VARIANT_TILE 256

static PetscErrorCode CheckKeys(const PairKeys *keys, const char *what)
{
  PetscFunctionBegin;
  PetscCheck(keys->precision == PAIR_PRECISION_DOUBLE, PETSC_COMM_SELF, PETSC_ERR_SUP, "The %s attention kernel runs in double precision only: use -precision double with -attn_kernel other than softmax/unnormalized", what);
  PetscCheck(keys->x || keys->n == 0, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "Pair kernel (%s): keys without an array", what);
  PetscFunctionReturn(0);
}

/* Keys j of the block (block-relative) that query q attends: [0, end). */
static inline PetscInt KeyEnd(const PairKeys *keys, PetscInt klim)
{
  return PetscMax(0, PetscMin(keys->n, klim - keys->offset));
}

static const char *const PairWeightNames[] = {"sigmoid", "relu", "linear"};

static inline double Weight(PairWeight w, double z)
{
  if (w == PAIR_WEIGHT_SIGMOID) {
    /* both branches take e^{-|z|} <= 1: no overflow, and vectorisable */
    const double t = ExpNonPositive(-fabs(z)), r = 1.0 / (1.0 + t);
    return z >= 0 ? r : t * r;
  }
  if (w == PAIR_WEIGHT_RELU) return z > 0 ? z : 0.0;
  return z;
}

/* One query against nt keys of a tile, fused in one pass over the keys for d = 2, 3, 4
 * (the score, the weight and the weighted sums of each key together), in the same order of
 * operations as the general path below. */
#define FUSED_TILE(D, W) \
  do { \
    const double q0 = qq[0], q1 = qq[1], q2 = (D) > 2 ? qq[2] : 0.0, q3 = (D) > 3 ? qq[3] : 0.0; \
    double       s0 = 0, s1 = 0, s2 = 0, s3 = 0, sw = 0; \
    _Pragma("omp simd reduction(+ : s0, s1, s2, s3, sw)") for (PetscInt j = 0; j < nt; j++) { \
      const double x0 = x[j], x1 = x[ld + j], x2 = (D) > 2 ? x[2 * ld + j] : 0.0, x3 = (D) > 3 ? x[3 * ld + j] : 0.0; \
      const double wj = Weight((W), b + q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3); \
      sw += wj; \
      s0 += wj * x0; \
      s1 += wj * x1; \
      s2 += wj * x2; \
      s3 += wj * x3; \
    } \
    acc[q * d + 0] += s0; \
    acc[q * d + 1] += s1; \
    if ((D) > 2) acc[q * d + 2] += s2; \
    if ((D) > 3) acc[q * d + 3] += s3; \
    if (wsum) wsum[q] += sw; \
  } while (0)

/* Any d: the scores of the tile, the weights, then one pass per component. */
#define GENERAL_TILE(W) \
  do { \
    for (PetscInt j = 0; j < nt; j++) z[j] = b; \
    for (PetscInt c = 0; c < d; c++) { \
      const double qc = qq[c]; \
      for (PetscInt j = 0; j < nt; j++) z[j] += qc * x[c * ld + j]; \
    } \
    _Pragma("omp simd") for (PetscInt j = 0; j < nt; j++) z[j] = Weight((W), z[j]); \
    for (PetscInt c = 0; c < d; c++) { \
      double sc = 0; \
      _Pragma("omp simd reduction(+ : sc)") for (PetscInt j = 0; j < nt; j++) sc += z[j] * x[c * ld + j]; \
      acc[q * d + c] += sc; \
    } \
    if (wsum) { \
      double sw = 0; \
      for (PetscInt j = 0; j < nt; j++) sw += z[j]; \
      wsum[q] += sw; \
    } \
  } while (0)

#define TILE_ANY_D(W) \
  do { \
    if (d == 2) FUSED_TILE(2, W); \
    else if (d == 3) FUSED_TILE(3, W); \
    else if (d == 4) FUSED_TILE(4, W); \
    else GENERAL_TILE(W); \
  } while (0)

PetscErrorCode PairKernelWeightSum(PairWeight w, const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscReal *qbias, const PetscInt *klim, PetscReal *acc, PetscReal *wsum)
{
  const PetscInt d = keys->d, ld = keys->ld;
  PetscInt       jmax = 0;
  double         z[VARIANT_TILE];

  PetscFunctionBegin;
  PetscCall(CheckKeys(keys, PairWeightNames[w]));
  for (PetscInt q = 0; q < nq; q++) jmax = PetscMax(jmax, KeyEnd(keys, klim[q]));
  for (PetscInt t0 = 0; t0 < jmax; t0 += VARIANT_TILE) {
    const double *restrict x = keys->x + t0;
    for (PetscInt q = 0; q < nq; q++) {
      const PetscInt nt = PetscMin(VARIANT_TILE, KeyEnd(keys, klim[q]) - t0);
      const double  *qq = qt + q * d, b = qbias ? qbias[q] : 0.0;
      if (nt <= 0) continue;
      /* the weight and d are compile-time constants in each branch, so the loop body keeps no
       * branch on them (with a runtime w every weight's code would run for every pair) */
      switch (w) {
      case PAIR_WEIGHT_SIGMOID:
        TILE_ANY_D(PAIR_WEIGHT_SIGMOID);
        break;
      case PAIR_WEIGHT_RELU:
        TILE_ANY_D(PAIR_WEIGHT_RELU);
        break;
      case PAIR_WEIGHT_LINEAR:
        TILE_ANY_D(PAIR_WEIGHT_LINEAR);
        break;
      }
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PairKernelHylaSum(const PairHyla *hy, const PairKeys *keys, PetscInt nq, const PetscReal *qt, PetscInt qld, const PetscInt *klim, PetscReal *acc)
{
  const PetscInt d = keys->d, ld = keys->ld, H = hy->H;
  PetscInt       jmax = 0;
  double        *vx, *a, *rinv, *sat, *v;

  PetscFunctionBegin;
  PetscCall(CheckKeys(keys, "hyla"));
  PetscCheck(H >= 1 && qld >= nq, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "Pair kernel (hyla): %" PetscInt_FMT " heads, query stride %" PetscInt_FMT " for %" PetscInt_FMT " queries", H, qld, nq);
  for (PetscInt q = 0; q < nq; q++) jmax = PetscMax(jmax, KeyEnd(keys, klim[q]));
  if (jmax == 0) PetscFunctionReturn(0);
  PetscCall(PetscMalloc5(H * d * VARIANT_TILE, &vx, H * VARIANT_TILE, &a, VARIANT_TILE, &rinv, VARIANT_TILE, &sat, VARIANT_TILE, &v));
  const double inv_h = 1.0 / (double)H;
  for (PetscInt t0 = 0; t0 < jmax; t0 += VARIANT_TILE) {
    const PetscInt nt_all = PetscMin(VARIANT_TILE, jmax - t0);
    const double *restrict x = keys->x + t0;
    /* the values V_h x_j of the tile's keys, once for all queries: vx[(h d + c) TILE + j] */
    for (PetscInt h = 0; h < H; h++)
      for (PetscInt c = 0; c < d; c++) {
        const PetscReal *Vrow = hy->V + h * d * d + c * d;
        double          *out  = vx + (h * d + c) * VARIANT_TILE;
        for (PetscInt j = 0; j < nt_all; j++) out[j] = 0;
        for (PetscInt b = 0; b < d; b++) {
          const double vb = Vrow[b];
          for (PetscInt j = 0; j < nt_all; j++) out[j] += vb * x[b * ld + j];
        }
      }
    for (PetscInt q = 0; q < nq; q++) {
      const PetscInt nt = PetscMin(VARIANT_TILE, KeyEnd(keys, klim[q]) - t0);
      if (nt <= 0) continue;
      for (PetscInt h = 0; h < H; h++) {
        const double *qq = qt + h * qld * d + q * d;
        double       *ah = a + h * VARIANT_TILE;
        for (PetscInt j = 0; j < nt; j++) ah[j] = 0;
        for (PetscInt c = 0; c < d; c++) {
          const double qc = qq[c];
          for (PetscInt j = 0; j < nt; j++) ah[j] += qc * x[c * ld + j];
        }
      }
      for (PetscInt j = 0; j < nt; j++) {
        double ms = 0, sa = 0;
        for (PetscInt h = 0; h < H; h++) {
          ms += a[h * VARIANT_TILE + j] * a[h * VARIANT_TILE + j];
          sa += a[h * VARIANT_TILE + j];
        }
        rinv[j] = 1.0 / sqrt(ms * inv_h + hy->eps);
        sat[j]  = sa * rinv[j];
      }
      for (PetscInt c = 0; c < d; c++) {
        double s = 0;
        for (PetscInt j = 0; j < nt; j++) v[j] = 0;
        for (PetscInt h = 0; h < H; h++) {
          const double *ah = a + h * VARIANT_TILE, *vh = vx + (h * d + c) * VARIANT_TILE;
          for (PetscInt j = 0; j < nt; j++) v[j] += ah[j] * vh[j];
        }
        /* sum_h at_h V_h x_j = rinv * sum_h a_h V_h x_j; ReLU commutes with the positive rinv */
        for (PetscInt j = 0; j < nt; j++) s += sat[j] * (v[j] > 0 ? v[j] * rinv[j] : 0.0);
        acc[q * d + c] += s;
      }
    }
  }
  PetscCall(PetscFree5(vx, a, rinv, sat, v));
  PetscFunctionReturn(0);
}
