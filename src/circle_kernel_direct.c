/* Direct midpoint quadrature of the circle attention field (relu, hyla; see the header). One
 * pass over the M keys per query angle, keys in index order, so the result for a slice depends
 * only on that slice's R (rank invariance). Pointwise weights sum w x(phi) per head and apply
 * V_h once per query, as the particles' pair kernel does. */
#include "circle_kernel_direct.h"

struct _p_CircleDirect {
  AttnModel  model;
  PetscInt   M;
  PetscReal *xphi; /* M x 2: x(phi_l) */
  PetscReal *vx;   /* hyla: H x M x 2: V_h x(phi_l) */
  PetscReal *a;    /* hyla: H scores of one pair */
  PetscReal *q;    /* hyla: H x 2 query vectors scale B_h^T x(theta) */
};

PetscErrorCode CircleDirectCreate(AttnModel m, PetscInt M, CircleDirect *direct)
{
  CircleDirect    cd;
  const PetscReal dphi = 2 * PETSC_PI / M;
  const PetscInt  H    = m->heads;

  PetscFunctionBegin;
  PetscCheck(m->d == 2, m->comm, PETSC_ERR_USER_INPUT, "The circle kernel needs -attn_dim 2 (got %" PetscInt_FMT ")", m->d);
  PetscCheck(m->kernel == MFSA_KERNEL_RELU || m->kernel == MFSA_KERNEL_SIGMOID || m->kernel == MFSA_KERNEL_LINEAR || m->kernel == MFSA_KERNEL_HYLA, m->comm, PETSC_ERR_SUP, "The direct circle quadrature is for -attn_kernel relu, sigmoid, linear, hyla (got %s)", MfsaKernelNames[m->kernel]);
  PetscCall(PetscNew(&cd));
  cd->model = m;
  cd->M     = M;
  PetscCall(PetscMalloc4(2 * M, &cd->xphi, 2 * H * M, &cd->vx, H, &cd->a, 2 * H, &cd->q));
  for (PetscInt l = 0; l < M; l++) {
    cd->xphi[2 * l]     = PetscCosReal((l + 0.5) * dphi);
    cd->xphi[2 * l + 1] = PetscSinReal((l + 0.5) * dphi);
  }
  for (PetscInt h = 0; h < H; h++) {
    const PetscReal *V = m->V + 4 * h;
    for (PetscInt l = 0; l < M; l++) {
      const PetscReal *x = cd->xphi + 2 * l;
      cd->vx[(h * M + l) * 2]     = V[0] * x[0] + V[1] * x[1];
      cd->vx[(h * M + l) * 2 + 1] = V[2] * x[0] + V[3] * x[1];
    }
  }
  *direct = cd;
  PetscFunctionReturn(0);
}

static inline PetscReal Weight(MfsaKernel kernel, PetscReal z)
{
  switch (kernel) {
  case MFSA_KERNEL_SIGMOID:
    return 1.0 / (1.0 + PetscExpReal(-z)); /* overflows harmlessly to 0 for z << 0 */
  case MFSA_KERNEL_RELU:
    return z > 0 ? z : 0.0;
  default:
    return z;
  }
}

/* f = sum_l g(theta, phi_l) R_l for the query x(theta) = xt (without dphi). */
static void PairSum(CircleDirect cd, const PetscReal *xt, const PetscReal *R, PetscReal f[2])
{
  const AttnModel m = cd->model;
  const PetscInt  M = cd->M, H = m->heads;
  const PetscReal scale = AttnModelScoreScale(m);

  f[0] = f[1] = 0;
  if (m->kernel == MFSA_KERNEL_HYLA) {
    const PetscReal inv_h = 1.0 / (PetscReal)H;
    PetscReal      *q     = cd->q;
    for (PetscInt h = 0; h < H; h++) {
      const PetscReal *B = m->B + 4 * h;
      q[2 * h]           = scale * (B[0] * xt[0] + B[2] * xt[1]); /* scale B_h^T x(theta) */
      q[2 * h + 1]       = scale * (B[1] * xt[0] + B[3] * xt[1]);
    }
    for (PetscInt l = 0; l < M; l++) {
      const PetscReal *x  = cd->xphi + 2 * l;
      PetscReal        ms = 0, sa = 0, v0 = 0, v1 = 0;
      for (PetscInt h = 0; h < H; h++) {
        cd->a[h] = q[2 * h] * x[0] + q[2 * h + 1] * x[1];
        ms += cd->a[h] * cd->a[h];
        sa += cd->a[h];
      }
      const PetscReal rinv = 1.0 / PetscSqrtReal(ms * inv_h + m->hyla_eps);
      for (PetscInt h = 0; h < H; h++) {
        v0 += cd->a[h] * cd->vx[(h * M + l) * 2];
        v1 += cd->a[h] * cd->vx[(h * M + l) * 2 + 1];
      }
      /* sum_h at_h V_h x = rinv sum_h a_h V_h x; ReLU commutes with the positive rinv */
      const PetscReal w = sa * rinv * R[l];
      f[0] += w * (v0 > 0 ? v0 * rinv : 0.0);
      f[1] += w * (v1 > 0 ? v1 * rinv : 0.0);
    }
    return;
  }
  for (PetscInt h = 0; h < H; h++) {
    const PetscReal *B = m->B + 4 * h, *V = m->V + 4 * h;
    const PetscReal  q0 = scale * (B[0] * xt[0] + B[2] * xt[1]), q1 = scale * (B[1] * xt[0] + B[3] * xt[1]);
    const PetscReal  b  = AttnModelScoreBias(m, 1); /* fixed bias (checked) or 0 */
    PetscReal        s0 = 0, s1 = 0;
    for (PetscInt l = 0; l < M; l++) {
      const PetscReal *x = cd->xphi + 2 * l;
      const PetscReal  w = Weight(m->kernel, q0 * x[0] + q1 * x[1] + b) * R[l];
      s0 += w * x[0];
      s1 += w * x[1];
    }
    f[0] += V[0] * s0 + V[1] * s1;
    f[1] += V[2] * s0 + V[3] * s1;
  }
}

PetscErrorCode CircleDirectApply(CircleDirect cd, const PetscReal *R, PetscReal shift, PetscReal *fperp, PetscReal *fpar)
{
  const PetscInt  M    = cd->M;
  const PetscReal dphi = 2 * PETSC_PI / M;

  PetscFunctionBegin;
  for (PetscInt k = 0; k < M; k++) {
    const PetscReal th = (k + shift) * dphi, xt[2] = {PetscCosReal(th), PetscSinReal(th)};
    PetscReal       f[2];
    PairSum(cd, xt, R, f);
    f[0] *= dphi;
    f[1] *= dphi;
    fperp[k] = -xt[1] * f[0] + xt[0] * f[1];
    if (fpar) fpar[k] = xt[0] * f[0] + xt[1] * f[1];
  }
  PetscFunctionReturn(0);
}

PetscErrorCode CircleDirectDestroy(CircleDirect *direct)
{
  PetscFunctionBegin;
  if (!*direct) PetscFunctionReturn(0);
  PetscCall(PetscFree4((*direct)->xphi, (*direct)->vx, (*direct)->a, (*direct)->q));
  PetscCall(PetscFree(*direct));
  PetscFunctionReturn(0);
}
