/* The pair kernel's key blocks (what the ring exchange feeds it) and its single precision.
 *  1. Keys split into random blocks (empty ones, ones crossing tile boundaries) visited in a
 *     random order, the online state carried across blocks: mean and log Z against a
 *     brute-force two-pass softmax in long double (independent of the online log-sum-exp),
 *     d in {1,2,3,4,5,16}, causal and not, beta = 100 on the sphere and |x| = 30 in R^d (the
 *     paths that move the running max); tolerance 1e-12 as in test_pair_kernel.
 *  2. The float exp Exp2KernelF against exp2l on a dense grid of [-125, 64]: max relative error
 *     <= 4 u_f (u_f = 2^-24), the value the single-precision bound below assumes.
 *  3. Single precision against the same brute force: mean and log Z within a bound DERIVED from
 *     u_f (first-order rounding analysis, below), never tuned to the measurement.
 *  4. The velocity (AttnField: several heads, V, SA/USA, sphere/R^d) in single vs double, as a
 *     function of beta|B|R^2 and n: each token within the derived bound; the measured relative
 *     errors are printed as the table README quotes.
 *
 * Single-precision error bound for one query (q' = log2(e) qt, X_c = max_j |x_jc|,
 * S = sum_c |q'_c| X_c bounds every |q'.x_j| and the running max |m|):
 *   u = q'.x - m is computed from float q', x (2 roundings per product) by FMA chains starting
 *   from -m, at most 5d/4 + 1 roundings (d <= 4: d; general d: 5 per sweep of 4 components),
 *   each of a partial sum <= S + |m|:   |du| <= u_f (2 S + (5d/4 + 1) 2 S) = (2.5 d + 4) u_f S;
 *   weight 2^u:         rho = ln2 |du| + 4 u_f (the exp, checked in 2.);
 *   sums within a tile: each of the 8 lanes adds k = TILE/8 terms, then at most 7 of the
 *                       vector epilogue and 3 reduction levels, in float: relative
 *                       gamma = (k+10) u_f / (1 - (k+10) u_f) of sum_j w_j |x_jc|
 *                       (all weights positive; across tiles in double: negligible);
 *   keys rounded:       u_f X_c in the weighted sum;
 *   => |d mean_c| <= X_c (2 rho / (1 - rho) + 2 gamma + u_f),  |d log Z| <= rho + gamma.
 * Velocity: |dv_i| <= sum_h ||V_h||_F (|d mean_h,i| + USA: |mean_h,i| (e^{|dlogZ|} - 1)) * weight;
 * the tangent projection does not increase it. The double kernel's own error (~1e-15 X) is
 * covered by adding 1e-12 X. */
#include <petscsys.h>
#include "attention_field.h"
#include "pair_kernel.h"
#include "pair_kernel_exp.h"
#include "rng.h"
#include "brute_softmax.h"
#include <stdlib.h>
#include <string.h>

#define UF 5.9604644775390625e-08 /* 2^-24 */

/* Tokens: unit vectors (sphere) or Gaussians scaled to radius ~R. */
static void Tokens(PetscInt n, PetscInt d, double radius, PetscBool sphere, uint64_t stream, double *x)
{
  for (PetscInt i = 0; i < n; i++) {
    double norm = 0;
    MfsaRandomNormals(4321, stream, (uint64_t)i, (int)d, x + i * d);
    for (PetscInt a = 0; a < d; a++) norm += x[i * d + a] * x[i * d + a];
    norm = sqrt(norm);
    for (PetscInt a = 0; a < d; a++) x[i * d + a] *= sphere ? 1.0 / norm : radius / sqrt((double)d);
  }
}

/* A deterministic pseudo-random integer in [0, m) from (seed, i). */
static PetscInt RandInt(uint64_t seed, uint64_t i, PetscInt m)
{
  double u[2];
  MfsaRandomNormals(seed, 77, i, 2, u);
  double v = fabs(u[0] * 1e6 + u[1]);
  return (PetscInt)fmod(v, (double)m);
}

