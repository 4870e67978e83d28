/* The diagnostics time series <folder>/diagnostics.h5: one 1-D dataset per named column
 * ("step" as int64, every other column float64). The column set is fixed by the first row of
 * a run. Rank 0 keeps every row and rewrites the whole file (tmp + rename) at each append, so
 * the file on disk is always complete and readable mid-run. The particle row struct is one
 * caller of the generic writer; a PDE solver passes its own columns. */
#define _POSIX_C_SOURCE 200809L
#include "output_impl.h"
#include "h5_util.h"
#include "provenance.h"
#include "rank0_file.h"
#include <string.h>

/* int64 on disk for "step" only: exact, and what analysis code indexes with. */
static PetscBool IsStepColumn(const char *name)
{
  return strcmp(name, "step") == 0 ? PETSC_TRUE : PETSC_FALSE;
}

PetscErrorCode MfsaOutputResetDiagnostics(MfsaOutput out)
{
  PetscFunctionBegin;
  for (PetscInt c = 0; c < out->ncols; c++) PetscCall(PetscFree(out->colnames[c]));
  PetscCall(PetscFree(out->colnames));
  PetscCall(PetscFree(out->rowvalues));
  out->ncols   = 0;
  out->nrows   = 0;
  out->maxrows = 0;
  PetscFunctionReturn(0);
}

/* Every rank checks the same arguments and reaches the same verdict, so these errors are
 * collective without communication. Returns the positions of "time" and "step". */
static PetscErrorCode CheckRow(MfsaOutput out, PetscInt ncols, const char *const names[], const PetscReal values[], PetscInt *itime, PetscInt *istep)
{
  MPI_Comm comm = out->comm;

  PetscFunctionBegin;
  *itime = *istep = -1;
  PetscCheck(ncols >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "MfsaOutputAppendDiagnosticsColumns: ncols = %" PetscInt_FMT "; pass at least the columns \"time\" and \"step\"", ncols);
  for (PetscInt c = 0; c < ncols; c++) {
    PetscCheck(names[c] && names[c][0], comm, PETSC_ERR_ARG_WRONG, "MfsaOutputAppendDiagnosticsColumns: column %" PetscInt_FMT " has no name; give every column a non-empty name", c);
    /* The names become HDF5 dataset names next to the provenance group /model. */
    PetscCheck(!strchr(names[c], '/') && strcmp(names[c], ".") && strcmp(names[c], "model"), comm, PETSC_ERR_ARG_WRONG, "MfsaOutputAppendDiagnosticsColumns: column name \"%s\" cannot be an HDF5 dataset of diagnostics.h5 (no '/', not \".\", not \"model\", which holds the provenance); rename the column", names[c]);
    for (PetscInt e = 0; e < c; e++) PetscCheck(strcmp(names[c], names[e]), comm, PETSC_ERR_ARG_WRONG, "MfsaOutputAppendDiagnosticsColumns: column \"%s\" appears twice (positions %" PetscInt_FMT " and %" PetscInt_FMT "); column names must be unique", names[c], e, c);
    if (!strcmp(names[c], "time")) *itime = c;
    if (IsStepColumn(names[c])) *istep = c;
  }
  PetscCheck(*itime >= 0 && *istep >= 0, comm, PETSC_ERR_ARG_WRONG, "MfsaOutputAppendDiagnosticsColumns: the columns must include \"time\" and \"step\" (missing: %s%s)", *itime < 0 ? "time " : "", *istep < 0 ? "step" : "");
  /* The same-time test below needs a real number; NaN would never compare equal. */
  PetscCheck(!PetscIsInfOrNanReal(values[*itime]), comm, PETSC_ERR_FP, "MfsaOutputAppendDiagnosticsColumns: time is not finite (%g)", (double)values[*itime]);
  PetscCheck(values[*istep] == PetscFloorReal(values[*istep]) && PetscAbsReal(values[*istep]) <= 9007199254740992.0, comm, PETSC_ERR_ARG_WRONG, "MfsaOutputAppendDiagnosticsColumns: step must be an integer (stored as int64), got %.17g", (double)values[*istep]);
  if (out->ncols) {
    PetscCheck(ncols == out->ncols, comm, PETSC_ERR_ARG_INCOMP, "MfsaOutputAppendDiagnosticsColumns: this row has %" PetscInt_FMT " columns but the earlier rows of this run have %" PetscInt_FMT "; every row must have the same columns in the same order", ncols, out->ncols);
    for (PetscInt c = 0; c < ncols; c++) PetscCheck(!strcmp(names[c], out->colnames[c]), comm, PETSC_ERR_ARG_INCOMP, "MfsaOutputAppendDiagnosticsColumns: column %" PetscInt_FMT " is \"%s\" but it was \"%s\" in the earlier rows of this run; every row must have the same columns in the same order", c, names[c], out->colnames[c]);
  }
  PetscFunctionReturn(0);
}

/* Rank 0 only, serial HDF5 on one process: errors are reported on PETSC_COMM_SELF and
 * turned into a collective verdict by the caller. Datasets are created in column order. */
