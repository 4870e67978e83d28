/* The analytic JVP/VJP of attention (the Lipschitz operator) against independent truths:
 *  - F(X) at the linearisation point equals the solver's velocity (AttnFieldEvaluate; pre-LN:
 *    of the normalised tokens, as solvers/particles.c) and a dense long-double evaluation of
 *    MODEL.md §4 written here (every kernel, every layer norm);
 *  - JVP equals central finite differences of the solver's velocity (fourth-order stencil
 *    [-f(2h) + 8f(h) - 8f(-h) + f(-2h)]/12h, h = 1e-5: rel. error <= 1e-8; rounding costs
 *    ~1e-11 at this h, while hyla's RMS over heads and nGPT's 1/|f| make the fifth derivative
 *    large at some points: at h = 1e-4 one such case has 5.4e-7, falling 16x per halving of h,
 *    i.e. truncation, not a wrong JVP). relu and hyla are
 *    piecewise smooth: every score (relu) and ReLU argument (hyla) keeps its sign with a margin
 *    >= 1e-3 of the largest one at all five stencil points (asserted; the point is redrawn
 *    until it holds), so the stencil never straddles a kink;
 *  - <Ju, w> = <u, J^T w> to round-off; the one-sweep normal product J^T J u equals
 *    J^T (J u) from the two separate products to round-off; and the dense J^T built from VJPs equals the transpose
 *    of the dense J built from JVPs entry by entry;
 *  - power iteration and Lanczos equal the largest singular value of the dense Jacobian (LAPACK dgesvd)
 *    to 1e-6 relative for n d <= 200;
 *  - the estimate never exceeds MODEL.md §5's upper bound (unmasked softmax in R^d) over random
 *    cases, including the constructed adversarial inputs.
 * Cases: mask none/causal x softmax/unnormalized x euclidean/sphere x heads 1,2 x d 2,3,5; the
 * exp kernels with -attn_ln pre and ngpt; sigmoid, relu, linear (heads 1, 2; kernel_norm and
 * sigmoid bias varied) and hyla (heads 2, 3) x ln none/pre/post/ngpt x mask x d 2,3; random
 * Q/K/V. Runs on any number of ranks (ctest: 1, 2 and 3). */
#include <petscmat.h>
#include <petscblaslapack.h>
#include "attention_field.h"
#include "lipschitz.h"
#include "lipschitz_operator.h"
#include "init.h"
#include "rng.h"

typedef struct {
  PetscReal val, dense, fd, adj, normal, dense_adj, svd, lanczos;
  PetscReal kink;    /* smallest kink margin of the FD stencils (relu, hyla) */
  PetscInt  redraws; /* points redrawn because a stencil came near a kink */
} Worst;

/* One model: kernel, its row factor and sigmoid offset, layer norm (which fixes the geometry). */
typedef struct {
  MfsaKernel     kernel;
  MfsaKernelNorm knorm;
  PetscBool      bias_set;
  PetscReal      bias;
  MfsaLayerNorm  ln;   /* DEFAULT: post on the sphere, none in R^d */
  MfsaNorm       norm; /* the exp kernels through the old -attn_norm (kernel softmax, ln DEFAULT) */
} Variant;

static PetscErrorCode MakeModel(PetscInt d, PetscInt heads, PetscReal beta, MfsaMask mask, const Variant *v, MfsaGeometry geom, PetscInt64 seed, AttnModel *m)
{
  PetscFunctionBegin;
  PetscCall(AttnModelCreate(PETSC_COMM_WORLD, m));
  PetscCall(AttnModelSetDimensions(*m, d, heads));
  (*m)->beta       = beta;
  (*m)->mask       = mask;
  (*m)->norm       = v->norm;
  (*m)->geometry   = geom;
  (*m)->qkv_source = MFSA_QKV_RANDOM;
  (*m)->seed       = seed;
  if (v->ln != MFSA_LN_DEFAULT || v->kernel != MFSA_KERNEL_SOFTMAX) {
    (*m)->sigmoid_bias_set = v->bias_set;
    (*m)->sigmoid_bias     = v->bias;
    if (v->ln == MFSA_LN_NGPT) (*m)->ngpt_alpha = 0.8; /* alpha != 1 is part of the map */
    PetscCall(AttnModelSetKernel(*m, v->kernel, v->knorm, v->ln));
  }
  PetscCall(AttnModelSetUp(*m));
  PetscFunctionReturn(0);
}

/* Pre-LN reads every token as x/|x| (solvers/particles.c does the same before AttnField). */
static void PreRows(AttnModel m, PetscInt n, const PetscReal *xall, PetscReal *xh)
{
  for (PetscInt k = 0; k < n * m->d; k++) xh[k] = xall[k];
  if (m->ln == MFSA_LN_PRE) MfsaNormalizeRows(n, m->d, xh);
}