/* Fills a block's SoA storage (double and float) from row-major tokens [off, off+nb). */
static PetscErrorCode MakeBlock(const double *x, PetscInt d, PetscInt off, PetscInt nb, PairPrecision prec, double **dstore, float **fstore, PairKeys *blk)
{
  const PetscInt ld = PairKeysLeadingDimension(nb);
  void          *m1 = NULL, *m2 = NULL;

  PetscFunctionBegin;
  PetscCheck(posix_memalign(&m1, 64, sizeof(double) * ld * d) == 0 && posix_memalign(&m2, 64, sizeof(float) * ld * d) == 0, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory");
  *dstore = (double *)m1;
  *fstore = (float *)m2;
  for (PetscInt j = 0; j < nb; j++)
    for (PetscInt a = 0; a < d; a++) {
      (*dstore)[a * ld + j] = x[(off + j) * d + a];
      (*fstore)[a * ld + j] = (float)x[(off + j) * d + a];
    }
  memset(blk, 0, sizeof(*blk));
  blk->n         = nb;
  blk->d         = d;
  blk->ld        = ld;
  blk->offset    = off;
  blk->precision = prec;
  blk->x         = *dstore;
  blk->xs        = *fstore;
  PetscFunctionReturn(0);
}

/* Mean / log Z of n queries q against the n tokens x, the keys cut into nblk random blocks
 * visited in a random order (nblk = 1: one block, what PairKernelApply does). */
static PetscErrorCode KernelBlocks(PetscInt n, PetscInt d, const double *x, const double *q, const PetscInt *klim, PetscInt nblk, uint64_t seed, PairPrecision prec, double *mean, double *logz)
{
  PetscInt       *cut, *order;
  PairKernelState st;

  PetscFunctionBegin;
  PetscCall(PetscMalloc2(nblk + 1, &cut, nblk, &order));
  cut[0] = 0;
  cut[nblk] = n;
  for (PetscInt b = 1; b < nblk; b++) cut[b] = RandInt(seed, (uint64_t)b, n + 1);
  PetscCall(PetscSortInt(nblk + 1, cut)); /* some blocks may be empty */
  for (PetscInt b = 0; b < nblk; b++) order[b] = b;
  for (PetscInt b = nblk - 1; b > 0; b--) { /* Fisher-Yates */
    const PetscInt r = RandInt(seed, 1000 + (uint64_t)b, b + 1), t = order[b];
    order[b] = order[r];
    order[r] = t;
  }
  PetscCall(PairKernelStateCreate(n, d, &st));
  for (PetscInt k = 0; k < nblk; k++) {
    const PetscInt b = order[k];
    double        *ds;
    float         *fs;
    PairKeys       blk;
    PetscCall(MakeBlock(x, d, cut[b], cut[b + 1] - cut[b], prec, &ds, &fs, &blk));
    PetscCall(PairKernelAccumulate(&blk, n, q, klim, &st));
    free(ds);
    free(fs);
  }
  PetscCall(PairKernelFinish(&st, mean, logz));
  PetscCall(PairKernelStateDestroy(&st));
  PetscCall(PetscFree2(cut, order));
  PetscFunctionReturn(0);
}

/* Worst error of the kernel (blocks, precision) against brute force; for single precision the
 * worst ratio error / derived bound too. */
static PetscErrorCode Check(PetscInt n, PetscInt d, PetscBool causal, double beta, double radius, PetscBool sphere, PetscInt nblk, PairPrecision prec, double *err_mean, double *err_logz, double *ratio)
{
  double   *x, *q, *mean, *logz, bm[64], bl, X[64] = {0}, xmax = 0;
  PetscInt *klim;

  PetscFunctionBegin;
  PetscCall(PetscMalloc5(n * d, &x, n * d, &q, n * d, &mean, n, &logz, n, &klim));
  Tokens(n, d, radius, sphere, 9, x);
  for (PetscInt i = 0; i < n; i++) {
    for (PetscInt a = 0; a < d; a++) q[i * d + a] = beta * x[i * d + a];
    klim[i] = causal ? i + 1 : n;
    for (PetscInt a = 0; a < d; a++) X[a] = PetscMax(X[a], fabs(x[i * d + a]));
  }
  for (PetscInt a = 0; a < d; a++) xmax = PetscMax(xmax, X[a]);
  PetscCall(KernelBlocks(n, d, x, q, klim, nblk, (uint64_t)(n * 131 + d * 7 + causal), prec, mean, logz));
  *err_mean = *err_logz = *ratio = 0;
  for (PetscInt i = 0; i < n; i++) {
    double S = 0, rho, gam, kt = PAIR_KERNEL_TILE / 8 + 10;
    for (PetscInt a = 0; a < d; a++) S += 1.4426950408889634 * fabs(q[i * d + a]) * X[a];
    rho = 0.6931471805599453 * (2.5 * d + 4) * UF * S + 4 * UF;
    gam = kt * UF / (1 - kt * UF);
    BruteSoftmax(d, x, q + i * d, klim[i], bm, &bl);
    for (PetscInt a = 0; a < d; a++) {
      const double e = fabs(mean[i * d + a] - bm[a]);
      *err_mean      = isfinite(mean[i * d + a]) ? PetscMax(*err_mean, e / xmax) : INFINITY;
      *ratio         = PetscMax(*ratio, e / (X[a] * (2 * rho / (1 - rho) + 2 * gam + UF) + 1e-12 * xmax));
    }
    const double el = fabs(logz[i] - bl);
    *err_logz       = isfinite(logz[i]) ? PetscMax(*err_logz, el / PetscMax(1.0, fabs(bl))) : INFINITY;
    *ratio          = PetscMax(*ratio, el / (rho + gam + 1e-12 * PetscMax(1.0, fabs(bl))));
  }
  PetscCall(PetscFree5(x, q, mean, logz, klim));
  PetscFunctionReturn(0);
}

/* ||B||_2 by power iteration on B^T B (d x d, row-major). */
static double Norm2(PetscInt d, const double *B)
{
  double v[64], w[64], lam = 0;
  for (PetscInt a = 0; a < d; a++) v[a] = 1.0 / sqrt((double)d) + 0.01 * a;
  for (int it = 0; it < 200; it++) {
    double nrm = 0;
    for (PetscInt a = 0; a < d; a++) { /* w = B^T B v */
      double t = 0;
      for (PetscInt b = 0; b < d; b++) {
        double bv = 0;
        for (PetscInt c = 0; c < d; c++) bv += B[b * d + c] * v[c];
        t += B[b * d + a] * bv;
      }
      w[a] = t;
    }
    for (PetscInt a = 0; a < d; a++) nrm += w[a] * w[a];
    nrm = sqrt(nrm);
    lam = nrm;
    for (PetscInt a = 0; a < d; a++) v[a] = w[a] / nrm;
  }
  return sqrt(lam);
}

/* Velocity single vs double through AttnField (its Begin/Accumulate/End on random blocks).
 * Returns the max |dv_i| / max |v_i|, the max over tokens of |dv_i| / bound_i, and
 * max_h beta ||B_h||_2 R^2 with R = max_i |x_i|. */
static PetscErrorCode VelocityCase(PetscInt n, PetscInt d, PetscInt H, double beta, double radius, PetscBool sphere, PetscBool causal, PetscBool usa, double *relerr, double *ratio, double *bbr2)
{
  AttnModel m;
  AttnField f;
  double   *x, *Q, *K, *V, *vel[2], *lz[2], X[64] = {0}, vmax = 0, dvmax = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc6(n * d, &x, H * d * d, &Q, H * d * d, &K, H * d * d, &V, n * d, &vel[0], n * d, &vel[1]));
  PetscCall(PetscMalloc2(n * H, &lz[0], n * H, &lz[1]));
  Tokens(n, d, radius, sphere, 11, x);
  for (PetscInt i = 0; i < n * d; i++) X[i % d] = PetscMax(X[i % d], fabs(x[i]));
  /* random Q, K, V scaled so that ||B_h||_2 ~ 1: beta |B| R^2 is then set by beta and R */
  for (PetscInt h = 0; h < H; h++) {
    MfsaRandomNormals(99, 1, (uint64_t)h, (int)(d * d), Q + h * d * d);
    MfsaRandomNormals(99, 2, (uint64_t)h, (int)(d * d), K + h * d * d);
    MfsaRandomNormals(99, 3, (uint64_t)h, (int)(d * d), V + h * d * d);
    for (PetscInt a = 0; a < d * d; a++) {
      Q[h * d * d + a] /= sqrt((double)d) * 1.5;
      K[h * d * d + a] /= sqrt((double)d) * 1.5;
      V[h * d * d + a] /= sqrt((double)d);
    }
  }
  PetscCall(AttnModelCreate(PETSC_COMM_SELF, &m));
  PetscCall(AttnModelSetDimensions(m, d, H));
  m->beta     = beta;
  m->mask     = causal ? MFSA_MASK_CAUSAL : MFSA_MASK_NONE;
  m->norm     = usa ? MFSA_NORM_UNNORMALIZED : MFSA_NORM_SOFTMAX;
  m->geometry = sphere ? MFSA_GEOMETRY_SPHERE : MFSA_GEOMETRY_EUCLIDEAN;
  PetscCall(AttnModelSetMatrices(m, Q, K, V));
  PetscCall(AttnFieldCreate(m, n, &f));
  {
    double R2 = 0;
    for (PetscInt i = 0; i < n; i++) {
      double r2 = 0;
      for (PetscInt a = 0; a < d; a++) r2 += x[i * d + a] * x[i * d + a];
      R2 = PetscMax(R2, r2);
    }
    *bbr2 = 0;
    for (PetscInt h = 0; h < H; h++) *bbr2 = PetscMax(*bbr2, beta * Norm2(d, m->B + h * d * d) * R2);
  }
  for (int p = 0; p < 2; p++) {
    const PetscInt nblk = 3, cut[4] = {0, n / 3, (2 * n) / 3 + 5, n};
    PetscCall(AttnFieldBegin(f, n, 0, n, x));
    for (PetscInt b = nblk - 1; b >= 0; b--) { /* last block first, as the ring would */
      double  *ds;
      float   *fs;
      PairKeys blk;
      PetscCall(MakeBlock(x, d, cut[b], cut[b + 1] - cut[b], p ? PAIR_PRECISION_SINGLE : PAIR_PRECISION_DOUBLE, &ds, &fs, &blk));
      PetscCall(AttnFieldAccumulate(f, &blk));
      free(ds);
      free(fs);
    }
    PetscCall(AttnFieldEnd(f, x, vel[p], lz[p]));
  }
  *ratio = 0;
  for (PetscInt i = 0; i < n; i++) {
    double dv = 0, v = 0, bound = 0;
    for (PetscInt a = 0; a < d; a++) {
      dv += (vel[1][i * d + a] - vel[0][i * d + a]) * (vel[1][i * d + a] - vel[0][i * d + a]);
      v += vel[0][i * d + a] * vel[0][i * d + a];
    }
    dv = sqrt(dv);
    v  = sqrt(v);
    for (PetscInt h = 0; h < H; h++) {
      const double *B = m->B + h * d * d, *Vh = m->V + h * d * d;
      double        S = 0, rho, gam, kt = PAIR_KERNEL_TILE / 8 + 10, dm2 = 0, vf = 0, xn = 0, w;
      for (PetscInt a = 0; a < d; a++) { /* q' = log2(e) beta B^T x_i */
        double qa = 0;
        for (PetscInt b = 0; b < d; b++) qa += B[b * d + a] * x[i * d + b];
        S += 1.4426950408889634 * beta * fabs(qa) * X[a];
        xn += X[a] * X[a];
      }
      rho = 0.6931471805599453 * (2.5 * d + 4) * UF * S + 4 * UF;
      gam = kt * UF / (1 - kt * UF);
      for (PetscInt a = 0; a < d; a++) dm2 += PetscSqr(X[a] * (2 * rho / (1 - rho) + 2 * gam + UF) + 1e-12 * sqrt(xn));
      for (PetscInt a = 0; a < d * d; a++) vf += Vh[a] * Vh[a];
      w = usa ? exp(lz[0][i * H + h] - log((double)(causal ? i + 1 : n))) : 1.0;
      bound += sqrt(vf) * w * (sqrt(dm2) + (usa ? sqrt(xn) * (exp(rho + gam) - 1) : 0.0));
    }
    vmax  = PetscMax(vmax, v);
    dvmax = PetscMax(dvmax, dv);
    *ratio = isfinite(dv) ? PetscMax(*ratio, dv / bound) : INFINITY;
  }
  *relerr = dvmax / vmax;
  PetscCall(AttnFieldDestroy(&f));
  PetscCall(AttnModelDestroy(&m));
  PetscCall(PetscFree6(x, Q, K, V, vel[0], vel[1]));
  PetscCall(PetscFree2(lz[0], lz[1]));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const PetscInt dims[]   = {1, 2, 3, 4, 5, 16};
  const PetscInt sizes[]  = {7, 300, 700};
  const double   tol      = 1e-12;
  PetscInt       failures = 0;
  double         worst_m = 0, worst_l = 0;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));

  /* 1. blocks in random order, double precision, vs long-double brute force */
  for (int di = 0; di < 6; di++)
    for (int si = 0; si < 3; si++)
      for (int causal = 0; causal < 2; causal++) {
        double em = 0, el = 0, r = 0;
        PetscCall(Check(sizes[si], dims[di], (PetscBool)causal, 2.0, 1.0, dims[di] > 1 ? PETSC_TRUE : PETSC_FALSE, 5, PAIR_PRECISION_DOUBLE, &em, &el, &r));
        worst_m = PetscMax(worst_m, em);
        worst_l = PetscMax(worst_l, el);
        if (!(em <= tol && el <= tol)) {
          PetscCall(PetscPrintf(PETSC_COMM_SELF, "FAIL blocks d=%d n=%d causal=%d: mean err %.2e logz err %.2e\n", (int)dims[di], (int)sizes[si], causal, em, el));
          failures++;
        }
      }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "1. 5 random key blocks in random order, d in {1..5,16}, n in {7,300,700}: worst mean err %.2e, log Z err %.2e (tol %.0e)\n", worst_m, worst_l, tol));
  {
    double em = 0, el = 0, r = 0;
    PetscCall(Check(1000, 3, PETSC_FALSE, 100.0, 1.0, PETSC_TRUE, 7, PAIR_PRECISION_DOUBLE, &em, &el, &r));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "   sphere beta=100, 7 blocks: mean err %.2e, logz err %.2e (tol %.0e)\n", em, el, tol));
    if (!(em <= tol && el <= tol)) failures++;
    PetscCall(Check(1000, 3, PETSC_TRUE, 1.0, 30.0, PETSC_FALSE, 7, PAIR_PRECISION_DOUBLE, &em, &el, &r));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "   R^d |x|=30 causal, 7 blocks: mean err %.2e, logz err %.2e (tol %.0e)\n", em, el, tol));
    if (!(em <= tol && el <= tol)) failures++;
  }

  /* 2. the kernel's exp, float and double (the bounds here and in test_ring_exchange.py assume 4 u) */
  {
    double worst = 0, worstd = 0, worste = 0;
    for (long k = 0; k <= 1890000; k++) {
      const float       u = (float)(-125.0 + k * 1e-4);
      const long double e = exp2l((long double)u);
      worst               = PetscMax(worst, (double)fabsl((Exp2KernelF(u) - e) / e));
    }
    for (long k = 0; k <= 2000000; k++) {
      const double      u = -1021.0 + k * (1084.0 / 2000000) + 1e-7 * (k % 7); /* to 63, off the integers */
      const long double e = exp2l((long double)u);
      worstd              = PetscMax(worstd, (double)fabsl((Exp2Kernel(u) - e) / e));
    }
    for (long k = 0; k <= 2000000; k++) {
      const double      x = -708.0 * k / 2000000;
      const long double e = expl((long double)x);
      worste              = PetscMax(worste, (double)fabsl((ExpNonPositive(x) - e) / e));
    }
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "2. kernel exp, max relative error: Exp2KernelF on [-125, 64] %.2e = %.2f u_f, Exp2Kernel on [-1021, 63] %.2e = %.2f u, ExpNonPositive on [-708, 0] %.2e = %.2f u (bound assumed: 4 u)\n", worst, worst / UF, worstd, worstd / 1.1102230246251565e-16, worste, worste / 1.1102230246251565e-16));
    if (!(worst <= 4 * UF && worstd <= 4 * 1.1102230246251565e-16 && worste <= 4 * 1.1102230246251565e-16)) failures++;
  }

  /* 3. single precision vs brute force, within the derived bound */
  {
    const double betas[] = {1.0, 16.0, 100.0};
    double       worst   = 0;
    for (int di = 0; di < 6; di++)
      for (int bi = 0; bi < 3; bi++)
        for (int causal = 0; causal < 2; causal++) {
          double em = 0, el = 0, r = 0;
          PetscCall(Check(600, dims[di], (PetscBool)causal, betas[bi], 1.0, dims[di] > 1 ? PETSC_TRUE : PETSC_FALSE, 3, PAIR_PRECISION_SINGLE, &em, &el, &r));
          worst = PetscMax(worst, r);
          if (getenv("RING_TEST_VERBOSE")) /* every case, not only the worst */
            PetscCall(PetscPrintf(PETSC_COMM_SELF, "   d=%d beta=%g causal=%d: mean err %.2e logz err %.2e, %.3f x bound\n", (int)dims[di], betas[bi], causal, em, el, r));
          if (!(r <= 1.0)) {
            PetscCall(PetscPrintf(PETSC_COMM_SELF, "FAIL single d=%d beta=%g causal=%d: mean err %.2e logz err %.2e, %.2f x the derived bound\n", (int)dims[di], betas[bi], causal, em, el, r));
            failures++;
          }
        }
    {
      double em = 0, el = 0, r = 0;
      PetscCall(Check(600, 3, PETSC_TRUE, 1.0, 30.0, PETSC_FALSE, 3, PAIR_PRECISION_SINGLE, &em, &el, &r));
      worst = PetscMax(worst, r);
      if (!(r <= 1.0)) failures++;
    }
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "3. single precision, d in {1..5,16}, beta in {1,16,100}, R^d |x|=30: worst error / derived bound = %.3f (must be <= 1)\n", worst));
  }

  /* 4. velocity single vs double: the README table */
  {
    const double betas[] = {0.6, 2.4, 9.6, 38.4, 153.6};
    PetscInt     ns[8] = {1000, 4000}, nn = 8;
    PetscBool    set;
    double       bbr2[5];
    /* the README's table: -table_n 1000,10000,100000 (the test's default keeps it quick) */
    PetscCall(PetscOptionsGetIntArray(NULL, NULL, "-table_n", ns, &nn, &set));
    if (!set) nn = 2;
    for (int b = 0; b < 5; b++) { /* the column headings */
      double rel = 0, r = 0;
      PetscCall(VelocityCase(50, 3, 2, betas[b], 1.0, PETSC_TRUE, PETSC_TRUE, PETSC_FALSE, &rel, &r, &bbr2[b]));
    }
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "4. velocity, single vs double: max_i |dv_i| / max_i |v_i| (d = 3, 2 random heads, unmasked, sphere)\n   %-18s", "n \\ beta|B|R^2 ="));
    for (int b = 0; b < 5; b++) PetscCall(PetscPrintf(PETSC_COMM_SELF, " %10.3g", bbr2[b]));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "\n"));
    for (PetscInt ni = 0; ni < nn; ni++) {
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "   %-18d", (int)ns[ni]));
      for (int b = 0; b < 5; b++) {
        double rel = 0, r = 0, p = 0;
        PetscCall(VelocityCase(ns[ni], 3, 2, betas[b], 1.0, PETSC_TRUE, PETSC_FALSE, PETSC_FALSE, &rel, &r, &p));
        PetscCall(PetscPrintf(PETSC_COMM_SELF, " %10.2e", rel));
        if (!(r <= 1.0)) {
          PetscCall(PetscPrintf(PETSC_COMM_SELF, " (FAIL: %.2f x bound)", r));
          failures++;
        }
      }
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "\n"));
    }
    {
      double rel = 0, r = 0, p = 0;
      PetscCall(VelocityCase(2000, 4, 3, 1.0, 2.0, PETSC_FALSE, PETSC_FALSE, PETSC_TRUE, &rel, &r, &p));
      PetscCall(PetscPrintf(PETSC_COMM_SELF, "   R^d, d = 4, 3 heads, USA, unmasked, beta|B|R^2 = %.3g, n = 2000: %.2e (%.3f of the bound)\n", p, rel, r));
      if (!(r <= 1.0)) failures++;
    }
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "%s\n", failures ? "FAILED" : "ring kernel (blocks, single precision): all checks passed"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
