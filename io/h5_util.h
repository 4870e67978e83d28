/* Small HDF5 helpers for io/: error checking that names the file, MPI-IO file access,
 * collective transfers, typed attributes, row-block dataset writes, and the
 * "rank 0 decides, everybody fails with the same message" pattern. */
#pragma once
#include <petscsys.h>
#include <hdf5.h>

#if !defined(PETSC_USE_REAL_DOUBLE)
  #error "io/ writes PetscReal arrays as float64 and needs PETSc built with double precision reals"
#endif
#if !defined(H5_HAVE_PARALLEL)
  #error "io/ needs a parallel (MPI) HDF5"
#endif

/* Turns off HDF5's automatic error-stack dump (our messages say what went wrong in user
 * terms). Idempotent and cheap: every public io/ entry point calls it. */
void MfsaH5Silence(void);

/* Copies the most specific message of HDF5's current error stack (e.g. the errno text of a
 * failed open) into buf and clears the stack; "unknown HDF5 error" when the stack is empty. */
void MfsaH5ErrorString(char *buf, size_t len);

/* Evaluates an HDF5 call (herr_t, hid_t or htri_t) and turns a negative result into a PETSc
 * error on `comm` naming the file. `expr` may be an assignment: MfsaH5Check(c, f, id = H5Dopen2(...)). */
#define MfsaH5Check(comm, fname, expr) \
  do { \
    if ((expr) < 0) { \
      char mfsa_h5_msg_[256]; \
      MfsaH5ErrorString(mfsa_h5_msg_, sizeof(mfsa_h5_msg_)); \
      SETERRQ((comm), PETSC_ERR_LIB, "HDF5 error on %s: %s (in %s)", (fname), mfsa_h5_msg_, #expr); \
    } \
  } while (0)

/* Collective on comm: creates (truncates) fname for MPI-IO access. */
PetscErrorCode MfsaH5CreateParallel(MPI_Comm comm, const char *fname, hid_t *file);
/* Collective on comm: opens an existing fname read-only for MPI-IO access. */
PetscErrorCode MfsaH5OpenParallel(MPI_Comm comm, const char *fname, hid_t *file);
/* File access list for one process (sec2 driver) that tolerates file systems without
 * flock (NFS, some Lustre mounts): HDF5 1.10 otherwise fails to open with "unable to lock file". */
PetscErrorCode MfsaH5SerialFapl(MPI_Comm comm, const char *fname, hid_t *fapl);
/* A dataset transfer list: collective MPI-IO when collective is true, else H5P_DEFAULT's copy. */
PetscErrorCode MfsaH5CreateDxpl(MPI_Comm comm, const char *fname, PetscBool collective, hid_t *dxpl);

/* Scalar attributes on an object (file root, group, dataset). All ranks of a parallel
 * file must call them with the same values. Strings are variable-length UTF-8 so that
 * h5py returns str and long strings (the options database) have no size limit. */
PetscErrorCode MfsaH5WriteAttrString(MPI_Comm comm, const char *fname, hid_t loc, const char *name, const char *value);
PetscErrorCode MfsaH5WriteAttrInt(MPI_Comm comm, const char *fname, hid_t loc, const char *name, int value);
PetscErrorCode MfsaH5WriteAttrInt64(MPI_Comm comm, const char *fname, hid_t loc, const char *name, int64_t value);
PetscErrorCode MfsaH5WriteAttrDouble(MPI_Comm comm, const char *fname, hid_t loc, const char *name, double value);

/* Creates dataset `name` under loc with `rank` dims (rank 1..3) and writes rows
 * [lo, lo+nloc) along the first dimension from buf (the other dimensions whole).
 * nloc = 0 is allowed (the process still takes part in a collective transfer).
 * memtype is the type of buf, filetype the type on disk. */
PetscErrorCode MfsaH5WriteRows(MPI_Comm comm, const char *fname, hid_t loc, const char *name, hid_t memtype, hid_t filetype, int rank, const hsize_t dims[], hsize_t lo, hsize_t nloc, const void *buf, hid_t dxpl);

/* "Rank 0 decided" broadcast: rank 0 passes its code (0 = fine) and message; afterwards every
 * rank holds both and should fail with PetscCheck(!code, comm, code, "%s", msg). */
PetscErrorCode MfsaBcastError(MPI_Comm comm, PetscErrorCode *code, char *msg, size_t len);

/* Joins folder and name into path (len PETSC_MAX_PATH_LEN); error if it does not fit. */
PetscErrorCode MfsaPathJoin(MPI_Comm comm, const char *folder, const char *name, char *path, size_t len);

/* Argument check without PETSc's private headers (PetscValidPointer lives in petscimpl.h). */
#define MfsaValidPointer(ptr, arg) PetscCheck((ptr), PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "Null pointer: argument # %d", (int)(arg))

/* snprintf for user messages, where cutting an over-long path is fine: plain snprintf
 * trips gcc's -Wformat-truncation (an error under -Werror) on every path-sized buffer. */
int MfsaFormat(char *buf, size_t len, const char *fmt, ...) PETSC_ATTRIBUTE_FORMAT(3, 4);
