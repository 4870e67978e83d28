/* Small helpers around the PETSc options database: named choices with a clear error,
 * and the "unknown option is an error" rule. */
#pragma once
#include <petscsys.h>

/* Read -name as one of `choices` (NULL-terminated). Errors name the option and list the
 * allowed values. Must be called between PetscOptionsBegin/End. */
PetscErrorCode MfsaOptionsChoice(PetscOptionItems *PetscOptionsObject, const char *name, const char *help, const char *const *choices, PetscInt defidx, PetscInt *idx);
/* Error if the options database holds options nobody read (typos, wrong prefixes). */
PetscErrorCode MfsaOptionsCheckUnused(MPI_Comm);
/* Pushes (once, after PetscInitialize) an error handler that names the option whose value
 * PETSc could not parse ("Option -n: value 'abc' is not an integer"), then prints PETSc's usual
 * traceback. */
PetscErrorCode MfsaOptionsPushErrorAnnotator(void);
