/* Lanczos with full reorthogonalisation on A = Df^T Df (symmetric positive semi-definite).
 * T_k = tridiag(beta, alpha, beta) holds A's projection on the Krylov basis; its largest
 * eigenpair (theta, y) (LAPACK dsteqr) gives the Ritz value theta and the residual
 * ||A z - theta z|| = beta_k |y_k| without forming z. */
#include "lipschitz.h"
#include "lipschitz_operator.h"
#include <petscblaslapack.h>

const char *const LipMethodNames[] = {"lanczos", "power", NULL};

/* Largest eigenvalue of the k x k tridiagonal (alpha, beta) and the last entry of its eigenvector. */
static PetscErrorCode TopRitz(PetscInt k, const PetscReal *alpha, const PetscReal *beta, PetscReal *work, PetscReal *theta, PetscReal *ylast)
{
  PetscBLASInt n, info;
  PetscReal   *dd = work, *ee = work + k, *Z = work + 2 * k, *w2 = Z + k * k;
  PetscInt     top = 0;

  PetscFunctionBegin;
  PetscCall(PetscBLASIntCast(k, &n));
  PetscCall(PetscArraycpy(dd, alpha, k));
  if (k > 1) PetscCall(PetscArraycpy(ee, beta, k - 1));
  PetscCallBLAS("LAPACKsteqr", LAPACKsteqr_("I", &n, dd, ee, Z, &n, w2, &info));
  PetscCheck(info == 0, PETSC_COMM_SELF, PETSC_ERR_LIB, "LAPACK dsteqr failed (info %d)", (int)info);
  for (PetscInt i = 1; i < k; i++)
    if (dd[i] > dd[top]) top = i;
  *theta = dd[top];
  *ylast = Z[top * k + (k - 1)];
  PetscFunctionReturn(0);
}

PetscErrorCode LipschitzLanczos(Mat J, PetscReal tol, PetscInt max_it, PetscInt64 seed, LipschitzEstimate *est)
{
  Mat          N;
  Vec         *Q, w;
  PetscReal   *alpha, *beta, *work, *dots, theta = 0, ylast = 0;
  PetscInt     k;

  PetscFunctionBegin;
  PetscCall(PetscCalloc1(max_it + 1, &Q));
  PetscCall(PetscMalloc4(max_it, &alpha, max_it, &beta, 3 * max_it + max_it * max_it + 2 * max_it, &work, max_it, &dots));
  PetscCall(LipschitzOperatorCreateNormal(J, &N));
  PetscCall(MatCreateVecs(N, &Q[0], &w));
  PetscCall(LipschitzStartVector(Q[0], seed));
  est->converged = PETSC_FALSE;
  est->residual  = PETSC_INFINITY;
  for (k = 1; k <= max_it; k++) {
    PetscCall(MatMult(N, Q[k - 1], w)); /* Df^T Df q, one sweep */
    PetscCall(VecDot(w, Q[k - 1], &alpha[k - 1]));
    /* full reorthogonalisation, twice ("twice is enough"): the Ritz values stay clean */
    for (PetscInt pass = 0; pass < 2; pass++) {
      PetscCall(VecMDot(w, k, Q, dots));
      for (PetscInt j = 0; j < k; j++) dots[j] = -dots[j];
      PetscCall(VecMAXPY(w, k, dots, Q));
    }
    PetscCall(VecNorm(w, NORM_2, &beta[k - 1]));
    PetscCall(TopRitz(k, alpha, beta, work, &theta, &ylast));
    est->iterations = k;
    if (theta <= 0) { /* A q = 0 on the whole Krylov space: Df = 0 there */
      est->residual  = 0;
      est->converged = PETSC_TRUE;
      break;
    }
    est->residual = beta[k - 1] * PetscAbsReal(ylast) / theta;
    if (est->residual <= tol || beta[k - 1] <= 1e-14 * theta) { /* converged, or an invariant subspace */
      est->converged = PETSC_TRUE;
      break;
    }
    if (k == max_it) break;
    PetscCall(VecDuplicate(Q[0], &Q[k]));
    PetscCall(VecAXPBY(Q[k], 1.0 / beta[k - 1], 0.0, w));
  }
  est->sigma = PetscSqrtReal(PetscMax(theta, 0));
  PetscCall(VecDestroy(&w));
  PetscCall(MatDestroy(&N));
  for (PetscInt j = 0; j <= max_it; j++) PetscCall(VecDestroy(&Q[j]));
  PetscCall(PetscFree(Q));
  PetscCall(PetscFree4(alpha, beta, work, dots));
  PetscFunctionReturn(0);
}
