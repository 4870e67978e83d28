/* Test-only reference: the velocity F(X) of every attention variant (MODEL.md §4, the issue-9
 * spec) by the textbook dense formulas in long double, one token and one head at a time. Written
 * from the equations, not from src/pair_kernel_variants.c or src/attention_field.c: no online
 * log-sum-exp, no tiles, no key blocks, no SoA layout.
 *
 * Tokens x_j (n x d, row-major), heads h with B_h (d x d) and V_h (d x d), score
 * s_hij = beta x_i^T B_h x_j, N(i) = {j < n} or {j <= i} (causal), c_i = 1/|N(i)| or 1:
 *   softmax       f_i = sum_h V_h sum_j e^{s_hij} x_j / sum_l e^{s_hil}
 *   unnormalized  f_i = sum_h V_h (1/|N(i)|) sum_j e^{s_hij} x_j
 *   sigmoid/relu/linear  f_i = c_i sum_h V_h sum_j w(s_hij + b_i) x_j
 *   hyla          a_h = (beta/sqrt(d)) x_i^T B_h x_j, r = sqrt(mean_h a_h^2 + eps), at_h = a_h/r,
 *                 f_i = c_i sum_j (sum_h at_h) ReLU(sum_h at_h V_h x_j)
 * and the layer norm: none F = f(X); post F_i = P_{x_i} f_i; pre F = f(X^) with x^_j = x_j/|x_j|;
 * ngpt F_i = alpha P_{x_i} f_i/|f_i|. Limits: d <= 16, H <= 8 (fixed-size accumulators). */
#pragma once
#include <petscsys.h>
#include <math.h>
#include <stdlib.h>
#include "model.h"

typedef struct {
  MfsaKernel    kernel;
  PetscBool     count;    /* c_i = 1/|N(i)| (else 1); ignored by softmax/unnormalized */
  PetscBool     bias_set; /* sigmoid: fixed bias b, else b_i = -log|N(i)| */
  double        bias;
  double        eps;   /* hyla */
  MfsaLayerNorm ln;    /* NONE, POST, PRE or NGPT */
  double        alpha; /* ngpt */
  PetscBool     causal;
  double        beta;
  PetscInt      n, d, H;
  const double *B, *V; /* H x d x d each, row-major */
} BruteVariant;

/* Token i's attention output f_i (before the layer norm), keys/values/queries all from x. Also
 * returns mag = c_i sum_h sum_j |w_hij| |V_h| |x_j| (max norms; softmax: normalised weights), the
 * size of the terms whose sum is f_i: the scale of its round-off. */
