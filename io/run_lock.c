/* The run lock <folder>/mfsa.lock: two runs writing into one folder would interleave their
 * snapshots, index and checkpoints, so the second one is refused. The file names its holder
 * (host, pid, start time, plus what tells a live process from a reused pid); it appears
 * atomically (written under a private name, then hard-linked into place, so a reader never
 * sees half of it) and is removed by the holder on every exit PETSc lets it see: normal end,
 * exit code 3 after a checkpoint (PetscFinalize hook) and errors (an error handler that runs
 * before PETSc's traceback, which ends in MPI_Abort). A holder killed outright (kill -9, node
 * crash) leaves the file behind: on the same host a dead holder is detected and the lock taken
 * over with a warning; across hosts liveness cannot be checked from here, so the run is
 * refused with the holder's host named (remove the file once that run is known to be gone).
 * A requeued Slurm job (same job id, higher restart count) takes over its own earlier lock.
 * Rank 0 alone calls these functions; they return PETSc error codes and messages without
 * raising, so that the caller can fail collectively. */
#define _POSIX_C_SOURCE 200809L
#include "reliability.h"
#include "h5_util.h"
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOCK_NAME   "mfsa.lock"
#define MAX_HELD    8
#define FIELD_LEN   256
#define STALE_EMPTY 60.0 /* seconds after which an unreadable lock file counts as abandoned */

typedef struct {
  char      host[FIELD_LEN];
  long long pid;
  char      started[64];       /* UTC, ISO 8601 */
  long long proc_start;        /* start time of pid in clock ticks since boot (Linux), -1 unknown */
  char      boot_id[64];       /* Linux boot id: a pid of another boot is another process */
  char      slurm_job[64];     /* SLURM_JOB_ID or "" */
  long long slurm_restart;     /* SLURM_RESTART_COUNT (0 when unset) */
} Holder;

typedef struct {
  char      path[PETSC_MAX_PATH_LEN];
  int       refs;
  PetscBool creator; /* rank 0, which took it; the other ranks adopted it (MfsaRunLockAdopt) */
  Holder    me;
} HeldLock;

static HeldLock  held[MAX_HELD];
static PetscBool hooks_installed = PETSC_FALSE, handler_pushed = PETSC_FALSE;

static void ReadSmallFile(const char *path, char *buf, size_t len)
{
  FILE *fp = fopen(path, "r");
  buf[0]   = 0;
  if (!fp) return;
  if (!fgets(buf, (int)len, fp)) buf[0] = 0;
  fclose(fp);
  buf[strcspn(buf, "\n")] = 0;
}

/* Field 22 of /proc/<pid>/stat (after the parenthesised command, which may hold spaces): the
 * start time in clock ticks since boot; -1 when unknown. *state gets field 3 (R, S, D, Z, ...). */
static long long ProcStartTicks(long long pid, char *state)
{
  char      path[64], buf[1024];
  FILE     *fp;
  long long v = -1;
  char     *p;
  size_t    n;

  if (state) *state = '?';
  snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
  if (!(fp = fopen(path, "r"))) return -1;
  n      = fread(buf, 1, sizeof(buf) - 1, fp);
  buf[n] = 0;
  fclose(fp);
  if (!(p = strrchr(buf, ')'))) return -1;
  p++;
  for (int field = 3; field <= 22 && p; field++) { /* p points before field `field` */
    while (*p == ' ') p++;
    if (field == 3 && state) *state = *p;
    if (field == 22) v = strtoll(p, NULL, 10);
    p = strchr(p, ' ');
  }
  return v;
}

