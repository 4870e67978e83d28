/* Token ownership: blocks are contiguous, cover 0..n-1 exactly once, and under the causal
 * mask every rank's pair count is within one token's pairs (<= n) of total/P (brute-force
 * count of the pairs (i, j <= i) each block owns); unmasked blocks differ by at most one token. */
#include <petscsys.h>
#include "partition.h"

int main(int argc, char **argv)
{
  const PetscInt sizes[] = {1, 2, 5, 37, 1000, 16384, 100003};
  PetscInt       failures = 0;
  double         worst    = 0;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  for (int si = 0; si < 7; si++) {
    const PetscInt n = sizes[si];
    for (PetscMPIInt P = 1; P <= 64; P++) {
      for (int causal = 0; causal < 2; causal++) {
        PetscInt   prev = 0, tmin = PETSC_MAX_INT, tmax = 0;
        const double total = causal ? 0.5 * (double)n * (n + 1) : (double)n;
        for (PetscMPIInt r = 0; r < P; r++) {
          const PetscInt lo = MfsaPartitionStart(n, (PetscBool)causal, r, P), hi = MfsaPartitionStart(n, (PetscBool)causal, r + 1, P);
          if (lo != prev || hi < lo) failures++;
          prev = hi;
          double pairs = 0;
          for (PetscInt i = lo; i < hi; i++) pairs += causal ? (double)(i + 1) : 1.0;
          const double dev = fabs(pairs - total / P);
          if (dev > (causal ? (double)n : 1.0)) {
            failures++;
            PetscCall(PetscPrintf(PETSC_COMM_SELF, "n=%d P=%d causal=%d rank %d: %g pairs, ideal %g\n", (int)n, P, causal, r, pairs, total / P));
          }
          if (causal && n >= 1000) worst = PetscMax(worst, dev / (total / P));
          tmin = PetscMin(tmin, hi - lo);
          tmax = PetscMax(tmax, hi - lo);
        }
        if (prev != n) failures++;
        if (!causal && tmax - tmin > 1) failures++;
      }
    }
  }
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "partition: worst causal pair imbalance (n >= 1000, P <= 64) %.2e of the ideal share; %s\n", worst, failures ? "FAILED" : "all checks passed"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
