/* Truncated double Fourier series of the circle attention kernels H_h, G_h and their
 * application to gridded densities with FFTW (plans made once, FFTW_ESTIMATE so that the
 * same algorithm, hence the same rounding, is used on every rank and in every run). */
#include <complex.h>
#include <fftw3.h>
#include "circle_kernel.h"


typedef double _Complex Cplx;

struct _p_CircleKernel {
  AttnModel  model;
  PetscInt   M, T, W; /* grid, truncation, W = 2T+1 coefficients per direction */
  PetscBool  rotation_invariant;
  Cplx      *coef;    /* [head][kind][m+T][n+T] */
  double    *rin;     /* M reals (FFT input/output) */
  Cplx      *spec;    /* M/2+1 complex */
  Cplx      *a, *b;   /* W each: input and output coefficients */
  PetscReal *num, *den; /* M each */
  fftw_plan  forward, backward;
};

/* B and V are scaled rotations [[a, -b], [b, a]]: then H, G depend on theta - phi only. */
static PetscBool IsScaledRotation(const PetscReal *A)
{
  const PetscReal scale = PetscMax(1.0, PetscMax(PetscAbsReal(A[0]), PetscAbsReal(A[1])));
  return (PetscAbsReal(A[0] - A[3]) <= 1e-14 * scale && PetscAbsReal(A[1] + A[2]) <= 1e-14 * scale) ? PETSC_TRUE : PETSC_FALSE;
}

static PetscReal SpectralNorm2x2(const PetscReal *A)
{
  /* largest singular value of a 2x2 matrix from the eigenvalues of A^T A */
  const PetscReal p = A[0] * A[0] + A[2] * A[2], q = A[1] * A[1] + A[3] * A[3], r = A[0] * A[1] + A[2] * A[3];
  return PetscSqrtReal(0.5 * (p + q) + PetscSqrtReal(0.25 * (p - q) * (p - q) + r * r));
}

static double KernelSample(const PetscReal *B, const PetscReal *V, PetscReal beta, CircleKernelKind kind, double theta, double phi)
{
  const double xt0 = cos(theta), xt1 = sin(theta), xp0 = cos(phi), xp1 = sin(phi);
  const double h   = exp(beta * (xt0 * (B[0] * xp0 + B[1] * xp1) + xt1 * (B[2] * xp0 + B[3] * xp1)));
  if (kind == CIRCLE_KERNEL_H) return h;
  const double v0 = V[0] * xp0 + V[1] * xp1, v1 = V[2] * xp0 + V[3] * xp1;
  return h * (-xt1 * v0 + xt0 * v1);
}

