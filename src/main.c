/* mfsa driver: options -> model -> solver (state Vec + TS) -> output. Every option is read
 * and validated, and input files are checked, before the output folder is touched. */
#include "model.h"
#include "options_util.h"
#include "output.h"
#include "reliability.h"
#include "solver.h"
#include "mfsa_version.h"

static const char help[] = "mfsa " MFSA_VERSION " (" MFSA_GIT_REVISION "): self-attention as a dynamical system and its mean-field limit.\n"
                           "Usage: mpiexec -n P mfsa [options]   (all options and defaults: mfsa -help)\n\n";

int main(int argc, char **argv)
{
  AttnModel  model  = NULL;
  MfsaSolver solver = NULL;
  MfsaOutput output = NULL;
  PetscBool  help_requested, stopped = PETSC_FALSE;
  const char *folder;

  /* before MPI/PETSc start-up (a job may be signalled while MPI_Init runs) and again after,
   * since PetscInitialize installs its own handlers */
  MfsaSetMpiIoDefaults(); /* before MPI_Init: see io/reliability.h */
  if (MfsaInstallStopHandlers()) return 1;
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(MfsaInstallStopHandlers());
  PetscCall(PetscOptionsHasHelp(NULL, &help_requested));

  PetscCall(AttnModelCreate(PETSC_COMM_WORLD, &model));
  PetscCall(AttnModelSetFromOptions(model));
  PetscCall(MfsaSolverCreate(model, &solver));
  PetscCall(MfsaSolverSetFromOptions(solver));
  PetscCall(MfsaOutputCreate(PETSC_COMM_WORLD, &output));
  PetscCall(MfsaOutputSetFromOptions(output));
  if (!help_requested) {
    PetscCall(MfsaOptionsCheckUnused(PETSC_COMM_WORLD));
    PetscCall(AttnModelSetUp(model));
    PetscCall(MfsaSolverSetUp(solver));
    if (solver->restart[0]) PetscCall(MfsaOutputSetRestart(output, PETSC_TRUE));
    PetscCall(MfsaOutputSetUp(output));
    PetscCall(MfsaSolverSolve(solver, output, &stopped));
    PetscCall(MfsaOutputGetFolder(output, &folder));
    if (stopped) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "mfsa: stopped after a checkpoint in %s/ (signal or stop file); continue with -restart auto (exit code 3)\n", folder));
    else PetscCall(PetscPrintf(PETSC_COMM_WORLD, "mfsa: wrote snapshots and diagnostics to %s/ (open %s/mfsa.xmf in ParaView)\n", folder, folder));
  }
  PetscCall(MfsaOutputDestroy(&output));
  PetscCall(MfsaSolverDestroy(&solver));
  PetscCall(AttnModelDestroy(&model));
  PetscCall(PetscFinalize());
  return stopped ? 3 : 0; /* 3: checkpointed, not finished (job scripts requeue on it) */
}
