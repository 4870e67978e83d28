/* The attention kernel on the circle (d = 2, sphere geometry), for the mean-field PDE.
 * With x(theta) = (cos, sin), x_perp = (-sin, cos), per head h:
 *     H_h(theta, phi) = exp(beta x(theta)^T B_h x(phi)),
 *     G_h(theta, phi) = H_h(theta, phi) <V_h x(phi), x_perp(theta)>,
 * smooth and periodic in both angles. Each is held as a truncated double Fourier series
 * (|m|, |n| <= T with T = 9 sqrt(beta ||B||) + 20: coefficients beyond are below double
 * precision, MODEL.md §3), computed once by a 2-D FFT of samples. Applied to a function R
 * sampled at the M cell centres phi_l = (l + 1/2) 2pi/M, it returns the midpoint-rule
 * quadrature  sum_l K(theta_k, phi_l) R_l (2pi/M)  at theta_k = (k + shift) 2pi/M, equal to the
 * direct O(M^2) sum to round-off, in O(M log M + T^2) (O(M log M + T) when B_h and V_h are
 * scaled rotations, where the kernel depends on theta - phi only). */
#pragma once
#include "model.h"

typedef enum { CIRCLE_KERNEL_H = 0, CIRCLE_KERNEL_G = 1 } CircleKernelKind;
typedef struct _p_CircleKernel *CircleKernel;

PetscErrorCode CircleKernelCreate(AttnModel, PetscInt M, CircleKernel *);
/* out_k = sum_l K_h(theta_k, phi_l) R_l dphi, theta_k = (k + shift) dphi. R, out: M values. */
PetscErrorCode CircleKernelApply(CircleKernel, PetscInt head, CircleKernelKind, const PetscReal *R, PetscReal shift, PetscReal *out);
/* theta' at theta_k = (k + shift) dphi for the prefix/total R: sum_h Num_h / Den_h (softmax) or
 * sum_h Num_h / (sum_l R_l dphi) (unnormalised). */
PetscErrorCode CircleKernelVelocity(CircleKernel, const PetscReal *R, PetscReal shift, PetscReal *u);
PetscErrorCode CircleKernelGetTruncation(CircleKernel, PetscInt *T, PetscBool *rotation_invariant);
PetscErrorCode CircleKernelDestroy(CircleKernel *);
