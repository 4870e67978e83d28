/* Checkpoints: write (collective, .tmp + flush + rename, previous one kept) and restore
 * (validate on rank 0: complete, format, same model, sizes, checksum; then a collective read
 * of each rank's rows, on any rank count) plus the output index and diagnostics rows, so that
 * a restarted run continues its folder without duplicated or missing times. */
#define _POSIX_C_SOURCE 200809L
#include "output_impl.h"
#include "h5_util.h"
#include "provenance.h"
#include "reliability.h"
#include "input_check.h"
#include "mfsa_version.h"
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#define MSG_LEN (2 * PETSC_MAX_PATH_LEN)

static PetscLogDouble last_write_seconds = 0;
static PetscInt64     last_write_bytes   = 0;

/* Order-independent checksum: the wrapping sum over i of a 64-bit mix of (i, bits of x_i).
 * Any partition of the sum gives the same value, so ranks add their rows and reduce. */
static uint64_t Mix(uint64_t z)
{
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static uint64_t ChecksumPart(const PetscReal *x, PetscInt64 lo, PetscInt64 n)
{
  uint64_t sum = 0;
  for (PetscInt64 i = 0; i < n; i++) {
    uint64_t bits;
    memcpy(&bits, &x[i], sizeof(bits));
    sum += Mix(bits ^ Mix((uint64_t)(lo + i)));
  }
  return sum;
}

/* fsync a file or folder by name (rank 0): a rename is only durable once both are on disk. */
static int SyncPath(const char *path)
{
  int fd = open(path, O_RDONLY), e = 0;
  if (fd < 0) return errno;
  if (fsync(fd)) e = errno;
  close(fd);
  return e == EINVAL ? 0 : e; /* some file systems cannot fsync a folder */
}

/* Rank 0, serial: the output index and the diagnostics rows, then the `complete` mark. */
static PetscErrorCode WriteOutputState(MfsaOutput out, const char *fname)
{
  const MPI_Comm comm = PETSC_COMM_SELF;
  hid_t          file, fapl, group;
  hsize_t        dims[2];
  PetscReal     *col;
  int64_t       *icol;
  char          *names = NULL;
  size_t         len   = 1;

  PetscFunctionBegin;
  PetscCall(MfsaH5SerialFapl(comm, fname, &fapl));
  MfsaH5Check(comm, fname, file = H5Fopen(fname, H5F_ACC_RDWR, fapl));
  MfsaH5Check(comm, fname, H5Pclose(fapl));
  MfsaH5Check(comm, fname, group = H5Gcreate2(file, "/output", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, group, "nsnap_files", (int64_t)out->nsnap_files));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, group, "kind", (int64_t)out->kind));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, group, "nsnap", (int64_t)out->nsnap));
  if (out->nsnap) {
    dims[0] = (hsize_t)out->nsnap;
    PetscCall(PetscMalloc2(out->nsnap, &col, 6 * out->nsnap, &icol));
    for (PetscInt i = 0; i < out->nsnap; i++) {
      col[i]              = out->snaps[i].time;
      icol[6 * i + 0]     = out->snaps[i].kind;
      icol[6 * i + 1]     = out->snaps[i].number;
      icol[6 * i + 2]     = out->snaps[i].n;
      icol[6 * i + 3]     = out->snaps[i].d;
      icol[6 * i + 4]     = out->snaps[i].S;
      icol[6 * i + 5]     = out->snaps[i].M;
    }
    PetscCall(MfsaH5WriteRows(comm, fname, group, "snap_time", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, 0, dims[0], col, H5P_DEFAULT));
    dims[1] = 6;
    PetscCall(MfsaH5WriteRows(comm, fname, group, "snap_entry", H5T_NATIVE_INT64, H5T_STD_I64LE, 2, dims, 0, dims[0], icol, H5P_DEFAULT));
    PetscCall(PetscFree2(col, icol));
  }
  /* diagnostics: the column names as one newline-separated string, the rows as a matrix */
  for (PetscInt c = 0; c < out->ncols; c++) len += strlen(out->colnames[c]) + 1;
  PetscCall(PetscCalloc1(len, &names));
  for (PetscInt c = 0; c < out->ncols; c++) {
    if (c) PetscCall(PetscStrlcat(names, "\n", len));
    PetscCall(PetscStrlcat(names, out->colnames[c], len));
  }
  PetscCall(MfsaH5WriteAttrString(comm, fname, group, "diag_columns", names));
  PetscCall(PetscFree(names));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, group, "diag_rows", (int64_t)out->nrows));
  if (out->nrows && out->ncols) {
    dims[0] = (hsize_t)out->nrows;
    dims[1] = (hsize_t)out->ncols;
    PetscCall(MfsaH5WriteRows(comm, fname, group, "diag_values", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 2, dims, 0, dims[0], out->rowvalues, H5P_DEFAULT));
  }
  MfsaH5Check(comm, fname, H5Gclose(group));
  /* written last: a checkpoint without it was interrupted and is never used */
  PetscCall(MfsaH5WriteAttrInt(comm, fname, file, "complete", 1));
  MfsaH5Check(comm, fname, H5Fclose(file));
  PetscFunctionReturn(0);
}

/* The collective part of a checkpoint: the state rows and the root attributes. */
typedef struct {
  Vec                        X;
  const MfsaCheckpointState *st;
  const MfsaProvenance      *prov;
  uint64_t                   sum;
} StateWriteCtx;

