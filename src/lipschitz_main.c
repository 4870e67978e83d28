/* mfsa-lipschitz driver: options -> model -> Lipschitz study -> lipschitz.h5. Every option is
 * read and validated, and input files are checked, before the output folder is touched. */
#include "lipschitz.h"
#include "model.h"
#include "options_util.h"
#include "output.h"
#include "reliability.h"
#include "mfsa_version.h"

static const char help[] = "mfsa-lipschitz " MFSA_VERSION " (" MFSA_GIT_REVISION "): local Lipschitz constant ||Df(X)||_2 of self-attention by power iteration on Df^T Df with analytic JVP/VJP.\n"
                           "Usage: mpiexec -n P mfsa-lipschitz [-attn_* options] [-lip_* options] [-out folder]   (all options: -help)\n\n";

int main(int argc, char **argv)
{
  AttnModel     model = NULL;
  MfsaLipschitz lip   = NULL;
  MfsaOutput    out   = NULL;
  PetscBool     help_requested, view = PETSC_FALSE;
  const char   *folder;

  MfsaSetMpiIoDefaults(); /* before MPI_Init: see io/reliability.h */
  PetscCall(PetscInitialize(&argc, &argv, NULL, help));
  PetscCall(PetscOptionsHasHelp(NULL, &help_requested));
  PetscCall(AttnModelCreate(PETSC_COMM_WORLD, &model));
  /* Castin et al. study attention in R^d: euclidean unless -geometry sphere asks otherwise */
  model->geometry = MFSA_GEOMETRY_EUCLIDEAN;
  PetscCall(AttnModelSetFromOptions(model));
  PetscCall(MfsaLipschitzCreate(model, &lip));
  PetscCall(MfsaLipschitzSetFromOptions(lip));
  PetscCall(MfsaOutputCreate(PETSC_COMM_WORLD, &out));
  PetscCall(MfsaOutputSetFromOptions(out));
  PetscCall(PetscOptionsGetBool(NULL, NULL, "-mfsa_view", &view, NULL));
  if (!help_requested) {
    PetscCall(MfsaOptionsCheckUnused(PETSC_COMM_WORLD));
    PetscCall(AttnModelSetUp(model));
    PetscCall(MfsaLipschitzSetUp(lip));
    if (view) {
      PetscCall(AttnModelView(model, PETSC_VIEWER_STDOUT_WORLD));
      PetscCall(MfsaLipschitzView(lip, PETSC_VIEWER_STDOUT_WORLD));
    }
    PetscCall(MfsaOutputSetUp(out));
    PetscCall(MfsaLipschitzRun(lip, out));
    PetscCall(MfsaOutputGetFolder(out, &folder));
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "mfsa-lipschitz: wrote %s/lipschitz.h5 (plot: /usr/bin/python3 analysis/plot_lipschitz.py %s)\n", folder, folder));
  }
  PetscCall(MfsaOutputDestroy(&out));
  PetscCall(MfsaLipschitzDestroy(&lip));
  PetscCall(AttnModelDestroy(&model));
  PetscCall(PetscFinalize());
  return 0;
}