/* The solver's velocity for rows lo..lo+nloc-1, every rank holding all tokens xall. */
static PetscErrorCode Velocity(AttnModel m, PetscInt n, const PetscReal *xall, PetscInt lo, PetscInt nloc, PetscReal *out)
{
  const PetscInt d = m->d;
  PairKeys       keys;
  PetscReal     *store, *xh;
  AttnField      field;

  PetscFunctionBegin;
  PetscCall(PetscMalloc1(n * d, &xh));
  PreRows(m, n, xall, xh);
  PetscCall(PairKeysAllocate(n, d, &keys, &store));
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt a = 0; a < d; a++) store[a * keys.ld + j] = xh[j * d + a];
  PetscCall(AttnFieldCreate(m, PetscMax(nloc, 1), &field));
  PetscCall(AttnFieldEvaluate(field, &keys, lo, nloc, xh + lo * d, out, NULL));
  PetscCall(AttnFieldDestroy(&field));
  PetscCall(PairKeysFree(&store));
  PetscCall(PetscFree(xh));
  PetscFunctionReturn(0);
}

/* MODEL.md §4 and the variants spec written out pair by pair in long double: the raw sum f_i of
 * token i attending tokens 0..cnt-1 (no layer norm). */
static void DenseSum(AttnModel m, PetscInt cnt, const PetscReal *x, PetscInt i, long double *f)
{
  const PetscInt    d = m->d, H = m->heads;
  const PetscReal  *xi = x + i * d;
  long double       s[256], acc[64];
  const long double c = m->kernel_norm == MFSA_KERNEL_NORM_COUNT ? 1.0L / cnt : 1.0L;

  for (PetscInt a = 0; a < d; a++) f[a] = 0;
  if (m->kernel == MFSA_KERNEL_HYLA) {
    const long double sc = (long double)m->beta / sqrtl((long double)d);
    for (PetscInt j = 0; j < cnt; j++) {
      long double a[8], ms = 0, S = 0, v[64] = {0};
      for (PetscInt h = 0; h < H; h++) {
        a[h] = 0;
        for (PetscInt p = 0; p < d; p++)
          for (PetscInt q = 0; q < d; q++) a[h] += sc * xi[p] * m->B[h * d * d + p * d + q] * x[j * d + q];
        ms += a[h] * a[h];
      }
      const long double r = sqrtl(ms / H + m->hyla_eps);
      for (PetscInt h = 0; h < H; h++) {
        S += a[h] / r;
        for (PetscInt p = 0; p < d; p++)
          for (PetscInt q = 0; q < d; q++) v[p] += a[h] / r * m->V[h * d * d + p * d + q] * x[j * d + q];
      }
      for (PetscInt p = 0; p < d; p++) f[p] += c * S * (v[p] > 0 ? v[p] : 0);
    }
    return;
  }
  for (PetscInt h = 0; h < H; h++) {
    long double mx = -INFINITY, z = 0;
    for (PetscInt j = 0; j < cnt; j++) {
      s[j] = 0;
      for (PetscInt p = 0; p < d; p++)
        for (PetscInt q = 0; q < d; q++) s[j] += (long double)m->beta * xi[p] * m->B[h * d * d + p * d + q] * x[j * d + q];
      mx = s[j] > mx ? s[j] : mx;
    }
    for (PetscInt a = 0; a < d; a++) acc[a] = 0;
    for (PetscInt j = 0; j < cnt; j++) {
      long double w;
      switch (m->kernel) {
      case MFSA_KERNEL_SOFTMAX:
      case MFSA_KERNEL_UNNORMALIZED:
        w = expl(s[j] - mx);
        z += w;
        break;
      case MFSA_KERNEL_SIGMOID:
        w = 1.0L / (1.0L + expl(-(s[j] + (m->sigmoid_bias_set ? (long double)m->sigmoid_bias : -logl((long double)cnt)))));
        break;
      case MFSA_KERNEL_RELU:
        w = s[j] > 0 ? s[j] : 0;
        break;
      default: /* linear */
        w = s[j];
      }
      for (PetscInt a = 0; a < d; a++) acc[a] += w * x[j * d + a];
    }
    const PetscBool   isexp = m->kernel == MFSA_KERNEL_SOFTMAX || m->kernel == MFSA_KERNEL_UNNORMALIZED;
    const long double rho   = isexp ? (m->norm == MFSA_NORM_SOFTMAX ? 1.0L / z : expl(mx) / cnt) : c;
    for (PetscInt p = 0; p < d; p++)
      for (PetscInt q = 0; q < d; q++) f[p] += rho * m->V[h * d * d + p * d + q] * acc[q];
  }
}