static PetscErrorCode WriteStateFile(MfsaOutput out, const char *tmp, const void *vctx)
{
  const StateWriteCtx       *c  = (const StateWriteCtx *)vctx;
  const MfsaCheckpointState *st = c->st;
  PetscMPIInt                rank, size;
  PetscInt                   lo, hi, N;
  const PetscScalar         *x;
  hid_t                      file, dxpl;
  hsize_t                    dims[1];

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  PetscCallMPI(MPI_Comm_size(out->comm, &size));
  PetscCall(VecGetOwnershipRange(c->X, &lo, &hi));
  PetscCall(VecGetSize(c->X, &N));
  PetscCall(MfsaH5CreateParallel(out->comm, tmp, &file));
  PetscCall(MfsaH5CreateDxpl(out->comm, tmp, PETSC_TRUE, &dxpl));
  dims[0] = (hsize_t)N;
  PetscCall(VecGetArrayRead(c->X, &x));
  PetscCall(MfsaH5WriteRows(out->comm, tmp, file, "state", H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 1, dims, (hsize_t)lo, (hsize_t)(hi - lo), x, dxpl));
  PetscCall(VecRestoreArrayRead(c->X, &x));
  PetscCall(MfsaH5WriteAttrDouble(out->comm, tmp, file, "time", (double)st->time));
  PetscCall(MfsaH5WriteAttrDouble(out->comm, tmp, file, "dt", (double)st->dt));
  PetscCall(MfsaH5WriteAttrInt64(out->comm, tmp, file, "step", (int64_t)st->step));
  PetscCall(MfsaH5WriteAttrInt64(out->comm, tmp, file, "state_size", (int64_t)N));
  PetscCall(MfsaH5WriteAttrInt64(out->comm, tmp, file, "state_checksum", (int64_t)c->sum));
  PetscCall(MfsaH5WriteAttrInt64(out->comm, tmp, file, "naux", (int64_t)st->naux));
  for (PetscInt a = 0; a < st->naux; a++) {
    char name[16];
    PetscCall(PetscSNPrintf(name, sizeof(name), "aux_%" PetscInt_FMT, a));
    PetscCall(MfsaH5WriteAttrDouble(out->comm, tmp, file, name, (double)st->aux[a]));
  }
  PetscCall(MfsaH5WriteProvenance(out->comm, tmp, file, file, c->prov, size, rank == 0 ? PETSC_TRUE : PETSC_FALSE, dxpl));
  MfsaH5Check(out->comm, tmp, H5Pclose(dxpl));
  MfsaH5Check(out->comm, tmp, H5Fclose(file));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaCheckpointWrite(MfsaOutput out, Vec X, const MfsaCheckpointState *st, const MfsaProvenance *prov)
{
  PetscMPIInt        rank;
  PetscInt           lo, hi, N;
  const PetscScalar *x;
  StateWriteCtx      ctx;
  char               fname[PETSC_MAX_PATH_LEN], tmp[PETSC_MAX_PATH_LEN], prev[PETSC_MAX_PATH_LEN], msg[MSG_LEN] = "", what[128];
  PetscErrorCode     code = 0;
  PetscLogDouble     t0, t1;

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  PetscCheck(out->setup, out->comm, PETSC_ERR_ORDER, "call MfsaOutputSetUp() before MfsaCheckpointWrite()");
  PetscCheck(st->naux >= 0 && st->naux <= MFSA_CHECKPOINT_MAX_AUX, out->comm, PETSC_ERR_ARG_OUTOFRANGE, "MfsaCheckpointWrite: %" PetscInt_FMT " solver scalars, at most %d", st->naux, MFSA_CHECKPOINT_MAX_AUX);
  MfsaH5Silence();
  PetscCall(PetscTime(&t0));
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "checkpoint.h5", fname, sizeof(fname)));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "checkpoint.h5.tmp", tmp, sizeof(tmp)));
  PetscCall(MfsaPathJoin(out->comm, out->folder, "checkpoint.prev.h5", prev, sizeof(prev)));
  PetscCall(VecGetOwnershipRange(X, &lo, &hi));
  PetscCall(VecGetSize(X, &N));
  PetscCall(VecGetArrayRead(X, &x));
  ctx.sum = ChecksumPart(x, lo, hi - lo);
  PetscCall(VecRestoreArrayRead(X, &x));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &ctx.sum, 1, MPI_UINT64_T, MPI_SUM, out->comm));
  ctx.X    = X;
  ctx.st   = st;
  ctx.prov = prov;
  MfsaFormat(what, sizeof(what), "checkpoint.h5.tmp (checkpoint at t = %.17g, step %" PetscInt_FMT ")", (double)st->time, st->step);
  /* a failed write (disk full, ulimit -f) removes the temporary and ends the run: the rename
   * below never happens, so checkpoint.h5 and checkpoint.prev.h5 stay as they were */
  PetscCall(MfsaCollectiveWrite(out, what, tmp, WriteStateFile, &ctx));
  PetscCallMPI(MPI_Barrier(out->comm));

  if (rank == 0) {
    int e;
    PetscPushErrorHandler(PetscReturnErrorHandler, NULL);
    code = WriteOutputState(out, tmp);
    PetscPopErrorHandler();
    if (code) {
      const char *text;
      char       *specific = NULL, cause[1024];
      PetscErrorMessage(code, &text, &specific);
      MfsaWriteFailureCause(out->folder, tmp, specific && specific[0] ? specific : text, cause, sizeof(cause));
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot complete %s: %s. The temporary file was removed; checkpoint.h5 and checkpoint.prev.h5 are intact", out->folder, what, cause);
      code = PETSC_ERR_FILE_WRITE;
    } else if ((e = SyncPath(tmp))) {
      char cause[1024];
      code = PETSC_ERR_FILE_WRITE;
      MfsaWriteFailureCause(out->folder, tmp, strerror(e), cause, sizeof(cause));
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot flush %s: %s. The temporary file was removed; checkpoint.h5 and checkpoint.prev.h5 are intact", out->folder, what, cause);
    } else if (!access(fname, F_OK) && rename(fname, prev)) { /* keep the previous one */
      code = PETSC_ERR_FILE_WRITE;
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot rename %s to %s (%s)", out->folder, fname, prev, strerror(errno));
      (void)unlink(tmp);
    } else if (rename(tmp, fname)) {
      code = PETSC_ERR_FILE_WRITE;
      MfsaFormat(msg, sizeof(msg), "-out %s: cannot rename %s to %s (%s)", out->folder, tmp, fname, strerror(errno));
      (void)unlink(tmp);
    } else (void)SyncPath(out->folder);
  }
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, out->comm, code, "%s", msg);
  PetscCall(PetscTime(&t1));
  last_write_seconds = t1 - t0;
  last_write_bytes   = (PetscInt64)N * (PetscInt64)sizeof(PetscReal);
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaCheckpointGetLastWrite(MfsaOutput out, PetscReal *seconds, PetscInt64 *bytes)
{
  PetscFunctionBegin;
  (void)out;
  *seconds = (PetscReal)last_write_seconds;
  *bytes   = last_write_bytes;
  PetscFunctionReturn(0);
}

