/* The diagnostics time series <folder>/diagnostics.h5: one 1-D dataset per column of
 * MfsaDiagnosticsRow. Rank 0 keeps every row and rewrites the whole file (tmp + rename)
 * at each append, so the file on disk is always complete and readable mid-run. */
#define _POSIX_C_SOURCE 200809L
#include "output_impl.h"
#include "h5_util.h"
#include "provenance.h"
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The float64 columns, named exactly like the struct fields ("step" is int64, apart). */
static const struct {
  const char *name;
  size_t      offset;
} RealColumns[] = {
  {"time",               offsetof(MfsaDiagnosticsRow, time)              },
  {"dt",                 offsetof(MfsaDiagnosticsRow, dt)                },
  {"energy",             offsetof(MfsaDiagnosticsRow, energy)            },
  {"log_energy",         offsetof(MfsaDiagnosticsRow, log_energy)        },
  {"order_parameter",    offsetof(MfsaDiagnosticsRow, order_parameter)   },
  {"clustered_fraction", offsetof(MfsaDiagnosticsRow, clustered_fraction)},
  {"logz_min",           offsetof(MfsaDiagnosticsRow, logz_min)          },
  {"logz_max",           offsetof(MfsaDiagnosticsRow, logz_max)          },
  {"norm_drift",         offsetof(MfsaDiagnosticsRow, norm_drift)        },
  {"wall",               offsetof(MfsaDiagnosticsRow, wall)              },
};

/* Rank 0 only, serial HDF5 on one process: errors are reported on PETSC_COMM_SELF and
 * turned into a collective verdict by the caller. */
static PetscErrorCode WriteTable(MfsaOutput out, const char *fname, const MfsaProvenance *prov, PetscMPIInt ranks)
{
  const MPI_Comm comm = PETSC_COMM_SELF;
  const hsize_t  dims[1] = {(hsize_t)out->nrows};
  hid_t          file, fapl;
  PetscReal     *col;
  int64_t       *step;

  PetscFunctionBegin;
  PetscCall(MfsaH5SerialFapl(comm, fname, &fapl));
  MfsaH5Check(comm, fname, file = H5Fcreate(fname, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  MfsaH5Check(comm, fname, H5Pclose(fapl));
  PetscCall(MfsaH5WriteProvenance(comm, fname, file, file, prov, ranks, PETSC_TRUE, H5P_DEFAULT));
  PetscCall(PetscMalloc2(out->nrows, &col, out->nrows, &step));
  for (size_t c = 0; c < sizeof(RealColumns) / sizeof(RealColumns[0]); c++) {
    for (PetscInt r = 0; r < out->nrows; r++) col[r] = *(const PetscReal *)((const char *)&out->rows[r] + RealColumns[c].offset);
    PetscCall(MfsaH5WriteRows(comm, fname, file, RealColumns[c].name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, 0, dims[0], col, H5P_DEFAULT));
  }
  for (PetscInt r = 0; r < out->nrows; r++) step[r] = (int64_t)out->rows[r].step;
  PetscCall(MfsaH5WriteRows(comm, fname, file, "step", H5T_NATIVE_INT64, H5T_STD_I64LE, 1, dims, 0, dims[0], step, H5P_DEFAULT));
  PetscCall(PetscFree2(col, step));
  MfsaH5Check(comm, fname, H5Fclose(file));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputAppendDiagnostics(MfsaOutput out, const MfsaDiagnosticsRow *row, const MfsaProvenance *prov)
{
  PetscMPIInt    rank, size;
  PetscErrorCode code = 0;
  char           fname[PETSC_MAX_PATH_LEN], tmp[PETSC_MAX_PATH_LEN], msg[2 * PETSC_MAX_PATH_LEN] = "";

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  MfsaValidPointer(row, 2);
  MfsaValidPointer(prov, 3);
  PetscCheck(out->setup, out->comm, PETSC_ERR_ORDER, "call MfsaOutputSetUp() before MfsaOutputAppendDiagnostics()");
  MfsaH5Silence();
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  PetscCallMPI(MPI_Comm_size(out->comm, &size));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "diagnostics.h5", fname, sizeof(fname)));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "diagnostics.h5.tmp", tmp, sizeof(tmp)));
  if (rank == 0) {
    /* A row at the same time as the last one (the final state on an output time) replaces
     * it: a time series with a repeated abscissa breaks plots and interpolation. */
    if (!(out->nrows > 0 && out->rows[out->nrows - 1].time == row->time)) {
      if (out->nrows == out->maxrows) {
        MfsaDiagnosticsRow *grown;
        out->maxrows = PetscMax(64, 2 * out->maxrows);
        PetscCall(PetscMalloc1(out->maxrows, &grown));
        if (out->nrows) PetscCall(PetscArraycpy(grown, out->rows, out->nrows));
        PetscCall(PetscFree(out->rows));
        out->rows = grown;
      }
      out->nrows++;
    }
    out->rows[out->nrows - 1] = *row;

    /* Push an HDF5 failure into the broadcast instead of returning alone, which would
     * leave the other ranks waiting in the broadcast below. */
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
    code = WriteTable(out, tmp, prov, size);
    PetscPopErrorHandler();
    if (code) {
      const char *text;
      char       *specific = NULL;
      PetscErrorMessage(code, &text, &specific);
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot write %s: %s", out->folder, tmp, specific && specific[0] ? specific : (text ? text : "HDF5 error"));
    } else if (rename(tmp, fname)) {
      code = PETSC_ERR_FILE_WRITE;
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot rename %s to %s (%s)", out->folder, tmp, fname, strerror(errno));
    }
  }
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, out->comm, code, "%s", msg);
  PetscFunctionReturn(0);
}