/* The velocity F of rows lo..lo+nloc-1 from DenseSum and the layer norm, independently of mfsa. */
static PetscErrorCode DenseVelocity(AttnModel m, PetscInt n, const PetscReal *xall, PetscInt lo, PetscInt nloc, PetscReal *out)
{
  const PetscInt d = m->d;
  PetscReal     *xh;

  PetscFunctionBegin;
  PetscCheck(d <= 64 && n <= 256 && m->heads <= 8, PETSC_COMM_SELF, PETSC_ERR_SUP, "DenseVelocity: d <= 64, n <= 256, heads <= 8");
  PetscCall(PetscMalloc1(n * d, &xh));
  PreRows(m, n, xall, xh);
  for (PetscInt i = lo; i < lo + nloc; i++) {
    long double      f[64], xf = 0, nf = 0, s = 1;
    const PetscReal *xi = xh + i * d;
    DenseSum(m, m->mask == MFSA_MASK_CAUSAL ? i + 1 : n, xh, i, f);
    if (m->ln == MFSA_LN_NGPT) {
      for (PetscInt a = 0; a < d; a++) nf += f[a] * f[a];
      for (PetscInt a = 0; a < d && nf > 0; a++) f[a] /= sqrtl(nf); /* f = 0: no motion (spec) */
      s = m->ngpt_alpha;
    }
    if (m->geometry == MFSA_GEOMETRY_SPHERE)
      for (PetscInt a = 0; a < d; a++) xf += xi[a] * f[a];
    for (PetscInt a = 0; a < d; a++) out[(i - lo) * d + a] = (PetscReal)(s * (f[a] - xf * xi[a]));
  }
  PetscCall(PetscFree(xh));
  PetscFunctionReturn(0);
}

/* The arguments of the kinks at tokens x: relu's scores beta x_i^T B_h x_j, hyla's ReLU
 * arguments sum_h at_h V_h x_j (every component), over every attended pair. Returns their count
 * (0: the kernel has no kinks); arg holds up to n^2 max(H, d) values. */
static PetscInt KinkArguments(AttnModel m, PetscInt n, const PetscReal *xall, PetscReal *xh, PetscReal *arg)
{
  const PetscInt    d = m->d, H = m->heads;
  const long double sc = m->kernel == MFSA_KERNEL_HYLA ? (long double)m->beta / sqrtl((long double)d) : (long double)m->beta;
  PetscInt          k  = 0;
  if (m->kernel != MFSA_KERNEL_RELU && m->kernel != MFSA_KERNEL_HYLA) return 0;
  PreRows(m, n, xall, xh);
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt j = 0; j < (m->mask == MFSA_MASK_CAUSAL ? i + 1 : n); j++) {
      long double a[8], ms = 0, v[64] = {0};
      for (PetscInt h = 0; h < H; h++) {
        a[h] = 0;
        for (PetscInt p = 0; p < d; p++)
          for (PetscInt q = 0; q < d; q++) a[h] += sc * xh[i * d + p] * m->B[h * d * d + p * d + q] * xh[j * d + q];
        ms += a[h] * a[h];
        if (m->kernel == MFSA_KERNEL_RELU) arg[k++] = (PetscReal)a[h];
      }
      if (m->kernel == MFSA_KERNEL_RELU) continue;
      for (PetscInt h = 0; h < H; h++)
        for (PetscInt p = 0; p < d; p++)
          for (PetscInt q = 0; q < d; q++) v[p] += a[h] / sqrtl(ms / H + m->hyla_eps) * m->V[h * d * d + p * d + q] * xh[j * d + q];
      for (PetscInt p = 0; p < d; p++) arg[k++] = (PetscReal)v[p];
    }
  return k;
}

/* Smallest sign(arg at X) arg(X + t u) / max |arg at X| over the stencil t in {0, +-h, +-2h}:
 * below 0 a kink lies inside the stencil; +inf for kernels without kinks. */
static PetscErrorCode KinkMargin(AttnModel m, PetscInt n, const PetscReal *xall, const PetscReal *uall, PetscReal h, PetscReal *margin)
{
  const PetscInt d = m->d, N = n * d, len = n * n * PetscMax(m->heads, d);
  PetscReal     *a0, *at, *xt, *xh, amax = 0;
  PetscInt       k;

  PetscFunctionBegin;
  *margin = PETSC_INFINITY;
  PetscCall(PetscMalloc4(len, &a0, len, &at, N, &xt, N, &xh));
  k = KinkArguments(m, n, xall, xh, a0);
  for (PetscInt e = 0; e < k; e++) amax = PetscMax(amax, PetscAbsReal(a0[e]));
  for (PetscInt st = -2; st <= 2 && k; st++) {
    for (PetscInt e = 0; e < N; e++) xt[e] = xall[e] + st * h * uall[e];
    (void)KinkArguments(m, n, xt, xh, at);
    for (PetscInt e = 0; e < k; e++) *margin = PetscMin(*margin, (a0[e] > 0 ? at[e] : -at[e]) / amax);
  }
  PetscCall(PetscFree4(a0, at, xt, xh));
  PetscFunctionReturn(0);
}

