/* Issue 9, acceptance 4: ReLU attention is piecewise cubic in the tokens ("Attention is a smoothed
 * cubic spline"), softmax is not.
 *
 * Along X(t) = X0 + t D every score s_hij(t) = beta (x_i + t d_i)^T B_h (x_j + t d_j) is a
 * quadratic in t. Where none changes sign, ReLU attention f_i = c_i sum_h V_h sum_j
 * max(s_hij, 0) x_j(t) is a polynomial of degree 3 in t, so its 4th finite difference
 *     D4 f = f(0) - 4 f(h) + 6 f(2h) - 4 f(3h) + f(4h)
 * vanishes in exact arithmetic. The sign condition is asserted exactly (the quadratic's values at
 * both ends and at its vertex, besides the 5 stencil points).
 *
 * Round-off bound: every evaluation of f_i sums n key terms of size <= mag_i = c_i sum_h sum_j
 * |w_hij| |V_h|_inf |x_j|_inf (score: d products, V: d products, the rounded stencil point
 * X0 + k h D perturbs each score by a few ulp), so |fl(f_i) - f_i| <= (n + 4d + 8) u mag_i,
 * u = 2^-53, and the stencil's coefficients sum to 16:
 *     |D4 fl(f)| <= BOUND = 16 (n + 4d + 8) u max_{t, i} mag_i.
 * Softmax on the same segment: D4 f = h^4 f''''(t*) is truncation, not round-off: it must exceed
 * 1e6 BOUND, and halving h must divide it by ~16 (ratio in [12, 20]: the h^5 term is ~h/h0 of it).
 * ReLU's 3rd difference must also exceed 1e6 BOUND (f is genuinely cubic, not of lower degree).
 * Negative control: on a segment where scores DO change sign, ReLU's D4 exceeds 1e3 BOUND.
 *
 * Tokens: two clusters around +e1 and -e1 (alternating indices), head 1 with B ~ +I, head 2 with
 * B ~ -I (Q, K = +-(I + 0.2 G)): scores ~ +-1, every head has both active and zero pairs, all
 * bounded away from 0. Euclidean, no layer norm, count normalisation, mask none and causal. The
 * velocity is the library's AttnField (the pair-kernel layer), as the particle solver uses it. */
#include <petscsys.h>
#include "attention_field.h"
#include "pair_kernel.h"
#include "rng.h"

#define N 16
#define D 3
#define H 2
#define U 1.1102230246251565e-16 /* 2^-53 */

typedef struct {
  AttnModel m;
  AttnField field;
  PairKeys  keys;
  PetscReal *store;
} Setup;

static double Q[H * D * D], K[H * D * D], V[H * D * D], Bm[H * D * D];

static PetscErrorCode Create(MfsaKernel kernel, MfsaMask mask, Setup *st)
{
  PetscFunctionBegin;
  PetscCall(AttnModelCreate(PETSC_COMM_SELF, &st->m));
  PetscCall(AttnModelSetDimensions(st->m, D, H));
  st->m->geometry = MFSA_GEOMETRY_EUCLIDEAN;
  st->m->mask     = mask;
  st->m->beta     = 1.0;
  PetscCall(AttnModelSetMatrices(st->m, Q, K, V));
  PetscCall(AttnModelSetKernel(st->m, kernel, kernel == MFSA_KERNEL_RELU ? MFSA_KERNEL_NORM_COUNT : MFSA_KERNEL_NORM_DEFAULT, MFSA_LN_NONE));
  PetscCall(AttnFieldCreate(st->m, N, &st->field));
  PetscCall(PairKeysAllocate(N, D, &st->keys, &st->store));
  PetscFunctionReturn(0);
}

static PetscErrorCode Destroy(Setup *st)
{
  PetscFunctionBegin;
  PetscCall(PairKeysFree(&st->store));
  PetscCall(AttnFieldDestroy(&st->field));
  PetscCall(AttnModelDestroy(&st->m));
  PetscFunctionReturn(0);
}

/* f at X0 + t Dir (the stencil point rounded as a caller would hold it) */
static PetscErrorCode Field(Setup *st, const double *x0, const double *dir, double t, double *f)
{
  double x[N * D];

  PetscFunctionBegin;
  for (int k = 0; k < N * D; k++) x[k] = x0[k] + t * dir[k];
  for (int j = 0; j < N; j++)
    for (int a = 0; a < D; a++) st->store[a * st->keys.ld + j] = x[j * D + a];
  PetscCall(AttnFieldEvaluate(st->field, &st->keys, 0, N, x, f, NULL));
  PetscFunctionReturn(0);
}

