/* libFuzzer harness for mfsa's option parsing and validation: the input becomes an options string
 * (PETSc's tokenizer), pushed as the options database, and every object reads it the way the
 * driver does: AttnModelSetFromOptions (-attn_*, -geometry, -seed and the named choices of
 * options_util.c), MfsaSolverSetFromOptions (-solver, the particle or PDE options including the
 * lists -pde_init_modes / _amplitudes / _phases / -pde_init_vonmises_*, the fault and checkpoint
 * options, PETSc's -ts_*), MfsaOutputSetFromOptions (-out, -out_dt, -out_overwrite) and the
 * unused-option check. Errors are the expected outcome of bad input; what must never happen is a
 * crash, a sanitizer report or a leak in mfsa's code. Nothing is set up (no allocation sized by
 * -n, no file is opened).
 * Build: cmake -DCMAKE_C_COMPILER=clang -DMFSA_FUZZ=ON; run: fuzz_options CORPUS_DIR SEED_DIR. */
#include "model.h"
#include "options_util.h"
#include "output.h"
#include "solver.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv; /* libFuzzer's flags are not PETSc options */
  if (PetscInitializeNoArguments()) abort();
  /* bad input is the point: errors come back as codes, without PETSc's traceback on stderr */
  if (PetscPushErrorHandler(PetscReturnErrorHandler, NULL)) abort();
  return 0;
}

static PetscErrorCode ParseAll(void)
{
  AttnModel  model  = NULL;
  MfsaSolver solver = NULL;
  MfsaOutput output = NULL;
  PetscErrorCode ierr;

  PetscFunctionBegin;
  ierr = AttnModelCreate(PETSC_COMM_SELF, &model);
  if (!ierr) ierr = AttnModelSetFromOptions(model);
  if (!ierr) ierr = MfsaSolverCreate(model, &solver);
  if (!ierr) ierr = MfsaSolverSetFromOptions(solver);
  if (!ierr) ierr = MfsaOutputCreate(PETSC_COMM_SELF, &output);
  if (!ierr) ierr = MfsaOutputSetFromOptions(output);
  if (!ierr) ierr = MfsaOptionsCheckUnused(PETSC_COMM_SELF);
  /* whatever failed, everything created is destroyed */
  PetscCall(MfsaOutputDestroy(&output));
  PetscCall(MfsaSolverDestroy(&solver));
  PetscCall(AttnModelDestroy(&model));
  PetscFunctionReturn(0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  PetscOptions opts;
  char        *text;

  if (size > 4096) return 0;
  text = malloc(size + 1);
  if (!text) return 0;
  for (size_t i = 0; i < size; i++) text[i] = data[i] ? (char)data[i] : ' ';
  text[size] = 0;
  /* hermetic: no files read through the options (-options_file*), no help text printed; PETSc's
   * own YAML reader (-options_string_yaml) is PETSc's parser, not mfsa's */
  if (strstr(text, "options_file") || strstr(text, "help") || strstr(text, "prefix_push") || strstr(text, "yaml")) {
    free(text);
    return 0;
  }
  if (PetscOptionsCreate(&opts)) abort();
  if (!PetscOptionsInsertString(opts, text)) {
    if (PetscOptionsPush(opts)) abort();
    if (ParseAll()) abort(); /* a failure of the clean-up itself is a bug */
    if (PetscOptionsPop()) abort();
  }
  if (PetscOptionsDestroy(&opts)) abort();
  free(text);
  return 0;
}