static PetscErrorCode SetOwnRows(Vec v, const PetscReal *all, PetscInt lo, PetscInt nloc, PetscInt d)
{
  PetscScalar *a;

  PetscFunctionBegin;
  PetscCall(VecGetArrayWrite(v, &a));
  PetscCall(PetscArraycpy(a, all + lo * d, nloc * d));
  PetscCall(VecRestoreArrayWrite(v, &a));
  PetscFunctionReturn(0);
}

/* Dense N x N (column-major) from J e_c (transpose: J^T e_c), gathered on every rank. */
static PetscErrorCode Dense(Mat J, PetscBool transpose, PetscInt N, PetscReal *A)
{
  Vec                e, col, full;
  VecScatter         sc;
  const PetscScalar *f;

  PetscFunctionBegin;
  PetscCall(MatCreateVecs(J, &e, &col));
  PetscCall(VecScatterCreateToAll(col, &sc, &full));
  for (PetscInt c = 0; c < N; c++) {
    PetscCall(VecZeroEntries(e));
    PetscCall(VecSetValue(e, c, 1.0, INSERT_VALUES));
    PetscCall(VecAssemblyBegin(e));
    PetscCall(VecAssemblyEnd(e));
    if (transpose) PetscCall(MatMultTranspose(J, e, col));
    else PetscCall(MatMult(J, e, col));
    PetscCall(VecScatterBegin(sc, col, full, INSERT_VALUES, SCATTER_FORWARD));
    PetscCall(VecScatterEnd(sc, col, full, INSERT_VALUES, SCATTER_FORWARD));
    PetscCall(VecGetArrayRead(full, &f));
    PetscCall(PetscArraycpy(A + c * N, f, N));
    PetscCall(VecRestoreArrayRead(full, &f));
  }
  PetscCall(VecScatterDestroy(&sc));
  PetscCall(VecDestroy(&full));
  PetscCall(VecDestroy(&e));
  PetscCall(VecDestroy(&col));
  PetscFunctionReturn(0);
}

static PetscErrorCode LargestSingularValue(PetscInt N, const PetscReal *A, PetscReal *sigma)
{
  PetscBLASInt n, lwork, info;
  PetscReal   *a, *s, *work, dummy;

  PetscFunctionBegin;
  PetscCall(PetscBLASIntCast(N, &n));
  lwork = 10 * n + 64;
  PetscCall(PetscMalloc3(N * N, &a, N, &s, lwork, &work));
  PetscCall(PetscArraycpy(a, A, N * N));
  PetscCallBLAS("LAPACKgesvd", LAPACKgesvd_("N", "N", &n, &n, a, &n, s, &dummy, &n, &dummy, &n, work, &lwork, &info));
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "dgesvd info %d", (int)info);
  *sigma = s[0];
  PetscCall(PetscFree3(a, s, work));
  PetscFunctionReturn(0);
}

