/* Test-only reference: softmax mean and log Z of one query by the textbook two-pass formula
 * in long double (max first, then sums): independent of the kernel's online log-sum-exp. */
#pragma once
#include <petscsys.h>
#include <math.h>

static inline void BruteSoftmax(PetscInt d, const double *x /* row-major, lim x d */, const double *q, PetscInt lim, double *mean, double *logz)
{
  long double mx = -INFINITY, z = 0, acc[64] = {0};
  for (PetscInt j = 0; j < lim; j++) {
    long double s = 0;
    for (PetscInt a = 0; a < d; a++) s += (long double)q[a] * x[j * d + a];
    if (s > mx) mx = s;
  }
  for (PetscInt j = 0; j < lim; j++) {
    long double s = 0;
    for (PetscInt a = 0; a < d; a++) s += (long double)q[a] * x[j * d + a];
    const long double w = expl(s - mx);
    z += w;
    for (PetscInt a = 0; a < d; a++) acc[a] += w * x[j * d + a];
  }
  for (PetscInt a = 0; a < d; a++) mean[a] = (double)(acc[a] / z);
  *logz = (double)(mx + logl(z));
}
