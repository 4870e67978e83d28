/* Private to attention_jacobian.c: the JVP/VJP of the unprojected attention sum f (no layer
 * norm, no projection) for the non-exp kernels (sigmoid, relu, linear, hyla; MODEL.md §4):
 *   pointwise  f_i = c_i sum_h V_h sum_{j in N(i)} w(s_hij + b_i) x_j
 *   hyla       f_i = c_i sum_{j in N(i)} g(x_i, x_j)
 * Every piece is a plain sum over pairs (pair_kernel_variants_jacobian.c); this file holds the
 * per-token algebra (queries, V_h, B_h, row factors c_i and offsets b_i). The VJP's feature of
 * a query is c_i w_i (w_i the cotangent of f_i), width d. */
#pragma once
#include "model.h"
#include "pair_kernel.h"

typedef struct _p_AttnJacVar *AttnJacVar;

PetscErrorCode AttnJacVarCreate(AttnModel, PetscInt n, PetscInt lo, PetscInt nloc, AttnJacVar *);
/* keys: all tokens (SoA, double); x: the local rows. f: nloc x d, the value of the sum. */
PetscErrorCode AttnJacVarSetPoint(AttnJacVar, const PairKeys *keys, const PetscReal *x, PetscReal *f);
/* df (nloc x d, overwritten) = Df u; u_all: every token's direction (SoA), u: local rows. */
PetscErrorCode AttnJacVarApply(AttnJacVar, const PairKeys *u_all, const PetscReal *u, PetscReal *df);
/* feat (nloc x d) = c_i w_i for the cotangent w (nloc x d) of f; kept for the query terms. */
PetscErrorCode AttnJacVarFeatures(AttnJacVar, const PetscReal *w, PetscReal *feat);
/* Key terms of keys klo..klo+nk-1 from every query (feat_all: SoA, d components, leading
 * dimension ld). out: nk x d, overwritten. */
PetscErrorCode AttnJacVarKeySums(AttnJacVar, const PetscReal *feat_all, PetscInt ld, PetscInt klo, PetscInt nk, PetscReal *out);
/* Key terms of every key from the local queries (the features kept by AttnJacVarFeatures):
 * T (SoA, d x ld) += them. */
PetscErrorCode AttnJacVarScatter(AttnJacVar, PetscInt ld, PetscReal *T);
/* g (nloc x d) += the query terms of the local rows (features kept by AttnJacVarFeatures). */
PetscErrorCode AttnJacVarQueryTerms(AttnJacVar, PetscReal *g);
PetscErrorCode AttnJacVarDestroy(AttnJacVar *);
