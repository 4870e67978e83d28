/* Files that one process writes for the whole run (diagnostics table, Lipschitz tables):
 * rank 0 writes <folder>/<name>.tmp and renames it, so the file on disk is always complete;
 * the verdict (and the message of a failure) is the same on every rank. */
#pragma once
#include "output_impl.h"

/* write(tmp, ctx) runs on rank 0 only, must use PETSC_COMM_SELF for its errors, and creates
 * the file `tmp`. Collective on the output's communicator. */
PetscErrorCode MfsaOutputWriteRank0File(MfsaOutput out, const char *name, PetscErrorCode (*write)(const char *tmp, void *ctx), void *ctx);
