/* JVP/VJP of the non-exp attention sums (see attention_jacobian_variants.h). The point keeps
 * every token's queries qt_h (head-major, H x n x d), row factor c, offset b and key range, so
 * that the transposed sums over all queries need no communication beyond the features. The
 * value at the point comes from the forward kernels (pair_kernel_variants.c), the same sums the
 * particle solver integrates. */
#include "attention_jacobian_variants.h"
#include "small_linalg.h"
#include "pair_kernel_variants_jacobian.h"

/* small fixed-size work vectors, as attention_jacobian.c */
#define MAX_D 64

struct _p_AttnJacVar {
  AttnModel  model;
  PetscInt   n, lo, nloc, d, H;
  PetscBool  hyla;
  PairWeight w;
  PairHyla   hy;
  PetscReal  scale;             /* of the scores: beta (beta/sqrt(d) for hyla) */
  PetscInt  *klim;              /* n: key range of every token as a query */
  PetscReal *qbias, *c;         /* n: offsets b_i, row factors c_i */
  PetscReal *x, *u;             /* n x d row-major: the point, a direction */
  PetscReal *qt, *qu;           /* H x n x d (head-major): queries at the point; of a direction (local rows) */
  PetscReal *vx, *vu;           /* hyla: n x H x d, V_h x_j and V_h u_j */
  PetscReal *feat, *zt, *acc;   /* nloc x d; H x n x d (V_h^T of features); n x H x d */
};

static void SoAToRows(PetscInt n, PetscInt d, const PetscReal *soa, PetscInt ld, PetscReal *rows)
{
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt c = 0; c < d; c++) rows[j * d + c] = soa[c * ld + j];
}

/* out[j*H*d + h*d + :] = V_h v_j for j < n */
static void ValueRows(AttnJacVar v, PetscInt n, const PetscReal *rows, PetscReal *out)
{
  const PetscInt d = v->d, H = v->H;
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt h = 0; h < H; h++) MfsaMatVec(d, 1.0, v->model->V + h * d * d, PETSC_FALSE, rows + j * d, out + j * H * d + h * d);
}

