/* Small helpers around the PETSc options database: named choices with a clear error,
 * and the "unknown option is an error" rule. */
#pragma once
#include <petscsys.h>

/* Read -name as one of `choices` (NULL-terminated). Errors name the option and list the
 * allowed values. Must be called between PetscOptionsBegin/End. */
PetscErrorCode MfsaOptionsChoice(PetscOptionItems *PetscOptionsObject, const char *name, const char *help, const char *const *choices, PetscInt defidx, PetscInt *idx);
/* Error if the options database holds options nobody read (typos, wrong prefixes). */
PetscErrorCode MfsaOptionsCheckUnused(MPI_Comm);
