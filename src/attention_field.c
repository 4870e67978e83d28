/* Attention velocity for a block of tokens: queries beta B_h^T x_i, the pair kernel for
 * (mean, log Z) per head (its online state carried across key blocks), softmax or
 * unnormalised weights, or the plain sums of the other kernels (pair_kernel_variants.c), V_h,
 * nGPT's output normalisation, tangent projection. */
#include "attention_field.h"
#include "pair_kernel_variants.h"

/* Queries per kernel call inside Accumulate: between two calls the progress hook runs. */
#define ATTN_FIELD_CHUNK 512

struct _p_AttnField {
  AttnModel        model;
  PetscInt         nloc;     /* capacity */
  PetscInt         n, lo, m; /* current evaluation: token count, first local token, local tokens */
  PetscReal       *qt;       /* heads x nloc x d */
  PetscReal       *mean, *lz;
  PetscInt        *klim;
  PetscReal       *qbias; /* score offsets of the sigmoid kernel (nloc) */
  PairKernelState *st;    /* one per head; the non-exp kernels sum into st[h].acc */
  PetscBool        open;
  PetscErrorCode (*progress)(void *);
  void *progress_ctx;
};

PetscErrorCode AttnFieldCreate(AttnModel model, PetscInt nloc, AttnField *field)
{
  AttnField      f;
  const PetscInt d = model->d, H = model->heads, cap = PetscMax(nloc, 1);

  PetscFunctionBegin;
  PetscCall(PetscNew(&f));
  f->model = model;
  f->nloc  = nloc;
  PetscCall(PetscMalloc5(H * cap * d, &f->qt, cap * d, &f->mean, cap, &f->lz, cap, &f->klim, cap, &f->qbias));
  PetscCall(PetscMalloc1(H, &f->st));
  for (PetscInt h = 0; h < H; h++) PetscCall(PairKernelStateCreate(cap, d, &f->st[h]));
  *field = f;
  PetscFunctionReturn(0);
}

PetscErrorCode AttnFieldSetProgress(AttnField f, PetscErrorCode (*progress)(void *), void *ctx)
{
  PetscFunctionBegin;
  f->progress     = progress;
  f->progress_ctx = ctx;
  PetscFunctionReturn(0);
}

