/* The -out folder: create it (mkdir -p), prove it is writable, take its run lock (a second
 * run into the same folder is refused, io/run_lock.c), refuse to mix a new run with an old one
 * unless -out_overwrite, and only then remove the old files (with -restart: only once the
 * restart is validated). Rank 0 alone touches the file system (one answer, no races between
 * ranks) and broadcasts its verdict, so every rank fails together with the same message. */
#define _POSIX_C_SOURCE 200809L
#include "output_impl.h"
#include "h5_util.h"
#include "reliability.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MSG_LEN (2 * PETSC_MAX_PATH_LEN)

static int EndsWith(const char *s, const char *suffix)
{
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* The files an mfsa run writes into its folder, including our own temporaries that a
 * crash can leave behind. Anything else in the folder is the user's and is left alone. */
static int IsMfsaOutput(const char *name)
{
  if (!strncmp(name, "snap_", 5) && (EndsWith(name, ".h5") || EndsWith(name, ".h5.tmp"))) return 1;
  if (EndsWith(name, ".xmf") || !strcmp(name, "mfsa.xmf.tmp")) return 1;
  if (!strcmp(name, "diagnostics.h5") || !strcmp(name, "diagnostics.h5.tmp")) return 1;
  if (!strcmp(name, "fault.h5") || !strcmp(name, "fault.h5.tmp")) return 1; /* report of a numerical fault */
  if (!strcmp(name, "lipschitz.h5") || !strcmp(name, "lipschitz.h5.tmp")) return 1; /* mfsa-lipschitz */
  if (!strncmp(name, "checkpoint", 10) && (EndsWith(name, ".h5") || EndsWith(name, ".h5.tmp"))) return 1;
  return 0;
}

/* mkdir -p. Returns 0 or an errno, with the component that failed in failed. */
static int MakePath(const char *folder, char *failed, size_t len)
{
  char        path[PETSC_MAX_PATH_LEN];
  struct stat st;

  MfsaFormat(path, sizeof(path), "%s", folder);
  for (char *p = path + 1;; p++) {
    const int last = (*p == 0);
    if (*p != '/' && !last) continue;
    *p = 0;
    if (mkdir(path, 0777) && errno != EEXIST) {
      const int e = errno;
      MfsaFormat(failed, len, "%s", path);
      return e;
    }
    if (stat(path, &st) || !S_ISDIR(st.st_mode)) {
      MfsaFormat(failed, len, "%s", path);
      return ENOTDIR;
    }
    if (last) return 0;
    *p = '/';
  }
}

/* Removes the old run's files (every check has passed). */
static PetscErrorCode RemoveOldOutput(const char *folder, char *msg, size_t len)
{
  char           path[PETSC_MAX_PATH_LEN];
  DIR           *dir;
  struct dirent *ent;

  if (!(dir = opendir(folder))) {
    MfsaFormat(msg, len, "-out %s: cannot list the folder (%s)", folder, strerror(errno));
    return PETSC_ERR_FILE_READ;
  }
  while ((ent = readdir(dir))) {
    if (!IsMfsaOutput(ent->d_name)) continue;
    MfsaFormat(path, sizeof(path), "%s/%s", folder, ent->d_name);
    if (unlink(path)) {
      MfsaFormat(msg, len, "-out_overwrite: cannot remove old output %s (%s)", path, strerror(errno));
      closedir(dir);
      return PETSC_ERR_FILE_WRITE;
    }
  }
  closedir(dir);
  return 0;
}

/* What the folder holds decides: go ahead (0), remove the old output now, or later (*defer:
 * a restart with -out_overwrite over another run's output removes it only once the restart
 * is validated), or refuse. */
static PetscErrorCode CheckContents(const char *folder, PetscBool overwrite, PetscBool restart, PetscBool *defer, char *msg, size_t len);

/* Everything rank 0 checks and does, without PETSc errors: returns the error code for all
 * ranks and fills msg. The lock is taken once the folder exists and before anything in it is
 * read or removed, and dropped again when the run is refused. */
static PetscErrorCode CheckAndPrepare(const char *folder, PetscBool overwrite, PetscBool restart, PetscBool *defer, char *msg, size_t len)
{
  char           failed[PETSC_MAX_PATH_LEN], path[PETSC_MAX_PATH_LEN];
  struct stat    st;
  int            e, fd;
  PetscErrorCode code;

  if (!stat(folder, &st) && !S_ISDIR(st.st_mode)) {
    MfsaFormat(msg, len, "-out %s exists and is not a folder; choose another -out", folder);
    return PETSC_ERR_FILE_OPEN;
  }
  if ((e = MakePath(folder, failed, sizeof(failed)))) {
    if (e == ENOTDIR) MfsaFormat(msg, len, "-out %s: cannot create the folder because %s is not a folder; choose another -out", folder, failed);
    else MfsaFormat(msg, len, "-out %s: cannot create folder %s (%s); choose another -out or fix the permissions", folder, failed, strerror(e));
    return PETSC_ERR_FILE_OPEN;
  }
  /* access(W_OK) answers for the caller's uid only and ignores read-only mounts and ACL
   * quirks; creating a file is the only test that tells the truth. */
  MfsaFormat(path, sizeof(path), "%s/.mfsa_write_probe.%ld", folder, (long)getpid());
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0) {
    MfsaFormat(msg, len, "-out %s is not writable (%s); choose another -out or fix the permissions", folder, strerror(errno));
    return PETSC_ERR_FILE_WRITE;
  }
  close(fd);
  if (unlink(path)) {
    MfsaFormat(msg, len, "-out %s: cannot remove the probe file %s (%s)", folder, path, strerror(errno));
    return PETSC_ERR_FILE_WRITE;
  }
  if ((code = MfsaRunLockAcquire(folder, msg, len))) return code;
  if ((code = CheckContents(folder, overwrite, restart, defer, msg, len))) MfsaRunLockRelease(folder);
  return code;
}

