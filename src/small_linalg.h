/* Dense linear algebra on the model's small d x d matrices (LAPACK through PETSc). */
#pragma once
#include <petscsys.h>

/* Largest singular value of the d x d row-major A, and (if not NULL) unit vectors p, q with
 * A q = sigma p (top left and right singular vectors). */
PetscErrorCode MfsaTopSingular(PetscInt d, const PetscReal *A, PetscReal *sigma, PetscReal *p, PetscReal *q);
