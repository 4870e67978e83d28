/* JVP and VJP of the attention velocity map (formulas in attention_jacobian.h). The
 * linearisation point fixes log Z, m, S per head; every product is then one pass of
 * PairKernelMoments over the keys plus O(d^2) work per token. The non-exp kernels' sums are
 * differentiated in attention_jacobian_variants.c; the layer norms (the "outer" map F_i =
 * Phi(x_i, f_i) and pre-LN's inputs x/|x|) are handled here for every kernel. */
#include "attention_jacobian.h"
#include "attention_jacobian_variants.h"
#include "small_linalg.h"
#include "pair_kernel_moments.h"

/* small fixed-size work vectors; attention models here have d <= 64 */
#define MAX_D 64

struct _p_AttnJacobian {
  AttnModel  model;
  PetscInt   n, lo, nloc, d, H;
  PetscInt  *jlo, *jhi;        /* forward key ranges of the local queries */
  PetscReal *x;                /* nloc x d, the point */
  PetscReal *qt, *logz, *rho;  /* per head: nloc x d, nloc, nloc */
  PetscReal *m, *S;            /* per head: nloc x d, nloc x d x d */
  PetscReal *f, *F;            /* nloc x d: unprojected and projected value */
  PetscReal *zt, *w;           /* per head nloc x d; nloc x d (cotangent of f) */
  PetscReal *ones, *G, *Hs, *C; /* scratch */
  PairKeys   keys; /* all tokens at the point (the caller's storage; pre-LN: hstore) */
  AttnJacVar var;  /* the non-exp kernels' sums (NULL for softmax, unnormalized) */
  PetscReal *fo, *nf; /* post: fo = f; ngpt: fo = f/|f|, nf = |f| (nloc x d, nloc) */
  /* pre-LN: the attention sees xh = x/|x|; |x| of every token, xh (SoA), the direction
   * (I - xh xh^T) u/|x| of every token (SoA) and of the local rows */
  PetscReal *xnorm, *hstore, *ustore, *uloc;
  PairKeys   ukeys;
  PetscBool  set;
};

PetscErrorCode AttnJacobianCreate(AttnModel model, PetscInt n, PetscInt lo, PetscInt nloc, AttnJacobian *jac)
{
  AttnJacobian   J;
  const PetscInt d = model->d, H = model->heads, nl = PetscMax(nloc, 1);

  PetscFunctionBegin;
  PetscCheck(model->setup, model->comm, PETSC_ERR_ORDER, "AttnJacobianCreate: call AttnModelSetUp first");
  PetscCheck(d <= MAX_D, model->comm, PETSC_ERR_SUP, "The attention Jacobian supports -attn_dim <= %d (got %" PetscInt_FMT ")", MAX_D, d);
  PetscCall(PetscNew(&J));
  J->model = model;
  J->n     = n;
  J->lo    = lo;
  J->nloc  = nloc;
  J->d     = d;
  J->H     = H;
  PetscCall(PetscMalloc3(nl, &J->jlo, nl, &J->jhi, nl * d, &J->x));
  PetscCall(PetscMalloc5(H * nl * d, &J->qt, H * nl, &J->logz, H * nl, &J->rho, H * nl * d, &J->m, H * nl * d * d, &J->S));
  PetscCall(PetscMalloc4(nl * d, &J->f, nl * d, &J->F, H * nl * d, &J->zt, nl * d, &J->w));
  PetscCall(PetscMalloc4(nl, &J->ones, nl * d, &J->G, nl * d, &J->Hs, nl, &J->C));
  PetscCall(PetscMalloc2(nl * d, &J->fo, nl, &J->nf));
  if (!AttnModelKernelIsExp(model)) PetscCall(AttnJacVarCreate(model, n, lo, nloc, &J->var));
  if (model->ln == MFSA_LN_PRE) {
    PairKeys hk; /* the layout of hstore is ukeys' */
    PetscCall(PetscMalloc2(n, &J->xnorm, nl * d, &J->uloc));
    PetscCall(PairKeysAllocate(n, d, &hk, &J->hstore));
    PetscCall(PairKeysAllocate(n, d, &J->ukeys, &J->ustore));
  }
  for (PetscInt i = 0; i < nloc; i++) {
    J->jlo[i]  = 0;
    J->jhi[i]  = model->mask == MFSA_MASK_CAUSAL ? lo + i + 1 : n;
    J->ones[i] = 1;
  }
  *jac = J;
  PetscFunctionReturn(0);
}