static void WhoAmI(Holder *h)
{
  time_t     now = time(NULL);
  struct tm  tm;
  const char *job = getenv("SLURM_JOB_ID"), *restart = getenv("SLURM_RESTART_COUNT");

  memset(h, 0, sizeof(*h));
  if (gethostname(h->host, sizeof(h->host) - 1)) snprintf(h->host, sizeof(h->host), "unknown-host");
  h->pid        = (long long)getpid();
  h->proc_start = ProcStartTicks(h->pid, NULL);
  gmtime_r(&now, &tm);
  strftime(h->started, sizeof(h->started), "%Y-%m-%dT%H:%M:%SZ", &tm);
  ReadSmallFile("/proc/sys/kernel/random/boot_id", h->boot_id, sizeof(h->boot_id));
  snprintf(h->slurm_job, sizeof(h->slurm_job), "%s", job ? job : "");
  h->slurm_restart = restart ? strtoll(restart, NULL, 10) : 0;
}

static int FormatHolder(const Holder *h, char *buf, size_t len)
{
  return snprintf(buf, len,
                  "# mfsa run lock: the run below writes to this folder. Remove this file only if that run is gone.\n"
                  "host=%s\npid=%lld\nstarted=%s\nproc_start=%lld\nboot_id=%s\nslurm_job=%s\nslurm_restart=%lld\n",
                  h->host, h->pid, h->started, h->proc_start, h->boot_id, h->slurm_job, h->slurm_restart);
}

/* 0: parsed; ENOENT: no lock; EINVAL: unreadable content; other errno. */
static int ReadHolder(const char *path, Holder *h, double *age)
{
  char        line[2 * FIELD_LEN];
  FILE       *fp;
  struct stat st;
  int         have = 0;

  memset(h, 0, sizeof(*h));
  h->proc_start = -1;
  if (!(fp = fopen(path, "r"))) return errno;
  if (!fstat(fileno(fp), &st)) *age = difftime(time(NULL), st.st_mtime);
  while (fgets(line, sizeof(line), fp)) {
    char *eq = strchr(line, '='), *val;
    if (line[0] == '#' || !eq) continue;
    *eq = 0;
    val = eq + 1;
    val[strcspn(val, "\n")] = 0;
    if (!strcmp(line, "host")) have |= 1, snprintf(h->host, sizeof(h->host), "%s", val);
    else if (!strcmp(line, "pid")) have |= 2, h->pid = strtoll(val, NULL, 10);
    else if (!strcmp(line, "started")) snprintf(h->started, sizeof(h->started), "%s", val);
    else if (!strcmp(line, "proc_start")) h->proc_start = strtoll(val, NULL, 10);
    else if (!strcmp(line, "boot_id")) snprintf(h->boot_id, sizeof(h->boot_id), "%s", val);
    else if (!strcmp(line, "slurm_job")) snprintf(h->slurm_job, sizeof(h->slurm_job), "%s", val);
    else if (!strcmp(line, "slurm_restart")) h->slurm_restart = strtoll(val, NULL, 10);
  }
  fclose(fp);
  return (have == 3 && h->pid > 0) ? 0 : EINVAL;
}

static int SameHolder(const Holder *a, const Holder *b)
{
  return !strcmp(a->host, b->host) && a->pid == b->pid && a->proc_start == b->proc_start && !strcmp(a->boot_id, b->boot_id);
}

/* Is the holder (on this host) still running? A pid that exists but started at another time,
 * or a lock from another boot, belongs to another process; a zombie (killed, not yet reaped by
 * its parent, which kill(pid, 0) still finds) is dead: either way the holder is gone. */
static int HolderAlive(const Holder *h)
{
  char      boot[64], state;
  long long now;
  if (kill((pid_t)h->pid, 0) && errno == ESRCH) return 0;
  ReadSmallFile("/proc/sys/kernel/random/boot_id", boot, sizeof(boot));
  if (h->boot_id[0] && boot[0] && strcmp(h->boot_id, boot)) return 0;
  now = ProcStartTicks(h->pid, &state);
  if (state == 'Z' || state == 'X') return 0;
  if (h->proc_start >= 0 && now >= 0 && now != h->proc_start) return 0;
  return 1;
}

