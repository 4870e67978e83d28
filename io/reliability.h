/* io-internal helpers that keep a run from destroying earlier results: the run lock of the
 * output folder (run_lock.c), the deferred -out_overwrite of a restart (output_dir.c) and the
 * handling of a failed write (write_failure.c). Nothing outside io/ includes this. */
#pragma once
#include "output_impl.h"

/* ---- io/run_lock.c: <folder>/mfsa.lock, one run per output folder ----
 * Rank 0 only, no PETSc errors (the caller broadcasts the verdict). Takes the lock for this
 * process; returns 0 or a PETSc error code with a user message: the folder is in use by a live
 * run on this host, or by a run on another host (whose liveness this host cannot check). A
 * stale lock (same host and the holder is gone, or an earlier incarnation of the same Slurm
 * job) is taken over with a warning on stderr. Re-entrant within one process. The lock is
 * released by MfsaRunLockRelease, at PetscFinalize, and on the first PETSc error of this
 * process (so every error exit releases it before PETSc aborts). */
PetscErrorCode MfsaRunLockAcquire(const char *folder, char *msg, size_t len);
/* Rank 0: drops one reference; the last one removes the lock if this process holds it. */
void MfsaRunLockRelease(const char *folder);
/* Rank 0: the lock's content (what MfsaRunLockAdopt needs), or -1 when it does not hold it. */
int MfsaRunLockDescribe(const char *folder, char *text, size_t len);
/* The other ranks: learn the lock rank 0 holds, so that an error on any rank, which ends the
 * whole job, removes it (the error handler is installed on every rank). */
PetscErrorCode MfsaRunLockAdopt(const char *folder, const char *text);

/* ---- io/output_dir.c ----
 * With -restart and -out_overwrite over another run's output (no checkpoint in the folder),
 * SetUp keeps the old files until the restart is validated: MfsaCheckpointRestore calls this
 * once it knows the run goes ahead (a valid checkpoint, or a fresh start), so a refused
 * restart file leaves the folder as it was. Collective; a no-op when nothing is pending. */
PetscErrorCode MfsaOutputFinishOverwrite(MfsaOutput out);

/* ---- io/write_failure.c ----
 * After a failed write of `tmp` (any rank, no PETSc errors): removes the temporary file and
 * describes the likely cause in `cause`: the file-size limit (ulimit -f) reached, the file
 * system full, or `fallback` (e.g. HDF5's message). */
void MfsaWriteFailureCause(const char *folder, const char *tmp, const char *fallback, char *cause, size_t len);
/* Runs write(out, tmp, ctx), which writes `tmp` collectively, with PETSc errors returned
 * instead of raised. On a local failure this rank removes `tmp` and fails alone (on
 * PETSC_COMM_SELF, which ends the job) with a message naming `what`, the cause and what is
 * intact: a rank cannot wait for the others, which may be blocked in a collective MPI-IO call
 * that the failed rank never joins. */
PetscErrorCode MfsaCollectiveWrite(MfsaOutput out, const char *what, const char *tmp, PetscErrorCode (*write)(MfsaOutput, const char *, const void *), const void *ctx);

/* Call before MPI_Init (PetscInitialize): unless the user set it, OMPI_MCA_sharedfp=^sm,lockedfile.
 * Open MPI 4.1's OMPIO shared-file-pointer component `sm` keeps a named POSIX semaphore
 * "OMPIO_<file name>" per open file; a writer killed inside it (kill -9, a node failure, a
 * Slurm time limit) leaves that semaphore at 0, and the next job that opens a file of the same
 * name (a restarted run rewriting snap_NNNNNN.h5.tmp) blocks until it is signalled. mfsa uses no
 * shared file pointers, so neither that component nor `lockedfile` (lock files left the same
 * way) is needed. No effect with other MPI libraries. */
void MfsaSetMpiIoDefaults(void);