static PetscErrorCode WriteTable(MfsaOutput out, const char *fname, const MfsaProvenance *prov, PetscMPIInt ranks)
{
  const MPI_Comm comm    = PETSC_COMM_SELF;
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
  for (PetscInt c = 0; c < out->ncols; c++) {
    for (PetscInt r = 0; r < out->nrows; r++) col[r] = out->rowvalues[r * out->ncols + c];
    if (IsStepColumn(out->colnames[c])) {
      for (PetscInt r = 0; r < out->nrows; r++) step[r] = (int64_t)col[r];
      PetscCall(MfsaH5WriteRows(comm, fname, file, out->colnames[c], H5T_NATIVE_INT64, H5T_STD_I64LE, 1, dims, 0, dims[0], step, H5P_DEFAULT));
    } else {
      PetscCall(MfsaH5WriteRows(comm, fname, file, out->colnames[c], H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, 0, dims[0], col, H5P_DEFAULT));
    }
  }
  PetscCall(PetscFree2(col, step));
  MfsaH5Check(comm, fname, H5Fclose(file));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputAppendDiagnosticsColumns(MfsaOutput out, PetscInt ncols, const char *const names[], const PetscReal values[], const MfsaProvenance *prov)
{
  PetscMPIInt rank;
  PetscInt    itime, istep;

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  MfsaValidPointer(names, 3);
  MfsaValidPointer(values, 4);
  MfsaValidPointer(prov, 5);
  PetscCheck(out->setup, out->comm, PETSC_ERR_ORDER, "call MfsaOutputSetUp() before MfsaOutputAppendDiagnosticsColumns()");
  MfsaH5Silence();
  PetscCall(CheckRow(out, ncols, names, values, &itime, &istep));
  if (!out->ncols) {
    PetscCall(PetscMalloc1(ncols, &out->colnames));
    for (PetscInt c = 0; c < ncols; c++) PetscCall(PetscStrallocpy(names[c], &out->colnames[c]));
    out->ncols = ncols;
  }
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  if (rank == 0) {
    /* A row at the same time as the last one (the final state on an output time) replaces
     * it: a time series with a repeated abscissa breaks plots and interpolation. */
    if (!(out->nrows > 0 && out->rowvalues[(out->nrows - 1) * ncols + itime] == values[itime])) {
      if (out->nrows == out->maxrows) {
        PetscReal *grown;
        out->maxrows = PetscMax(64, 2 * out->maxrows);
        PetscCall(PetscMalloc1((size_t)out->maxrows * ncols, &grown));
        if (out->nrows) PetscCall(PetscArraycpy(grown, out->rowvalues, (size_t)out->nrows * ncols));
        PetscCall(PetscFree(out->rowvalues));
        out->rowvalues = grown;
      }
      out->nrows++;
    }
    PetscCall(PetscArraycpy(&out->rowvalues[(out->nrows - 1) * ncols], values, ncols));
  }
  PetscCall(MfsaOutputWriteDiagnosticsTable(out, prov));
  PetscFunctionReturn(0);
}

typedef struct {
  MfsaOutput            out;
  const MfsaProvenance *prov;
  PetscMPIInt           ranks;
} TableWrite;

static PetscErrorCode WriteTableTmp(const char *tmp, void *ctx)
{
  TableWrite *tw = (TableWrite *)ctx;
  return WriteTable(tw->out, tmp, tw->prov, tw->ranks);
}

PetscErrorCode MfsaOutputWriteDiagnosticsTable(MfsaOutput out, const MfsaProvenance *prov)
{
  TableWrite tw = {out, prov, 0};

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(out->comm, &tw.ranks));
  PetscCall(MfsaOutputWriteRank0File(out, "diagnostics.h5", WriteTableTmp, &tw));
  PetscFunctionReturn(0);
}

/* The particle row: named exactly like the struct fields, float64 columns first and "step"
 * last, the order the table has always been written in. */
PetscErrorCode MfsaOutputAppendDiagnostics(MfsaOutput out, const MfsaDiagnosticsRow *row, const MfsaProvenance *prov)
{
  static const char *const names[] = {"time", "dt", "energy", "log_energy", "order_parameter", "clustered_fraction", "logz_min", "logz_max", "norm_drift", "wall", "step"};
  PetscReal                values[sizeof(names) / sizeof(names[0])];

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  MfsaValidPointer(row, 2);
  MfsaValidPointer(prov, 3);
  PetscCheck(out->setup, out->comm, PETSC_ERR_ORDER, "call MfsaOutputSetUp() before MfsaOutputAppendDiagnostics()");
  values[0]  = row->time;
  values[1]  = row->dt;
  values[2]  = row->energy;
  values[3]  = row->log_energy;
  values[4]  = row->order_parameter;
  values[5]  = row->clustered_fraction;
  values[6]  = row->logz_min;
  values[7]  = row->logz_max;
  values[8]  = row->norm_drift;
  values[9]  = row->wall;
  values[10] = (PetscReal)row->step; /* exact: |PetscInt| < 2^53 */
  PetscCall(MfsaOutputAppendDiagnosticsColumns(out, (PetscInt)(sizeof(names) / sizeof(names[0])), names, values, prov));
  PetscFunctionReturn(0);
}