static HeldLock *FindHeld(const char *path)
{
  for (int i = 0; i < MAX_HELD; i++)
    if (held[i].refs > 0 && !strcmp(held[i].path, path)) return &held[i];
  return NULL;
}

static void ReleaseOne(HeldLock *l)
{
  Holder h;
  double age = 0;
  /* only our own lock: never remove one that another run took over meanwhile */
  if (!ReadHolder(l->path, &h, &age) && SameHolder(&h, &l->me)) (void)unlink(l->path);
  l->refs = 0;
}

/* creators_only: at the normal end rank 0 removes the lock after everything is written; on an
 * error any rank may be the one whose failure ends the job (its MPI_Abort kills rank 0 before
 * rank 0 sees anything), so every rank that knows the lock removes it. */
static void ReleaseAll(PetscBool creators_only)
{
  for (int i = 0; i < MAX_HELD; i++)
    if (held[i].refs > 0 && (held[i].creator || !creators_only)) ReleaseOne(&held[i]);
}

static PetscErrorCode FinalizeHook(void)
{
  ReleaseAll(PETSC_TRUE);
  if (handler_pushed) {
    handler_pushed = PETSC_FALSE;
    PetscCall(PetscPopErrorHandler());
  }
  hooks_installed = PETSC_FALSE;
  return 0;
}

/* PETSc calls the error handler at the first error and at every level it passes on the way up
 * to main(), where the traceback handler calls MPI_Abort: atexit handlers never run. An error
 * that reaches this handler ends the run (mfsa recovers from none; code that expects errors
 * pushes its own handler on top), so the lock goes first. */
static PetscErrorCode LockErrorHandler(MPI_Comm comm, int line, const char *fun, const char *file, PetscErrorCode n, PetscErrorType p, const char *mess, void *ctx)
{
  ReleaseAll(PETSC_FALSE);
  return PetscTraceBackErrorHandler(comm, line, fun, file, n, p, mess, ctx);
}

static PetscErrorCode InstallHooks(void)
{
  PetscBool other = PETSC_FALSE, set;
  const char *const custom[] = {"-on_error_abort", "-on_error_attach_debugger", "-on_error_emacs", "-on_error_mpiabort", "-on_error_start_in_debugger", NULL};

  PetscFunctionBegin;
  if (hooks_installed) PetscFunctionReturn(0);
  PetscCall(PetscRegisterFinalize(FinalizeHook));
  /* a user-chosen error handler stays in charge; the lock then goes stale on errors */
  for (int k = 0; custom[k]; k++) {
    PetscCall(PetscOptionsHasName(NULL, NULL, custom[k], &set));
    other = (PetscBool)(other || set);
  }
  if (!other) {
    PetscCall(PetscPushErrorHandler(LockErrorHandler, NULL));
    handler_pushed = PETSC_TRUE;
  }
  hooks_installed = PETSC_TRUE;
  PetscFunctionReturn(0);
}

/* Writes the holder under a private name and hard-links it to `path`: the lock appears with
 * its whole content or not at all. 0, EEXIST (held), or another errno. Falls back to
 * O_CREAT|O_EXCL where hard links are not supported. */
