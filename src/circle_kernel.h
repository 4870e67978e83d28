/* The attention kernel on the circle (d = 2, sphere geometry), for the mean-field PDE.
 * With x(theta) = (cos, sin), x_perp = (-sin, cos), per head h and the kernel's weight w of the
 * score z = beta x(theta)^T B_h x(phi) + b (MODEL.md §4: exp, sigmoid with a fixed bias b,
 * relu, linear):
 *     H_h(theta, phi) = w(z),
 *     G_h(theta, phi) = H_h(theta, phi) <V_h x(phi), x_perp(theta)>   (the tangential part),
 *     N_h(theta, phi) = H_h(theta, phi) <V_h x(phi), x(theta)>        (the normal part: nGPT).
 * Applied to a function R sampled at the M cell centres phi_l = (l + 1/2) 2pi/M, a kernel gives
 * the midpoint-rule quadrature  sum_l K(theta_k, phi_l) R_l (2pi/M)  at theta_k = (k + shift) 2pi/M.
 *
 * Two evaluations, both equal to that direct sum to round-off:
 * - smooth kernels (exp, sigmoid, linear): a truncated double Fourier series (|m|, |n| <= T, T
 *   the last mode above round-off; exp: T <= 9 sqrt(beta ||B||) + 20, MODEL.md §3; sigmoid's
 *   coefficients decay only geometrically, so T is found by doubling until the top modes vanish),
 *   computed once by a 2-D FFT of samples, applied in O(M log M + T^2) (O(M log M + T) when B_h
 *   and V_h are scaled rotations, where the kernel depends on theta - phi only);
 * - kernels with kinks or a per-pair nonlinearity (relu, whose Fourier coefficients decay only
 *   like m^-2, and hyla): the direct O(M^2) sum (circle_kernel_direct.c). As a quadrature of the
 *   continuous integral the midpoint rule is second order in 2pi/M for these (the integrand is
 *   Lipschitz with kinks), spectral for the smooth ones.
 *
 * The velocity theta' = <F, x_perp> of the dynamics combines them (post-LN: F = f; nGPT:
 * F = alpha f/|f|) with the row factor: softmax's per-head ratio, or 1/mass(R) (unnormalized
 * and -attn_kernel_norm count: the mean-field limit of 1/|N(i)|). */
#pragma once
#include "model.h"

typedef enum { CIRCLE_KERNEL_H = 0, CIRCLE_KERNEL_G = 1, CIRCLE_KERNEL_N = 2 } CircleKernelKind;
typedef struct _p_CircleKernel *CircleKernel;

/* Error (naming the options) unless the model's kernel and layer norm have a mean-field limit
 * this solver evaluates: -attn_kernel_norm none only with -attn_ln ngpt (f/|f| does not see the
 * row factor), sigmoid only with a fixed -attn_sigmoid_bias, -attn_ln post or ngpt. */
PetscErrorCode CircleKernelCheckModel(AttnModel);
PetscErrorCode CircleKernelCreate(AttnModel, PetscInt M, CircleKernel *);
/* out_k = sum_l K_h(theta_k, phi_l) R_l dphi, theta_k = (k + shift) dphi. R, out: M values.
 * Smooth kernels only (the N kind only with -attn_ln ngpt). */
PetscErrorCode CircleKernelApply(CircleKernel, PetscInt head, CircleKernelKind, const PetscReal *R, PetscReal shift, PetscReal *out);
/* theta' at theta_k = (k + shift) dphi for the prefix/total R (see above). */
PetscErrorCode CircleKernelVelocity(CircleKernel, const PetscReal *R, PetscReal shift, PetscReal *u);
/* The series alone, without a grid (M = 0: CircleKernelApply/Velocity are not available): for
 * evaluators that apply the coefficients to something other than a gridded density (the
 * harmonic particle solver). Smooth kernels only. */
PetscErrorCode CircleKernelCreateSeries(AttnModel, CircleKernel *);
/* The truncated double Fourier series of kernel `kind` of `head`:
 *     K(theta, phi) = e^{logscale} sum_{|m|,|n| <= T} c_mn e^{i (m theta + n phi)},
 * c_mn = coef[2 ((m+T) W + (n+T))] + i coef[2 ((m+T) W + (n+T)) + 1], W = 2T+1 (interleaved
 * re/im, owned by the kernel). rotation_invariant: c_mn = 0 unless n = -m. Smooth kernels only. */
PetscErrorCode CircleKernelGetSeries(CircleKernel, PetscInt head, CircleKernelKind, PetscInt *T, const PetscReal **coef, PetscReal *logscale, PetscBool *rotation_invariant);
/* One phrase naming the evaluation ("... double series", "... convolution", "direct ..."). */
PetscErrorCode CircleKernelDescribe(CircleKernel, char *buf, size_t len);
PetscErrorCode CircleKernelDestroy(CircleKernel *);