PetscErrorCode AttnJacVarCreate(AttnModel m, PetscInt n, PetscInt lo, PetscInt nloc, AttnJacVar *jv)
{
  AttnJacVar     v;
  const PetscInt d = m->d, H = m->heads, nl = PetscMax(nloc, 1);

  PetscFunctionBegin;
  PetscCheck(!AttnModelKernelIsExp(m), m->comm, PETSC_ERR_ARG_WRONG, "AttnJacVarCreate: -attn_kernel %s is an exp kernel (attention_jacobian.c)", MfsaKernelNames[m->kernel]);
  PetscCheck(d <= MAX_D, m->comm, PETSC_ERR_SUP, "The attention Jacobian supports -attn_dim <= %d (got %" PetscInt_FMT ")", MAX_D, d);
  PetscCall(PetscNew(&v));
  v->model = m;
  v->n     = n;
  v->lo    = lo;
  v->nloc  = nloc;
  v->d     = d;
  v->H     = H;
  v->hyla  = m->kernel == MFSA_KERNEL_HYLA ? PETSC_TRUE : PETSC_FALSE;
  v->w     = m->kernel == MFSA_KERNEL_SIGMOID ? PAIR_WEIGHT_SIGMOID : (m->kernel == MFSA_KERNEL_RELU ? PAIR_WEIGHT_RELU : PAIR_WEIGHT_LINEAR);
  v->hy    = (PairHyla){.H = H, .V = m->V, .eps = m->hyla_eps};
  v->scale = AttnModelScoreScale(m);
  PetscCall(PetscMalloc5(n, &v->klim, n, &v->qbias, n, &v->c, (size_t)n * d, &v->x, (size_t)n * d, &v->u));
  PetscCall(PetscMalloc4((size_t)H * n * d, &v->qt, (size_t)H * n * d, &v->qu, v->hyla ? (size_t)n * H * d : 1, &v->vx, v->hyla ? (size_t)n * H * d : 1, &v->vu));
  PetscCall(PetscMalloc3((size_t)nl * d, &v->feat, (size_t)H * n * d, &v->zt, (size_t)n * H * d, &v->acc));
  for (PetscInt i = 0; i < n; i++) {
    v->klim[i]  = m->mask == MFSA_MASK_CAUSAL ? i + 1 : n;
    v->qbias[i] = AttnModelScoreBias(m, v->klim[i]);
    v->c[i]     = AttnModelRowScale(m, v->klim[i]);
  }
  *jv = v;
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacVarSetPoint(AttnJacVar v, const PairKeys *keys, const PetscReal *x, PetscReal *f)
{
  const AttnModel m = v->model;
  const PetscInt  d = v->d, H = v->H, n = v->n, lo = v->lo, nloc = v->nloc;

  PetscFunctionBegin;
  PetscCheck(keys->precision == PAIR_PRECISION_DOUBLE, PETSC_COMM_SELF, PETSC_ERR_SUP, "The Jacobian of -attn_kernel %s needs double precision keys", MfsaKernelNames[m->kernel]);
  SoAToRows(n, d, keys->x, keys->ld, v->x);
  /* the local rows must be the keys' rows lo.. (the caller's contract) */
  for (PetscInt k = 0; k < nloc * d; k++) PetscCheck(x[k] == v->x[lo * d + k], PETSC_COMM_SELF, PETSC_ERR_ARG_INCOMP, "AttnJacVarSetPoint: local row %" PetscInt_FMT " differs from key %" PetscInt_FMT, k / d, lo + k / d);
  for (PetscInt h = 0; h < H; h++)
    for (PetscInt j = 0; j < n; j++) MfsaMatVec(d, v->scale, m->B + h * d * d, PETSC_TRUE, v->x + j * d, v->qt + ((size_t)h * n + j) * d);
  if (v->hyla) ValueRows(v, n, v->x, v->vx);
  /* the value: the forward sums of the solver */
  PetscCall(PetscArrayzero(f, nloc * d));
  PetscCall(PetscArrayzero(v->acc, (size_t)nloc * d));
  if (v->hyla) {
    PetscCall(PairKernelHylaSum(&v->hy, keys, nloc, v->qt + lo * d, n, v->klim + lo, v->acc));
    for (PetscInt i = 0; i < nloc; i++)
      for (PetscInt a = 0; a < d; a++) f[i * d + a] = v->c[lo + i] * v->acc[i * d + a];
  } else {
    PetscReal t[MAX_D];
    for (PetscInt h = 0; h < H; h++) {
      PetscCall(PetscArrayzero(v->acc, (size_t)nloc * d));
      PetscCall(PairKernelWeightSum(v->w, keys, nloc, v->qt + ((size_t)h * n + lo) * d, v->qbias + lo, v->klim + lo, v->acc, NULL));
      for (PetscInt i = 0; i < nloc; i++) {
        MfsaMatVec(d, v->c[lo + i], m->V + h * d * d, PETSC_FALSE, v->acc + i * d, t);
        for (PetscInt a = 0; a < d; a++) f[i * d + a] += t[a];
      }
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacVarApply(AttnJacVar v, const PairKeys *u_all, const PetscReal *u, PetscReal *df)
{
  const AttnModel m = v->model;
  const PetscInt  d = v->d, H = v->H, n = v->n, lo = v->lo, nloc = v->nloc;
  PetscReal       t[MAX_D];

  PetscFunctionBegin;
  SoAToRows(n, d, u_all->x, u_all->ld, v->u);
  PetscCall(PetscArrayzero(df, nloc * d));
  for (PetscInt h = 0; h < H; h++)
    for (PetscInt i = 0; i < nloc; i++) MfsaMatVec(d, v->scale, m->B + h * d * d, PETSC_TRUE, u + i * d, v->qu + ((size_t)h * n + lo + i) * d);
  if (v->hyla) {
    ValueRows(v, n, v->u, v->vu);
    PetscCall(PetscArrayzero(v->acc, (size_t)nloc * d));
    PetscCall(PairHylaJvpSum(&v->hy, d, nloc, v->qt + lo * d, v->qu + lo * d, n, v->klim + lo, v->x, v->u, v->vx, v->vu, v->acc));
    for (PetscInt i = 0; i < nloc; i++)
      for (PetscInt a = 0; a < d; a++) df[i * d + a] = v->c[lo + i] * v->acc[i * d + a];
  } else {
    for (PetscInt h = 0; h < H; h++) {
      PetscCall(PetscArrayzero(v->acc, (size_t)nloc * d));
      PetscCall(PairWeightJvpSum(v->w, d, nloc, v->qt + ((size_t)h * n + lo) * d, v->qu + ((size_t)h * n + lo) * d, v->qbias + lo, v->klim + lo, v->x, v->u, v->acc));
      for (PetscInt i = 0; i < nloc; i++) {
        MfsaMatVec(d, v->c[lo + i], m->V + h * d * d, PETSC_FALSE, v->acc + i * d, t);
        for (PetscInt a = 0; a < d; a++) df[i * d + a] += t[a];
      }
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacVarFeatures(AttnJacVar v, const PetscReal *w, PetscReal *feat)
{
  const PetscInt d = v->d;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < v->nloc; i++)
    for (PetscInt a = 0; a < d; a++) v->feat[i * d + a] = v->c[v->lo + i] * w[i * d + a];
  if (feat) PetscCall(PetscArraycpy(feat, v->feat, v->nloc * d));
  PetscFunctionReturn(0);
}

/* Key terms of keys klo..klo+nk-1 from queries qlo..qlo+nq-1 with features rows (nq x d):
 * out (nk x d) += them. */
static PetscErrorCode KeyTerms(AttnJacVar v, PetscInt qlo, PetscInt nq, const PetscReal *rows, PetscInt klo, PetscInt nk, PetscReal *out)
{
  const AttnModel m = v->model;
  const PetscInt  d = v->d, H = v->H, n = v->n;

  PetscFunctionBegin;
  if (v->hyla) {
    PetscCall(PairHylaVjpKeySum(&v->hy, d, nq, v->qt + qlo * d, n, v->klim + qlo, rows, v->x, v->vx, klo, nk, out));
    PetscFunctionReturn(0);
  }
  for (PetscInt h = 0; h < H; h++) {
    PetscReal *zt = v->zt + (size_t)h * n * d; /* the cotangent V_h^T feat of the head's sum */
    for (PetscInt q = 0; q < nq; q++) MfsaMatVec(d, 1.0, m->V + h * d * d, PETSC_TRUE, rows + q * d, zt + q * d);
    PetscCall(PairWeightVjpKeySum(v->w, d, nq, v->qt + ((size_t)h * n + qlo) * d, v->qbias + qlo, v->klim + qlo, zt, v->x, klo, nk, out));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacVarKeySums(AttnJacVar v, const PetscReal *feat_all, PetscInt ld, PetscInt klo, PetscInt nk, PetscReal *out)
{
  const PetscInt d = v->d, n = v->n;

  PetscFunctionBegin;
  PetscCheck(klo >= 0 && nk >= 0 && klo + nk <= n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "AttnJacVarKeySums: block [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT ")", klo, klo + nk, n);
  SoAToRows(n, d, feat_all, ld, v->u); /* v->u: free between products */
  PetscCall(PetscArrayzero(out, nk * d));
  PetscCall(KeyTerms(v, 0, n, v->u, klo, nk, out));
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacVarScatter(AttnJacVar v, PetscInt ld, PetscReal *T)
{
  const PetscInt d = v->d, n = v->n;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(v->acc, (size_t)n * d));
  PetscCall(KeyTerms(v, v->lo, v->nloc, v->feat, 0, n, v->acc));
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt c = 0; c < d; c++) T[c * ld + j] += v->acc[j * d + c];
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacVarQueryTerms(AttnJacVar v, PetscReal *g)
{
  const AttnModel m = v->model;
  const PetscInt  d = v->d, H = v->H, n = v->n, lo = v->lo, nloc = v->nloc;
  PetscReal       t[MAX_D];

  PetscFunctionBegin;
  if (v->hyla) {
    PetscCall(PetscArrayzero(v->acc, (size_t)nloc * H * d));
    PetscCall(PairHylaVjpQuerySum(&v->hy, d, nloc, v->qt + lo * d, n, v->klim + lo, v->feat, v->x, v->vx, v->acc));
    for (PetscInt i = 0; i < nloc; i++)
      for (PetscInt h = 0; h < H; h++) {
        MfsaMatVec(d, v->scale, m->B + h * d * d, PETSC_FALSE, v->acc + (i * H + h) * d, t);
        for (PetscInt a = 0; a < d; a++) g[i * d + a] += t[a];
      }
    PetscFunctionReturn(0);
  }
  for (PetscInt h = 0; h < H; h++) {
    PetscReal *zt = v->zt + (size_t)h * n * d;
    for (PetscInt i = 0; i < nloc; i++) MfsaMatVec(d, 1.0, m->V + h * d * d, PETSC_TRUE, v->feat + i * d, zt + i * d);
    PetscCall(PetscArrayzero(v->acc, (size_t)nloc * d));
    PetscCall(PairWeightVjpQuerySum(v->w, d, nloc, v->qt + ((size_t)h * n + lo) * d, v->qbias + lo, v->klim + lo, zt, v->x, v->acc));
    for (PetscInt i = 0; i < nloc; i++) {
      MfsaMatVec(d, v->scale, m->B + h * d * d, PETSC_FALSE, v->acc + i * d, t);
      for (PetscInt a = 0; a < d; a++) g[i * d + a] += t[a];
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacVarDestroy(AttnJacVar *jv)
{
  AttnJacVar v = *jv;

  PetscFunctionBegin;
  if (!v) PetscFunctionReturn(0);
  PetscCall(PetscFree5(v->klim, v->qbias, v->c, v->x, v->u));
  PetscCall(PetscFree4(v->qt, v->qu, v->vx, v->vu));
  PetscCall(PetscFree3(v->feat, v->zt, v->acc));
  PetscCall(PetscFree(*jv));
  PetscFunctionReturn(0);
}
