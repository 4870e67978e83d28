/* Which contiguous block of global token indices a rank owns. Unmasked: equal token counts.
 * Causal: token i costs i+1 pairs, so block boundaries equalise *pairs*, not tokens. */
#pragma once
#include <petscsys.h>

PetscErrorCode MfsaPartitionTokens(MPI_Comm, PetscInt n, PetscBool causal, PetscInt *lo, PetscInt *nloc);
/* Block start for `rank` of `size` (lo of rank `size` is n). Pure function, same on all ranks. */
PetscInt MfsaPartitionStart(PetscInt n, PetscBool causal, PetscMPIInt rank, PetscMPIInt size);
