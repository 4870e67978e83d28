/* The fault report <folder>/fault.h5 of a run stopped by a numerical fault (NaN/Inf, blow-up,
 * negative density, mass drift, step-size collapse): the faulty state for a post-mortem, next
 * to the last good checkpoint and snapshots, which this file never touches. The state is
 * gathered to rank 0, which writes the file serially: a report must not hang on a collective
 * write while the run is already failing, and the failure of this write is only reported. */
#define _POSIX_C_SOURCE 200809L
#include "fault_report.h"
#include "output_impl.h"
#include "reliability.h"
#include "h5_util.h"
#include "provenance.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Rank 0, PETSC_COMM_SELF errors. */
static PetscErrorCode WriteReport(const char *fname, const PetscReal *x, PetscInt N, PetscReal t, PetscInt step, const char *message, const MfsaProvenance *prov, PetscMPIInt ranks)
{
  const MPI_Comm comm    = PETSC_COMM_SELF;
  const hsize_t  dims[1] = {(hsize_t)N};
  hid_t          file, fapl;

  PetscFunctionBegin;
  PetscCall(MfsaH5SerialFapl(comm, fname, &fapl));
  MfsaH5Check(comm, fname, file = H5Fcreate(fname, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  MfsaH5Check(comm, fname, H5Pclose(fapl));
  PetscCall(MfsaH5WriteRows(comm, fname, file, "state", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, 0, dims[0], x, H5P_DEFAULT));
  PetscCall(MfsaH5WriteAttrString(comm, fname, file, "message", message));
  PetscCall(MfsaH5WriteAttrDouble(comm, fname, file, "time", (double)t));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, file, "step", (int64_t)step));
  PetscCall(MfsaH5WriteProvenance(comm, fname, file, file, prov, ranks, PETSC_TRUE, H5P_DEFAULT));
  MfsaH5Check(comm, fname, H5Fclose(file));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaFaultReportWrite(MfsaOutput out, Vec X, PetscReal t, PetscInt step, const char *message, const MfsaProvenance *prov, PetscBool *written, char *why, size_t len)
{
  PetscMPIInt        rank, size;
  PetscErrorCode     code = 0;
  Vec                all;
  VecScatter         toall;
  PetscInt           N;
  const PetscScalar *x;
  char               fname[PETSC_MAX_PATH_LEN], tmp[PETSC_MAX_PATH_LEN], msg[2 * PETSC_MAX_PATH_LEN] = "";

  PetscFunctionBegin;
  *written = PETSC_FALSE;
  why[0]   = 0;
  MfsaH5Silence();
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  PetscCallMPI(MPI_Comm_size(out->comm, &size));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "fault.h5", fname, sizeof(fname)));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "fault.h5.tmp", tmp, sizeof(tmp)));
  PetscCall(VecGetSize(X, &N));
  PetscCall(VecScatterCreateToZero(X, &toall, &all));
  PetscCall(VecScatterBegin(toall, X, all, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(toall, X, all, INSERT_VALUES, SCATTER_FORWARD));
  if (rank == 0) {
    PetscCall(VecGetArrayRead(all, &x));
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
    code = WriteReport(tmp, x, N, t, step, message, prov, size);
    PetscPopErrorHandler();
    PetscCall(VecRestoreArrayRead(all, &x));
    if (code) {
      const char *text;
      char       *specific = NULL, cause[1024];
      PetscErrorMessage(code, &text, &specific);
      MfsaWriteFailureCause(out->folder, tmp, specific && specific[0] ? specific : text, cause, sizeof(cause));
      MfsaFormat(msg, sizeof(msg), "cannot write %s: %s", fname, cause);
    } else if (rename(tmp, fname)) {
      code = PETSC_ERR_FILE_WRITE;
      MfsaFormat(msg, sizeof(msg), "cannot rename %s to %s (%s)", tmp, fname, strerror(errno));
    }
  }
  PetscCall(VecScatterDestroy(&toall));
  PetscCall(VecDestroy(&all));
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  *written = code ? PETSC_FALSE : PETSC_TRUE;
  MfsaFormat(why, len, "%s", code ? msg : fname);
  PetscFunctionReturn(0);
}