/* Pre-LN: every token's |x| and xh = x/|x| (SoA in hstore; the local rows copied from it, so
 * queries and keys agree bit for bit); the attention is then evaluated at xh. */
static PetscErrorCode PreNormalize(AttnJacobian J, const PairKeys *keys)
{
  const PetscInt d = J->d, n = J->n, ld = keys->ld;

  PetscFunctionBegin;
  PetscCheck(keys->precision == PAIR_PRECISION_DOUBLE, PETSC_COMM_SELF, PETSC_ERR_SUP, "The attention Jacobian with -attn_ln pre needs double precision keys");
  PetscCheck(ld == J->ukeys.ld, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "AttnJacobianSetPoint: keys with leading dimension %" PetscInt_FMT ", expected %" PetscInt_FMT " (PairKeysAllocate)", ld, J->ukeys.ld);
  for (PetscInt j = 0; j < n; j++) {
    PetscReal s = 0;
    for (PetscInt a = 0; a < d; a++) s += keys->x[a * ld + j] * keys->x[a * ld + j];
    PetscCheck(s > 0 && !PetscIsInfOrNanReal(s), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "-attn_ln pre normalises every token to x/|x|, but token %" PetscInt_FMT " has |x|^2 = %g: the Jacobian is undefined there", j, (double)s);
    J->xnorm[j] = PetscSqrtReal(s);
    for (PetscInt a = 0; a < d; a++) J->hstore[a * ld + j] = keys->x[a * ld + j] / J->xnorm[j];
  }
  J->keys   = *keys;
  J->keys.x = J->hstore;
  for (PetscInt i = 0; i < J->nloc; i++)
    for (PetscInt a = 0; a < d; a++) J->x[i * d + a] = J->hstore[a * ld + J->lo + i];
  PetscFunctionReturn(0);
}

