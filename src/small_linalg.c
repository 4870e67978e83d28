/* Small dense SVD via LAPACK dgesvd (PETSc's BLAS/LAPACK). */
#include "small_linalg.h"
#include <petscblaslapack.h>

PetscErrorCode MfsaTopSingular(PetscInt d, const PetscReal *A, PetscReal *sigma, PetscReal *p, PetscReal *q)
{
  PetscBLASInt n, lwork, info;
  PetscReal   *a, *s, *u, *vt, *work;

  PetscFunctionBegin;
  PetscCall(PetscBLASIntCast(d, &n));
  lwork = 5 * n + 64;
  PetscCall(PetscMalloc5(d * d, &a, d, &s, d * d, &u, d * d, &vt, lwork, &work));
  /* the row-major A read column-major is A^T = U S V^T, so the right singular vectors of A
   * are the columns of U */
  PetscCall(PetscArraycpy(a, A, d * d));
  PetscCallBLAS("LAPACKgesvd", LAPACKgesvd_("A", "A", &n, &n, a, &n, s, u, &n, vt, &n, work, &lwork, &info));
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK dgesvd failed (info %d)", (int)info);
  *sigma = s[0];
  if (q) PetscCall(PetscArraycpy(q, u, d));
  if (p) {
    /* p = A q / sigma (row-major A); a zero matrix has any unit p */
    for (PetscInt r = 0; r < d; r++) {
      PetscReal sum = 0;
      for (PetscInt c = 0; c < d; c++) sum += A[r * d + c] * u[c];
      p[r] = s[0] > 0 ? sum / s[0] : (r == 0);
    }
  }
  PetscCall(PetscFree5(a, s, u, vt, work));
  PetscFunctionReturn(0);
}