/* c_mn = (1/P^2) sum_{a,b} K(2 pi a/P, 2 pi b/P) e^{-i(m theta_a + n phi_b)} for |m|,|n| <= T. */
static PetscErrorCode Coefficients(CircleKernel ck, PetscInt h, CircleKernelKind kind, PetscInt P, Cplx *c, PetscReal *smax)
{
  const AttnModel  m = ck->model;
  const PetscReal *B = m->B + 4 * h, *V = m->V + 4 * h;
  const PetscInt   T = ck->T, W = ck->W, Ph = P / 2 + 1;
  double          *samples = fftw_alloc_real((size_t)P * P);
  Cplx            *out     = (Cplx *)fftw_alloc_complex((size_t)P * Ph);
  fftw_plan        plan;

  PetscFunctionBegin;
  PetscCheck(samples && out, PETSC_COMM_SELF, PETSC_ERR_MEM, "Out of memory for the %" PetscInt_FMT "^2 kernel samples", P);
  plan = fftw_plan_dft_r2c_2d((int)P, (int)P, samples, (fftw_complex *)out, FFTW_ESTIMATE);
  for (PetscInt a = 0; a < P; a++)
    for (PetscInt bb = 0; bb < P; bb++) {
      samples[a * P + bb] = KernelSample(B, V, m->beta, kind, 2 * PETSC_PI * a / P, 2 * PETSC_PI * bb / P);
      *smax               = PetscMax(*smax, PetscAbsReal(samples[a * P + bb]));
    }
  fftw_execute(plan);
  /* out[a][nb] = sum samples e^{-2 pi i (a' a/P + b' nb/P)} for nb = 0..P/2; negative n from
   * Hermitian symmetry: X[-m][-n] = conj(X[m][n]) */
  for (PetscInt mm = -T; mm <= T; mm++)
    for (PetscInt n = -T; n <= T; n++) {
      Cplx v;
      if (n >= 0) v = out[((mm + P) % P) * Ph + n];
      else v = conj(out[((-mm + P) % P) * Ph + (-n)]);
      c[(mm + T) * W + (n + T)] = v / ((double)P * (double)P);
    }
  fftw_destroy_plan(plan);
  fftw_free(samples);
  fftw_free(out);
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelCreate(AttnModel model, PetscInt M, CircleKernel *kernel)
{
  CircleKernel ck;
  PetscReal    normB = 0;
  PetscInt     P;

  PetscFunctionBegin;
  PetscCheck(model->d == 2, model->comm, PETSC_ERR_USER_INPUT, "The circle kernel needs -attn_dim 2 (got %" PetscInt_FMT ")", model->d);
  PetscCall(PetscNew(&ck));
  ck->model              = model;
  ck->M                  = M;
  ck->rotation_invariant = PETSC_TRUE;
  for (PetscInt h = 0; h < model->heads; h++) {
    normB = PetscMax(normB, SpectralNorm2x2(model->B + 4 * h));
    if (!IsScaledRotation(model->B + 4 * h) || !IsScaledRotation(model->V + 4 * h)) ck->rotation_invariant = PETSC_FALSE;
  }
  /* MODEL.md's bound T = 9 sqrt(beta ||B||) + 20 is safe but generous: compute the coefficients
   * up to it, then keep only the modes above round-off: above 1e-16 of the largest, and above
   * the 2-D FFT's own rounding noise (eps log2(P^2) max|sample|), below which a computed
   * coefficient carries no information. This also sets the smallest grid that represents
   * the kernel exactly. */
  const PetscInt Tmax = (PetscInt)PetscCeilReal(9.0 * PetscSqrtReal(model->beta * normB) + 20.0), Wmax = 2 * Tmax + 1;
  const PetscInt nk   = 2 * model->heads;
  Cplx          *full;
  PetscReal      cmax = 0, smax = 0, floor_abs;
  for (P = 16; P < 2 * Wmax; P *= 2) {}
  ck->T = Tmax;
  ck->W = Wmax;
  PetscCall(PetscMalloc1((size_t)nk * Wmax * Wmax, &full));
  for (PetscInt h = 0; h < model->heads; h++)
    for (int kind = 0; kind < 2; kind++) PetscCall(Coefficients(ck, h, (CircleKernelKind)kind, P, full + (size_t)(2 * h + kind) * Wmax * Wmax, &smax));
  for (PetscInt i = 0; i < nk * Wmax * Wmax; i++) cmax = PetscMax(cmax, cabs(full[i]));
  floor_abs = PetscMax(1e-16 * cmax, PETSC_MACHINE_EPSILON * PetscLog2Real((PetscReal)P * P) * smax);
  ck->T = 0;
  for (PetscInt q = 0; q < nk; q++)
    for (PetscInt mm = -Tmax; mm <= Tmax; mm++)
      for (PetscInt n = -Tmax; n <= Tmax; n++)
        if (cabs(full[(size_t)q * Wmax * Wmax + (mm + Tmax) * Wmax + (n + Tmax)]) > floor_abs) ck->T = PetscMax(ck->T, PetscMax(PetscAbsInt(mm), PetscAbsInt(n)));
  ck->W = 2 * ck->T + 1;
  PetscCheck(M >= 2 * ck->T + 2, model->comm, PETSC_ERR_USER_INPUT, "-pde_angles %" PetscInt_FMT " cannot resolve the attention kernel at beta*||B|| = %g: it has Fourier modes up to |m| = %" PetscInt_FMT " above round-off; use -pde_angles >= %" PetscInt_FMT, M, (double)(model->beta * normB), ck->T, 2 * ck->T + 2);
  PetscCall(PetscMalloc1((size_t)nk * ck->W * ck->W, &ck->coef));
  for (PetscInt q = 0; q < nk; q++)
    for (PetscInt mm = -ck->T; mm <= ck->T; mm++)
      for (PetscInt n = -ck->T; n <= ck->T; n++) ck->coef[(size_t)q * ck->W * ck->W + (mm + ck->T) * ck->W + (n + ck->T)] = full[(size_t)q * Wmax * Wmax + (mm + Tmax) * Wmax + (n + Tmax)];
  PetscCall(PetscFree(full));
  ck->rin  = fftw_alloc_real((size_t)M);
  ck->spec = (Cplx *)fftw_alloc_complex((size_t)(M / 2 + 1));
  PetscCall(PetscMalloc4(ck->W, &ck->a, ck->W, &ck->b, M, &ck->num, M, &ck->den));
  ck->forward  = fftw_plan_dft_r2c_1d((int)M, ck->rin, (fftw_complex *)ck->spec, FFTW_ESTIMATE);
  ck->backward = fftw_plan_dft_c2r_1d((int)M, (fftw_complex *)ck->spec, ck->rin, FFTW_ESTIMATE);
  *kernel      = ck;
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelApply(CircleKernel ck, PetscInt head, CircleKernelKind kind, const PetscReal *R, PetscReal shift, PetscReal *out)
{
  const PetscInt  M = ck->M, T = ck->T, W = ck->W;
  const PetscReal dphi = 2 * PETSC_PI / M;
  const Cplx     *c    = ck->coef + (size_t)(2 * head + kind) * W * W;

  PetscFunctionBegin;
  PetscCall(PetscArraycpy(ck->rin, R, M));
  fftw_execute(ck->forward);
  /* a_n = dphi sum_l R_l e^{i n phi_l} = dphi e^{i n dphi/2} conj(F_n), F = forward DFT */
  for (PetscInt n = -T; n <= T; n++) {
    const Cplx Fn = n >= 0 ? ck->spec[n] : conj(ck->spec[-n]);
    ck->a[n + T]  = dphi * cexp(I * (double)n * 0.5 * dphi) * conj(Fn);
  }
  /* b_m = sum_n c_mn a_n (only n = -m when the kernel depends on theta - phi) */
  for (PetscInt mm = 0; mm <= T; mm++) {
    Cplx sum = 0;
    if (ck->rotation_invariant) sum = c[(mm + T) * W + (-mm + T)] * ck->a[-mm + T];
    else
      for (PetscInt n = 0; n < W; n++) sum += c[(mm + T) * W + n] * ck->a[n];
    ck->b[mm] = sum;
  }
  /* out_k = sum_m b_m e^{i m (k + shift) dphi}: c2r of B_m = b_m e^{i m shift dphi}, m = 0..T
   * (the negative half is the conjugate, the result being real) */
  for (PetscInt mm = 0; mm <= M / 2; mm++) ck->spec[mm] = 0;
  for (PetscInt mm = 0; mm <= T; mm++) ck->spec[mm] = ck->b[mm] * cexp(I * (double)mm * shift * dphi);
  /* c2r treats bin 0 (and M/2) as real; the imaginary part of b_0 is round-off */
  ck->spec[0] = creal(ck->spec[0]);
  fftw_execute(ck->backward);
  for (PetscInt k = 0; k < M; k++) out[k] = ck->rin[k];
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelVelocity(CircleKernel ck, const PetscReal *R, PetscReal shift, PetscReal *u)
{
  const AttnModel m = ck->model;
  const PetscInt  M = ck->M;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(u, M));
  if (m->norm == MFSA_NORM_SOFTMAX) {
    for (PetscInt h = 0; h < m->heads; h++) {
      PetscCall(CircleKernelApply(ck, h, CIRCLE_KERNEL_G, R, shift, ck->num));
      PetscCall(CircleKernelApply(ck, h, CIRCLE_KERNEL_H, R, shift, ck->den));
      for (PetscInt k = 0; k < M; k++) u[k] += ck->num[k] / ck->den[k];
    }
  } else {
    PetscReal mass = 0;
    for (PetscInt k = 0; k < M; k++) mass += R[k];
    mass *= 2 * PETSC_PI / M;
    for (PetscInt h = 0; h < m->heads; h++) {
      PetscCall(CircleKernelApply(ck, h, CIRCLE_KERNEL_G, R, shift, ck->num));
      for (PetscInt k = 0; k < M; k++) u[k] += ck->num[k] / mass;
    }
  }
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelGetTruncation(CircleKernel ck, PetscInt *T, PetscBool *rotation_invariant)
{
  PetscFunctionBegin;
  if (T) *T = ck->T;
  if (rotation_invariant) *rotation_invariant = ck->rotation_invariant;
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelDestroy(CircleKernel *kernel)
{
  CircleKernel ck = *kernel;

  PetscFunctionBegin;
  if (!ck) PetscFunctionReturn(0);
  fftw_destroy_plan(ck->forward);
  fftw_destroy_plan(ck->backward);
  fftw_free(ck->rin);
  fftw_free(ck->spec);
  PetscCall(PetscFree4(ck->a, ck->b, ck->num, ck->den));
  PetscCall(PetscFree(ck->coef));
  PetscCall(PetscFree(*kernel));
  PetscFunctionReturn(0);
}
