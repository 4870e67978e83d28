/* Power iteration on Df^T Df (the one-sweep normal product of lipschitz_operator.c), and the
 * start vector it shares with Lanczos. */
#include "lipschitz.h"
#include "lipschitz_operator.h"
#include "rng.h"

PetscErrorCode LipschitzStartVector(Vec v, PetscInt64 seed)
{
  PetscInt     lo, hi;
  PetscScalar *a;

  PetscFunctionBegin;
  /* keyed by (seed, global entry): the same on every rank count */
  PetscCall(VecGetOwnershipRange(v, &lo, &hi));
  PetscCall(VecGetArrayWrite(v, &a));
  for (PetscInt i = lo; i < hi; i++) {
    double z[2];
    MfsaRandomNormal2((uint64_t)seed, MFSA_STREAM_LIP_START, (uint64_t)i, 0, z);
    a[i - lo] = z[0];
  }
  PetscCall(VecRestoreArrayWrite(v, &a));
  PetscCall(VecNormalize(v, NULL));
  PetscFunctionReturn(0);
}

PetscErrorCode LipschitzPowerIteration(Mat J, PetscReal tol, PetscInt max_it, PetscInt64 seed, LipschitzEstimate *est)
{
  Mat       N;
  Vec       v, y;
  PetscReal lambda = 0, resid = PETSC_INFINITY;

  PetscFunctionBegin;
  PetscCall(LipschitzOperatorCreateNormal(J, &N));
  PetscCall(MatCreateVecs(N, &v, &y));
  PetscCall(LipschitzStartVector(v, seed));
  est->converged  = PETSC_FALSE;
  est->iterations = 0;
  for (PetscInt it = 1; it <= max_it; it++) {
    PetscCall(MatMult(N, v, y)); /* Df^T Df v */
    PetscCall(VecDot(y, v, &lambda)); /* Rayleigh quotient, |v| = 1 */
    est->iterations = it;
    if (lambda <= 0) { /* Df v = 0: Df = 0 unless v is unlucky; a zero map has norm 0 */
      lambda         = 0;
      resid          = 0;
      est->converged = PETSC_TRUE;
      break;
    }
    PetscCall(VecAXPY(v, -1.0 / lambda, y)); /* v - y/lambda: residual direction, |.| = resid */
    PetscCall(VecNorm(v, NORM_2, &resid));
    if (resid <= tol) {
      est->converged = PETSC_TRUE;
      break;
    }
    PetscCall(VecCopy(y, v));
    PetscCall(VecNormalize(v, NULL));
  }
  est->sigma    = PetscSqrtReal(lambda);
  est->residual = resid;
  PetscCall(VecDestroy(&v));
  PetscCall(VecDestroy(&y));
  PetscCall(MatDestroy(&N));
  PetscFunctionReturn(0);
}
