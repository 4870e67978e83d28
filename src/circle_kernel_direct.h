/* Direct O(M^2) midpoint quadrature of the circle attention field, for the kernels whose
 * Fourier series converge slowly or that are not a weight times V x (relu: kinks; hyla: a
 * per-pair nonlinearity over the heads). With g(theta, phi) the key-phi contribution to the
 * query-theta attention output before the row factor c (MODEL.md §4, variants_spec):
 *     pointwise w:  g = sum_h w(beta x(theta)^T B_h x(phi) + b) V_h x(phi)
 *     hyla:         g = (sum_h at_h) ReLU(sum_h at_h V_h x(phi)),  at_h = a_h / sqrt(mean a^2 + eps)
 * it returns f_k = sum_l g(theta_k, phi_l) R_l dphi (l in index order) split into
 * fperp_k = <f_k, x_perp(theta_k)> and fpar_k = <f_k, x(theta_k)>. */
#pragma once
#include "model.h"

typedef struct _p_CircleDirect *CircleDirect;

PetscErrorCode CircleDirectCreate(AttnModel, PetscInt M, CircleDirect *);
PetscErrorCode CircleDirectApply(CircleDirect, const PetscReal *R, PetscReal shift, PetscReal *fperp, PetscReal *fpar);
PetscErrorCode CircleDirectDestroy(CircleDirect *);