static int CreateLock(const char *folder, const char *path, const Holder *me)
{
  char text[1024], priv[PETSC_MAX_PATH_LEN + 128];
  int  fd, e = 0, n = FormatHolder(me, text, sizeof(text));

  MfsaFormat(priv, sizeof(priv), "%s/.%s.%s.%lld", folder, LOCK_NAME, me->host, me->pid);
  if ((fd = open(priv, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) return errno;
  if (write(fd, text, (size_t)n) != n || fsync(fd)) e = errno ? errno : EIO;
  close(fd);
  if (!e && link(priv, path)) e = errno;
  (void)unlink(priv);
  if (e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == EXDEV) { /* no hard links here */
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0) return errno;
    e = (write(fd, text, (size_t)n) != n || fsync(fd)) ? (errno ? errno : EIO) : 0;
    close(fd);
    if (e) (void)unlink(path);
  }
  return e;
}

/* Removes a stale lock, unless it changed since it was judged stale (another run took it over
 * meanwhile): rename it aside first (atomic), compare, and put a changed one back. */
static int RemoveStale(const char *folder, const char *path, const Holder *stale, const Holder *me)
{
  char   aside[PETSC_MAX_PATH_LEN + 128];
  Holder h;
  double age = 0;

  MfsaFormat(aside, sizeof(aside), "%s/.%s.stale.%s.%lld", folder, LOCK_NAME, me->host, me->pid);
  if (rename(path, aside)) return errno == ENOENT ? 0 : errno;
  if (!ReadHolder(aside, &h, &age) && !SameHolder(&h, stale)) {
    if (link(aside, path)) { /* not ours to remove; fails harmlessly if yet another appeared */ }
    (void)unlink(aside);
    return EAGAIN;
  }
  (void)unlink(aside);
  return 0;
}

static HeldLock *Register(const char *path, const Holder *me, PetscBool creator)
{
  for (int i = 0; i < MAX_HELD; i++)
    if (held[i].refs == 0) {
      MfsaFormat(held[i].path, sizeof(held[i].path), "%s", path);
      held[i].refs    = 1;
      held[i].creator = creator;
      held[i].me      = *me;
      return &held[i];
    }
  return NULL;
}

PetscErrorCode MfsaRunLockAcquire(const char *folder, char *msg, size_t len)
{
  char      path[PETSC_MAX_PATH_LEN + 32];
  Holder    me, h;
  HeldLock *l;

  MfsaFormat(path, sizeof(path), "%s/%s", folder, LOCK_NAME);
  if ((l = FindHeld(path))) { /* this process already holds it (a second output object) */
    l->refs++;
    return 0;
  }
  WhoAmI(&me);
  for (int attempt = 0; attempt < 8; attempt++) {
    double age = 0;
    int    e   = CreateLock(folder, path, &me), r;

    if (!e) {
      (void)Register(path, &me, PETSC_TRUE);
      if (InstallHooks()) {
        MfsaFormat(msg, len, "-out %s: cannot install the handlers that release the lock %s", folder, path);
        (void)unlink(path);
        return PETSC_ERR_SYS;
      }
      return 0;
    }
    if (e != EEXIST) {
      MfsaFormat(msg, len, "-out %s: cannot create the lock file %s (%s); choose another -out or fix the permissions", folder, path, strerror(e));
      return PETSC_ERR_FILE_WRITE;
    }
    r = ReadHolder(path, &h, &age);
    if (r == ENOENT) continue; /* released meanwhile: try again */
    if (r) {
      if (r == EINVAL && age > STALE_EMPTY) { /* a lock of an old format or a damaged file */
        fprintf(stderr, "mfsa: warning: -out %s: the lock file %s is unreadable and %.0f s old; taking it over\n", folder, path, age);
        (void)unlink(path);
        continue;
      }
      MfsaFormat(msg, len, "-out %s is locked by another mfsa run (lock file %s, unreadable: %s); if no other run uses this folder, remove the lock file", folder, path, r == EINVAL ? "being written or damaged" : strerror(r));
      return PETSC_ERR_FILE_UNEXPECTED;
    }
    {
      const int same_host = !strcmp(h.host, me.host);
      const int requeued  = me.slurm_job[0] && !strcmp(h.slurm_job, me.slurm_job) && h.slurm_restart < me.slurm_restart;
      if ((same_host && !HolderAlive(&h)) || requeued) {
        fprintf(stderr, "mfsa: warning: -out %s: taking over the lock of a run that is gone (host %s, pid %lld, started %s%s%s): it crashed or was killed\n", folder, h.host, h.pid, h.started,
                requeued ? "; an earlier incarnation of Slurm job " : "", requeued ? h.slurm_job : "");
        if ((e = RemoveStale(folder, path, &h, &me)) && e != EAGAIN) {
          MfsaFormat(msg, len, "-out %s: cannot remove the stale lock file %s (%s)", folder, path, strerror(e));
          return PETSC_ERR_FILE_WRITE;
        }
        continue;
      }
      if (same_host) MfsaFormat(msg, len, "-out %s is in use by another mfsa run: host %s, pid %lld, started %s (lock file %s). Two runs must not write into one folder: wait until that run ends or choose another -out", folder, h.host, h.pid, h.started, path);
      else
        MfsaFormat(msg, len, "-out %s is in use by an mfsa run on another host: host %s, pid %lld, started %s (lock file %s). This host cannot tell whether that run is still alive: if it is gone (its job ended, its node crashed), remove %s and start again; otherwise choose another -out", folder, h.host, h.pid, h.started, path, path);
      return PETSC_ERR_FILE_UNEXPECTED;
    }
  }
  MfsaFormat(msg, len, "-out %s: the lock file %s keeps changing (several runs starting in this folder at once?); choose another -out", folder, path);
  return PETSC_ERR_FILE_UNEXPECTED;
}

void MfsaRunLockRelease(const char *folder)
{
  char      path[PETSC_MAX_PATH_LEN + 32];
  HeldLock *l;

  MfsaFormat(path, sizeof(path), "%s/%s", folder, LOCK_NAME);
  if (!(l = FindHeld(path))) return;
  if (--l->refs == 0) {
    l->refs = 1;
    ReleaseOne(l);
  }
}

int MfsaRunLockDescribe(const char *folder, char *text, size_t len)
{
  char      path[PETSC_MAX_PATH_LEN + 32];
  HeldLock *l;

  MfsaFormat(path, sizeof(path), "%s/%s", folder, LOCK_NAME);
  if (!(l = FindHeld(path)) || !l->creator) return -1;
  return FormatHolder(&l->me, text, len);
}

PetscErrorCode MfsaRunLockAdopt(const char *folder, const char *text)
{
  char      path[PETSC_MAX_PATH_LEN + 32], line[2 * FIELD_LEN];
  Holder    h;
  HeldLock *l;
  size_t    at = 0;

  PetscFunctionBegin;
  MfsaFormat(path, sizeof(path), "%s/%s", folder, LOCK_NAME);
  if ((l = FindHeld(path))) {
    l->refs++;
    PetscFunctionReturn(0);
  }
  memset(&h, 0, sizeof(h));
  h.proc_start = -1;
  while (text[at]) { /* the same key=value lines ReadHolder parses from the file */
    size_t n = strcspn(text + at, "\n");
    char  *eq;
    MfsaFormat(line, sizeof(line), "%.*s", (int)n, text + at);
    at += n + (text[at + n] ? 1 : 0);
    if (line[0] == '#' || !(eq = strchr(line, '='))) continue;
    *eq = 0;
    if (!strcmp(line, "host")) MfsaFormat(h.host, sizeof(h.host), "%s", eq + 1);
    else if (!strcmp(line, "pid")) h.pid = strtoll(eq + 1, NULL, 10);
    else if (!strcmp(line, "started")) MfsaFormat(h.started, sizeof(h.started), "%s", eq + 1);
    else if (!strcmp(line, "proc_start")) h.proc_start = strtoll(eq + 1, NULL, 10);
    else if (!strcmp(line, "boot_id")) MfsaFormat(h.boot_id, sizeof(h.boot_id), "%s", eq + 1);
  }
  PetscCheck(Register(path, &h, PETSC_FALSE), PETSC_COMM_SELF, PETSC_ERR_MEM, "more than %d output folders locked by one process", MAX_HELD);
  PetscCall(InstallHooks());
  PetscFunctionReturn(0);
}