static PetscErrorCode RunCase(PetscInt n, PetscInt d, PetscInt heads, PetscReal beta, MfsaMask mask, const Variant *var, MfsaGeometry geom, PetscInt64 seed, Worst *worst)
{
  AttnModel    m;
  Mat          J;
  Vec          X, U, W, JU, JTW, F;
  PetscInt     lo, nloc;
  const PetscInt N = n * d;
  PetscReal   *xall, *uall, *wall, *xp, *xm, *fp, *fm, *val, *fp2, *fm2, *buf;
  PetscReal    h = 1e-5, err = 0, scale = 0, a1, a2, nju, nw;
  const PetscScalar *ju, *fv;

  PetscFunctionBegin;
  PetscCall(MakeModel(d, heads, beta, mask, var, geom, seed, &m));
  PetscCall(LipschitzOperatorCreate(m, n, &J));
  PetscCall(LipschitzOperatorGetOwnership(J, &lo, &nloc));
  PetscCall(PetscMalloc1(5 * N + 5 * PetscMax(nloc, 1) * d, &buf));
  xall = buf, uall = xall + N, wall = uall + N, xp = wall + N, xm = xp + N;
  fp = xm + N, fm = fp + PetscMax(nloc, 1) * d, val = fm + PetscMax(nloc, 1) * d, fp2 = val + PetscMax(nloc, 1) * d, fm2 = fp2 + PetscMax(nloc, 1) * d;
  /* a point whose FD stencil stays clear of every kink (relu, hyla): redraw until it does */
  for (PetscInt draw = 0;; draw++) {
    PetscReal      margin;
    const uint64_t ps = (uint64_t)seed + 7919 * (uint64_t)draw;
    for (PetscInt i = 0; i < n; i++) {
      MfsaRandomNormals(ps, 11, (uint64_t)i, (int)d, xall + i * d);
      MfsaRandomNormals(ps, 12, (uint64_t)i, (int)d, uall + i * d);
      MfsaRandomNormals(ps, 13, (uint64_t)i, (int)d, wall + i * d);
    }
    if (geom == MFSA_GEOMETRY_SPHERE) MfsaNormalizeRows(n, d, xall);
    else
      for (PetscInt k = 0; k < N; k++) xall[k] *= 0.7;
    PetscCall(KinkMargin(m, n, xall, uall, h, &margin));
    if (margin >= 1e-3) {
      worst->kink = PetscMin(worst->kink, margin);
      break;
    }
    PetscCheck(draw < 50, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "no point with kink margin >= 1e-3 in 50 draws (last %g)", (double)margin);
    worst->redraws++;
  }
  PetscCall(MatCreateVecs(J, &X, &F));
  PetscCall(VecDuplicate(X, &U));
  PetscCall(VecDuplicate(F, &W));
  PetscCall(VecDuplicate(F, &JU));
  PetscCall(VecDuplicate(X, &JTW));
  PetscCall(SetOwnRows(X, xall, lo, nloc, d));
  PetscCall(SetOwnRows(U, uall, lo, nloc, d));
  PetscCall(SetOwnRows(W, wall, lo, nloc, d));
  PetscCall(LipschitzOperatorSetPoint(J, X));

  /* value at the point vs the solver's velocity */
  PetscCall(LipschitzOperatorGetValue(J, F));
  PetscCall(Velocity(m, n, xall, lo, nloc, val));
  PetscCall(VecGetArrayRead(F, &fv));
  for (PetscInt k = 0; k < nloc * d; k++) {
    err   = PetscMax(err, PetscAbsReal(fv[k] - val[k]));
    scale = PetscMax(scale, PetscAbsReal(val[k]));
  }
  PetscCall(VecRestoreArrayRead(F, &fv));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &err, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &scale, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  worst->val = PetscMax(worst->val, err / scale);
  /* ... and vs the dense long-double evaluation */
  PetscCall(DenseVelocity(m, n, xall, lo, nloc, val));
  PetscCall(VecGetArrayRead(F, &fv));
  err = 0;
  for (PetscInt k = 0; k < nloc * d; k++) err = PetscMax(err, PetscAbsReal(fv[k] - val[k]));
  PetscCall(VecRestoreArrayRead(F, &fv));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &err, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  worst->dense = PetscMax(worst->dense, err / scale);

  /* JVP vs central differences of the velocity */
  for (PetscInt k = 0; k < N; k++) {
    xp[k] = xall[k] + h * uall[k];
    xm[k] = xall[k] - h * uall[k];
  }
  PetscCall(Velocity(m, n, xp, lo, nloc, fp));
  PetscCall(Velocity(m, n, xm, lo, nloc, fm));
  for (PetscInt k = 0; k < N; k++) {
    xp[k] = xall[k] + 2 * h * uall[k];
    xm[k] = xall[k] - 2 * h * uall[k];
  }
  PetscCall(Velocity(m, n, xp, lo, nloc, fp2));
  PetscCall(Velocity(m, n, xm, lo, nloc, fm2));
  PetscCall(MatMult(J, U, JU));
  PetscCall(VecGetArrayRead(JU, &ju));
  err = scale = 0;
  for (PetscInt k = 0; k < nloc * d; k++) {
    const PetscReal fd = (8 * (fp[k] - fm[k]) - (fp2[k] - fm2[k])) / (12 * h);
    err   = PetscMax(err, PetscAbsReal(ju[k] - fd));
    scale = PetscMax(scale, PetscAbsReal(fd));
  }
  PetscCall(VecRestoreArrayRead(JU, &ju));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &err, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &scale, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  worst->fd = PetscMax(worst->fd, err / scale);

  /* adjointness */
  PetscCall(MatMultTranspose(J, W, JTW));
  PetscCall(VecDot(JU, W, &a1));
  PetscCall(VecDot(U, JTW, &a2));
  PetscCall(VecNorm(JU, NORM_2, &nju));
  PetscCall(VecNorm(W, NORM_2, &nw));
  worst->adj = PetscMax(worst->adj, PetscAbsReal(a1 - a2) / (nju * nw));

  /* the one-sweep normal product vs MatMultTranspose(MatMult u) */
  {
    Mat       Nm;
    Vec       NU, JTJU;
    PetscReal diff, ref;
    PetscCall(LipschitzOperatorCreateNormal(J, &Nm));
    PetscCall(VecDuplicate(X, &NU));
    PetscCall(VecDuplicate(X, &JTJU));
    PetscCall(MatMult(Nm, U, NU));
    PetscCall(MatMultTranspose(J, JU, JTJU));
    PetscCall(VecNorm(JTJU, NORM_INFINITY, &ref));
    PetscCall(VecAXPY(NU, -1.0, JTJU));
    PetscCall(VecNorm(NU, NORM_INFINITY, &diff));
    worst->normal = PetscMax(worst->normal, diff / ref);
    PetscCall(VecDestroy(&NU));
    PetscCall(VecDestroy(&JTJU));
    PetscCall(MatDestroy(&Nm));
  }

  if (N <= 200) {
    PetscReal *A, *AT, sigma = 0, amax = 0, derr = 0;
    LipschitzEstimate est;
    PetscCall(PetscMalloc2(N * N, &A, N * N, &AT));
    PetscCall(Dense(J, PETSC_FALSE, N, A));
    PetscCall(Dense(J, PETSC_TRUE, N, AT));
    for (PetscInt r = 0; r < N; r++)
      for (PetscInt c = 0; c < N; c++) {
        amax = PetscMax(amax, PetscAbsReal(A[c * N + r]));
        derr = PetscMax(derr, PetscAbsReal(A[c * N + r] - AT[r * N + c]));
      }
    worst->dense_adj = PetscMax(worst->dense_adj, derr / amax);
    PetscCall(LargestSingularValue(N, A, &sigma));
    PetscCall(LipschitzPowerIteration(J, 1e-11, 20000, seed, &est));
    PetscCheck(est.converged, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "power iteration did not converge in %" PetscInt_FMT " iterations (residual %g)", est.iterations, (double)est.residual);
    worst->svd = PetscMax(worst->svd, PetscAbsReal(est.sigma - sigma) / sigma);
    PetscCall(LipschitzLanczos(J, 1e-11, N, seed, &est));
    PetscCheck(est.converged, PETSC_COMM_WORLD, PETSC_ERR_NOT_CONVERGED, "Lanczos did not converge in %" PetscInt_FMT " steps (residual %g)", est.iterations, (double)est.residual);
    worst->lanczos = PetscMax(worst->lanczos, PetscAbsReal(est.sigma - sigma) / sigma);
    PetscCall(PetscFree2(A, AT));
  }
  PetscCall(VecDestroy(&X));
  PetscCall(VecDestroy(&U));
  PetscCall(VecDestroy(&W));
  PetscCall(VecDestroy(&F));
  PetscCall(VecDestroy(&JU));
  PetscCall(VecDestroy(&JTW));
  PetscCall(MatDestroy(&J));
  PetscCall(PetscFree(buf));
  PetscCall(AttnModelDestroy(&m));
  PetscFunctionReturn(0);
}