static inline void BruteVariantAttention(const BruteVariant *b, const double *x, PetscInt i, long double *f, long double *mag)
{
  const PetscInt d = b->d, H = b->H, cnt = b->causal ? i + 1 : b->n;
  const double  *xi = x + i * d;
  long double    acc[16], vmax[8];

  for (PetscInt c = 0; c < d; c++) f[c] = 0;
  *mag = 0;
  for (PetscInt h = 0; h < H; h++) { /* max-norm of V_h */
    vmax[h] = 0;
    for (PetscInt r = 0; r < d; r++) {
      long double row = 0;
      for (PetscInt c = 0; c < d; c++) row += fabsl((long double)b->V[h * d * d + r * d + c]);
      if (row > vmax[h]) vmax[h] = row;
    }
  }
  if (b->kernel == MFSA_KERNEL_HYLA) {
    const long double cf = b->count ? 1.0L / cnt : 1.0L, sc = b->beta / sqrtl((long double)d);
    for (PetscInt j = 0; j < cnt; j++) {
      const double *xj = x + j * d;
      long double   a[8], ms = 0, r, asum = 0, u[16], xn = 0;
      for (PetscInt h = 0; h < H; h++) {
        long double s = 0;
        for (PetscInt p = 0; p < d; p++)
          for (PetscInt q = 0; q < d; q++) s += (long double)xi[p] * b->B[h * d * d + p * d + q] * xj[q];
        a[h] = sc * s;
        ms += a[h] * a[h];
      }
      r = sqrtl(ms / H + b->eps);
      for (PetscInt h = 0; h < H; h++) {
        a[h] /= r;
        asum += a[h];
      }
      for (PetscInt c = 0; c < d; c++) {
        long double v = 0;
        for (PetscInt h = 0; h < H; h++)
          for (PetscInt q = 0; q < d; q++) v += a[h] * b->V[h * d * d + c * d + q] * xj[q];
        u[c] = v > 0 ? v : 0;
      }
      for (PetscInt c = 0; c < d; c++) f[c] += cf * asum * u[c];
      for (PetscInt q = 0; q < d; q++) xn = fmaxl(xn, fabsl((long double)xj[q]));
      for (PetscInt h = 0; h < H; h++) *mag += cf * fabsl(asum) * fabsl(a[h]) * vmax[h] * xn;
    }
    return;
  }
  for (PetscInt h = 0; h < H; h++) {
    const double *Bh = b->B + h * d * d, *Vh = b->V + h * d * d;
    long double   smax = -INFINITY, z = 0, wabs = 0;
    long double  *s = (long double *)malloc(sizeof(long double) * (size_t)cnt);
    for (PetscInt c = 0; c < d; c++) acc[c] = 0;
    for (PetscInt j = 0; j < cnt; j++) {
      long double sj = 0;
      for (PetscInt p = 0; p < d; p++)
        for (PetscInt q = 0; q < d; q++) sj += (long double)xi[p] * Bh[p * d + q] * x[j * d + q];
      s[j] = b->beta * sj;
      if (s[j] > smax) smax = s[j];
    }
    for (PetscInt j = 0; j < cnt; j++) {
      long double w;
      switch (b->kernel) {
      case MFSA_KERNEL_SOFTMAX:
        w = expl(s[j] - smax);
        z += w;
        break;
      case MFSA_KERNEL_UNNORMALIZED:
        w = expl(s[j]) / cnt;
        break;
      case MFSA_KERNEL_SIGMOID: {
        const long double bi = b->bias_set ? (long double)b->bias : -logl((long double)cnt);
        w = 1.0L / (1.0L + expl(-(s[j] + bi))) * (b->count ? 1.0L / cnt : 1.0L);
      } break;
      case MFSA_KERNEL_RELU:
        w = (s[j] > 0 ? s[j] : 0) * (b->count ? 1.0L / cnt : 1.0L);
        break;
      default: /* linear */
        w = s[j] * (b->count ? 1.0L / cnt : 1.0L);
        break;
      }
      long double xn = 0;
      for (PetscInt c = 0; c < d; c++) acc[c] += w * x[j * d + c];
      for (PetscInt q = 0; q < d; q++) xn = fmaxl(xn, fabsl((long double)x[j * d + q]));
      wabs += fabsl(w) * xn;
    }
    if (b->kernel == MFSA_KERNEL_SOFTMAX) {
      for (PetscInt c = 0; c < d; c++) acc[c] /= z;
      wabs /= z;
    }
    for (PetscInt r = 0; r < d; r++)
      for (PetscInt c = 0; c < d; c++) f[r] += (long double)Vh[r * d + c] * acc[c];
    *mag += wabs * vmax[h];
    free(s);
  }
}

/* F_i for every i < n (row-major n x d) and mag_i (see above; for ngpt divided by |f_i|, the
 * conditioning of the normalisation). x is the state (on the sphere for post/ngpt). */
static inline void BruteVariantVelocity(const BruteVariant *b, const double *x, double *F, double *mag)
{
  const PetscInt d = b->d, n = b->n;
  double        *xs = (double *)malloc(sizeof(double) * (size_t)(n * d));

  for (PetscInt j = 0; j < n; j++) {
    long double nrm = 0;
    for (PetscInt c = 0; c < d; c++) nrm += (long double)x[j * d + c] * x[j * d + c];
    nrm = sqrtl(nrm);
    for (PetscInt c = 0; c < d; c++) xs[j * d + c] = b->ln == MFSA_LN_PRE ? (double)(x[j * d + c] / nrm) : x[j * d + c];
  }
  for (PetscInt i = 0; i < n; i++) {
    long double f[16], m, dot = 0, fn = 0;
    BruteVariantAttention(b, xs, i, f, &m);
    if (b->ln == MFSA_LN_NGPT) { /* normalise the attention output first, then project */
      for (PetscInt c = 0; c < d; c++) fn += f[c] * f[c];
      fn = sqrtl(fn);
      for (PetscInt c = 0; c < d; c++) f[c] = fn > 0 ? b->alpha * f[c] / fn : 0;
      m = fn > 0 ? b->alpha * m / fn : 0;
    }
    if (b->ln == MFSA_LN_POST || b->ln == MFSA_LN_NGPT) {
      for (PetscInt c = 0; c < d; c++) dot += (long double)x[i * d + c] * f[c];
      for (PetscInt c = 0; c < d; c++) f[c] -= dot * x[i * d + c];
    }
    for (PetscInt c = 0; c < d; c++) F[i * d + c] = (double)f[c];
    mag[i] = (double)m;
  }
  free(xs);
}