PetscErrorCode AttnFieldBegin(AttnField f, PetscInt n, PetscInt lo, PetscInt nloc, const PetscReal *x)
{
  const AttnModel m = f->model;
  const PetscInt  d = m->d, H = m->heads;

  PetscFunctionBegin;
  PetscCheck(nloc <= f->nloc, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "AttnField sized for %" PetscInt_FMT " tokens, asked for %" PetscInt_FMT, f->nloc, nloc);
  PetscCheck(lo >= 0 && lo + nloc <= n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "AttnField: tokens %" PetscInt_FMT "..%" PetscInt_FMT " outside 0..%" PetscInt_FMT, lo, lo + nloc - 1, n - 1);
  f->n    = n;
  f->lo   = lo;
  f->m    = nloc;
  f->open = PETSC_TRUE;
  for (PetscInt i = 0; i < nloc; i++) {
    f->klim[i]  = (m->mask == MFSA_MASK_CAUSAL) ? lo + i + 1 : n;
    f->qbias[i] = AttnModelScoreBias(m, f->klim[i]);
  }
  const PetscReal scale = AttnModelScoreScale(m);
  for (PetscInt h = 0; h < H; h++) {
    const PetscReal *B  = m->B + h * d * d;
    PetscReal       *qt = f->qt + h * f->nloc * d;
    for (PetscInt i = 0; i < nloc; i++)
      for (PetscInt a = 0; a < d; a++) {
        PetscReal sum = 0;
        for (PetscInt b = 0; b < d; b++) sum += B[b * d + a] * x[i * d + b];
        qt[i * d + a] = scale * sum;
      }
    PetscCall(PairKernelStateReset(&f->st[h]));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnFieldAccumulate(AttnField f, const PairKeys *block)
{
  const AttnModel m = f->model;
  const PetscInt  d = m->d, H = m->heads;

  PetscFunctionBegin;
  PetscCheck(f->open, PETSC_COMM_SELF, PETSC_ERR_ORDER, "AttnFieldAccumulate outside AttnFieldBegin/End");
  PetscCheck(block->d == d, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "Keys have dimension %" PetscInt_FMT ", model %" PetscInt_FMT, block->d, d);
  PetscCheck(block->offset >= 0 && block->offset + block->n <= f->n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "Key block %" PetscInt_FMT "..%" PetscInt_FMT " outside the %" PetscInt_FMT " tokens", block->offset, block->offset + block->n - 1, f->n);
  if (block->n == 0) PetscFunctionReturn(0);
  /* causal: queries i attend j <= i, so queries below the block's first key skip it whole */
  PetscInt q0 = 0;
  if (m->mask == MFSA_MASK_CAUSAL) q0 = PetscMax(0, PetscMin(f->m, block->offset - f->lo));
  for (PetscInt c0 = q0; c0 < f->m; c0 += ATTN_FIELD_CHUNK) {
    const PetscInt nc = PetscMin(ATTN_FIELD_CHUNK, f->m - c0);
    if (m->kernel == MFSA_KERNEL_HYLA) {
      const PairHyla hy = {.H = H, .V = m->V, .eps = m->hyla_eps};
      PetscCall(PairKernelHylaSum(&hy, block, nc, f->qt + c0 * d, f->nloc, f->klim + c0, f->st[0].acc + c0 * d));
    } else if (!AttnModelKernelIsExp(m)) {
      const PairWeight w = m->kernel == MFSA_KERNEL_SIGMOID ? PAIR_WEIGHT_SIGMOID : (m->kernel == MFSA_KERNEL_RELU ? PAIR_WEIGHT_RELU : PAIR_WEIGHT_LINEAR);
      for (PetscInt h = 0; h < H; h++) PetscCall(PairKernelWeightSum(w, block, nc, f->qt + h * f->nloc * d + c0 * d, f->qbias + c0, f->klim + c0, f->st[h].acc + c0 * d, NULL));
    } else {
      for (PetscInt h = 0; h < H; h++) {
        /* a view of this chunk's rows of the head's state */
        PairKernelState view = {.nq = nc, .d = d, .m = f->st[h].m + c0, .l = f->st[h].l + c0, .acc = f->st[h].acc + c0 * d};
        PetscCall(PairKernelAccumulate(block, nc, f->qt + h * f->nloc * d + c0 * d, f->klim + c0, &view));
      }
    }
    if (f->progress) PetscCall((*f->progress)(f->progress_ctx));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnFieldEnd(AttnField f, const PetscReal *x, PetscReal *vel, PetscReal *logz)
{
  const AttnModel m = f->model;
  const PetscInt  d = m->d, H = m->heads, nloc = f->m;

  PetscFunctionBegin;
  PetscCheck(f->open, PETSC_COMM_SELF, PETSC_ERR_ORDER, "AttnFieldEnd without AttnFieldBegin");
  f->open = PETSC_FALSE;
  PetscCall(PetscArrayzero(vel, nloc * d));
  if (m->kernel == MFSA_KERNEL_HYLA) {
    for (PetscInt i = 0; i < nloc; i++) {
      const PetscReal c = AttnModelRowScale(m, f->klim[i]);
      for (PetscInt a = 0; a < d; a++) vel[i * d + a] = c * f->st[0].acc[i * d + a];
    }
  } else if (!AttnModelKernelIsExp(m)) {
    for (PetscInt h = 0; h < H; h++) {
      const PetscReal *V = m->V + h * d * d;
      for (PetscInt i = 0; i < nloc; i++) {
        const PetscReal c = AttnModelRowScale(m, f->klim[i]);
        for (PetscInt a = 0; a < d; a++) {
          PetscReal sum = 0;
          for (PetscInt b = 0; b < d; b++) sum += V[a * d + b] * f->st[h].acc[i * d + b];
          vel[i * d + a] += c * sum;
        }
      }
    }
  }
  /* log Z belongs to the exp kernels; the others have no normaliser */
  if (logz && !AttnModelKernelIsExp(m))
    for (PetscInt i = 0; i < nloc * H; i++) logz[i] = (PetscReal)NAN;
  for (PetscInt h = 0; h < H && AttnModelKernelIsExp(m); h++) {
    const PetscReal *V    = m->V + h * d * d;
    PairKernelState  view = f->st[h];
    view.nq               = nloc;
    PetscCall(PairKernelFinish(&view, f->mean, f->lz));
    for (PetscInt i = 0; i < nloc; i++) {
      /* USA: (1/|N(i)|) sum_j e^{s_ij} x_j = e^{log Z - log |N(i)|} * mean; never overflows
       * unless the true value does. */
      const PetscReal weight = (m->norm == MFSA_NORM_SOFTMAX) ? 1.0 : PetscExpReal(f->lz[i] - PetscLogReal((PetscReal)f->klim[i]));
      for (PetscInt a = 0; a < d; a++) {
        PetscReal sum = 0;
        for (PetscInt b = 0; b < d; b++) sum += V[a * d + b] * f->mean[i * d + b];
        vel[i * d + a] += weight * sum;
      }
      if (logz) logz[i * H + h] = f->lz[i];
    }
  }
  if (m->ln == MFSA_LN_NGPT) {
    /* nGPT: x' = alpha P_x (f / |f|); a zero f has no direction and gives no motion */
    for (PetscInt i = 0; i < nloc; i++) {
      PetscReal norm2 = 0;
      for (PetscInt a = 0; a < d; a++) norm2 += vel[i * d + a] * vel[i * d + a];
      const PetscReal s = norm2 > 0 ? m->ngpt_alpha / PetscSqrtReal(norm2) : 0.0;
      for (PetscInt a = 0; a < d; a++) vel[i * d + a] *= s;
    }
  }
  if (m->geometry == MFSA_GEOMETRY_SPHERE) {
    for (PetscInt i = 0; i < nloc; i++) {
      PetscReal dot = 0;
      for (PetscInt a = 0; a < d; a++) dot += x[i * d + a] * vel[i * d + a];
      for (PetscInt a = 0; a < d; a++) vel[i * d + a] -= dot * x[i * d + a];
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnFieldEvaluate(AttnField f, const PairKeys *keys, PetscInt lo, PetscInt nloc, const PetscReal *x, PetscReal *vel, PetscReal *logz)
{
  PetscFunctionBegin;
  PetscCheck(keys->offset == 0, PETSC_COMM_SELF, PETSC_ERR_ARG_WRONG, "AttnFieldEvaluate needs all keys (offset 0); use Begin/Accumulate/End for key blocks");
  PetscCall(AttnFieldBegin(f, keys->n, lo, nloc, x));
  PetscCall(AttnFieldAccumulate(f, keys));
  PetscCall(AttnFieldEnd(f, x, vel, logz));
  PetscFunctionReturn(0);
}

PetscErrorCode AttnFieldDestroy(AttnField *field)
{
  AttnField f = *field;

  PetscFunctionBegin;
  if (!f) PetscFunctionReturn(0);
  for (PetscInt h = 0; h < f->model->heads; h++) PetscCall(PairKernelStateDestroy(&f->st[h]));
  PetscCall(PetscFree(f->st));
  PetscCall(PetscFree5(f->qt, f->mean, f->lz, f->klim, f->qbias));
  PetscCall(PetscFree(*field));
  PetscFunctionReturn(0);
}
