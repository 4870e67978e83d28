/* The analytic JVP/VJP of attention (the Lipschitz operator) against independent truths:
 *  - F(X) at the linearisation point equals the solver's velocity (AttnFieldEvaluate);
 *  - JVP equals central finite differences of the solver's velocity (fourth-order stencil
 *    [-f(2h) + 8f(h) - 8f(-h) + f(-2h)]/12h, h = 1e-3: rel. error <= 1e-8);
 *  - <Ju, w> = <u, J^T w> to round-off; the one-sweep normal product J^T J u equals
 *    J^T (J u) from the two separate products to round-off; and the dense J^T built from VJPs equals the transpose
 *    of the dense J built from JVPs entry by entry;
 *  - power iteration and Lanczos equal the largest singular value of the dense Jacobian (LAPACK dgesvd)
 *    to 1e-6 relative for n d <= 200;
 *  - the estimate never exceeds MODEL.md §5's upper bound (unmasked softmax in R^d) over random
 *    cases, including the constructed adversarial inputs.
 * Cases: mask none/causal x softmax/unnormalized x euclidean/sphere x heads 1,2 x d 2,3,5, random
 * Q/K/V. Runs on any number of ranks (ctest: 1 and 2). */
#include <petscmat.h>
#include <petscblaslapack.h>
#include "attention_field.h"
#include "lipschitz.h"
#include "lipschitz_operator.h"
#include "init.h"
#include "rng.h"

typedef struct {
  PetscReal val, fd, adj, normal, dense_adj, svd, lanczos;
  PetscReal bound_ratio;
} Worst;

static PetscErrorCode MakeModel(PetscInt d, PetscInt heads, PetscReal beta, MfsaMask mask, MfsaNorm norm, MfsaGeometry geom, PetscInt64 seed, AttnModel *m)
{
  PetscFunctionBegin;
  PetscCall(AttnModelCreate(PETSC_COMM_WORLD, m));
  PetscCall(AttnModelSetDimensions(*m, d, heads));
  (*m)->beta       = beta;
  (*m)->mask       = mask;
  (*m)->norm       = norm;
  (*m)->geometry   = geom;
  (*m)->qkv_source = MFSA_QKV_RANDOM;
  (*m)->seed       = seed;
  PetscCall(AttnModelSetUp(*m));
  PetscFunctionReturn(0);
}

/* The solver's velocity for rows lo..lo+nloc-1, every rank holding all tokens xall. */
static PetscErrorCode Velocity(AttnModel m, PetscInt n, const PetscReal *xall, PetscInt lo, PetscInt nloc, PetscReal *out)
{
  const PetscInt d = m->d;
  PairKeys       keys;
  PetscReal     *store;
  AttnField      field;

  PetscFunctionBegin;
  PetscCall(PairKeysAllocate(n, d, &keys, &store));
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt a = 0; a < d; a++) store[a * keys.ld + j] = xall[j * d + a];
  PetscCall(AttnFieldCreate(m, PetscMax(nloc, 1), &field));
  PetscCall(AttnFieldEvaluate(field, &keys, lo, nloc, xall + lo * d, out, NULL));
  PetscCall(AttnFieldDestroy(&field));
  PetscCall(PairKeysFree(&store));
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