/* The value F_i = Phi(x_i, f_i) of the layer norm: none/pre f; post P_x f; ngpt alpha P_x f/|f|. */
static PetscErrorCode OuterValue(AttnJacobian J)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d;
  const PetscBool ngpt = m->ln == MFSA_LN_NGPT ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBegin;
  for (PetscInt i = 0; i < J->nloc; i++) {
    const PetscReal *xi = J->x + i * d, *fi = J->f + i * d;
    PetscReal       *fo = J->fo + i * d;
    J->nf[i] = PetscSqrtReal(MfsaDot(d, fi, fi));
    /* nGPT with f_i = 0: the solver does not move the token (AttnFieldEnd), and f vanishes on a
     * neighbourhood where it vanishes generically (relu with every score <= 0), so its row of
     * the Jacobian is 0 (fo = 0 here, t = w = 0 in the products) */
    for (PetscInt a = 0; a < d; a++) fo[a] = ngpt ? (J->nf[i] > 0 ? fi[a] / J->nf[i] : 0.0) : fi[a];
    const PetscReal s = ngpt ? m->ngpt_alpha : 1.0, xf = m->geometry == MFSA_GEOMETRY_SPHERE ? MfsaDot(d, xi, fo) : 0;
    for (PetscInt a = 0; a < d; a++) J->F[i * d + a] = s * (fo[a] - xf * xi[a]);
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacobianSetPoint(AttnJacobian J, const PairKeys *keys, const PetscReal *x)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d, nloc = J->nloc;

  PetscFunctionBegin;
  PetscCheck(keys->n == J->n && keys->d == d, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "AttnJacobianSetPoint: keys are %" PetscInt_FMT " x %" PetscInt_FMT ", expected %" PetscInt_FMT " x %" PetscInt_FMT, keys->n, keys->d, J->n, d);
  if (m->ln == MFSA_LN_PRE) PetscCall(PreNormalize(J, keys));
  else {
    PetscCall(PetscArraycpy(J->x, x, nloc * d));
    J->keys = *keys;
  }
  keys = &J->keys;
  x    = J->x;
  PetscCall(PetscArrayzero(J->f, nloc * d));
  if (J->var) {
    PetscCall(AttnJacVarSetPoint(J->var, keys, x, J->f));
    PetscCall(OuterValue(J));
    J->set = PETSC_TRUE;
    PetscFunctionReturn(0);
  }
  for (PetscInt h = 0; h < J->H; h++) {
    const PetscReal *B = m->B + h * d * d, *V = m->V + h * d * d;
    PetscReal       *qt = J->qt + h * nloc * d, *lz = J->logz + h * nloc, *rho = J->rho + h * nloc, *mh = J->m + h * nloc * d, *S = J->S + h * nloc * d * d;
    PairMomentKeys   mk = {.keys = *keys, .dh = d, .h = keys->x, .df = 1};

    for (PetscInt i = 0; i < nloc; i++) MfsaMatVec(d, m->beta, B, PETSC_TRUE, x + i * d, qt + i * d);
    PetscCall(PairKernelApply(keys, nloc, qt, J->jhi, mh, lz));
    /* S column by column: c = x_a (one feature), h = x. */
    for (PetscInt a = 0; a < d; a++) {
      mk.f = keys->x + a * keys->ld;
      PetscCall(PairKernelMoments(&mk, nloc, qt, lz, J->ones, J->jlo, J->jhi, NULL, J->Hs, NULL));
      for (PetscInt i = 0; i < nloc; i++)
        for (PetscInt b = 0; b < d; b++) S[i * d * d + b * d + a] = J->Hs[i * d + b];
    }
    for (PetscInt i = 0; i < nloc; i++) {
      rho[i] = m->norm == MFSA_NORM_SOFTMAX ? 1.0 : PetscExpReal(lz[i] - PetscLogReal((PetscReal)J->jhi[i]));
      for (PetscInt a = 0; a < d; a++) J->f[i * d + a] += rho[i] * MfsaDot(d, V + a * d, mh + i * d);
    }
  }
  PetscCall(OuterValue(J));
  J->set = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacobianGetValue(AttnJacobian J, const PetscReal **F)
{
  PetscFunctionBegin;
  PetscCheck(J->set, PETSC_COMM_SELF, PETSC_ERR_ORDER, "AttnJacobian: call AttnJacobianSetPoint first");
  *F = J->F;
  PetscFunctionReturn(0);
}

static PetscErrorCode CheckAll(AttnJacobian J, const PairKeys *all, const char *what)
{
  PetscFunctionBegin;
  PetscCheck(J->set, PETSC_COMM_SELF, PETSC_ERR_ORDER, "AttnJacobian: call AttnJacobianSetPoint first");
  PetscCheck(J->d <= MAX_D, PETSC_COMM_SELF, PETSC_ERR_SUP, "AttnJacobian supports d <= %d (got %" PetscInt_FMT ")", MAX_D, J->d);
  PetscCheck(all->n == J->n && all->d == J->d && all->ld == J->keys.ld, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "AttnJacobian: %s is %" PetscInt_FMT " x %" PetscInt_FMT " (ld %" PetscInt_FMT "), expected the keys' %" PetscInt_FMT " x %" PetscInt_FMT " (ld %" PetscInt_FMT ")", what, all->n, all->d, all->ld, J->n, J->d, J->keys.ld);
  PetscFunctionReturn(0);
}

/* out_i += rho_i V [G + H + S q_u - (softmax) m (C + m.q_u)], q_u = beta B^T u_i, for rows [i0, i0+nb)
 * of head h, from the kernel sums G, H, C of those rows (row b = i - i0). */
static void JvpRows(AttnJacobian J, PetscInt h, PetscInt i0, PetscInt nb, const PetscReal *G, const PetscReal *Hs, const PetscReal *C, const PetscReal *u, PetscReal *out)
{
  const AttnModel  m = J->model;
  const PetscInt   d = J->d, nloc = J->nloc;
  const PetscBool  softmax = m->norm == MFSA_NORM_SOFTMAX ? PETSC_TRUE : PETSC_FALSE;
  const PetscReal *B = m->B + h * d * d, *V = m->V + h * d * d, *rho = J->rho + h * nloc, *mh = J->m + h * nloc * d, *S = J->S + h * nloc * d * d;
  PetscReal        qu[MAX_D], t[MAX_D];

  for (PetscInt b = 0; b < nb; b++) {
    const PetscInt   i  = i0 + b;
    const PetscReal *mi = mh + i * d, *Si = S + i * d * d;
    MfsaMatVec(d, m->beta, B, PETSC_TRUE, u + i * d, qu);
    const PetscReal shift = softmax ? C[b] + MfsaDot(d, mi, qu) : 0;
    for (PetscInt a = 0; a < d; a++) t[a] = G[b * d + a] + Hs[b * d + a] + MfsaDot(d, Si + a * d, qu) - shift * mi[a];
    for (PetscInt a = 0; a < d; a++) out[i * d + a] += rho[i] * MfsaDot(d, V + a * d, t);
  }
}

/* The layer norm's product rule on rows [i0, i0+nb) (out holds df on entry):
 *   post  dF = P_x df - (u.f) x - (x.f) u
 *   ngpt  dF = alpha [P_x t - (u.fh) x - (x.fh) u],  t = (I - fh fh^T) df / |f|,  fh = f/|f|
 * none and pre: dF = df (pre's chain rule acts on the inputs). */
static void OuterJvpRows(AttnJacobian J, PetscInt i0, PetscInt nb, const PetscReal *u, PetscReal *out)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d;
  const PetscBool ngpt = m->ln == MFSA_LN_NGPT ? PETSC_TRUE : PETSC_FALSE;
  const PetscReal s    = ngpt ? m->ngpt_alpha : 1.0;
  if (m->geometry != MFSA_GEOMETRY_SPHERE) return;
  for (PetscInt i = i0; i < i0 + nb; i++) {
    const PetscReal *xi = J->x + i * d, *fo = J->fo + i * d, *ui = u + i * d;
    PetscReal       *t  = out + i * d;
    if (ngpt) {
      const PetscReal ft = MfsaDot(d, fo, t);
      for (PetscInt a = 0; a < d; a++) t[a] = J->nf[i] > 0 ? (t[a] - ft * fo[a]) / J->nf[i] : 0.0;
    }
    const PetscReal xdf = MfsaDot(d, xi, t), uf = MfsaDot(d, ui, fo), xf = MfsaDot(d, xi, fo);
    for (PetscInt a = 0; a < d; a++) t[a] = s * (t[a] - (xdf + uf) * xi[a] - xf * ui[a]);
  }
}

