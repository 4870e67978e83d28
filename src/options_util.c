/* Options-database helpers: named choices with a clear error, and the rule that an option
 * nobody read is an error (a misspelled option must never be silently ignored). */
#include "options_util.h"

PetscErrorCode MfsaOptionsChoice(PetscOptionItems *PetscOptionsObject, const char *name, const char *help, const char *const *choices, PetscInt defidx, PetscInt *idx)
{
  char      value[PETSC_MAX_PATH_LEN], allowed[512] = "", fullhelp[1024];
  PetscBool set;

  PetscFunctionBegin;
  for (PetscInt c = 0; choices[c]; c++) {
    if (c) PetscCall(PetscStrlcat(allowed, "|", sizeof(allowed)));
    PetscCall(PetscStrlcat(allowed, choices[c], sizeof(allowed)));
  }
  PetscCall(PetscSNPrintf(fullhelp, sizeof(fullhelp), "%s (%s)", help, allowed));
  PetscCall(PetscOptionsString(name, fullhelp, NULL, choices[defidx], value, sizeof(value), &set));
  *idx = defidx;
  if (!set) PetscFunctionReturn(0);
  for (PetscInt c = 0; choices[c]; c++) {
    PetscBool match;
    PetscCall(PetscStrcmp(value, choices[c], &match));
    if (match) {
      *idx = c;
      PetscFunctionReturn(0);
    }
  }
  SETERRQ(PetscOptionsObject->comm, PETSC_ERR_USER_INPUT, "Option %s: value '%s' is not allowed; choose one of %s", name, value, allowed);
}

PetscErrorCode MfsaOptionsCheckUnused(MPI_Comm comm)
{
  PetscInt N;
  char   **names, **values;
  char     list[2048] = "";

  /* options PETSc itself reads only at the end (PetscFinalize, after the solve) */
  const char *const read_later[] = {"-options_left", "-options_view", "-ts_view", NULL};

  PetscFunctionBegin;
  for (PetscInt k = 0; read_later[k]; k++) {
    PetscBool set;
    PetscCall(PetscOptionsHasName(NULL, NULL, read_later[k], &set));
  }
  PetscCall(PetscOptionsLeftGet(NULL, &N, &names, &values));
  for (PetscInt i = 0; i < N; i++) {
    char item[PETSC_MAX_PATH_LEN + 8];
    PetscCall(PetscSNPrintf(item, sizeof(item), "%s-%s", i ? ", " : "", names[i]));
    PetscCall(PetscStrlcat(list, item, sizeof(list)));
  }
  const PetscInt unused = N; /* LeftRestore resets N */
  PetscCall(PetscOptionsLeftRestore(NULL, &N, &names, &values));
  PetscCheck(unused == 0, comm, PETSC_ERR_USER_INPUT, "Unknown or unused option%s: %s. Check the spelling; run with -help to list every option and its default", unused > 1 ? "s" : "", list);
  PetscFunctionReturn(0);
}
