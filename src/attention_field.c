/* Attention velocity for a block of tokens: queries beta B_h^T x_i, the pair kernel for
 * (mean, log Z) per head, softmax or unnormalised weights, V_h, tangent projection. */
#include "attention_field.h"

struct _p_AttnField {
  AttnModel  model;
  PetscInt   nloc;
  PetscReal *qt, *mean, *lz;
  PetscInt  *klim;
};

PetscErrorCode AttnFieldCreate(AttnModel model, PetscInt nloc, AttnField *field)
{
  AttnField      f;
  const PetscInt d = model->d;

  PetscFunctionBegin;
  PetscCall(PetscNew(&f));
  f->model = model;
  f->nloc  = nloc;
  PetscCall(PetscMalloc4(nloc * d, &f->qt, nloc * d, &f->mean, nloc, &f->lz, nloc, &f->klim));
  *field = f;
  PetscFunctionReturn(0);
}

PetscErrorCode AttnFieldEvaluate(AttnField f, const PairKeys *keys, PetscInt lo, PetscInt nloc, const PetscReal *x, PetscReal *vel, PetscReal *logz)
{
  const AttnModel m = f->model;
  const PetscInt  d = m->d, H = m->heads, n = keys->n;

  PetscFunctionBegin;
  PetscCheck(nloc <= f->nloc, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "AttnField sized for %" PetscInt_FMT " tokens, asked for %" PetscInt_FMT, f->nloc, nloc);
  PetscCheck(keys->d == d, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "Keys have dimension %" PetscInt_FMT ", model %" PetscInt_FMT, keys->d, d);
  for (PetscInt i = 0; i < nloc; i++) f->klim[i] = (m->mask == MFSA_MASK_CAUSAL) ? lo + i + 1 : n;
  PetscCall(PetscArrayzero(vel, nloc * d));
  for (PetscInt h = 0; h < H; h++) {
    const PetscReal *B = m->B + h * d * d, *V = m->V + h * d * d;
    for (PetscInt i = 0; i < nloc; i++)
      for (PetscInt a = 0; a < d; a++) {
        PetscReal sum = 0;
        for (PetscInt b = 0; b < d; b++) sum += B[b * d + a] * x[i * d + b];
        f->qt[i * d + a] = m->beta * sum;
      }
    PetscCall(PairKernelApply(keys, nloc, f->qt, f->klim, f->mean, f->lz));
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
  if (m->geometry == MFSA_GEOMETRY_SPHERE) {
    for (PetscInt i = 0; i < nloc; i++) {
      PetscReal dot = 0;
      for (PetscInt a = 0; a < d; a++) dot += x[i * d + a] * vel[i * d + a];
      for (PetscInt a = 0; a < d; a++) vel[i * d + a] -= dot * x[i * d + a];
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode AttnFieldDestroy(AttnField *field)
{
  PetscFunctionBegin;
  if (!*field) PetscFunctionReturn(0);
  PetscCall(PetscFree4((*field)->qt, (*field)->mean, (*field)->lz, (*field)->klim));
  PetscCall(PetscFree(*field));
  PetscFunctionReturn(0);
}