/* The cotangent w of f for the cotangent y of F on rows [i0, i0+nb) (the adjoint of
 * OuterJvpRows' df -> dF): y (none, pre), P_x y (post), alpha (I - fh fh^T) P_x y / |f| (ngpt). */
static void OuterCotangentRows(AttnJacobian J, PetscInt i0, PetscInt nb, const PetscReal *y, PetscReal *w)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d;
  const PetscBool sphere = m->geometry == MFSA_GEOMETRY_SPHERE ? PETSC_TRUE : PETSC_FALSE;
  for (PetscInt i = i0; i < i0 + nb; i++) {
    const PetscReal *xi = J->x + i * d, *yi = y + i * d;
    const PetscReal  xy = sphere ? MfsaDot(d, xi, yi) : 0;
    PetscReal       *wi = w + i * d;
    for (PetscInt a = 0; a < d; a++) wi[a] = yi[a] - xy * xi[a];
    if (m->ln == MFSA_LN_NGPT) {
      const PetscReal *fo = J->fo + i * d, fw = MfsaDot(d, fo, wi);
      for (PetscInt a = 0; a < d; a++) wi[a] = J->nf[i] > 0 ? m->ngpt_alpha * (wi[a] - fw * fo[a]) / J->nf[i] : 0.0;
    }
  }
}