/* ---- validation (rank 0, serial, no PETSc errors: returns 0 or sets msg) ---- */

/* The attribute `name` of loc if it holds exactly one element (a scalar): the readers below
 * read one value, and an array attribute read into one variable would overrun it. */
static hid_t OpenAttrOne(hid_t loc, const char *name)
{
  hid_t    a, sp;
  hssize_t n;
  if (H5Aexists(loc, name) <= 0) return -1;
  if ((a = H5Aopen(loc, name, H5P_DEFAULT)) < 0) return -1;
  sp = H5Aget_space(a);
  n  = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  if (sp >= 0) H5Sclose(sp);
  if (n != 1) {
    H5Aclose(a);
    return -1;
  }
  return a;
}

static int ReadAttrDouble(hid_t loc, const char *name, double *v)
{
  hid_t a;
  if ((a = OpenAttrOne(loc, name)) < 0) return -1;
  int r = H5Aread(a, H5T_NATIVE_DOUBLE, v) < 0 ? -1 : 0;
  H5Aclose(a);
  return r;
}

static int ReadAttrInt64(hid_t loc, const char *name, int64_t *v)
{
  hid_t a;
  if ((a = OpenAttrOne(loc, name)) < 0) return -1;
  int r = H5Aread(a, H5T_NATIVE_INT64, v) < 0 ? -1 : 0;
  H5Aclose(a);
  return r;
}

/* String attribute (variable- or fixed-length) into buf (truncated to len). */
static int ReadAttrString(hid_t loc, const char *name, char *buf, size_t len)
{
  hid_t  a, ft, t;
  int    r = -1;
  size_t size;
  buf[0] = 0;
  if ((a = OpenAttrOne(loc, name)) < 0) return -1;
  ft = H5Aget_type(a);
  if (ft >= 0 && H5Tget_class(ft) == H5T_STRING) {
    if (H5Tis_variable_str(ft) > 0) {
      char *s = NULL;
      t       = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, H5T_VARIABLE);
      H5Tset_cset(t, H5Tget_cset(ft));
      if (H5Aread(a, t, &s) >= 0) {
        snprintf(buf, len, "%s", s ? s : "");
        H5free_memory(s);
        r = 0;
      }
      H5Tclose(t);
    } else if ((size = H5Tget_size(ft)) > 0 && size < (1u << 20)) {
      char *s = calloc(size + 1, 1);
      t       = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, size);
      H5Tset_strpad(t, H5T_STR_NULLPAD);
      if (s && H5Aread(a, t, s) >= 0) {
        snprintf(buf, len, "%s", s);
        r = 0;
      }
      free(s);
      H5Tclose(t);
    }
  }
  if (ft >= 0) H5Tclose(ft);
  H5Aclose(a);
  return r;
}

/* Reads a whole double dataset of `count` values (checks the element count). */
static int ReadDoubles(hid_t file, const char *name, PetscInt64 count, double *buf)
{
  hid_t    d, sp;
  hssize_t n;
  int      r = -1;
  if (H5Lexists(file, name, H5P_DEFAULT) <= 0) return -1;
  if ((d = H5Dopen2(file, name, H5P_DEFAULT)) < 0) return -1;
  sp = H5Dget_space(d);
  n  = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
  if (n == count && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) r = 0;
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(d);
  return r;
}

