/* Token ownership: contiguous blocks of the global index, pair-balanced under the causal
 * mask (the first k tokens carry k(k+1)/2 pairs). */
#include "partition.h"

static inline double CausalPairs(PetscInt k) { return 0.5 * (double)k * ((double)k + 1.0); }

PetscInt MfsaPartitionStart(PetscInt n, PetscBool causal, PetscMPIInt rank, PetscMPIInt size)
{
  if (rank <= 0) return 0;
  if (rank >= size) return n;
  if (!causal) return (PetscInt)(((PetscInt64)n * rank) / size);
  /* Smallest k with pairs(k) >= rank/size * pairs(n): closed form, then fix rounding. */
  const double target = CausalPairs(n) * (double)rank / (double)size;
  PetscInt     k      = (PetscInt)PetscFloorReal(0.5 * (PetscSqrtReal(1.0 + 8.0 * target) - 1.0));
  k                   = PetscMax(0, PetscMin(n, k));
  while (k > 0 && CausalPairs(k - 1) >= target) k--;
  while (k < n && CausalPairs(k) < target) k++;
  return k;
}

PetscErrorCode MfsaPartitionTokens(MPI_Comm comm, PetscInt n, PetscBool causal, PetscInt *lo, PetscInt *nloc)
{
  PetscMPIInt rank, size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  PetscCallMPI(MPI_Comm_size(comm, &size));
  *lo   = MfsaPartitionStart(n, causal, rank, size);
  *nloc = MfsaPartitionStart(n, causal, rank + 1, size) - *lo;
  PetscFunctionReturn(0);
}