/* The layer norm's terms of the VJP on the local rows, after every other term is in g:
 * post/ngpt g -= s [(x.y) fo + (x.fo) y] (the adjoint of -(u.fo) x - (x.fo) u);
 * pre g <- (I - xh xh^T) g / |x| (the adjoint of the input map u -> (I - xh xh^T) u/|x|). */
static void OuterFinish(AttnJacobian J, const PetscReal *y, PetscReal *g)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d;
  if (m->geometry == MFSA_GEOMETRY_SPHERE) {
    const PetscReal s = m->ln == MFSA_LN_NGPT ? m->ngpt_alpha : 1.0;
    for (PetscInt i = 0; i < J->nloc; i++) {
      const PetscReal *xi = J->x + i * d, *fo = J->fo + i * d, *yi = y + i * d;
      const PetscReal  xy = MfsaDot(d, xi, yi), xf = MfsaDot(d, xi, fo);
      for (PetscInt a = 0; a < d; a++) g[i * d + a] -= s * (xy * fo[a] + xf * yi[a]);
    }
  }
  if (m->ln == MFSA_LN_PRE) {
    for (PetscInt i = 0; i < J->nloc; i++) {
      const PetscReal *xh = J->x + i * d, r = J->xnorm[J->lo + i], xg = MfsaDot(d, xh, g + i * d);
      for (PetscInt a = 0; a < d; a++) g[i * d + a] = (g[i * d + a] - xg * xh[a]) / r;
    }
  }
}

/* Pre-LN: the direction the attention sees, uh_j = (I - xh_j xh_j^T) u_j / |x_j|, for every
 * token (SoA) and the local rows; otherwise u itself. */
static void PreDirection(AttnJacobian J, const PairKeys *u_all, const PetscReal *u, const PairKeys **ua, const PetscReal **ul)
{
  const PetscInt d = J->d, ld = u_all->ld;
  *ua = u_all;
  *ul = u;
  if (J->model->ln != MFSA_LN_PRE) return;
  for (PetscInt j = 0; j < J->n; j++) {
    PetscReal xu = 0;
    for (PetscInt a = 0; a < d; a++) xu += J->hstore[a * ld + j] * u_all->x[a * ld + j];
    for (PetscInt a = 0; a < d; a++) J->ustore[a * ld + j] = (u_all->x[a * ld + j] - xu * J->hstore[a * ld + j]) / J->xnorm[j];
  }
  for (PetscInt i = 0; i < J->nloc; i++)
    for (PetscInt a = 0; a < d; a++) J->uloc[i * d + a] = J->ustore[a * ld + J->lo + i];
  *ua = &J->ukeys;
  *ul = J->uloc;
}