/* Reads a whole int64 dataset of exactly the dimensions dims[0..rank) into buf. */
static int ReadInt64s(hid_t loc, const char *name, int rank, const hsize_t *dims, int64_t *buf)
{
  hid_t   d, sp;
  hsize_t have[H5S_MAX_RANK];
  int     r = -1, same;
  if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return -1;
  if ((d = H5Dopen2(loc, name, H5P_DEFAULT)) < 0) return -1;
  sp   = H5Dget_space(d);
  same = sp >= 0 && H5Sget_simple_extent_ndims(sp) == rank && H5Sget_simple_extent_dims(sp, have, NULL) == rank;
  for (int i = 0; same && i < rank; i++) same = (have[i] == dims[i]);
  if (same && H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) r = 0;
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(d);
  return r;
}

#define MAX_SNAPSHOTS 1000000    /* snapshot numbers have six digits */
#define MAX_DIAG_NAMES (1 << 16) /* the column names, newline-separated */

/* The output index and diagnostics table a restart restores (/output): every number within the
 * ranges RestoreOutput relies on, every dataset of the size it reads. */
static PetscErrorCode ValidateOutputGroup(hid_t file, const char *path, char *msg, size_t len)
{
  hid_t          g;
  int64_t        nfiles = -1, kind = -1, nsnap = -1, rows = -1, ncols = 0;
  char          *names = NULL;
  double        *times = NULL, *values = NULL;
  int64_t       *entries = NULL;
  PetscErrorCode code = PETSC_ERR_FILE_UNEXPECTED;

  if (H5Lexists(file, "/output", H5P_DEFAULT) <= 0 || (g = H5Gopen2(file, "/output", H5P_DEFAULT)) < 0) {
    MfsaFormat(msg, len, "checkpoint %s has no output index (/output): corrupt", path);
    return code;
  }
  if (ReadAttrInt64(g, "nsnap_files", &nfiles) || ReadAttrInt64(g, "kind", &kind) || ReadAttrInt64(g, "nsnap", &nsnap) || ReadAttrInt64(g, "diag_rows", &rows) || nfiles < 0 || nfiles > MAX_SNAPSHOTS || nsnap < 0 || nsnap > nfiles || kind < 0 || kind > 2 || (kind == 0) != (nsnap == 0 && nfiles == 0) || rows < 0 || rows > 100000000) {
    MfsaFormat(msg, len, "checkpoint %s: its output index is inconsistent (/output: nsnap_files %lld, kind %lld, nsnap %lld, diag_rows %lld): corrupt", path, (long long)nfiles, (long long)kind, (long long)nsnap, (long long)rows);
    goto done;
  }
  if (!(names = calloc(MAX_DIAG_NAMES, 1)) || ReadAttrString(g, "diag_columns", names, MAX_DIAG_NAMES)) {
    MfsaFormat(msg, len, "checkpoint %s: no diagnostics column names (/output diag_columns): corrupt", path);
    goto done;
  }
  if (names[0]) {
    ncols = 1;
    for (const char *c = names; *c; c++) ncols += (*c == '\n');
    for (const char *c = names; *c; c++)
      if (*c == '\n' && (c == names || c[1] == '\n' || c[1] == 0)) ncols = -1; /* an empty name */
  }
  if (ncols < 0 || (rows > 0 && ncols == 0) || ncols > 10000 || (ncols > 0 && rows > 100000000 / ncols)) {
    MfsaFormat(msg, len, "checkpoint %s: its diagnostics table has %lld rows of %lld columns: corrupt", path, (long long)rows, (long long)ncols);
    goto done;
  }
  if (rows > 0 && (!(values = malloc(sizeof(double) * (size_t)(rows * ncols))) || ReadDoubles(g, "diag_values", rows * ncols, values))) {
    MfsaFormat(msg, len, "checkpoint %s: /output/diag_values is not %lld x %lld values: corrupt", path, (long long)rows, (long long)ncols);
    goto done;
  }
  if (nsnap > 0) {
    const hsize_t dims[2] = {(hsize_t)nsnap, 6};
    if (!(times = malloc(sizeof(double) * (size_t)nsnap)) || !(entries = malloc(sizeof(int64_t) * 6 * (size_t)nsnap)) || ReadDoubles(g, "snap_time", nsnap, times) || ReadInt64s(g, "snap_entry", 2, dims, entries)) {
      MfsaFormat(msg, len, "checkpoint %s: /output/snap_time or snap_entry is not of %lld snapshots: corrupt", path, (long long)nsnap);
      goto done;
    }
    for (int64_t i = 0; i < nsnap; i++) {
      const int64_t *e = entries + 6 * i;
      int            ok = PetscIsNormalReal(times[i]) || times[i] == 0;
      ok = ok && (i == 0 || times[i] > times[i - 1]) && e[0] == kind && e[1] >= 0 && e[1] < nfiles && (i == 0 || e[1] > e[-5]);
      for (int c = 2; c < 6; c++) ok = ok && e[c] >= 0 && e[c] < PETSC_MAX_INT;
      if (!ok) {
        MfsaFormat(msg, len, "checkpoint %s: snapshot %lld of its output index is inconsistent (time %g, number %lld): corrupt", path, (long long)i, times[i], (long long)e[1]);
        goto done;
      }
    }
  }
  code = 0;
done:
  free(names);
  free(times);
  free(entries);
  free(values);
  H5Gclose(g);
  return code;
}

