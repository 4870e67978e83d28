/* Rank-0 file writes through a temporary name (see rank0_file.h). */
#define _POSIX_C_SOURCE 200809L
#include "rank0_file.h"
#include "h5_util.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

PetscErrorCode MfsaOutputWriteRank0File(MfsaOutput out, const char *name, PetscErrorCode (*write)(const char *tmp, void *ctx), void *ctx)
{
  PetscMPIInt    rank;
  PetscErrorCode code = 0;
  char           fname[PETSC_MAX_PATH_LEN], tmp[PETSC_MAX_PATH_LEN], tmpname[64], msg[2 * PETSC_MAX_PATH_LEN] = "";

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  PetscCheck(MfsaFormat(tmpname, sizeof(tmpname), "%s.tmp", name) < (int)sizeof(tmpname), out->comm, PETSC_ERR_ARG_SIZ, "file name %s too long", name);
  PetscCall(MfsaPathJoin(out->comm, out->folder, name, fname, sizeof(fname)));
  PetscCall(MfsaPathJoin(out->comm, out->folder, tmpname, tmp, sizeof(tmp)));
  if (rank == 0) {
    /* Push a failure into the broadcast instead of returning alone, which would leave the
     * other ranks waiting in the broadcast below. */
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
    code = write(tmp, ctx);
    PetscPopErrorHandler();
    if (code) {
      const char *text;
      char       *specific = NULL;
      PetscErrorMessage(code, &text, &specific);
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot write %s: %s", out->folder, tmp, specific && specific[0] ? specific : (text ? text : "HDF5 error"));
      (void)remove(tmp); /* a half-written temporary helps nobody; the previous file is intact */
    } else if (rename(tmp, fname)) {
      code = PETSC_ERR_FILE_WRITE;
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot rename %s to %s (%s)", out->folder, tmp, fname, strerror(errno));
      (void)remove(tmp);
    }
  }
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, out->comm, code, "%s", msg);
  PetscFunctionReturn(0);
}
