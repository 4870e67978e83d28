/* A write that fails half-way (disk full, file-size limit, I/O error): the temporary file goes,
 * the message says what could not be written, the likely cause in the user's terms, and that
 * everything published before (snapshots, index, checkpoints) is intact. SIGXFSZ is ignored by
 * the driver (solvers/stepper.c), so a file-size limit shows up here as EFBIG instead of
 * killing the process. */
#define _POSIX_C_SOURCE 200809L
#include "reliability.h"
#include "h5_util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

void MfsaWriteFailureCause(const char *folder, const char *tmp, const char *fallback, char *cause, size_t len)
{
  struct rlimit  rl;
  struct stat    st;
  struct statvfs vfs;
  long long      size = -1;

  if (!stat(tmp, &st)) size = (long long)st.st_size;
  (void)unlink(tmp);
  if (!getrlimit(RLIMIT_FSIZE, &rl) && rl.rlim_cur != RLIM_INFINITY) {
    /* the file stopped at the limit (writes are in blocks: allow one block short of it); a rank
     * writing a part further on fails before the file has grown that far */
    if (size >= 0 && (unsigned long long)size + 65536 >= (unsigned long long)rl.rlim_cur) MfsaFormat(cause, len, "the file-size limit of this process (ulimit -f: %llu bytes) was reached at %lld bytes; raise the limit (ulimit -f unlimited)", (unsigned long long)rl.rlim_cur, size);
    else MfsaFormat(cause, len, "%s, most likely the file-size limit of this process (ulimit -f: %llu bytes; the file had %lld bytes); raise the limit (ulimit -f unlimited)", fallback && fallback[0] ? fallback : "a write failed", (unsigned long long)rl.rlim_cur, size);
    return;
  }
  if (!statvfs(folder, &vfs) && (unsigned long long)vfs.f_bavail * vfs.f_frsize < (1ull << 20)) {
    MfsaFormat(cause, len, "the file system of %s is full (%llu bytes free); free some space", folder, (unsigned long long)vfs.f_bavail * vfs.f_frsize);
    return;
  }
  MfsaFormat(cause, len, "%s", fallback && fallback[0] ? fallback : "I/O error");
}

PetscErrorCode MfsaCollectiveWrite(MfsaOutput out, const char *what, const char *tmp, PetscErrorCode (*write)(MfsaOutput, const char *, const void *), const void *ctx)
{
  PetscErrorCode code;

  PetscFunctionBegin;
  PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
  code = write(out, tmp, ctx);
  PetscPopErrorHandler();
  if (code) {
    const char *text;
    char       *specific = NULL, cause[1024];
    PetscMPIInt rank;

    PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
    PetscErrorMessage(code, &text, &specific);
    MfsaWriteFailureCause(out->folder, tmp, specific && specific[0] ? specific : text, cause, sizeof(cause));
    SETERRQ(PETSC_COMM_SELF, PETSC_ERR_FILE_WRITE, "-out %s: cannot write %s (rank %d): %s. The temporary file was removed; the snapshots listed in mfsa.xmf and the checkpoints are intact (once the cause is fixed, -restart auto continues from the last checkpoint)", out->folder, what, (int)rank, cause);
  }
  PetscFunctionReturn(0);
}

void MfsaSetMpiIoDefaults(void)
{
  (void)setenv("OMPI_MCA_sharedfp", "^sm,lockedfile", 0);
}