/* Estimate vs MODEL.md §5's bound: random radius, beta, n, heads; ball and adversarial inputs. */
static PetscErrorCode BoundCase(PetscInt64 seed, LipInputFamily fam, PetscReal *ratio)
{
  AttnModel         m;
  Mat               J;
  Vec               X;
  PetscInt          lo, nloc, n, d, heads;
  PetscScalar      *x;
  PetscReal         u[2], R, beta, r2 = 0, bound;
  LipschitzEstimate est;

  PetscFunctionBegin;
  MfsaRandomUniform2((uint64_t)seed, 21, 0, 0, u);
  n    = 4 + (PetscInt)(60 * u[0]);
  beta = 0.2 + 3 * u[1];
  MfsaRandomUniform2((uint64_t)seed, 21, 1, 0, u);
  R     = 0.3 + 2 * u[0];
  d     = 2 + (PetscInt)(3 * u[1]);
  heads = 1 + (PetscInt)(seed % 2);
  const Variant sm = {.kernel = MFSA_KERNEL_SOFTMAX, .norm = MFSA_NORM_SOFTMAX};
  PetscCall(MakeModel(d, heads, beta, MFSA_MASK_NONE, &sm, MFSA_GEOMETRY_EUCLIDEAN, seed, &m));
  PetscCall(LipschitzOperatorCreate(m, n, &J));
  PetscCall(LipschitzOperatorGetOwnership(J, &lo, &nloc));
  PetscCall(MatCreateVecs(J, &X, NULL));
  PetscCall(VecGetArrayWrite(X, &x));
  PetscCall(LipschitzInputTokens(m, fam, R, n, lo, nloc, x));
  for (PetscInt i = 0; i < nloc; i++) {
    PetscReal s = 0;
    for (PetscInt a = 0; a < d; a++) s += x[i * d + a] * x[i * d + a];
    r2 = PetscMax(r2, s);
  }
  PetscCall(VecRestoreArrayWrite(X, &x));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &r2, 1, MPIU_REAL, MPIU_MAX, PETSC_COMM_WORLD));
  PetscCall(LipschitzOperatorSetPoint(J, X));
  PetscCall(LipschitzLanczos(J, 1e-9, 300, seed, &est));
  PetscCall(LipschitzUpperBound(m, n, PetscSqrtReal(r2), &bound));
  *ratio = est.sigma / bound;
  PetscCall(VecDestroy(&X));
  PetscCall(MatDestroy(&J));
  PetscCall(AttnModelDestroy(&m));
  PetscFunctionReturn(0);
}