PetscErrorCode MfsaCheckpointValidateFile(hid_t file, const char *path, const MfsaProvenance *prov, PetscInt64 N, char *msg, size_t len)
{
  int64_t        complete = 0, fmt = -1, n = -1, d = -1, heads = -1, k = -1, size = -1, stored = 0, naux = -1;
  double         beta = -1, tdt[2] = {NAN, NAN};
  char           solver[64] = "", mask[64] = "", norm[64] = "", geometry[64] = "", kernel[128] = "", lnorm[64] = "";
  double        *buf = NULL;
  PetscErrorCode code = PETSC_ERR_FILE_UNEXPECTED;

  if (ReadAttrInt64(file, "complete", &complete) || complete != 1) {
    MfsaFormat(msg, len, "checkpoint %s is incomplete (its write was interrupted)", path);
    goto done;
  }
  if (ReadAttrInt64(file, "format_version", &fmt) || fmt != MFSA_FORMAT_VERSION) {
    MfsaFormat(msg, len, "checkpoint %s has format version %lld; this mfsa (%s) reads version %d", path, (long long)fmt, MFSA_VERSION, MFSA_FORMAT_VERSION);
    goto done;
  }
  ReadAttrString(file, "solver", solver, sizeof(solver));
  ReadAttrString(file, "mask", mask, sizeof(mask));
  ReadAttrString(file, "norm", norm, sizeof(norm));
  ReadAttrString(file, "geometry", geometry, sizeof(geometry));
  ReadAttrString(file, "kernel", kernel, sizeof(kernel));
  ReadAttrString(file, "layer_norm", lnorm, sizeof(lnorm));
  ReadAttrInt64(file, "n", &n);
  ReadAttrInt64(file, "d", &d);
  ReadAttrInt64(file, "heads", &heads);
  ReadAttrInt64(file, "k", &k);
  ReadAttrDouble(file, "beta", &beta);
  ReadAttrInt64(file, "state_size", &size);
  if (strcmp(solver, prov->solver) || n != prov->n || d != prov->d || heads != prov->heads || k != prov->k || beta != prov->beta || strcmp(mask, prov->mask) || strcmp(norm, prov->norm) || strcmp(geometry, prov->geometry) || size != N) {
    MfsaFormat(msg, len, "checkpoint %s belongs to another model: it has -solver %s, n (tokens or slices) %lld, state size %lld, -attn_dim %lld (k %lld), -attn_heads %lld, -attn_beta %g, -attn_mask %s, -attn_norm %s, -geometry %s; this run has %s, %lld, %lld, %lld (%lld), %lld, %g, %s, %s, %s", path, solver, (long long)n, (long long)size, (long long)d, (long long)k, (long long)heads, beta, mask, norm, geometry, prov->solver, (long long)prov->n, (long long)N, (long long)prov->d, (long long)prov->k, (long long)prov->heads, (double)prov->beta, prov->mask, prov->norm, prov->geometry);
    goto done;
  }
  {
    /* checkpoints from before the kernel attributes: the exp kernel of -attn_norm, the geometry's layer norm */
    const char *mine_kernel = prov->kernel ? prov->kernel : prov->norm, *mine_ln = prov->layer_norm ? prov->layer_norm : (strcmp(prov->geometry, "sphere") ? "none" : "post");
    if (!kernel[0]) snprintf(kernel, sizeof(kernel), "%s", norm);
    if (!lnorm[0]) snprintf(lnorm, sizeof(lnorm), "%s", strcmp(geometry, "sphere") ? "none" : "post");
    if (strcmp(kernel, mine_kernel) || strcmp(lnorm, mine_ln)) {
      MfsaFormat(msg, len, "checkpoint %s belongs to another model: it has -attn_kernel '%s', -attn_ln %s; this run has '%s', %s", path, kernel, lnorm, mine_kernel, mine_ln);
      goto done;
    }
  }
  {
    const char      *names[3] = {"/model/Q", "/model/K", "/model/V"};
    const PetscReal *mine[3]  = {prov->Q, prov->K, prov->V};
    const PetscInt64 counts[3] = {(PetscInt64)prov->heads * prov->k * prov->d, (PetscInt64)prov->heads * prov->k * prov->d, (PetscInt64)prov->heads * prov->d * prov->d};
    for (int m = 0; m < 3; m++) {
      double *theirs = malloc(sizeof(double) * (size_t)counts[m]);
      int     same   = theirs && !ReadDoubles(file, names[m], counts[m], theirs) && !memcmp(theirs, mine[m], sizeof(double) * (size_t)counts[m]);
      free(theirs);
      if (!same) {
        MfsaFormat(msg, len, "checkpoint %s belongs to another model: its %s differs from this run's (check -attn_qkv, -attn_qkv_file, -seed)", path, names[m]);
        goto done;
      }
    }
  }
  buf = malloc(sizeof(double) * (size_t)PetscMax(N, 1));
  if (!buf || ReadDoubles(file, "/state", N, buf) || ReadAttrInt64(file, "state_checksum", &stored) || (uint64_t)stored != ChecksumPart(buf, 0, N)) {
    MfsaFormat(msg, len, "checkpoint %s: the state does not match its checksum (corrupt)", path);
    goto done;
  }
  /* what the time loop continues from */
  if (ReadAttrDouble(file, "time", &tdt[0]) || ReadAttrDouble(file, "dt", &tdt[1]) || ReadAttrInt64(file, "step", &n) || ReadAttrInt64(file, "naux", &naux) || !(tdt[0] >= 0 && tdt[0] < PETSC_MAX_REAL) || !(tdt[1] > 0 && tdt[1] < PETSC_MAX_REAL) || n < 0 || n >= PETSC_MAX_INT || naux < 0 || naux > MFSA_CHECKPOINT_MAX_AUX) {
    MfsaFormat(msg, len, "checkpoint %s: its time, dt, step or solver scalars are missing or out of range (time %g, dt %g): corrupt", path, tdt[0], tdt[1]);
    goto done;
  }
  code = ValidateOutputGroup(file, path, msg, len);
done:
  free(buf);
  H5Eclear2(H5E_DEFAULT);
  return code;
}