static PetscErrorCode RunCase(PetscInt n, PetscInt d, PetscInt heads, PetscReal beta, MfsaMask mask, MfsaNorm norm, MfsaGeometry geom, PetscInt64 seed, Worst *worst)
{
  AttnModel    m;
  Mat          J;
  Vec          X, U, W, JU, JTW, F;
  PetscInt     lo, nloc;
  const PetscInt N = n * d;
  PetscReal   *xall, *uall, *wall, *xp, *xm, *fp, *fm, *val, *fp2, *fm2, *buf;
  PetscReal    h = 1e-4, err = 0, scale = 0, a1, a2, nju, nw;
  const PetscScalar *ju, *fv;

  PetscFunctionBegin;
  PetscCall(MakeModel(d, heads, beta, mask, norm, geom, seed, &m));
  PetscCall(LipschitzOperatorCreate(m, n, &J));
  PetscCall(LipschitzOperatorGetOwnership(J, &lo, &nloc));
  PetscCall(PetscMalloc1(5 * N + 5 * PetscMax(nloc, 1) * d, &buf));
  xall = buf, uall = xall + N, wall = uall + N, xp = wall + N, xm = xp + N;
  fp = xm + N, fm = fp + PetscMax(nloc, 1) * d, val = fm + PetscMax(nloc, 1) * d, fp2 = val + PetscMax(nloc, 1) * d, fm2 = fp2 + PetscMax(nloc, 1) * d;
  for (PetscInt i = 0; i < n; i++) {
    MfsaRandomNormals((uint64_t)seed, 11, (uint64_t)i, (int)d, xall + i * d);
    MfsaRandomNormals((uint64_t)seed, 12, (uint64_t)i, (int)d, uall + i * d);
    MfsaRandomNormals((uint64_t)seed, 13, (uint64_t)i, (int)d, wall + i * d);
  }
  if (geom == MFSA_GEOMETRY_SPHERE) MfsaNormalizeRows(n, d, xall);
  else
    for (PetscInt k = 0; k < N; k++) xall[k] *= 0.7;
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
  PetscCall(MakeModel(d, heads, beta, MFSA_MASK_NONE, MFSA_NORM_SOFTMAX, MFSA_GEOMETRY_EUCLIDEAN, seed, &m));
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

int main(int argc, char **argv)
{
  const PetscInt dims[] = {2, 3, 5};
  Worst          w      = {0};
  PetscInt       ncases = 0, nbound = 0;
  PetscReal      worst_ratio = 0;
  PetscMPIInt    size;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  for (PetscInt g = 0; g < 2; g++)
    for (PetscInt mk = 0; mk < 2; mk++)
      for (PetscInt nm = 0; nm < 2; nm++)
        for (PetscInt hh = 1; hh <= 2; hh++)
          for (PetscInt k = 0; k < 3; k++) {
            const PetscInt n = (k == 1) ? 37 : 11; /* n d <= 200 except d = 3: 111 */
            Worst          c = {0};
            PetscCall(RunCase(n, dims[k], hh, 1.3, mk ? MFSA_MASK_CAUSAL : MFSA_MASK_NONE, nm ? MFSA_NORM_UNNORMALIZED : MFSA_NORM_SOFTMAX, g ? MFSA_GEOMETRY_SPHERE : MFSA_GEOMETRY_EUCLIDEAN, 100 + ncases, &c));
            PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%-9s %-6s %-12s heads %" PetscInt_FMT " d %" PetscInt_FMT " n %2" PetscInt_FMT ": value %.1e  JVP-FD %.1e  adjoint %.1e  normal %.1e  dense J^T-J %.1e  power-SVD %.1e  Lanczos-SVD %.1e\n", g ? "sphere" : "euclidean", mk ? "causal" : "none", nm ? "unnormalized" : "softmax", hh, dims[k], n, (double)c.val, (double)c.fd, (double)c.adj, (double)c.normal, (double)c.dense_adj, (double)c.svd, (double)c.lanczos));
            w.val       = PetscMax(w.val, c.val);
            w.fd        = PetscMax(w.fd, c.fd);
            w.adj       = PetscMax(w.adj, c.adj);
            w.normal    = PetscMax(w.normal, c.normal);
            w.dense_adj = PetscMax(w.dense_adj, c.dense_adj);
            w.svd       = PetscMax(w.svd, c.svd);
            w.lanczos   = PetscMax(w.lanczos, c.lanczos);
            ncases++;
          }
  for (PetscInt64 s = 1; s <= 24; s++) {
    PetscReal r = PETSC_INFINITY;
    PetscCall(BoundCase(1000 + s, s % 3 == 0 ? LIP_INPUT_ADVERSARIAL : LIP_INPUT_BALL, &r));
    worst_ratio = PetscMax(worst_ratio, r);
    nbound++;
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%" PetscInt_FMT " cases on %d rank(s): value vs solver velocity %.2e (tol 1e-13), JVP vs central FD %.2e (tol 1e-8), adjoint %.2e (tol 1e-13), one-sweep J^T J u vs J^T (J u) %.2e (tol 1e-13), dense J^T vs J %.2e (tol 1e-13), power iteration vs dgesvd %.2e, Lanczos vs dgesvd %.2e (tol 1e-6)\n", ncases, size, (double)w.val, (double)w.fd, (double)w.adj, (double)w.normal, (double)w.dense_adj, (double)w.svd, (double)w.lanczos));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%" PetscInt_FMT " random unmasked softmax cases (ball and adversarial): max estimate / MODEL.md 5 upper bound = %.4f (must be <= 1)\n", nbound, (double)worst_ratio));
  PetscCheck(w.val <= 1e-13 && w.fd <= 1e-8 && w.adj <= 1e-13 && w.normal <= 1e-13 && w.dense_adj <= 1e-13 && w.svd <= 1e-6 && w.lanczos <= 1e-6 && worst_ratio <= 1, PETSC_COMM_WORLD, PETSC_ERR_PLIB, "FAILED: a measured error exceeds its tolerance (see above)");
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "PASS\n"));
  PetscCall(PetscFinalize());
  return 0;
}