static void Merge(Worst *w, const Worst *c)
{
  w->val       = PetscMax(w->val, c->val);
  w->dense     = PetscMax(w->dense, c->dense);
  w->fd        = PetscMax(w->fd, c->fd);
  w->adj       = PetscMax(w->adj, c->adj);
  w->normal    = PetscMax(w->normal, c->normal);
  w->dense_adj = PetscMax(w->dense_adj, c->dense_adj);
  w->svd       = PetscMax(w->svd, c->svd);
  w->lanczos   = PetscMax(w->lanczos, c->lanczos);
  w->kink      = PetscMin(w->kink, c->kink);
  w->redraws += c->redraws;
}

static PetscErrorCode Report(const char *geom, MfsaMask mask, const char *kernel, MfsaLayerNorm ln, PetscInt heads, PetscInt d, PetscInt n, const Worst *c)
{
  PetscFunctionBegin;
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-9s %-6s %-18s ln %-4s heads %" PetscInt_FMT " d %" PetscInt_FMT " n %2" PetscInt_FMT ": value %.1e dense %.1e  JVP-FD %.1e  adjoint %.1e  normal %.1e  dense J^T-J %.1e  power-SVD %.1e  Lanczos-SVD %.1e", geom, MfsaMaskNames[mask], kernel, MfsaLayerNormNames[ln], heads, d, n, (double)c->val, (double)c->dense, (double)c->fd, (double)c->adj, (double)c->normal, (double)c->dense_adj, (double)c->svd, (double)c->lanczos));
  if (c->kink < PETSC_INFINITY) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "  kink margin %.1e (%" PetscInt_FMT " redrawn)", (double)c->kink, c->redraws));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "\n"));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const PetscInt dims[] = {2, 3, 5};
  Worst          w      = {.kink = PETSC_INFINITY};
  PetscInt       ncases = 0, nbound = 0;
  PetscReal      worst_ratio = 0;
  PetscMPIInt    size;
  /* the non-exp kernels, each with two head counts; row factor and sigmoid offset varied */
  const struct {
    Variant  v;
    PetscInt heads;
  } variants[] = {
    {{.kernel = MFSA_KERNEL_SIGMOID},                                                                      1},
    {{.kernel = MFSA_KERNEL_SIGMOID, .knorm = MFSA_KERNEL_NORM_COUNT, .bias_set = PETSC_TRUE, .bias = 0.3}, 2},
    {{.kernel = MFSA_KERNEL_RELU},                                                                         1},
    {{.kernel = MFSA_KERNEL_RELU, .knorm = MFSA_KERNEL_NORM_NONE},                                         2},
    {{.kernel = MFSA_KERNEL_LINEAR},                                                                       1},
    {{.kernel = MFSA_KERNEL_LINEAR},                                                                       2},
    {{.kernel = MFSA_KERNEL_HYLA},                                                                         2},
    {{.kernel = MFSA_KERNEL_HYLA, .knorm = MFSA_KERNEL_NORM_NONE},                                         3},
  };
  const MfsaLayerNorm lns[] = {MFSA_LN_NONE, MFSA_LN_PRE, MFSA_LN_POST, MFSA_LN_NGPT};

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  /* the exp kernels through -attn_norm: post-LN on the sphere, none in R^d */
  for (PetscInt g = 0; g < 2; g++)
    for (PetscInt mk = 0; mk < 2; mk++)
      for (PetscInt nm = 0; nm < 2; nm++)
        for (PetscInt hh = 1; hh <= 2; hh++)
          for (PetscInt k = 0; k < 3; k++) {
            const PetscInt n    = (k == 1) ? 37 : 11; /* n d <= 200 except d = 3: 111 */
            const Variant  v    = {.kernel = MFSA_KERNEL_SOFTMAX, .norm = nm ? MFSA_NORM_UNNORMALIZED : MFSA_NORM_SOFTMAX};
            const MfsaMask mask = mk ? MFSA_MASK_CAUSAL : MFSA_MASK_NONE;
            Worst          c    = {.kink = PETSC_INFINITY};
            PetscCall(RunCase(n, dims[k], hh, 1.3, mask, &v, g ? MFSA_GEOMETRY_SPHERE : MFSA_GEOMETRY_EUCLIDEAN, 100 + ncases, &c));
            PetscCall(Report(g ? "sphere" : "euclidean", mask, nm ? "unnormalized" : "softmax", g ? MFSA_LN_POST : MFSA_LN_NONE, hh, dims[k], n, &c));
            Merge(&w, &c);
            ncases++;
          }
  /* the exp kernels with pre-LN and nGPT */
  for (PetscInt nm = 0; nm < 2; nm++)
    for (PetscInt l = 0; l < 2; l++)
      for (PetscInt mk = 0; mk < 2; mk++)
        for (PetscInt hh = 1; hh <= 2; hh++)
          for (PetscInt d = 2; d <= 3; d++) {
            const MfsaLayerNorm ln   = l ? MFSA_LN_NGPT : MFSA_LN_PRE;
            const MfsaGeometry  geom = l ? MFSA_GEOMETRY_SPHERE : MFSA_GEOMETRY_EUCLIDEAN;
            const Variant       v    = {.kernel = nm ? MFSA_KERNEL_UNNORMALIZED : MFSA_KERNEL_SOFTMAX, .ln = ln};
            const MfsaMask      mask = mk ? MFSA_MASK_CAUSAL : MFSA_MASK_NONE;
            Worst               c    = {.kink = PETSC_INFINITY};
            PetscCall(RunCase(11, d, hh, 1.3, mask, &v, geom, 100 + ncases, &c));
            PetscCall(Report(MfsaGeometryNames[geom], mask, MfsaKernelNames[v.kernel], ln, hh, d, 11, &c));
            Merge(&w, &c);
            ncases++;
          }
  /* sigmoid, relu, linear, hyla x every layer norm */
  for (size_t vi = 0; vi < sizeof(variants) / sizeof(variants[0]); vi++)
    for (PetscInt l = 0; l < 4; l++)
      for (PetscInt mk = 0; mk < 2; mk++)
        for (PetscInt d = 2; d <= 3; d++) {
          const MfsaLayerNorm ln   = lns[l];
          const MfsaGeometry  geom = (ln == MFSA_LN_POST || ln == MFSA_LN_NGPT) ? MFSA_GEOMETRY_SPHERE : MFSA_GEOMETRY_EUCLIDEAN;
          const MfsaMask      mask = mk ? MFSA_MASK_CAUSAL : MFSA_MASK_NONE;
          Variant             v    = variants[vi].v;
          Worst               c    = {.kink = PETSC_INFINITY};
          char                name[64];
          v.ln = ln;
          PetscCall(RunCase(11, d, variants[vi].heads, 1.3, mask, &v, geom, 100 + ncases, &c));
          PetscCall(PetscSNPrintf(name, sizeof(name), "%s%s%s", MfsaKernelNames[v.kernel], v.knorm == MFSA_KERNEL_NORM_DEFAULT ? "" : (v.knorm == MFSA_KERNEL_NORM_COUNT ? " count" : " none"), v.bias_set ? " b=0.3" : ""));
          PetscCall(Report(MfsaGeometryNames[geom], mask, name, ln, variants[vi].heads, d, 11, &c));
          Merge(&w, &c);
          ncases++;
        }
  for (PetscInt64 s = 1; s <= 24; s++) {
    PetscReal r = PETSC_INFINITY;
    PetscCall(BoundCase(1000 + s, s % 3 == 0 ? LIP_INPUT_ADVERSARIAL : LIP_INPUT_BALL, &r));
    worst_ratio = PetscMax(worst_ratio, r);
    nbound++;
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%" PetscInt_FMT " cases on %d rank(s): value vs solver velocity %.2e (tol 1e-13), vs dense long-double evaluation %.2e (tol 1e-12), JVP vs central FD %.2e (tol 1e-8; kink margin >= %.1e, %" PetscInt_FMT " points redrawn), adjoint %.2e (tol 1e-13), one-sweep J^T J u vs J^T (J u) %.2e (tol 1e-13), dense J^T vs J %.2e (tol 1e-13), power iteration vs dgesvd %.2e, Lanczos vs dgesvd %.2e (tol 1e-6)\n", ncases, size, (double)w.val, (double)w.dense, (double)w.fd, (double)w.kink, w.redraws, (double)w.adj, (double)w.normal, (double)w.dense_adj, (double)w.svd, (double)w.lanczos));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%" PetscInt_FMT " random unmasked softmax cases (ball and adversarial): max estimate / MODEL.md 5 upper bound = %.4f (must be <= 1)\n", nbound, (double)worst_ratio));
  PetscCheck(w.val <= 1e-13 && w.dense <= 1e-12 && w.fd <= 1e-8 && w.adj <= 1e-13 && w.normal <= 1e-13 && w.dense_adj <= 1e-13 && w.svd <= 1e-6 && w.lanczos <= 1e-6 && worst_ratio <= 1, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: a measured error exceeds its tolerance (see above)");
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(PetscFinalize());
  return 0;
}