PetscErrorCode AttnJacobianApply(AttnJacobian J, const PairKeys *u_all, const PetscReal *u, PetscReal *out)
{
  const PetscInt   d = J->d, nloc = J->nloc;
  const PairKeys  *ua;
  const PetscReal *ul;

  PetscFunctionBegin;
  PetscCall(CheckAll(J, u_all, "the direction"));
  PreDirection(J, u_all, u, &ua, &ul);
  if (J->var) {
    PetscCall(AttnJacVarApply(J->var, ua, ul, out));
    OuterJvpRows(J, 0, nloc, u, out);
    PetscFunctionReturn(0);
  }
  PetscCall(PetscArrayzero(out, nloc * d));
  for (PetscInt h = 0; h < J->H; h++) {
    const PetscReal *qt = J->qt + h * nloc * d, *lz = J->logz + h * nloc;
    /* score with x, g = u, c = <q_i, u_j>, h = x */
    const PairMomentKeys mk = {.keys = J->keys, .dg = d, .g = ua->x, .df = d, .f = ua->x, .dh = d, .h = J->keys.x};

    PetscCall(PairKernelMoments(&mk, nloc, qt, lz, qt, J->jlo, J->jhi, J->G, J->Hs, J->C));
    JvpRows(J, h, 0, nloc, J->G, J->Hs, J->C, ul, out);
  }
  OuterJvpRows(J, 0, nloc, u, out);
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacobianTransposeFeatureWidth(AttnJacobian J, PetscInt *width)
{
  PetscFunctionBegin;
  *width = J->var ? J->d : J->H * (J->d + 2); /* variants: c w; exp, per head: zt (d), -m.zt, -log Z */
  PetscFunctionReturn(0);
}

/* Cotangent y of rows [i0, i0+nb): w = the cotangent of f (OuterCotangentRows), and per head
 * zt = rho V^T w (kept for TransposeFinish); feat (row-major, width H(d+2); NULL: not wanted) =
 * (zt, -m.zt, -log Z). */
static void CotangentRows(AttnJacobian J, PetscInt i0, PetscInt nb, const PetscReal *y, PetscReal *feat)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d, nloc = J->nloc, width = J->H * (d + 2);
  const PetscBool softmax = m->norm == MFSA_NORM_SOFTMAX ? PETSC_TRUE : PETSC_FALSE;

  OuterCotangentRows(J, i0, nb, y, J->w);
  for (PetscInt i = i0; i < i0 + nb; i++) {
    for (PetscInt h = 0; h < J->H; h++) {
      const PetscReal *V = m->V + h * d * d, *mh = J->m + h * nloc * d;
      PetscReal       *zt = J->zt + h * nloc * d + i * d;
      MfsaMatVec(d, J->rho[h * nloc + i], V, PETSC_TRUE, J->w + i * d, zt);
      if (feat) {
        PetscReal *fi = feat + i * width + h * (d + 2);
        for (PetscInt a = 0; a < d; a++) fi[a] = zt[a];
        fi[d]     = softmax ? -MfsaDot(d, mh + i * d, zt) : 0;
        fi[d + 1] = -J->logz[h * nloc + i];
      }
    }
  }
}