/* The checkpoint at `path` (rank 0): readable, HDF5, and MfsaCheckpointValidateFile. */
static PetscErrorCode Validate(const char *path, const MfsaProvenance *prov, PetscInt64 N, char *msg, size_t len)
{
  hid_t          file, fapl;
  PetscErrorCode code;

  if (access(path, R_OK)) {
    MfsaFormat(msg, len, "checkpoint %s: cannot read it (%s)", path, strerror(errno));
    return PETSC_ERR_FILE_OPEN;
  }
  if (H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    MfsaFormat(msg, len, "checkpoint %s: not an HDF5 file (corrupt or truncated)", path);
    return PETSC_ERR_FILE_UNEXPECTED;
  }
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_sec2(fapl);
  file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (file < 0) {
    char h5msg[256];
    MfsaH5ErrorString(h5msg, sizeof(h5msg));
    MfsaFormat(msg, len, "checkpoint %s: cannot open it (%s): corrupt or truncated", path, h5msg);
    return PETSC_ERR_FILE_UNEXPECTED;
  }
  code = MfsaCheckpointValidateFile(file, path, prov, N, msg, len);
  H5Fclose(file);
  H5Eclear2(H5E_DEFAULT);
  return code;
}

/* Rank 0 reads the output index and table of the checkpoint; all ranks get the index and the
 * column names, rank 0 the rows. Then the files written after the checkpoint are removed
 * and the XDMF index and diagnostics table rewritten. */
