/* The pair kernel against a brute-force two-pass softmax in long double (independent of the
 * online log-sum-exp), for d in {1,2,3,4,5,16}, causal and not, tile boundaries included;
 * plus overflow safety at beta = 100 on the sphere and for |x| = 30 in R^d. */
#include <petscsys.h>
#include "pair_kernel.h"
#include "rng.h"
#include "brute_softmax.h"

/* Returns the worst relative error of mean (vs max |x|) and absolute error of log Z. */
static PetscErrorCode Check(PetscInt n, PetscInt d, PetscBool causal, double beta, double radius, PetscBool sphere, double *err_mean, double *err_logz)
{
  double  *x, *q, *mean, *logz, *keystore, bm[64], bl, xmax = 0;
  PetscInt *klim;
  PairKeys keys;

  PetscFunctionBegin;
  PetscCall(PetscMalloc5(n * d, &x, n * d, &q, n * d, &mean, n, &logz, n, &klim));
  for (PetscInt i = 0; i < n; i++) {
    MfsaRandomNormals(1234, 9, (uint64_t)i, (int)d, x + i * d);
    double norm = 0;
    for (PetscInt a = 0; a < d; a++) norm += x[i * d + a] * x[i * d + a];
    norm = sqrt(norm);
    for (PetscInt a = 0; a < d; a++) x[i * d + a] *= sphere ? 1.0 / norm : radius / sqrt((double)d);
    for (PetscInt a = 0; a < d; a++) q[i * d + a] = beta * x[i * d + a];
    klim[i] = causal ? i + 1 : n;
  }
  PetscCall(PairKeysAllocate(n, d, &keys, &keystore));
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt a = 0; a < d; a++) keystore[a * keys.ld + j] = x[j * d + a];
  PetscCall(PairKernelApply(&keys, n, q, klim, mean, logz));
  *err_mean = *err_logz = 0;
  for (PetscInt i = 0; i < n; i++)
    for (PetscInt a = 0; a < d; a++) xmax = PetscMax(xmax, fabs(x[i * d + a]));
  for (PetscInt i = 0; i < n; i++) {
    BruteSoftmax(d, x, q + i * d, klim[i], bm, &bl);
    for (PetscInt a = 0; a < d; a++) {
      if (!isfinite(mean[i * d + a])) *err_mean = INFINITY;
      *err_mean = PetscMax(*err_mean, fabs(mean[i * d + a] - bm[a]) / xmax);
    }
    if (!isfinite(logz[i])) *err_logz = INFINITY;
    *err_logz = PetscMax(*err_logz, fabs(logz[i] - bl) / PetscMax(1.0, fabs(bl)));
  }
  PetscCall(PairKeysFree(&keystore));
  PetscCall(PetscFree5(x, q, mean, logz, klim));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const PetscInt dims[] = {1, 2, 3, 4, 5, 16};
  const PetscInt sizes[] = {1, 7, 255, 256, 257, 600};
  /* libmvec's vector exp is accurate to a few ulp; sums of <= 600 terms: 1e-12 is ~1e4 ulp */
  const double   tol = 1e-12;
  PetscInt       failures = 0;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  for (int di = 0; di < 6; di++)
    for (int si = 0; si < 6; si++)
      for (int causal = 0; causal < 2; causal++) {
        double em, el;
        PetscCall(Check(sizes[si], dims[di], (PetscBool)causal, 2.0, 1.0, dims[di] > 1 ? PETSC_TRUE : PETSC_FALSE, &em, &el));
        if (!(em <= tol && el <= tol)) {
          PetscCall(PetscPrintf(PETSC_COMM_SELF, "FAIL d=%d n=%d causal=%d: mean err %.2e logz err %.2e\n", (int)dims[di], (int)sizes[si], causal, em, el));
          failures++;
        }
      }
  {
    double em, el;
    PetscCall(Check(700, 3, PETSC_FALSE, 100.0, 1.0, PETSC_TRUE, &em, &el));
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "sphere beta=100: mean err %.2e, logz err %.2e (tol %.0e)\n", em, el, tol));
    if (!(em <= tol && el <= tol)) failures++;
    PetscCall(Check(700, 3, PETSC_TRUE, 1.0, 30.0, PETSC_FALSE, &em, &el)); /* scores up to ~900: e^900 overflows a double */
    PetscCall(PetscPrintf(PETSC_COMM_SELF, "R^d |x|=30 causal: mean err %.2e, logz err %.2e (tol %.0e)\n", em, el, tol));
    if (!(em <= tol && el <= tol)) failures++;
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "%s\n", failures ? "FAILED" : "pair kernel: all checks passed"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
