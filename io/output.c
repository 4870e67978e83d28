/* MfsaOutput lifecycle and options (-out, -out_dt, -out_overwrite). The folder itself is
 * handled in output_dir.c, the files in snapshot.c, grid_snapshot.c, xdmf.c and diagnostics_table.c. */
#include "output_impl.h"
#include "h5_util.h"
#include <string.h>

PetscErrorCode MfsaOutputCreate(MPI_Comm comm, MfsaOutput *out)
{
  MfsaOutput o;

  PetscFunctionBegin;
  MfsaValidPointer(out, 2);
  PetscCall(PetscNew(&o));
  PetscCall(PetscCommDuplicate(comm, &o->comm, NULL));
  PetscCall(PetscStrncpy(o->folder, "mfsa_out", sizeof(o->folder)));
  o->out_dt    = 0;
  o->overwrite = PETSC_FALSE;
  *out         = o;
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputSetFromOptions(MfsaOutput out)
{
  size_t len;

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  PetscOptionsBegin(out->comm, NULL, "Output (HDF5 snapshots, XDMF index, diagnostics)", "MfsaOutput");
  PetscCall(PetscOptionsString("-out", "Output folder (created if missing; must not already hold mfsa output unless -out_overwrite)", "MfsaOutputSetFromOptions", out->folder, out->folder, sizeof(out->folder), NULL));
  PetscCall(PetscOptionsReal("-out_dt", "Model-time interval between snapshots; 0 = only the first and the last state", "MfsaOutputSetFromOptions", out->out_dt, &out->out_dt, NULL));
  PetscCall(PetscOptionsBool("-out_overwrite", "Replace existing mfsa output (snap_*.h5, *.xmf, diagnostics.h5) in the -out folder", "MfsaOutputSetFromOptions", out->overwrite, &out->overwrite, NULL));
  PetscOptionsEnd();

  PetscCheck(!PetscIsInfOrNanReal(out->out_dt), out->comm, PETSC_ERR_USER_INPUT, "-out_dt must be a finite number > 0 (got %g); leave it out to write only the first and last state", (double)out->out_dt);
  PetscCheck(out->out_dt >= 0, out->comm, PETSC_ERR_USER_INPUT, "-out_dt must be > 0 (got %g); leave it out to write only the first and last state", (double)out->out_dt);
  PetscCall(PetscStrlen(out->folder, &len));
  PetscCheck(len > 0, out->comm, PETSC_ERR_USER_INPUT, "-out needs a folder name (got an empty string)");
  /* Trailing slashes would give "dir//snap_000000.h5" in messages; "/" alone stays "/". */
  while (len > 1 && out->folder[len - 1] == '/') out->folder[--len] = 0;
  PetscCheck(len + MFSA_OUTPUT_NAME_MAX < sizeof(out->folder), out->comm, PETSC_ERR_USER_INPUT, "-out folder name is too long (%zu characters, at most %zu); choose a shorter -out", len, sizeof(out->folder) - MFSA_OUTPUT_NAME_MAX - 1);
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputGetInterval(MfsaOutput out, PetscReal *out_dt)
{
  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  MfsaValidPointer(out_dt, 2);
  *out_dt = out->out_dt;
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputGetFolder(MfsaOutput out, const char **folder)
{
  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  MfsaValidPointer(folder, 2);
  *folder = out->folder;
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputDestroy(MfsaOutput *out)
{
  PetscFunctionBegin;
  if (!out || !*out) PetscFunctionReturn(0);
  PetscCall(PetscFree((*out)->snaps));
  PetscCall(MfsaOutputResetDiagnostics(*out));
  PetscCall(PetscCommDestroy(&(*out)->comm));
  PetscCall(PetscFree(*out));
  PetscFunctionReturn(0);
}
