/* The circle attention kernels H_h, G_h (and N_h for nGPT): their truncated double Fourier
 * series and application to gridded densities with FFTW (plans made once, FFTW_ESTIMATE so
 * that the same algorithm, hence the same rounding, is used on every rank and in every run),
 * or the direct quadrature (circle_kernel_direct.c); which kernels have a mean-field limit;
 * the velocity of the dynamics from them. */
#include <complex.h>
#include <fftw3.h>
#include "circle_kernel.h"
#include "circle_kernel_direct.h"


typedef double _Complex Cplx;

struct _p_CircleKernel {
  AttnModel    model;
  CircleDirect direct; /* relu, hyla: direct quadrature instead of the series below */
  PetscInt     M, T, W; /* grid, truncation, W = 2T+1 coefficients per direction */
  PetscInt     nkinds;  /* 2 (H, G) or 3 (H, G, N: -attn_ln ngpt) */
  PetscBool    rotation_invariant;
  PetscReal   *fpar;    /* M: normal component of f (nGPT) */
  Cplx        *coef;    /* [head][kind][m+T][n+T] */
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

/* w(beta x(theta)^T B x(phi) + b) of the smooth kernels: exp (b = 0), sigmoid, linear (b = 0). */
static double KernelSample(AttnModel m, const PetscReal *B, const PetscReal *V, CircleKernelKind kind, double theta, double phi)
{
  const double xt0 = cos(theta), xt1 = sin(theta), xp0 = cos(phi), xp1 = sin(phi);
  const double z   = m->beta * (xt0 * (B[0] * xp0 + B[1] * xp1) + xt1 * (B[2] * xp0 + B[3] * xp1));
  double       h;
  if (m->kernel == MFSA_KERNEL_SIGMOID) h = 1.0 / (1.0 + exp(-(z + AttnModelScoreBias(m, 1))));
  else if (m->kernel == MFSA_KERNEL_LINEAR) h = z;
  else h = exp(z);
  if (kind == CIRCLE_KERNEL_H) return h;
  const double v0 = V[0] * xp0 + V[1] * xp1, v1 = V[2] * xp0 + V[3] * xp1;
  if (kind == CIRCLE_KERNEL_N) return h * (xt0 * v0 + xt1 * v1);
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
      samples[a * P + bb] = KernelSample(m, B, V, kind, 2 * PETSC_PI * a / P, 2 * PETSC_PI * bb / P);
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

PetscErrorCode CircleKernelCheckModel(AttnModel m)
{
  const MfsaLayerNorm ln = m->ln == MFSA_LN_DEFAULT ? MFSA_LN_POST : m->ln;

  PetscFunctionBegin;
  PetscCheck(ln == MFSA_LN_POST || ln == MFSA_LN_NGPT, m->comm, PETSC_ERR_USER_INPUT, "-solver pde evolves tokens on the circle: it needs -attn_ln post or ngpt (got -attn_ln %s)", MfsaLayerNormNames[ln]);
  PetscCheck(m->kernel != MFSA_KERNEL_SIGMOID || m->sigmoid_bias_set, m->comm, PETSC_ERR_USER_INPUT,
             "-attn_kernel sigmoid with its default bias -log|N(i)| depends on the token count, which the density of -solver pde does not have: give -attn_sigmoid_bias b and -attn_kernel_norm count (the n -> infinity limit of the default bias is -attn_kernel unnormalized)");
  PetscCheck(AttnModelKernelIsExp(m) || m->kernel_norm != MFSA_KERNEL_NORM_NONE || ln == MFSA_LN_NGPT, m->comm, PETSC_ERR_USER_INPUT,
             "-attn_kernel %s with -attn_kernel_norm none has no mean-field limit (its sums grow with the token count): use -attn_kernel_norm count with -solver pde (or -attn_ln ngpt, whose f/|f| does not see the row factor)", MfsaKernelNames[m->kernel]);
  PetscFunctionReturn(0);
}

/* relu (kinks: coefficients ~ m^-2) and hyla (not a weight times V x) take the direct sum. */
static PetscBool UsesDirect(AttnModel m)
{
  return (m->kernel == MFSA_KERNEL_RELU || m->kernel == MFSA_KERNEL_HYLA) ? PETSC_TRUE : PETSC_FALSE;
}

/* Before an input error in CircleKernelCreate: release what it allocated so far (*kernel is not
 * set yet). */
static PetscErrorCode FreePartial(CircleKernel ck, Cplx **full)
{
  PetscFunctionBegin;
  PetscCall(PetscFree(*full));
  PetscCall(PetscFree(ck->fpar));
  PetscCall(PetscFree(ck));
  PetscFunctionReturn(0);
}

#define CIRCLE_KERNEL_TMAX 384 /* P = 2048 samples per direction: ~100 MB of work space */

PetscErrorCode CircleKernelCreate(AttnModel model, PetscInt M, CircleKernel *kernel)
{
  CircleKernel ck;
  PetscReal    normB = 0;
  PetscInt     P;

  PetscFunctionBegin;
  PetscCheck(model->d == 2, model->comm, PETSC_ERR_USER_INPUT, "The circle kernel needs -attn_dim 2 (got %" PetscInt_FMT ")", model->d);
  PetscCall(CircleKernelCheckModel(model));
  PetscCall(PetscNew(&ck));
  ck->model              = model;
  ck->M                  = M;
  ck->nkinds             = model->ln == MFSA_LN_NGPT ? 3 : 2;
  ck->rotation_invariant = PETSC_TRUE;
  PetscCall(PetscMalloc1(M, &ck->fpar));
  if (UsesDirect(model)) {
    ck->T                  = -1;
    ck->rotation_invariant = PETSC_FALSE;
    PetscCall(PetscMalloc4(1, &ck->a, 1, &ck->b, M, &ck->num, M, &ck->den));
    PetscCall(CircleDirectCreate(model, M, &ck->direct));
    *kernel = ck;
    PetscFunctionReturn(0);
  }
  for (PetscInt h = 0; h < model->heads; h++) {
    normB = PetscMax(normB, SpectralNorm2x2(model->B + 4 * h));
    if (!IsScaledRotation(model->B + 4 * h) || !IsScaledRotation(model->V + 4 * h)) ck->rotation_invariant = PETSC_FALSE;
  }
  /* MODEL.md's bound T = 9 sqrt(beta ||B||) + 20 is safe but generous for exp: compute the
   * coefficients up to it, then keep only the modes above round-off: above 1e-16 of the largest,
   * and above the 2-D FFT's own rounding noise (eps log2(P^2) max|sample|), below which a
   * computed coefficient carries no information. This also sets the smallest grid that
   * represents the kernel exactly. Sigmoid's coefficients decay only geometrically (poles of
   * the logistic function at z = +-i pi: rate ~ asinh(pi / (beta ||B||))), so for it and linear
   * the bound is doubled until the top quarter of the computed modes is below round-off (then
   * the aliased modes, beyond 3 Tmax, are too). */
  PetscInt       Tmax = (PetscInt)PetscCeilReal(9.0 * PetscSqrtReal(model->beta * normB) + 20.0), Wmax;
  const PetscInt nk   = ck->nkinds * model->heads;
  Cplx          *full = NULL;
  PetscReal      cmax, smax, floor_abs;
  for (;;) {
    Wmax = 2 * Tmax + 1;
    for (P = 16; P < 2 * Wmax; P *= 2) {}
    ck->T = Tmax;
    ck->W = Wmax;
    cmax = smax = 0;
    PetscCall(PetscFree(full));
    PetscCall(PetscMalloc1((size_t)nk * Wmax * Wmax, &full));
    for (PetscInt h = 0; h < model->heads; h++)
      for (PetscInt kind = 0; kind < ck->nkinds; kind++) PetscCall(Coefficients(ck, h, (CircleKernelKind)kind, P, full + (size_t)(ck->nkinds * h + kind) * Wmax * Wmax, &smax));
    for (PetscInt i = 0; i < nk * Wmax * Wmax; i++) cmax = PetscMax(cmax, cabs(full[i]));
    floor_abs = PetscMax(1e-16 * cmax, PETSC_MACHINE_EPSILON * PetscLog2Real((PetscReal)P * P) * smax);
    ck->T     = 0;
    for (PetscInt q = 0; q < nk; q++)
      for (PetscInt mm = -Tmax; mm <= Tmax; mm++)
        for (PetscInt n = -Tmax; n <= Tmax; n++)
          if (cabs(full[(size_t)q * Wmax * Wmax + (mm + Tmax) * Wmax + (n + Tmax)]) > floor_abs) ck->T = PetscMax(ck->T, PetscMax(PetscAbsInt(mm), PetscAbsInt(n)));
    if (AttnModelKernelIsExp(model) || 4 * ck->T <= 3 * Tmax) break;
    if (Tmax >= CIRCLE_KERNEL_TMAX) {
      const PetscInt Tfound = ck->T;
      PetscCall(FreePartial(ck, &full));
      SETERRQ(model->comm, PETSC_ERR_USER_INPUT, "-attn_kernel %s at -attn_beta %g (beta*||B|| = %g) has Fourier modes above round-off up to |m| >= %" PetscInt_FMT " (sigmoid's coefficients decay like e^{-|m| asinh(pi/(beta*||B||))}); -solver pde computes at most |m| = %d: lower -attn_beta", MfsaKernelNames[model->kernel], (double)model->beta, (double)(model->beta * normB), Tfound, CIRCLE_KERNEL_TMAX);
    }
    Tmax = PetscMin(2 * Tmax, CIRCLE_KERNEL_TMAX);
  }
  ck->W = 2 * ck->T + 1;
  if (M > 0 && M < 2 * ck->T + 2) {
    const PetscInt Tfound = ck->T;
    PetscCall(FreePartial(ck, &full));
    SETERRQ(model->comm, PETSC_ERR_USER_INPUT, "-pde_angles %" PetscInt_FMT " cannot resolve the attention kernel at beta*||B|| = %g: it has Fourier modes up to |m| = %" PetscInt_FMT " above round-off; use -pde_angles >= %" PetscInt_FMT, M, (double)(model->beta * normB), Tfound, 2 * Tfound + 2);
  }
  PetscCall(PetscMalloc1((size_t)nk * ck->W * ck->W, &ck->coef));
  for (PetscInt q = 0; q < nk; q++)
    for (PetscInt mm = -ck->T; mm <= ck->T; mm++)
      for (PetscInt n = -ck->T; n <= ck->T; n++) ck->coef[(size_t)q * ck->W * ck->W + (mm + ck->T) * ck->W + (n + ck->T)] = full[(size_t)q * Wmax * Wmax + (mm + Tmax) * Wmax + (n + Tmax)];
  PetscCall(PetscFree(full));
  if (M == 0) { /* the series alone (CircleKernelCreateSeries): no grid, no FFT plans */
    PetscCall(PetscMalloc4(ck->W, &ck->a, ck->W, &ck->b, 1, &ck->num, 1, &ck->den));
    *kernel = ck;
    PetscFunctionReturn(0);
  }
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
  const Cplx     *c    = ck->coef + (size_t)(ck->nkinds * head + kind) * W * W;

  PetscFunctionBegin;
  PetscCheck(!ck->direct, PETSC_COMM_SELF, PETSC_ERR_SUP, "CircleKernelApply: -attn_kernel %s has no kernel series (direct quadrature)", MfsaKernelNames[ck->model->kernel]);
  PetscCheck((PetscInt)kind < ck->nkinds && head >= 0 && head < ck->model->heads, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "CircleKernelApply: kernel kind %d of head %" PetscInt_FMT " was not computed", (int)kind, head);
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

/* u = <f, x_perp> (post-LN) or alpha <f, x_perp> / |f| (nGPT, |f|^2 = fperp^2 + fpar^2), f the
 * attention output at theta_k; the row factor: softmax's per-head Num_h/Den_h, 1/mass(R) for
 * unnormalized and -attn_kernel_norm count (mass = sum_l R_l dphi, the mean-field |N(i)|/n),
 * 1 for -attn_kernel_norm none (nGPT only). */
PetscErrorCode CircleKernelVelocity(CircleKernel ck, const PetscReal *R, PetscReal shift, PetscReal *u)
{
  const AttnModel m = ck->model;
  const PetscInt  M = ck->M;
  const PetscBool ngpt = m->ln == MFSA_LN_NGPT ? PETSC_TRUE : PETSC_FALSE;
  PetscReal      *fpar = ck->fpar;

  PetscFunctionBegin;
  PetscCall(PetscArrayzero(u, M));
  PetscCall(PetscArrayzero(fpar, M));
  if (m->kernel == MFSA_KERNEL_SOFTMAX) {
    for (PetscInt h = 0; h < m->heads; h++) {
      PetscCall(CircleKernelApply(ck, h, CIRCLE_KERNEL_G, R, shift, ck->num));
      PetscCall(CircleKernelApply(ck, h, CIRCLE_KERNEL_H, R, shift, ck->den));
      for (PetscInt k = 0; k < M; k++) u[k] += ck->num[k] / ck->den[k];
      if (ngpt) {
        PetscCall(CircleKernelApply(ck, h, CIRCLE_KERNEL_N, R, shift, ck->num));
        for (PetscInt k = 0; k < M; k++) fpar[k] += ck->num[k] / ck->den[k];
      }
    }
  } else {
    PetscReal mass = 0;
    for (PetscInt k = 0; k < M; k++) mass += R[k];
    mass *= 2 * PETSC_PI / M;
    /* dividing by 1 is exact: -attn_kernel_norm none */
    if (m->kernel != MFSA_KERNEL_UNNORMALIZED && m->kernel_norm == MFSA_KERNEL_NORM_NONE) mass = 1.0;
    if (ck->direct) {
      PetscCall(CircleDirectApply(ck->direct, R, shift, ck->num, ngpt ? ck->den : NULL));
      for (PetscInt k = 0; k < M; k++) u[k] = ck->num[k] / mass;
      if (ngpt)
        for (PetscInt k = 0; k < M; k++) fpar[k] = ck->den[k] / mass;
    } else {
      for (PetscInt h = 0; h < m->heads; h++) {
        PetscCall(CircleKernelApply(ck, h, CIRCLE_KERNEL_G, R, shift, ck->num));
        for (PetscInt k = 0; k < M; k++) u[k] += ck->num[k] / mass;
        if (ngpt) {
          PetscCall(CircleKernelApply(ck, h, CIRCLE_KERNEL_N, R, shift, ck->num));
          for (PetscInt k = 0; k < M; k++) fpar[k] += ck->num[k] / mass;
        }
      }
    }
  }
  if (ngpt)
    for (PetscInt k = 0; k < M; k++) {
      /* a zero f has no direction and gives no motion (as for particles) */
      const PetscReal norm2 = u[k] * u[k] + fpar[k] * fpar[k];
      u[k]                  = norm2 > 0 ? m->ngpt_alpha * u[k] / PetscSqrtReal(norm2) : 0.0;
    }
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelCreateSeries(AttnModel model, CircleKernel *kernel)
{
  PetscFunctionBegin;
  PetscCheck(model->kernel != MFSA_KERNEL_RELU && model->kernel != MFSA_KERNEL_HYLA, model->comm, PETSC_ERR_USER_INPUT, "-attn_kernel %s has no truncated Fourier series on the circle (it is evaluated by direct quadrature)", MfsaKernelNames[model->kernel]);
  PetscCall(CircleKernelCreate(model, 0, kernel));
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelGetSeries(CircleKernel ck, PetscInt head, CircleKernelKind kind, PetscInt *T, const PetscReal **coef, PetscReal *logscale, PetscBool *rotation_invariant)
{
  PetscFunctionBegin;
  PetscCheck(!ck->direct, PETSC_COMM_SELF, PETSC_ERR_SUP, "CircleKernelGetSeries: -attn_kernel %s has no kernel series (direct quadrature)", MfsaKernelNames[ck->model->kernel]);
  PetscCheck((PetscInt)kind < ck->nkinds && head >= 0 && head < ck->model->heads, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "CircleKernelGetSeries: kernel kind %d of head %" PetscInt_FMT " was not computed", (int)kind, head);
  if (T) *T = ck->T;
  if (coef) *coef = (const PetscReal *)(ck->coef + (size_t)(ck->nkinds * head + kind) * ck->W * ck->W);
  if (logscale) *logscale = 0; /* the coefficients are those of the kernel itself */
  if (rotation_invariant) *rotation_invariant = ck->rotation_invariant;
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelDescribe(CircleKernel ck, char *buf, size_t len)
{
  PetscFunctionBegin;
  if (ck->direct) PetscCall(PetscSNPrintf(buf, len, "kernel %s: direct O(M^2) midpoint quadrature (second order in the grid)", MfsaKernelNames[ck->model->kernel]));
  else PetscCall(PetscSNPrintf(buf, len, "kernel %s: Fourier modes |m| <= %" PetscInt_FMT " (%s)", MfsaKernelNames[ck->model->kernel], ck->T, ck->rotation_invariant ? "rotation invariant: convolution" : "general: double series"));
  PetscFunctionReturn(0);
}

PetscErrorCode CircleKernelDestroy(CircleKernel *kernel)
{
  CircleKernel ck = *kernel;

  PetscFunctionBegin;
  if (!ck) PetscFunctionReturn(0);
  if (ck->forward) fftw_destroy_plan(ck->forward);
  if (ck->backward) fftw_destroy_plan(ck->backward);
  if (ck->rin) fftw_free(ck->rin);
  if (ck->spec) fftw_free(ck->spec);
  PetscCall(PetscFree4(ck->a, ck->b, ck->num, ck->den));
  PetscCall(PetscFree(ck->coef));
  PetscCall(PetscFree(ck->fpar));
  PetscCall(CircleDirectDestroy(&ck->direct));
  PetscCall(PetscFree(*kernel));
  PetscFunctionReturn(0);
}