PetscErrorCode AttnJacobianTransposeFeatures(AttnJacobian J, const PetscReal *y, PetscReal *feat)
{
  PetscFunctionBegin;
  PetscCheck(J->set, PETSC_COMM_SELF, PETSC_ERR_ORDER, "AttnJacobian: call AttnJacobianSetPoint first");
  if (J->var) {
    OuterCotangentRows(J, 0, J->nloc, y, J->w);
    PetscCall(AttnJacVarFeatures(J->var, J->w, feat));
    PetscFunctionReturn(0);
  }
  CotangentRows(J, 0, J->nloc, y, feat);
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacobianTransposeSums(AttnJacobian J, const PairKeys *keys, const PetscReal *feat_all, PetscInt klo, PetscInt nk, PetscReal *out)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d, ld = keys->ld, n = J->n;
  PetscInt       *jlo, *jhi;
  PetscReal      *qk, *xk, *Gk, *Hk, bh[MAX_D];

  PetscFunctionBegin;
  PetscCall(CheckAll(J, keys, "the keys"));
  PetscCheck(klo >= 0 && nk >= 0 && klo + nk <= n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "AttnJacobianTransposeSums: block [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT ")", klo, klo + nk, n);
  if (J->var) {
    PetscCall(AttnJacVarKeySums(J->var, feat_all, ld, klo, nk, out));
    PetscFunctionReturn(0);
  }
  keys = &J->keys; /* the point's keys (pre-LN: normalised) */
  PetscCall(PetscMalloc6(PetscMax(nk, 1), &jlo, PetscMax(nk, 1), &jhi, PetscMax(nk, 1) * d, &qk, PetscMax(nk, 1) * d, &xk, PetscMax(nk, 1) * d, &Gk, PetscMax(nk, 1) * d, &Hk));
  for (PetscInt k = 0; k < nk; k++) {
    jlo[k] = m->mask == MFSA_MASK_CAUSAL ? klo + k : 0; /* queries i >= k attend k */
    jhi[k] = n;
    for (PetscInt a = 0; a < d; a++) xk[k * d + a] = keys->x[a * ld + klo + k];
  }
  PetscCall(PetscArrayzero(out, nk * d));
  for (PetscInt h = 0; h < J->H; h++) {
    const PetscReal     *B = m->B + h * d * d, *fh = feat_all + h * (d + 2) * ld;
    /* the roles swap: score s_ik = <x_i, beta B x_k>, weight e^{s_ik - log Z_i} */
    const PairMomentKeys mk = {.keys = *keys, .kbias = fh + (d + 1) * ld, .dg = d, .g = fh, .df = d, .f = fh, .f0 = fh + d * ld, .dh = d, .h = keys->x};
    for (PetscInt k = 0; k < nk; k++) MfsaMatVec(d, m->beta, B, PETSC_FALSE, xk + k * d, qk + k * d);
    PetscCall(PairKernelMoments(&mk, nk, qk, NULL, xk, jlo, jhi, Gk, Hk, NULL));
    for (PetscInt k = 0; k < nk; k++) {
      MfsaMatVec(d, m->beta, B, PETSC_TRUE, Hk + k * d, bh);
      for (PetscInt a = 0; a < d; a++) out[k * d + a] += Gk[k * d + a] + bh[a];
    }
  }
  PetscCall(PetscFree6(jlo, jhi, qk, xk, Gk, Hk));
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacobianTransposeFinish(AttnJacobian J, const PetscReal *y, PetscReal *g)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d, nloc = J->nloc;
  const PetscBool softmax = m->norm == MFSA_NORM_SOFTMAX ? PETSC_TRUE : PETSC_FALSE;
  PetscReal       t[MAX_D], bt[MAX_D];

  PetscFunctionBegin;
  PetscCheck(J->set, PETSC_COMM_SELF, PETSC_ERR_ORDER, "AttnJacobian: call AttnJacobianSetPoint first");
  if (J->var) PetscCall(AttnJacVarQueryTerms(J->var, g));
  for (PetscInt h = 0; h < J->H && !J->var; h++) {
    const PetscReal *B = m->B + h * d * d, *mh = J->m + h * nloc * d, *S = J->S + h * nloc * d * d, *zt = J->zt + h * nloc * d;
    for (PetscInt i = 0; i < nloc; i++) {
      const PetscReal *mi = mh + i * d, *zi = zt + i * d, mz = softmax ? MfsaDot(d, mi, zi) : 0;
      for (PetscInt a = 0; a < d; a++) t[a] = MfsaDot(d, S + i * d * d + a * d, zi) - mz * mi[a]; /* (S - m m^T) zt */
      MfsaMatVec(d, m->beta, B, PETSC_FALSE, t, bt);
      for (PetscInt a = 0; a < d; a++) g[i * d + a] += bt[a];
    }
  }
  OuterFinish(J, y, g);
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacobianNormalApply(AttnJacobian J, const PairKeys *u_all, const PetscReal *u, PetscReal *y, PetscReal *T)
{
  const AttnModel m = J->model;
  const PetscInt  d = J->d, nloc = J->nloc, n = J->n, H = J->H, ld = J->keys.ld;
  const PetscBool softmax = m->norm == MFSA_NORM_SOFTMAX ? PETSC_TRUE : PETSC_FALSE;
  /* a block's weights (heads x block x n doubles, at most 2 MB) stay in L2/L3 between the two
   * passes; larger blocks measured slower on 2 ranks sharing the cache */
  const PetscInt  nb = PetscMax(1, PetscMin(64, (PetscInt)(262144 / ((PetscInt64)H * n))));
  PetscReal      *W, *r0;
  const PairKeys  *ua;
  const PetscReal *ul;

  PetscFunctionBegin;
  PetscCall(CheckAll(J, u_all, "the direction"));
  if (J->var) {
    /* the variants' weights are cheap: a JVP, then the key terms of the local queries */
    PetscCall(AttnJacobianApply(J, u_all, u, y));
    OuterCotangentRows(J, 0, nloc, y, J->w);
    PetscCall(AttnJacVarFeatures(J->var, J->w, NULL));
    PetscCall(PetscArrayzero(T, d * ld));
    PetscCall(AttnJacVarScatter(J->var, ld, T));
    PetscFunctionReturn(0);
  }
  PreDirection(J, u_all, u, &ua, &ul);
  PetscCall(PetscMalloc2((size_t)H * nb * n, &W, nb, &r0));
  PetscCall(PetscArrayzero(y, nloc * d));
  PetscCall(PetscArrayzero(T, d * ld));
  for (PetscInt i0 = 0; i0 < nloc; i0 += nb) {
    const PetscInt bn = PetscMin(nb, nloc - i0);
    for (PetscInt h = 0; h < H; h++) {
      const PetscReal     *qt = J->qt + h * nloc * d + i0 * d, *lz = J->logz + h * nloc + i0;
      const PairMomentKeys mk = {.keys = J->keys, .dg = d, .g = ua->x, .df = d, .f = ua->x, .dh = d, .h = J->keys.x};
      PetscCall(PairKernelMomentsKeepWeights(&mk, bn, qt, lz, qt, J->jlo + i0, J->jhi + i0, J->G, J->Hs, J->C, W + h * nb * n, n));
      JvpRows(J, h, i0, bn, J->G, J->Hs, J->C, ul, y);
    }
    OuterJvpRows(J, i0, bn, u, y);
    /* y of the block is complete: its cotangent, then every kept weight once more, without exp */
    CotangentRows(J, i0, bn, y, NULL);
    for (PetscInt h = 0; h < H; h++) {
      const PetscReal *zt = J->zt + h * nloc * d + i0 * d, *mh = J->m + h * nloc * d + i0 * d;
      for (PetscInt b = 0; b < bn; b++) r0[b] = softmax ? -MfsaDot(d, mh + b * d, zt + b * d) : 0;
      PetscCall(PairKernelScatter(&J->keys, bn, W + h * nb * n, n, J->jlo + i0, J->jhi + i0, zt, zt, r0, J->qt + h * nloc * d + i0 * d, T));
    }
  }
  PetscCall(PetscFree2(W, r0));
  PetscFunctionReturn(0);
}

PetscErrorCode AttnJacobianDestroy(AttnJacobian *jac)
{
  AttnJacobian J = *jac;

  PetscFunctionBegin;
  if (!J) PetscFunctionReturn(0);
  PetscCall(PetscFree3(J->jlo, J->jhi, J->x));
  PetscCall(PetscFree5(J->qt, J->logz, J->rho, J->m, J->S));
  PetscCall(PetscFree4(J->f, J->F, J->zt, J->w));
  PetscCall(PetscFree4(J->ones, J->G, J->Hs, J->C));
  PetscCall(PetscFree2(J->fo, J->nf));
  PetscCall(AttnJacVarDestroy(&J->var));
  if (J->xnorm) {
    PetscCall(PetscFree2(J->xnorm, J->uloc));
    PetscCall(PairKeysFree(&J->hstore));
    PetscCall(PairKeysFree(&J->ustore));
  }
  PetscCall(PetscFree(*jac));
  PetscFunctionReturn(0);
}
