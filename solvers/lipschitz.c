/* The Lipschitz study: options (-lip_*), the sweep over families x n, printing, and the
 * table written to lipschitz.h5 after every estimate (a long sweep keeps what it measured). */
#include "lipschitz.h"
#include "lipschitz_operator.h"
#include "lipschitz_table.h"
#include "init.h"
#include "options_util.h"
#include "small_linalg.h"
#include <math.h>

#define LIP_MAX_N 64

typedef struct {
  PetscInt64 *n, *its;
  PetscReal  *est, *res, *bound, *rad, *sec;
  PetscInt    rows;
} LipRows;

struct _p_MfsaLipschitz {
  MPI_Comm       comm;
  AttnModel      model;
  PetscInt       nfam;
  LipInputFamily fam[6];
  PetscInt       nn, nlist[LIP_MAX_N];
  PetscReal      radius, sphere_radius, tol;
  PetscInt       max_it;
  LipMethod      method;
  char           snapshot[PETSC_MAX_PATH_LEN], dataset[PETSC_MAX_PATH_LEN];
  PetscInt       snap_n; /* tokens in -lip_snapshot */
  PetscReal      norm_B, norm_V;
  LipRows        rows[6];
  MfsaLipschitzTable tables[6];
};

PetscErrorCode MfsaLipschitzCreate(AttnModel model, MfsaLipschitz *lip)
{
  MfsaLipschitz L;

  PetscFunctionBegin;
  PetscCall(PetscNew(&L));
  L->comm   = model->comm;
  L->model  = model;
  L->nfam   = 1;
  L->fam[0] = LIP_INPUT_BALL;
  L->radius = 1.0;
  L->sphere_radius = -1; /* sqrt(d) */
  L->tol    = 1e-6;
  L->max_it = 300;
  L->method = LIP_METHOD_LANCZOS;
  L->nn     = 0;
  PetscCall(PetscStrncpy(L->dataset, "/particles/x", sizeof(L->dataset)));
  *lip = L;
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaLipschitzSetFromOptions(MfsaLipschitz L)
{
  char     *names[6];
  PetscInt  nnames = 6, pow2[2] = {4, 10}, npow = 2, nlist = LIP_MAX_N;
  PetscBool set_names, set_list, set_pow, set_snap;
  PetscInt  idx;

  PetscFunctionBegin;
  PetscOptionsBegin(L->comm, NULL, "Lipschitz constant of attention (mfsa-lipschitz)", "MfsaLipschitz");
  PetscCall(PetscOptionsStringArray("-lip_inputs", "Input families, comma-separated: ball (radius -lip_radius), sphere (radius -lip_sphere_radius), adversarial (constructed, radius -lip_radius), uniform, gaussian (the particle initialisers), snapshot (-lip_snapshot)", NULL, names, &nnames, &set_names));
  PetscCall(PetscOptionsIntArray("-lip_n", "Token counts n >= 2, comma-separated", NULL, L->nlist, &nlist, &set_list));
  PetscCall(PetscOptionsIntArray("-lip_n_pow2", "Token counts 2^a..2^b as a,b (default 4,10)", NULL, pow2, &npow, &set_pow));
  PetscCall(PetscOptionsReal("-lip_radius", "Radius R of the ball and adversarial families", NULL, L->radius, &L->radius, NULL));
  PetscCall(PetscOptionsReal("-lip_sphere_radius", "Radius of the sphere family (default sqrt(d), the layer-norm sphere)", NULL, L->sphere_radius, &L->sphere_radius, NULL));
  PetscCall(PetscOptionsReal("-lip_tol", "Stop when the relative eigen-residual of Df^T Df is <= tol", NULL, L->tol, &L->tol, NULL));
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-lip_method", "Largest singular value of Df by Lanczos on Df^T Df (full reorthogonalisation; keeps one vector per step) or power iteration", LipMethodNames, L->method, &idx));
  L->method = (LipMethod)idx;
  PetscCall(PetscOptionsInt("-lip_max_it", "Most products Df^T Df v per estimate (Lanczos keeps one state-sized vector per step)", NULL, L->max_it, &L->max_it, NULL));
  PetscCall(PetscOptionsString("-lip_snapshot", "HDF5 file with tokens (an mfsa snapshot) for -lip_inputs snapshot", NULL, L->snapshot, L->snapshot, sizeof(L->snapshot), &set_snap));
  PetscCall(PetscOptionsString("-lip_snapshot_dataset", "Dataset of -lip_snapshot (n x d float64)", NULL, L->dataset, L->dataset, sizeof(L->dataset), NULL));
  PetscOptionsEnd();

  if (set_names) {
    PetscCheck(nnames >= 1, L->comm, PETSC_ERR_USER_INPUT, "-lip_inputs is empty; give one or more of ball, sphere, adversarial, uniform, gaussian, snapshot");
    L->nfam = nnames;
    for (PetscInt f = 0; f < nnames; f++) {
      PetscInt k = 0;
      while (LipInputNames[k] && strcmp(LipInputNames[k], names[f])) k++;
      PetscCheck(LipInputNames[k], L->comm, PETSC_ERR_USER_INPUT, "-lip_inputs: unknown family \"%s\"; allowed: ball, sphere, adversarial, uniform, gaussian, snapshot", names[f]);
      for (PetscInt e = 0; e < f; e++) PetscCheck(L->fam[e] != (LipInputFamily)k, L->comm, PETSC_ERR_USER_INPUT, "-lip_inputs: family \"%s\" given twice", names[f]);
      L->fam[f] = (LipInputFamily)k;
    }
    for (PetscInt f = 0; f < nnames; f++) PetscCall(PetscFree(names[f]));
  }
  PetscCheck(!(set_list && set_pow), L->comm, PETSC_ERR_USER_INPUT, "-lip_n and -lip_n_pow2 both given; use one (a list of n, or a,b for 2^a..2^b)");
  if (set_list) {
    PetscCheck(nlist >= 1, L->comm, PETSC_ERR_USER_INPUT, "-lip_n is empty; give token counts n >= 2, e.g. -lip_n 16,64,256");
    L->nn = nlist;
  } else {
    if (!set_pow) pow2[0] = 4, pow2[1] = 10, npow = 2; /* the default sweep 16..1024 */
    PetscCheck(npow == 2, L->comm, PETSC_ERR_USER_INPUT, "-lip_n_pow2 takes two exponents a,b (2^a..2^b), got %" PetscInt_FMT " value(s)", npow);
    PetscCheck(1 <= pow2[0] && pow2[0] <= pow2[1] && pow2[1] <= 30, L->comm, PETSC_ERR_USER_INPUT, "-lip_n_pow2 %" PetscInt_FMT ",%" PetscInt_FMT ": need 1 <= a <= b <= 30", pow2[0], pow2[1]);
    L->nn = pow2[1] - pow2[0] + 1;
    for (PetscInt k = 0; k < L->nn; k++) L->nlist[k] = (PetscInt)1 << (pow2[0] + k);
  }
  for (PetscInt k = 0; k < L->nn; k++) {
    PetscCheck(L->nlist[k] >= 2, L->comm, PETSC_ERR_USER_INPUT, "-lip_n: n = %" PetscInt_FMT " is too small; the Lipschitz sweep needs n >= 2 tokens", L->nlist[k]);
    for (PetscInt e = 0; e < k; e++) PetscCheck(L->nlist[e] != L->nlist[k], L->comm, PETSC_ERR_USER_INPUT, "-lip_n: n = %" PetscInt_FMT " given twice", L->nlist[k]);
  }
  PetscCheck(L->radius > 0 && PetscIsNormalReal(L->radius), L->comm, PETSC_ERR_USER_INPUT, "-lip_radius must be a finite number > 0 (got %g)", (double)L->radius);
  PetscCheck(L->sphere_radius == -1 || (L->sphere_radius > 0 && PetscIsNormalReal(L->sphere_radius)), L->comm, PETSC_ERR_USER_INPUT, "-lip_sphere_radius must be a finite number > 0 (got %g)", (double)L->sphere_radius);
  PetscCheck(L->tol > 0 && L->tol < 1, L->comm, PETSC_ERR_USER_INPUT, "-lip_tol must be in (0, 1) (got %g)", (double)L->tol);
  PetscCheck(L->max_it >= 1, L->comm, PETSC_ERR_USER_INPUT, "-lip_max_it must be >= 1 (got %" PetscInt_FMT ")", L->max_it);
  {
    PetscBool want_snap = PETSC_FALSE;
    for (PetscInt f = 0; f < L->nfam; f++) want_snap = want_snap || L->fam[f] == LIP_INPUT_SNAPSHOT;
    PetscCheck(!want_snap || set_snap, L->comm, PETSC_ERR_USER_INPUT, "-lip_inputs snapshot needs -lip_snapshot <file.h5> (tokens in %s)", L->dataset);
    PetscCheck(want_snap || !set_snap, L->comm, PETSC_ERR_USER_INPUT, "-lip_snapshot is only used with -lip_inputs snapshot");
  }
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaLipschitzSetUp(MfsaLipschitz L)
{
  AttnModel m = L->model;

  PetscFunctionBegin;
  if (L->sphere_radius < 0) L->sphere_radius = PetscSqrtReal((PetscReal)m->d);
  for (PetscInt f = 0; f < L->nfam; f++) {
    const LipInputFamily fam = L->fam[f];
    /* the projected map P_x f is the sphere's velocity only for |x| = 1 */
    PetscCheck(m->geometry != MFSA_GEOMETRY_SPHERE || fam == LIP_INPUT_UNIFORM || fam == LIP_INPUT_GAUSSIAN || fam == LIP_INPUT_SNAPSHOT, L->comm, PETSC_ERR_USER_INPUT, "-lip_inputs %s puts tokens off the unit sphere, but -geometry sphere differentiates the map on the unit sphere; use -geometry euclidean, or -lip_inputs uniform|gaussian|snapshot", LipInputNames[fam]);
    if (fam == LIP_INPUT_SNAPSHOT) {
      PetscInt n0, n1;
      PetscCall(MfsaReadDims2(L->comm, "-lip_snapshot", L->snapshot, L->dataset, &n0, &n1));
      PetscCheck(n1 == m->d, L->comm, PETSC_ERR_USER_INPUT, "-lip_snapshot %s: %s holds tokens of dimension %" PetscInt_FMT " but the model has -attn_dim %" PetscInt_FMT "; pass -attn_dim %" PetscInt_FMT " (and the snapshot's model: -attn_qkv file -attn_qkv_file %s)", L->snapshot, L->dataset, n1, m->d, n1, L->snapshot);
      PetscCheck(n0 >= 2, L->comm, PETSC_ERR_USER_INPUT, "-lip_snapshot %s: %s holds %" PetscInt_FMT " token(s); the Lipschitz constant needs n >= 2", L->snapshot, L->dataset, n0);
      L->snap_n = n0;
    }
  }
  L->norm_B = L->norm_V = 0;
  for (PetscInt h = 0; h < m->heads; h++) {
    PetscReal s;
    PetscCall(MfsaTopSingular(m->d, m->B + h * m->d * m->d, &s, NULL, NULL));
    L->norm_B = PetscMax(L->norm_B, s);
    PetscCall(MfsaTopSingular(m->d, m->V + h * m->d * m->d, &s, NULL, NULL));
    L->norm_V = PetscMax(L->norm_V, s);
  }
  for (PetscInt f = 0; f < L->nfam; f++) {
    LipRows *r = &L->rows[f];
    PetscCall(PetscMalloc7(L->nn, &r->n, L->nn, &r->its, L->nn, &r->est, L->nn, &r->res, L->nn, &r->bound, L->nn, &r->rad, L->nn, &r->sec));
  }
  PetscFunctionReturn(0);
}

/* Least-squares slope of log y against log n over rows [a, b). */
static PetscReal LogLogSlope(const PetscInt64 *n, const PetscReal *y, PetscInt a, PetscInt b)
{
  PetscReal sx = 0, sy = 0, sxx = 0, sxy = 0;
  PetscInt  k  = b - a;
  if (k < 2) return (PetscReal)NAN;
  for (PetscInt i = a; i < b; i++) {
    const PetscReal lx = PetscLogReal((PetscReal)n[i]), ly = PetscLogReal(y[i]);
    sx += lx;
    sy += ly;
    sxx += lx * lx;
    sxy += lx * ly;
  }
  return (k * sxy - sx * sy) / (k * sxx - sx * sx);
}

static PetscReal FamilyRadius(MfsaLipschitz L, LipInputFamily fam)
{
  switch (fam) {
  case LIP_INPUT_BALL:
  case LIP_INPUT_ADVERSARIAL:
    return L->radius;
  case LIP_INPUT_SPHERE:
    return L->sphere_radius;
  case LIP_INPUT_UNIFORM:
    return 1.0;
  default:
    return (PetscReal)NAN; /* gaussian, snapshot: the measured max |x_i| is in the radius column */
  }
}

/* One estimate: tokens, operator, power iteration, bound. */
static PetscErrorCode EstimateOne(MfsaLipschitz L, LipInputFamily fam, PetscInt n, LipschitzEstimate *est, PetscReal *radius, PetscReal *bound)
{
  AttnModel    m = L->model;
  Mat          J;
  Vec          X;
  PetscInt     lo, nloc;
  PetscScalar *x;
  PetscReal    r2 = 0;

  PetscFunctionBegin;
  PetscCall(LipschitzOperatorCreate(m, n, &J));
  PetscCall(LipschitzOperatorGetOwnership(J, &lo, &nloc));
  PetscCall(MatCreateVecs(J, &X, NULL));
  PetscCall(VecGetArrayWrite(X, &x));
  if (fam == LIP_INPUT_SNAPSHOT) PetscCall(MfsaReadRows(L->comm, "-lip_snapshot", L->snapshot, L->dataset, n, m->d, lo, nloc, x));
  else PetscCall(LipschitzInputTokens(m, fam, FamilyRadius(L, fam), n, lo, nloc, x));
  for (PetscInt i = 0; i < nloc; i++) {
    PetscReal s = 0;
    for (PetscInt a = 0; a < m->d; a++) s += x[i * m->d + a] * x[i * m->d + a];
    r2 = PetscMax(r2, s);
  }
  PetscCall(VecRestoreArrayWrite(X, &x));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &r2, 1, MPIU_REAL, MPIU_MAX, L->comm));
  *radius = PetscSqrtReal(r2);
  PetscCall(LipschitzOperatorSetPoint(J, X));
  if (L->method == LIP_METHOD_LANCZOS) PetscCall(LipschitzLanczos(J, L->tol, L->max_it, m->seed, est));
  else PetscCall(LipschitzPowerIteration(J, L->tol, L->max_it, m->seed, est));
  PetscCall(LipschitzUpperBound(m, n, *radius, bound));
  PetscCall(VecDestroy(&X));
  PetscCall(MatDestroy(&J));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaLipschitzRun(MfsaLipschitz L, MfsaOutput out)
{
  AttnModel      m    = L->model;
  MfsaProvenance prov = {.solver = "lipschitz", .seed = m->seed, .d = m->d, .heads = m->heads, .k = m->k, .beta = m->beta, .mask = MfsaMaskNames[m->mask], .norm = MfsaNormNames[m->norm], .geometry = MfsaGeometryNames[m->geometry], .kernel = m->kernel_desc, .layer_norm = MfsaLayerNormNames[m->ln], .Q = m->Q, .K = m->K, .V = m->V};

  PetscFunctionBegin;
  prov.n = 0;
  for (PetscInt k = 0; k < L->nn; k++) prov.n = PetscMax(prov.n, L->nlist[k]);
  for (PetscInt f = 0; f < L->nfam; f++) {
    const LipInputFamily fam = L->fam[f];
    LipRows             *r   = &L->rows[f];
    const PetscInt       nn  = fam == LIP_INPUT_SNAPSHOT ? 1 : L->nn;
    MfsaLipschitzTable  *tb  = &L->tables[f];

    *tb = (MfsaLipschitzTable){.family = LipInputNames[fam], .radius_family = FamilyRadius(L, fam), .norm_B = L->norm_B, .norm_V = L->norm_V, .tol = L->tol, .max_it = L->max_it, .slope = (PetscReal)NAN, .crossover_n = (PetscReal)NAN, .n = r->n, .iterations = r->its, .estimate = r->est, .residual = r->res, .upper_bound = r->bound, .radius = r->rad, .seconds = r->sec};
    for (PetscInt k = 0; k < nn; k++) {
      const PetscInt    n = fam == LIP_INPUT_SNAPSHOT ? L->snap_n : L->nlist[k];
      LipschitzEstimate est;
      PetscLogDouble    t0, t1;
      PetscReal         radius = 0, bound = 0, R;

      PetscCall(PetscTime(&t0));
      PetscCall(EstimateOne(L, fam, n, &est, &radius, &bound));
      PetscCall(PetscTime(&t1));
      r->n[k]     = n;
      r->its[k]   = est.iterations;
      r->est[k]   = est.sigma;
      r->res[k]   = est.residual;
      r->bound[k] = bound;
      r->rad[k]   = radius;
      r->sec[k]   = t1 - t0;
      r->rows     = k + 1;
      tb->rows    = r->rows;
      R           = PetscIsNanReal(tb->radius_family) ? radius : tb->radius_family;
      /* the crossover of the exp kernels' weights; the other kernels have none (NaN) */
      tb->crossover_n = AttnModelKernelIsExp(m) ? PetscExpReal(2 * m->beta * L->norm_B * R * R) : (PetscReal)NAN;
      tb->slope       = LogLogSlope(r->n, r->est, 0, r->rows);
      PetscCall(PetscPrintf(L->comm, "lipschitz: %-11s n = %8" PetscInt_FMT "  Lip = %.10e  iterations %4" PetscInt_FMT "  residual %.1e%s  bound %.4e  max|x| %.4f  (%.2f s)\n", LipInputNames[fam], n, (double)est.sigma, est.iterations, (double)est.residual, est.converged ? "" : " (NOT converged: raise -lip_max_it)", (double)bound, (double)radius, (double)(t1 - t0)));
      PetscCall(MfsaOutputWriteLipschitz(out, f + 1, L->tables, &prov));
    }
    if (r->rows >= 2) {
      PetscInt split = 0;
      while (split < r->rows && (PetscReal)r->n[split] < tb->crossover_n) split++;
      PetscCall(PetscPrintf(L->comm, "lipschitz: %-11s slope of log Lip vs log n = %.4f over n = %" PetscInt64_FMT "..%" PetscInt64_FMT, LipInputNames[fam], (double)tb->slope, r->n[0], r->n[r->rows - 1]));
      if (PetscIsNanReal(tb->crossover_n)) PetscCall(PetscPrintf(L->comm, "; no exp-kernel crossover for -attn_kernel %s", MfsaKernelNames[m->kernel]));
      else PetscCall(PetscPrintf(L->comm, "; mean-field crossover n_c = e^{2 beta |B| R^2} = %.4g", (double)tb->crossover_n));
      if (split >= 2 && r->rows - split >= 2) PetscCall(PetscPrintf(L->comm, "; slope before n_c %.4f, after %.4f", (double)LogLogSlope(r->n, r->est, 0, split), (double)LogLogSlope(r->n, r->est, split, r->rows)));
      else if (r->rows >= 4) {
        /* n_c is outside the sweep (it is a worst-case bound): say where the measured growth bends */
        const PetscInt half = r->rows / 2;
        PetscCall(PetscPrintf(L->comm, "; %sslope over the lower half n <= %" PetscInt64_FMT " %.4f, upper half %.4f", PetscIsNanReal(tb->crossover_n) ? "" : "n_c outside the sweep: ", r->n[half], (double)LogLogSlope(r->n, r->est, 0, half + 1), (double)LogLogSlope(r->n, r->est, half, r->rows)));
      }
      PetscCall(PetscPrintf(L->comm, "\n"));
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaLipschitzView(MfsaLipschitz L, PetscViewer viewer)
{
  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "Lipschitz study: %s, %" PetscInt_FMT " families, %" PetscInt_FMT " sizes, tol %g, max_it %" PetscInt_FMT ", R %g, sphere radius %g, |B| %g, |V| %g\n", LipMethodNames[L->method], L->nfam, L->nn, (double)L->tol, L->max_it, (double)L->radius, (double)L->sphere_radius, (double)L->norm_B, (double)L->norm_V));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaLipschitzDestroy(MfsaLipschitz *lip)
{
  PetscFunctionBegin;
  if (!*lip) PetscFunctionReturn(0);
  for (PetscInt f = 0; f < (*lip)->nfam; f++) {
    LipRows *r = &(*lip)->rows[f];
    if (r->n) PetscCall(PetscFree7(r->n, r->its, r->est, r->res, r->bound, r->rad, r->sec));
  }
  PetscCall(PetscFree(*lip));
  PetscFunctionReturn(0);
}
