/* The Jacobian Df(X) of the attention velocity map as a distributed PETSc MatShell: MatMult is
 * the JVP, MatMultTranspose the VJP (src/attention_jacobian.c), each one gather of the
 * direction / cotangent features over the ranks and one pass of the pair kernel. Rows and
 * columns are laid out like the particle solver's state (token blocks, d per token).
 * The VJP's transposed sums run over the mirror-image token partition, so that under the
 * causal mask (key k is attended by n - k queries) every rank does the same number of pairs. */
#pragma once
#include <petscmat.h>
#include "model.h"

/* n tokens; the local block follows MfsaPartitionTokens (pair-balanced when causal). */
PetscErrorCode LipschitzOperatorCreate(AttnModel, PetscInt n, Mat *J);
/* Token block of this rank. */
PetscErrorCode LipschitzOperatorGetOwnership(Mat J, PetscInt *lo, PetscInt *nloc);
/* Linearisation point X (a Vec with the Mat's column layout). Collective. */
PetscErrorCode LipschitzOperatorSetPoint(Mat J, Vec X);
/* F(X) at the point, into F (the Mat's row layout). */
PetscErrorCode LipschitzOperatorGetValue(Mat J, Vec F);
/* N = Df^T Df as a MatShell (MatMult only) sharing J's point: one sweep over the pairs per
 * product, each weight computed once (MatMult then MatMultTranspose computes it twice). N holds
 * a reference to J. */
PetscErrorCode LipschitzOperatorCreateNormal(Mat J, Mat *N);
