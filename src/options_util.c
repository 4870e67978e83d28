/* Options-database helpers: named choices with a clear error, the rule that an option
 * nobody read is an error (a misspelled option must never be silently ignored), and an error
 * handler that names the option whose value PETSc could not parse. */
#include "options_util.h"
#include <stdio.h>
#include <string.h>

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

/* The value in PETSc's parse-error message: "Input string <v> has no ..." or "Unknown logical
 * value: <v>". */
static int ParseErrorValue(const char *mess, char *value, size_t len, const char **kind)
{
  const char *a, *b;
  if ((a = strstr(mess, "Input string ")) && (b = strstr(a, " has no "))) {
    a += strlen("Input string ");
    *kind = strstr(b, "integer") ? "not an integer" : "not a real number";
  } else if ((a = strstr(mess, "Unknown logical value: "))) {
    a += strlen("Unknown logical value: ");
    b    = a + strlen(a);
    *kind = "not a boolean (use true|false, yes|no, 1|0)";
  } else return 0;
  snprintf(value, len, "%.*s", (int)(b - a), a);
  return 1;
}

/* PETSc's parsers of option values say "Input string abc has no integer value" without naming
 * the option; the traceback names only the object. Look the value up in the options database and
 * name the option(s) that hold it, then hand over to PETSc's usual traceback. */
static PetscErrorCode AnnotateParseError(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  char        value[256], names[512] = "", better[1024];
  const char *kind;
  char       *all = NULL;

  if (p == PETSC_ERROR_INITIAL && fun && mess && !strncmp(fun, "PetscOptionsStringTo", 20) && ParseErrorValue(mess, value, sizeof(value), &kind) && !PetscOptionsGetAll(NULL, &all) && all) {
    /* "-name value -name value ...": a name starts with '-' and is not a number */
    char *save = NULL, *prev = NULL;
    for (char *tok = strtok_r(all, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
      if (prev && !strcmp(tok, value) && strlen(names) + strlen(prev) + 3 < sizeof(names)) {
        if (names[0]) strcat(names, ", ");
        strcat(names, prev);
      }
      prev = (tok[0] == '-' && !(tok[1] >= '0' && tok[1] <= '9') && tok[1] != '.') ? tok : NULL;
    }
    (void)PetscFree(all);
    if (names[0]) {
      snprintf(better, sizeof(better), "Option %s: value '%s' is %s (%s)", names, value, kind, mess);
      return PetscTraceBackErrorHandler(comm, line, fun, file, n, p, better, ctx);
    }
  }
  return PetscTraceBackErrorHandler(comm, line, fun, file, n, p, mess, ctx);
}

static PetscErrorCode PopErrorAnnotator(void)
{
  PetscFunctionBegin;
  PetscCall(PetscPopErrorHandler());
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOptionsPushErrorAnnotator(void)
{
  static PetscBool pushed = PETSC_FALSE;
  PetscBool        initialized, set, other = PETSC_FALSE;
  const char *const custom[] = {"-on_error_abort", "-on_error_attach_debugger", "-on_error_emacs", "-on_error_mpiabort", "-on_error_start_in_debugger", NULL};

  PetscFunctionBegin;
  PetscCall(PetscInitialized(&initialized));
  if (pushed || !initialized) PetscFunctionReturn(0);
  for (int k = 0; custom[k]; k++) { /* a user-chosen error handler stays in charge */
    PetscCall(PetscOptionsHasName(NULL, NULL, custom[k], &set));
    other = (PetscBool)(other || set);
  }
  if (!other) {
    PetscCall(PetscPushErrorHandler(AnnotateParseError, NULL));
    PetscCall(PetscRegisterFinalize(PopErrorAnnotator)); /* freed by PetscFinalize: -malloc_dump stays clean */
  }
  pushed = PETSC_TRUE;
  PetscFunctionReturn(0);
}