static double Score(int h, const double *xi, const double *xj)
{
  double s = 0;
  for (int a = 0; a < D; a++)
    for (int b = 0; b < D; b++) s += xi[a] * Bm[h * D * D + a * D + b] * xj[b];
  return s;
}

/* Sign changes of the scores on t in [0, 4h]: exact (quadratic: ends and vertex) and at the 5
 * stencil points; also max_{t,i} mag_i of ReLU (count normalisation). */
static void SignChanges(const double *x0, const double *dir, double h, PetscBool causal, int *exact, int *stencil, double *magmax)
{
  *exact = *stencil = 0;
  *magmax = 0;
  for (int k = 0; k <= 4; k++) {
    double x[N * D];
    for (int q = 0; q < N * D; q++) x[q] = x0[q] + k * h * dir[q];
    for (int i = 0; i < N; i++) {
      const int cnt = causal ? i + 1 : N;
      double    mag = 0;
      for (int hh = 0; hh < H; hh++) {
        double vmax = 0;
        for (int r = 0; r < D; r++) {
          double row = 0;
          for (int c = 0; c < D; c++) row += fabs(V[hh * D * D + r * D + c]);
          vmax = PetscMax(vmax, row);
        }
        for (int j = 0; j < cnt; j++) {
          double xn = 0, s = Score(hh, x + i * D, x + j * D);
          for (int c = 0; c < D; c++) xn = PetscMax(xn, fabs(x[j * D + c]));
          mag += PetscMax(s, 0) / cnt * vmax * xn;
        }
      }
      *magmax = PetscMax(*magmax, mag);
    }
  }
  for (int hh = 0; hh < H; hh++)
    for (int i = 0; i < N; i++)
      for (int j = 0; j < (causal ? i + 1 : N); j++) {
        const double *xi = x0 + i * D, *xj = x0 + j * D, *di = dir + i * D, *dj = dir + j * D;
        const double  a = Score(hh, xi, xj), b = Score(hh, di, xj) + Score(hh, xi, dj), c = Score(hh, di, dj);
        const double  T = 4 * h, sT = a + b * T + c * T * T;
        int           change = (a > 0) != (sT > 0) || a == 0 || sT == 0;
        if (c != 0) {
          const double tv = -b / (2 * c);
          if (tv > 0 && tv < T) {
            const double sv = a + b * tv + c * tv * tv;
            if ((sv > 0) != (a > 0) || sv == 0) change = 1;
          }
        }
        *exact += change;
        for (int k = 1; k <= 4; k++) {
          const double t = k * h;
          if ((a + b * t + c * t * t > 0) != (a > 0)) {
            (*stencil)++;
            break;
          }
        }
      }
}