static PetscErrorCode CheckContents(const char *folder, PetscBool overwrite, PetscBool restart, PetscBool *defer, char *msg, size_t len)
{
  char           first[PETSC_MAX_PATH_LEN] = "";
  DIR           *dir;
  struct dirent *ent;
  long           count = 0;

  *defer = PETSC_FALSE;
  if (!(dir = opendir(folder))) {
    MfsaFormat(msg, len, "-out %s: cannot list the folder (%s); choose another -out or fix the permissions", folder, strerror(errno));
    return PETSC_ERR_FILE_READ;
  }
  int has_checkpoint = 0, finished_files = 0;
  while ((ent = readdir(dir))) {
    if (!IsMfsaOutput(ent->d_name)) continue;
    if (!strcmp(ent->d_name, "checkpoint.h5") || !strcmp(ent->d_name, "checkpoint.prev.h5")) has_checkpoint = 1;
    if (!EndsWith(ent->d_name, ".tmp")) finished_files++;
    if (!count++) MfsaFormat(first, sizeof(first), "%s", ent->d_name);
  }
  closedir(dir);
  /* a restart continues this run's own files (io/checkpoint.c prunes what follows the
   * checkpoint). A restartable run checkpoints before it writes anything else, so output
   * without any checkpoint is another run's and stays protected; only temporaries of a start
   * killed during its first write are ours. */
  if (restart && (has_checkpoint || !finished_files)) return 0;
  if (restart && !overwrite) {
    MfsaFormat(msg, len, "-restart: -out %s holds mfsa output (%s) but no checkpoint to continue from; pass -out_overwrite to start afresh there or choose another -out", folder, first);
    return PETSC_ERR_FILE_UNEXPECTED;
  }
  if (count && !overwrite) {
    MfsaFormat(msg, len, "-out %s already holds mfsa output (%s%s); pass -out_overwrite to replace it or choose another -out", folder, first, count > 1 ? " and more" : "");
    return PETSC_ERR_FILE_UNEXPECTED;
  }
  if (!count) return 0;
  if (restart) { /* the restart file is validated later: a refused one must find the folder intact */
    *defer = PETSC_TRUE;
    return 0;
  }
  /* All checks passed: only now may the old run's files go. */
  return RemoveOldOutput(folder, msg, len);
}

/* The output object whose old files wait for MfsaOutputFinishOverwrite (one per process: a
 * run has one output folder). */
static MfsaOutput pending_overwrite = NULL;

PetscErrorCode MfsaOutputSetUp(MfsaOutput out)
{
  PetscMPIInt    rank;
  PetscErrorCode code = 0;
  char           msg[MSG_LEN] = "";
  PetscBool      defer = PETSC_FALSE;

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  if (rank == 0) code = CheckAndPrepare(out->folder, out->overwrite, out->restart, &defer, msg, sizeof(msg));
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, out->comm, code, "%s", msg);
  PetscCallMPI(MPI_Bcast(&defer, 1, MPIU_BOOL, 0, out->comm));
  pending_overwrite = defer ? out : NULL;
  { /* every rank knows the lock: whichever rank fails first ends the job and removes it */
    char lock[1024] = "";
    if (rank == 0) (void)MfsaRunLockDescribe(out->folder, lock, sizeof(lock));
    PetscCallMPI(MPI_Bcast(lock, sizeof(lock), MPI_CHAR, 0, out->comm));
    if (rank != 0 && lock[0]) PetscCall(MfsaRunLockAdopt(out->folder, lock));
  }
  /* A second SetUp starts a fresh index and table: the old files are gone. */
  out->kind        = MFSA_SNAPSHOT_NONE;
  out->nsnap       = 0;
  out->nsnap_files = 0;
  PetscCall(MfsaOutputResetDiagnostics(out));
  out->setup = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputSetRestart(MfsaOutput out, PetscBool restart)
{
  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  out->restart = restart;
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputFinishOverwrite(MfsaOutput out)
{
  PetscMPIInt    rank;
  PetscErrorCode code = 0;
  char           msg[MSG_LEN] = "";

  PetscFunctionBegin;
  if (pending_overwrite != out) PetscFunctionReturn(0);
  pending_overwrite = NULL;
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  if (rank == 0) code = RemoveOldOutput(out->folder, msg, sizeof(msg));
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, out->comm, code, "%s", msg);
  PetscFunctionReturn(0);
}