static PetscErrorCode RestoreOutput(MfsaOutput out, const char *path, const MfsaProvenance *prov)
{
  PetscMPIInt rank;
  int64_t     meta[5] = {0, 0, 0, 0, 0}; /* nsnap_files, kind, nsnap, ncols(len of names), nrows */
  double     *times = NULL;
  int64_t    *entries = NULL;
  char       *names = NULL;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  PetscCall(MfsaOutputResetDiagnostics(out));
  if (rank == 0) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file, group;
    H5Pset_fapl_sec2(fapl);
    MfsaH5Check(PETSC_COMM_SELF, path, file = H5Fopen(path, H5F_ACC_RDONLY, fapl));
    H5Pclose(fapl);
    MfsaH5Check(PETSC_COMM_SELF, path, group = H5Gopen2(file, "/output", H5P_DEFAULT));
    ReadAttrInt64(group, "nsnap_files", &meta[0]);
    ReadAttrInt64(group, "kind", &meta[1]);
    ReadAttrInt64(group, "nsnap", &meta[2]);
    ReadAttrInt64(group, "diag_rows", &meta[4]);
    PetscCall(PetscCalloc1(1 << 16, &names));
    ReadAttrString(group, "diag_columns", names, 1 << 16);
    meta[3] = (int64_t)strlen(names) + 1;
    PetscCall(PetscMalloc2(PetscMax(meta[2], 1), &times, 6 * PetscMax(meta[2], 1), &entries));
    if (meta[2]) {
      hid_t dset;
      PetscCheck(!ReadDoubles(group, "snap_time", meta[2], times), PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "checkpoint %s: cannot read /output/snap_time", path);
      MfsaH5Check(PETSC_COMM_SELF, path, dset = H5Dopen2(group, "snap_entry", H5P_DEFAULT));
      MfsaH5Check(PETSC_COMM_SELF, path, H5Dread(dset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, entries));
      H5Dclose(dset);
    }
    if (meta[4]) {
      PetscInt ncols = 1;
      for (char *c = names; *c; c++) ncols += (*c == '\n');
      PetscCall(PetscMalloc1(meta[4] * ncols, &out->rowvalues));
      out->maxrows = out->nrows = (PetscInt)meta[4];
      PetscCheck(!ReadDoubles(group, "diag_values", meta[4] * ncols, out->rowvalues), PETSC_COMM_SELF, PETSC_ERR_FILE_READ, "checkpoint %s: cannot read /output/diag_values", path);
    }
    H5Gclose(group);
    H5Fclose(file);
  }
  PetscCallMPI(MPI_Bcast(meta, 5, MPI_INT64_T, 0, out->comm));
  if (rank) {
    PetscCall(PetscCalloc1(meta[3], &names));
    PetscCall(PetscMalloc2(PetscMax(meta[2], 1), &times, 6 * PetscMax(meta[2], 1), &entries));
  }
  PetscCallMPI(MPI_Bcast(names, (PetscMPIInt)meta[3], MPI_CHAR, 0, out->comm));
  PetscCallMPI(MPI_Bcast(times, (PetscMPIInt)PetscMax(meta[2], 1), MPI_DOUBLE, 0, out->comm));
  PetscCallMPI(MPI_Bcast(entries, (PetscMPIInt)(6 * PetscMax(meta[2], 1)), MPI_INT64_T, 0, out->comm));

  out->nsnap_files = (PetscInt)meta[0];
  out->kind        = (MfsaSnapshotKind)meta[1];
  out->nsnap       = (PetscInt)meta[2];
  if (out->nsnap > out->maxsnap) {
    PetscCall(PetscFree(out->snaps));
    out->maxsnap = out->nsnap;
    PetscCall(PetscMalloc1(out->maxsnap, &out->snaps));
  }
  for (PetscInt i = 0; i < out->nsnap; i++) {
    out->snaps[i].time   = times[i];
    out->snaps[i].kind   = (MfsaSnapshotKind)entries[6 * i + 0];
    out->snaps[i].number = (PetscInt)entries[6 * i + 1];
    out->snaps[i].n      = (PetscInt)entries[6 * i + 2];
    out->snaps[i].d      = (PetscInt)entries[6 * i + 3];
    out->snaps[i].S      = (PetscInt)entries[6 * i + 4];
    out->snaps[i].M      = (PetscInt)entries[6 * i + 5];
  }
  if (names[0]) {
    char *save = NULL, *tok;
    PetscInt ncols = 1;
    for (char *c = names; *c; c++) ncols += (*c == '\n');
    PetscCall(PetscMalloc1(ncols, &out->colnames));
    out->ncols = 0;
    for (tok = strtok_r(names, "\n", &save); tok; tok = strtok_r(NULL, "\n", &save)) PetscCall(PetscStrallocpy(tok, &out->colnames[out->ncols++]));
  }
  PetscCall(PetscFree(names));
  PetscCall(PetscFree2(times, entries));

  /* files written after the checkpoint, and temporaries a kill left behind */
  if (rank == 0) {
    char path2[PETSC_MAX_PATH_LEN + 32];
    for (PetscInt number = out->nsnap_files;; number++) {
      MfsaFormat(path2, sizeof(path2), "%s/snap_%06d.h5", out->folder, (int)number);
      if (access(path2, F_OK)) break;
      (void)unlink(path2);
    }
    for (PetscInt number = 0; number <= out->nsnap_files + 1; number++) {
      MfsaFormat(path2, sizeof(path2), "%s/snap_%06d.h5.tmp", out->folder, (int)number);
      (void)unlink(path2);
    }
    MfsaFormat(path2, sizeof(path2), "%s/mfsa.xmf.tmp", out->folder);
    (void)unlink(path2);
    MfsaFormat(path2, sizeof(path2), "%s/diagnostics.h5.tmp", out->folder);
    (void)unlink(path2);
    MfsaFormat(path2, sizeof(path2), "%s/checkpoint.h5.tmp", out->folder);
    (void)unlink(path2);
  }
  PetscCall(MfsaOutputWriteXdmf(out));
  if (out->ncols) PetscCall(MfsaOutputWriteDiagnosticsTable(out, prov));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaCheckpointRestore(MfsaOutput out, const char *spec, Vec X, MfsaCheckpointState *st, const MfsaProvenance *prov, PetscBool *found)
{
  PetscMPIInt    rank;
  PetscInt       lo, hi, N;
  PetscBool      isauto;
  char           path[PETSC_MAX_PATH_LEN] = "", msg[2 * MSG_LEN] = "";
  PetscErrorCode code = 0;
  double         header[4];

  PetscFunctionBegin;
  MfsaValidPointer(out, 1);
  PetscCheck(out->setup, out->comm, PETSC_ERR_ORDER, "call MfsaOutputSetUp() before MfsaCheckpointRestore()");
  MfsaH5Silence();
  PetscCallMPI(MPI_Comm_rank(out->comm, &rank));
  PetscCall(VecGetSize(X, &N));
  PetscCall(VecGetOwnershipRange(X, &lo, &hi));
  PetscCall(PetscStrcmp(spec, "auto", &isauto));
  *found = PETSC_TRUE;
  if (rank == 0) {
    if (isauto) {
      /* the newest valid one: checkpoint.h5, else the previous one */
      const char *names[2] = {"checkpoint.h5", "checkpoint.prev.h5"};
      char        why[2][MSG_LEN];
      int         exists = 0;
      code               = PETSC_ERR_FILE_UNEXPECTED;
      for (int c = 0; c < 2 && code; c++) {
        MfsaFormat(path, sizeof(path), "%s/%s", out->folder, names[c]);
        why[c][0] = 0;
        if (access(path, F_OK)) continue;
        exists++;
        code = Validate(path, prov, N, why[c], sizeof(why[c]));
        if (code && c == 0) fprintf(stderr, "mfsa: -restart auto: %s; trying the previous checkpoint\n", why[c]);
        if (!code && c == 1 && why[0][0]) {
          /* set the bad newest one aside: the next checkpoint must not demote it to
           * checkpoint.prev.h5 in place of the valid one we restart from */
          char bad[PETSC_MAX_PATH_LEN + 32], aside[PETSC_MAX_PATH_LEN + 32];
          MfsaFormat(bad, sizeof(bad), "%s/checkpoint.h5", out->folder);
          MfsaFormat(aside, sizeof(aside), "%s/checkpoint.invalid.h5", out->folder);
          fprintf(stderr, "mfsa: -restart auto: the invalid checkpoint is kept as %s\n", aside);
          (void)rename(bad, aside);
        }
      }
      if (!exists) code = -1; /* nothing to restart from: a fresh run */
      else if (code) MfsaFormat(msg, sizeof(msg), "-restart auto: no valid checkpoint in %s: %s; %s", out->folder, why[0][0] ? why[0] : "checkpoint.h5 missing", why[1][0] ? why[1] : "checkpoint.prev.h5 missing");
    } else {
      MfsaFormat(path, sizeof(path), "%s", spec);
      code = Validate(path, prov, N, msg, sizeof(msg));
      if (code) {
        char full[2 * MSG_LEN];
        MfsaFormat(full, sizeof(full), "-restart %s refused: %s", spec, msg);
        MfsaFormat(msg, sizeof(msg), "%s", full);
      }
    }
  }
  PetscCallMPI(MPI_Bcast(&code, 1, MPI_INT, 0, out->comm));
  if (code == -1) {
    *found = PETSC_FALSE;
    PetscCall(MfsaOutputFinishOverwrite(out)); /* a fresh start: -out_overwrite applies now */
    PetscFunctionReturn(0);
  }
  PetscCall(MfsaBcastError(out->comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, out->comm, code, "%s", msg);
  PetscCall(MfsaOutputFinishOverwrite(out)); /* validated: only now may -out_overwrite remove old output */
  PetscCallMPI(MPI_Bcast(path, sizeof(path), MPI_CHAR, 0, out->comm));

  /* every rank reads its own rows: any rank count */
  {
    hid_t        file, dset, fspace, mspace, dxpl;
    hsize_t      start[1] = {(hsize_t)lo}, count[1] = {(hsize_t)(hi - lo)}, mdims[1] = {(hsize_t)PetscMax(hi - lo, 1)};
    PetscScalar *x;
    double       dummy[1];
    PetscCall(MfsaH5OpenParallel(out->comm, path, &file));
    MfsaH5Check(out->comm, path, dset = H5Dopen2(file, "/state", H5P_DEFAULT));
    MfsaH5Check(out->comm, path, fspace = H5Dget_space(dset));
    MfsaH5Check(out->comm, path, mspace = H5Screate_simple(1, mdims, NULL));
    if (hi > lo) MfsaH5Check(out->comm, path, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
    else {
      MfsaH5Check(out->comm, path, H5Sselect_none(fspace));
      MfsaH5Check(out->comm, path, H5Sselect_none(mspace));
    }
    PetscCall(MfsaH5CreateDxpl(out->comm, path, PETSC_TRUE, &dxpl));
    PetscCall(VecGetArrayWrite(X, &x));
    MfsaH5Check(out->comm, path, H5Dread(dset, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, hi > lo ? (void *)x : (void *)dummy));
    PetscCall(VecRestoreArrayWrite(X, &x));
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Sclose(fspace);
    H5Dclose(dset);
    MfsaH5Check(out->comm, path, H5Fclose(file));
  }
  if (rank == 0) {
    hid_t   fapl = H5Pcreate(H5P_FILE_ACCESS), file;
    int64_t step = 0, naux = 0;
    H5Pset_fapl_sec2(fapl);
    MfsaH5Check(PETSC_COMM_SELF, path, file = H5Fopen(path, H5F_ACC_RDONLY, fapl));
    H5Pclose(fapl);
    ReadAttrDouble(file, "time", &header[0]);
    ReadAttrDouble(file, "dt", &header[1]);
    ReadAttrInt64(file, "step", &step);
    ReadAttrInt64(file, "naux", &naux);
    header[2] = (double)step;
    header[3] = (double)naux;
    for (int64_t a = 0; a < naux && a < MFSA_CHECKPOINT_MAX_AUX; a++) {
      char name[16];
      double v = 0;
      snprintf(name, sizeof(name), "aux_%lld", (long long)a);
      ReadAttrDouble(file, name, &v);
      st->aux[a] = v;
    }
    H5Fclose(file);
  }
  PetscCallMPI(MPI_Bcast(header, 4, MPI_DOUBLE, 0, out->comm));
  st->time = header[0];
  st->dt   = header[1];
  st->step = (PetscInt)header[2];
  st->naux = PetscMin((PetscInt)header[3], MFSA_CHECKPOINT_MAX_AUX);
  PetscCallMPI(MPI_Bcast(st->aux, MFSA_CHECKPOINT_MAX_AUX, MPIU_REAL, 0, out->comm));
  {
    /* the output index belongs to the folder the checkpoint came from: from another folder,
     * the output here starts afresh at the restart time */
    int  same = 0;
    char a[PETSC_MAX_PATH_LEN], b[PETSC_MAX_PATH_LEN], dir[PETSC_MAX_PATH_LEN];
    if (rank == 0) {
      char *slash;
      MfsaFormat(dir, sizeof(dir), "%s", path);
      slash = strrchr(dir, '/');
      if (slash) *slash = 0;
      else MfsaFormat(dir, sizeof(dir), ".");
      same = realpath(dir, a) && realpath(out->folder, b) && !strcmp(a, b);
    }
    PetscCallMPI(MPI_Bcast(&same, 1, MPI_INT, 0, out->comm));
    if (same) PetscCall(RestoreOutput(out, path, prov));
  }
  PetscCall(PetscPrintf(out->comm, "mfsa: restarted from %s at t = %.17g, step %" PetscInt_FMT "\n", path, (double)st->time, st->step));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaOutputGetSnapshotCount(MfsaOutput out, PetscInt *nsnap)
{
  PetscFunctionBegin;
  *nsnap = out->nsnap;
  PetscFunctionReturn(0);
}
