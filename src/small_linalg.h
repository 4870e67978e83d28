/* Dense linear algebra on the model's small d x d matrices (LAPACK through PETSc), and the two
 * inline d-vector helpers of the Jacobian code. */
#pragma once
#include <petscsys.h>

/* Largest singular value of the d x d row-major A, and (if not NULL) unit vectors p, q with
 * A q = sigma p (top left and right singular vectors). */
PetscErrorCode MfsaTopSingular(PetscInt d, const PetscReal *A, PetscReal *sigma, PetscReal *p, PetscReal *q);

static inline PetscReal MfsaDot(PetscInt d, const PetscReal *a, const PetscReal *b)
{
  PetscReal s = 0;
  for (PetscInt c = 0; c < d; c++) s += a[c] * b[c];
  return s;
}

/* y = s A x (transpose: s A^T x) for a d x d row-major A. */
static inline void MfsaMatVec(PetscInt d, PetscReal s, const PetscReal *A, PetscBool transpose, const PetscReal *x, PetscReal *y)
{
  for (PetscInt a = 0; a < d; a++) {
    PetscReal t = 0;
    for (PetscInt b = 0; b < d; b++) t += (transpose ? A[b * d + a] : A[a * d + b]) * x[b];
    y[a] = s * t;
  }
}