/* max_i |k-th forward difference| (k = 3 or 4) of f on the stencil t = 0, h, .., kh */
static PetscErrorCode Difference(Setup *st, const double *x0, const double *dir, double h, int order, double *out)
{
  static const double c3[] = {-1, 3, -3, 1}, c4[] = {1, -4, 6, -4, 1};
  const double       *c = order == 3 ? c3 : c4;
  double              f[N * D], acc[N * D] = {0};

  PetscFunctionBegin;
  for (int k = 0; k <= order; k++) {
    PetscCall(Field(st, x0, dir, k * h, f));
    for (int q = 0; q < N * D; q++) acc[q] += c[k] * f[q];
  }
  *out = 0;
  for (int q = 0; q < N * D; q++) *out = PetscMax(*out, isfinite(acc[q]) ? fabs(acc[q]) : INFINITY);
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const double h = 0.05;
  double       x0[N * D], dir[N * D], xg[N * D];
  int          failures = 0;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  for (int hh = 0; hh < H; hh++) {
    double g[2 * D * D];
    MfsaRandomNormals(2024, 40 + hh, 0, 2 * D * D, g);
    for (int a = 0; a < D; a++)
      for (int b = 0; b < D; b++) {
        const double id = a == b ? 1.0 : 0.0;
        Q[hh * D * D + a * D + b] = (hh ? -1.0 : 1.0) * (id + 0.2 * g[a * D + b]);
        K[hh * D * D + a * D + b] = id + 0.2 * g[D * D + a * D + b];
      }
    MfsaRandomNormals(2024, 50 + hh, 0, D * D, V + hh * D * D);
    for (int q = 0; q < D * D; q++) V[hh * D * D + q] /= sqrt((double)D);
    for (int a = 0; a < D; a++)
      for (int b = 0; b < D; b++) {
        double s = 0;
        for (int r = 0; r < D; r++) s += Q[hh * D * D + r * D + a] * K[hh * D * D + r * D + b];
        Bm[hh * D * D + a * D + b] = s;
      }
  }
  for (int i = 0; i < N; i++) {
    MfsaRandomNormals(2024, 60, (uint64_t)i, D, x0 + i * D);
    MfsaRandomNormals(2024, 61, (uint64_t)i, D, dir + i * D);
    MfsaRandomNormals(2024, 62, (uint64_t)i, D, xg + i * D);
    for (int a = 0; a < D; a++) {
      x0[i * D + a] = 0.25 * x0[i * D + a] + (a == 0 ? (i % 2 ? -1.0 : 1.0) : 0.0);
      dir[i * D + a] *= 0.3;
    }
  }
  for (int causal = 0; causal < 2; causal++) {
    Setup  relu, soft;
    int    exact, stencil, gexact, gstencil;
    double magmax, gmag, bound, d4r, d3r, d4s, d4s2, d4neg;
    PetscCall(Create(MFSA_KERNEL_RELU, causal ? MFSA_MASK_CAUSAL : MFSA_MASK_NONE, &relu));
    PetscCall(Create(MFSA_KERNEL_SOFTMAX, causal ? MFSA_MASK_CAUSAL : MFSA_MASK_NONE, &soft));
    SignChanges(x0, dir, h, (PetscBool)causal, &exact, &stencil, &magmax);
    bound = 16.0 * (N + 4 * D + 8) * U * magmax;
    PetscCall(Difference(&relu, x0, dir, h, 4, &d4r));
    PetscCall(Difference(&relu, x0, dir, h, 3, &d3r));
    PetscCall(Difference(&soft, x0, dir, h, 4, &d4s));
    PetscCall(Difference(&soft, x0, dir, h / 2, 4, &d4s2));
    /* negative control: Gaussian tokens (no clusters), longer segment: scores cross zero */
    SignChanges(xg, dir, 2 * h, (PetscBool)causal, &gexact, &gstencil, &gmag);
    PetscCall(Difference(&relu, xg, dir, 2 * h, 4, &d4neg));
    {
      const double gbound = 16.0 * (N + 4 * D + 8) * U * gmag;
      const char  *mk     = causal ? "causal" : "none";
      const int    ok1 = exact == 0 && stencil == 0, ok2 = d4r <= bound, ok3 = d3r >= 1e6 * bound, ok4 = d4s >= 1e6 * bound;
      const int    ok5 = d4s / d4s2 >= 12 && d4s / d4s2 <= 20, ok6 = gexact > 0 && d4neg >= 1e3 * gbound;
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "[%s] mask %s: score sign changes on the segment: %d exact, %d at stencil points (must be 0)\n", ok1 ? "ok  " : "FAIL", mk, exact, stencil));
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "[%s] mask %s: relu |D4 f| = %.3e <= round-off bound %.3e (max mag %.3f, h = %g)\n", ok2 ? "ok  " : "FAIL", mk, d4r, bound, magmax, h));
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "[%s] mask %s: relu |D3 f| = %.3e >= 1e6 x bound (genuinely cubic)\n", ok3 ? "ok  " : "FAIL", mk, d3r));
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "[%s] mask %s: softmax |D4 f| = %.3e >= 1e6 x bound = %.3e (ratio to relu's %.1e)\n", ok4 ? "ok  " : "FAIL", mk, d4s, 1e6 * bound, d4s / PetscMax(d4r, 1e-300)));
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "[%s] mask %s: softmax D4(h)/D4(h/2) = %.2f in [12, 20] (h^4 truncation)\n", ok5 ? "ok  " : "FAIL", mk, d4s / d4s2));
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "[%s] mask %s: control with %d sign changes: relu |D4 f| = %.3e >= 1e3 x bound %.3e\n", ok6 ? "ok  " : "FAIL", mk, gexact, d4neg, gbound));
      failures += !ok1 + !ok2 + !ok3 + !ok4 + !ok5 + !ok6;
    }
    PetscCall(Destroy(&relu));
    PetscCall(Destroy(&soft));
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "%s\n", failures ? "FAILED" : "relu spline: all checks passed"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
