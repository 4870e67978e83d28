/* Reading user-supplied HDF5 input (initial positions, model matrices). Rank 0 checks the
 * file, the dataset and its shape and broadcasts the verdict, so a bad file gives every
 * rank the same error (naming the option, the file and what was expected) instead of a
 * hang in a collective call or an HDF5 error-stack dump. */
#define _POSIX_C_SOURCE 200809L
#include "output.h"
#include "h5_util.h"
#include "input_check.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MSG_LEN (2 * PETSC_MAX_PATH_LEN)

static PetscInt64 FirstNonFinite(const PetscReal *a, PetscInt64 count, PetscInt64 offset, PetscInt64 none);

typedef struct {
  char  *buf;
  size_t len, used;
  int    count;
} DatasetList;

static herr_t ListDatasets(hid_t obj, const char *name, const H5O_info_t *info, void *ctx)
{
  DatasetList *l = (DatasetList *)ctx;
  (void)obj;
  if (info->type != H5O_TYPE_DATASET) return 0;
  if (l->count++ < 8 && l->used + strlen(name) + 4 < l->len) l->used += (size_t)MfsaFormat(l->buf + l->used, l->len - l->used, "%s/%s", l->count > 1 ? ", " : "", name);
  return 0;
}

/* The dataset names a user can choose from, for a "dataset missing" message. */
static void DescribeContents(hid_t file, char *buf, size_t len)
{
  DatasetList l = {buf, len, 0, 0};
  buf[0]        = 0;
  (void)H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, ListDatasets, &l, H5O_INFO_BASIC);
  (void)H5Eclear2(H5E_DEFAULT);
  if (!l.count) MfsaFormat(buf, len, "none");
  else if (l.count > 8 && l.used + 8 < len) MfsaFormat(buf + l.used, len - l.used, ", ...");
}

/* Read-only open on one process; locking is best effort (see MfsaH5SerialFapl). No PETSc
 * errors here: the callers turn a failure into a collective verdict. */
static hid_t OpenSerial(const char *file)
{
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fid;
  if (fapl >= 0) (void)H5Pset_file_locking(fapl, 1, 1);
  fid = H5Fopen(file, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
  if (fapl >= 0) H5Pclose(fapl);
  return fid;
}

/* H5Lexists fails (rather than answering "no") when an intermediate group is missing,
 * so walk the path one component at a time. */
static int PathExists(hid_t file, const char *dataset)
{
  char path[PETSC_MAX_PATH_LEN];
  MfsaFormat(path, sizeof(path), "%s", dataset);
  for (char *p = path + 1;; p++) {
    const int last = (*p == 0);
    if (*p != '/' && !last) continue;
    *p = 0;
    if (path[0] && strcmp(path, "/") && H5Lexists(file, path, H5P_DEFAULT) <= 0) return 0;
    if (last) return 1;
    *p = '/';
  }
}

static void FormatDims(char *buf, size_t len, int rank, const hsize_t *dims)
{
  size_t used = 0;
  buf[0]      = 0;
  if (rank == 0) MfsaFormat(buf, len, "a scalar");
  for (int r = 0; r < rank && used < len; r++) used += (size_t)MfsaFormat(buf + used, len - used, "%s%llu", r ? " x " : "", (unsigned long long)dims[r]);
}

PetscErrorCode MfsaH5CheckDataset(hid_t fid, const char *optname, const char *file, const char *dataset, int rank, const hsize_t *expect, const char *expect_names, const char *fix, char *msg, size_t len, int *found_rank, hsize_t *found_dims)
{
  hid_t          did = -1, space = -1, type = -1;
  int            frank;
  hsize_t        dims[H5S_MAX_RANK];
  char           found[256], wanted[256], contents[512];
  H5T_class_t    cls;
  PetscErrorCode code = 0;

  if (!dataset || !dataset[0] || !PathExists(fid, dataset)) {
    DescribeContents(fid, contents, sizeof(contents));
    MfsaFormat(msg, len, "%s %s: no dataset %s in the file (datasets found: %s)", optname, file, dataset ? dataset : "(none)", contents);
    code = PETSC_ERR_FILE_UNEXPECTED;
    goto done;
  }
  if ((did = H5Dopen2(fid, dataset, H5P_DEFAULT)) < 0) {
    MfsaFormat(msg, len, "%s %s: %s is not a dataset", optname, file, dataset);
    code = PETSC_ERR_FILE_UNEXPECTED;
    goto done;
  }
  type = H5Dget_type(did);
  cls  = type < 0 ? H5T_NO_CLASS : H5Tget_class(type);
  /* integers and floats of any width convert to float64; strings, compounds, arrays, ... do not */
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) {
    MfsaFormat(msg, len, "%s %s: dataset %s is not numeric (%s; expected float64 values)", optname, file, dataset,
               cls == H5T_STRING ? "strings" : cls == H5T_COMPOUND ? "a compound type" : cls == H5T_ARRAY ? "an array type" : cls == H5T_ENUM ? "an enum" : "an unsupported type");
    code = PETSC_ERR_FILE_UNEXPECTED;
    goto done;
  }
  space = H5Dget_space(did);
  frank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
  if (frank < 0 || frank > H5S_MAX_RANK || H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
    MfsaFormat(msg, len, "%s %s: cannot read the shape of dataset %s", optname, file, dataset);
    code = PETSC_ERR_FILE_READ;
    goto done;
  }
  if (found_rank) *found_rank = frank;
  if (found_dims)
    for (int r = 0; r < frank; r++) found_dims[r] = dims[r];
  int same = rank < 0 || (frank == rank);
  for (int r = 0; same && r < rank; r++) same = (dims[r] == expect[r]);
  if (!same) {
    FormatDims(found, sizeof(found), frank, dims);
    FormatDims(wanted, sizeof(wanted), rank, expect);
    if (expect_names) MfsaFormat(msg, len, "%s %s: dataset %s has shape %s, expected %s = %s (%s)", optname, file, dataset, found, expect_names, wanted, fix);
    else MfsaFormat(msg, len, "%s %s: dataset %s has shape %s, expected %s (%s)", optname, file, dataset, found, wanted, fix);
    code = PETSC_ERR_FILE_UNEXPECTED;
  }
done:
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (did >= 0) H5Dclose(did);
  (void)H5Eclear2(H5E_DEFAULT);
  return code;
}

PetscErrorCode MfsaH5CheckValues(hid_t fid, const char *optname, const char *file, const char *dataset, PetscInt64 count, PetscInt64 ncols, double *buf, char *msg, size_t len)
{
  hid_t      did;
  PetscInt64 bad;
  herr_t     r;
  char       h5[256];

  if ((did = H5Dopen2(fid, dataset, H5P_DEFAULT)) < 0) {
    MfsaH5ErrorString(h5, sizeof(h5));
    MfsaFormat(msg, len, "%s %s: cannot open dataset %s (%s)", optname, file, dataset, h5);
    return PETSC_ERR_FILE_READ;
  }
  r = H5Dread(did, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Dclose(did);
  if (r < 0) {
    MfsaH5ErrorString(h5, sizeof(h5));
    MfsaFormat(msg, len, "%s %s: cannot read dataset %s (%s)", optname, file, dataset, h5);
    return PETSC_ERR_FILE_READ;
  }
  bad = FirstNonFinite(buf, count, 0, count);
  if (bad < count) {
    MfsaFormat(msg, len, "%s %s: dataset %s has a non-finite value (NaN or Inf) in row %" PetscInt64_FMT ", column %" PetscInt64_FMT " (0-based); fix the file", optname, file, dataset, bad / ncols, bad % ncols);
    return PETSC_ERR_FILE_UNEXPECTED;
  }
  return 0;
}

/* Rank 0: opens `file` serially and checks that `dataset` is a numeric dataset of the
 * expected shape (rank < 0: any shape; the shape found is returned in found_dims when
 * non-NULL). Returns a PETSc error code (0 = fine) with a user-facing message. */
static PetscErrorCode CheckDatasetShape(const char *optname, const char *file, const char *dataset, int rank, const hsize_t *expect, const char *expect_names, const char *fix, char *msg, size_t len, int *found_rank, hsize_t *found_dims)
{
  hid_t          fid;
  htri_t         is_h5;
  char           found[256];
  PetscErrorCode code;

  if (access(file, R_OK)) {
    MfsaFormat(msg, len, "%s %s: cannot read the file (%s)", optname, file, strerror(errno));
    return PETSC_ERR_FILE_OPEN;
  }
  is_h5 = H5Fis_hdf5(file);
  (void)H5Eclear2(H5E_DEFAULT);
  if (is_h5 <= 0) {
    MfsaFormat(msg, len, "%s %s: not an HDF5 file", optname, file);
    return PETSC_ERR_FILE_UNEXPECTED;
  }
  if ((fid = OpenSerial(file)) < 0) {
    MfsaH5ErrorString(found, sizeof(found));
    MfsaFormat(msg, len, "%s %s: cannot open the HDF5 file (%s)", optname, file, found);
    return PETSC_ERR_FILE_OPEN;
  }
  code = MfsaH5CheckDataset(fid, optname, file, dataset, rank, expect, expect_names, fix, msg, len, found_rank, found_dims);
  H5Fclose(fid);
  (void)H5Eclear2(H5E_DEFAULT);
  return code;
}

static PetscErrorCode CheckDataset(const char *optname, const char *file, const char *dataset, int rank, const hsize_t *expect, const char *expect_names, const char *fix, char *msg, size_t len)
{
  return CheckDatasetShape(optname, file, dataset, rank, expect, expect_names, fix, msg, len, NULL, NULL);
}

PetscErrorCode MfsaReadDims2(MPI_Comm comm, const char *optname, const char *file, const char *dataset, PetscInt *n0, PetscInt *n1)
{
  PetscMPIInt    rank;
  PetscErrorCode code = 0;
  char           msg[MSG_LEN] = "";
  int            frank        = 0;
  hsize_t        dims[H5S_MAX_RANK];
  PetscInt64     shape[2] = {0, 0};

  PetscFunctionBegin;
  MfsaH5Silence();
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    code = CheckDatasetShape(optname, file, dataset, -1, NULL, NULL, NULL, msg, sizeof(msg), &frank, dims);
    if (!code && frank != 2) {
      char found[256];
      FormatDims(found, sizeof(found), frank, dims);
      MfsaFormat(msg, sizeof(msg), "%s %s: dataset %s has shape %s, expected a 2-D array", optname, file, dataset, found);
      code = PETSC_ERR_FILE_UNEXPECTED;
    }
    if (!code) {
      shape[0] = (PetscInt64)dims[0];
      shape[1] = (PetscInt64)dims[1];
    }
  }
  PetscCall(MfsaBcastError(comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, comm, code, "%s", msg);
  PetscCallMPI(MPI_Bcast(shape, 2, MPIU_INT64, 0, comm));
  PetscCheck(shape[0] < PETSC_MAX_INT && shape[1] < PETSC_MAX_INT, comm, PETSC_ERR_SUP, "%s %s: dataset %s is too large for 32-bit indices", optname, file, dataset);
  *n0 = (PetscInt)shape[0];
  *n1 = (PetscInt)shape[1];
  PetscFunctionReturn(0);
}

/* First non-finite entry (flat index into the global array), or `none`. */
static PetscInt64 FirstNonFinite(const PetscReal *a, PetscInt64 count, PetscInt64 offset, PetscInt64 none)
{
  for (PetscInt64 i = 0; i < count; i++)
    if (PetscIsInfOrNanReal(a[i])) return offset + i;
  return none;
}

PetscErrorCode MfsaReadRows(MPI_Comm comm, const char *optname, const char *file, const char *dataset, PetscInt n, PetscInt d, PetscInt lo, PetscInt nloc, PetscReal *x)
{
  PetscMPIInt    rank;
  PetscErrorCode code = 0;
  char           msg[MSG_LEN] = "";
  const hsize_t  expect[2]    = {(hsize_t)n, (hsize_t)d};
  hid_t          fid, did, fspace, mspace, dxpl;
  hsize_t        start[2] = {(hsize_t)lo, 0}, count[2] = {(hsize_t)nloc, (hsize_t)d}, mdims[2] = {nloc ? (hsize_t)nloc : 1, (hsize_t)d};
  PetscReal      dummy[1];
  PetscInt64     bad, firstbad, none = (PetscInt64)n * d;

  PetscFunctionBegin;
  MfsaValidPointer(optname, 2);
  MfsaValidPointer(file, 3);
  MfsaValidPointer(dataset, 4);
  PetscCheck(!nloc || x, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "MfsaReadRows: x is NULL but nloc = %" PetscInt_FMT, nloc);
  PetscCheck(n >= 1 && d >= 1 && lo >= 0 && nloc >= 0 && lo + nloc <= n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "MfsaReadRows: rows [%" PetscInt_FMT ", %" PetscInt_FMT ") outside [0, %" PetscInt_FMT ") or d = %" PetscInt_FMT " < 1", lo, lo + nloc, n, d);
  MfsaH5Silence();
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    PetscBool grid;
    PetscCall(PetscStrbeginswith(dataset, "/pde/", &grid));
    code = CheckDataset(optname, file, dataset, 2, expect, grid ? "S x M" : "n x d", grid ? "set -pde_slices/-pde_angles to match or fix the file" : "set -n/-attn_dim to match or fix the file", msg, sizeof(msg));
  }
  PetscCall(MfsaBcastError(comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, comm, code, "%s", msg);

  /* Every rank reads its own rows straight from the file in one collective transfer:
   * no rank ever holds the whole array. */
  PetscCall(MfsaH5OpenParallel(comm, file, &fid));
  MfsaH5Check(comm, file, did = H5Dopen2(fid, dataset, H5P_DEFAULT));
  MfsaH5Check(comm, file, fspace = H5Dget_space(did));
  MfsaH5Check(comm, file, mspace = H5Screate_simple(2, mdims, NULL));
  if (nloc) {
    MfsaH5Check(comm, file, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
  } else {
    MfsaH5Check(comm, file, H5Sselect_none(fspace));
    MfsaH5Check(comm, file, H5Sselect_none(mspace));
  }
  PetscCall(MfsaH5CreateDxpl(comm, file, PETSC_TRUE, &dxpl));
  MfsaH5Check(comm, file, H5Dread(did, H5T_NATIVE_DOUBLE, mspace, fspace, dxpl, nloc ? (void *)x : (void *)dummy));
  MfsaH5Check(comm, file, H5Pclose(dxpl));
  MfsaH5Check(comm, file, H5Sclose(mspace));
  MfsaH5Check(comm, file, H5Sclose(fspace));
  MfsaH5Check(comm, file, H5Dclose(did));
  MfsaH5Check(comm, file, H5Fclose(fid));

  bad = FirstNonFinite(x, (PetscInt64)nloc * d, (PetscInt64)lo * d, none);
  PetscCall(MPIU_Allreduce(&bad, &firstbad, 1, MPIU_INT64, MPI_MIN, comm));
  PetscCheck(firstbad == none, comm, PETSC_ERR_FILE_UNEXPECTED, "%s %s: dataset %s has a non-finite value (NaN or Inf) in row %" PetscInt64_FMT ", column %" PetscInt64_FMT " (0-based); fix the file", optname, file, dataset, firstbad / d, firstbad % d);
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaReadArray3(MPI_Comm comm, const char *optname, const char *file, const char *dataset, PetscInt n0, PetscInt n1, PetscInt n2, PetscReal *a)
{
  PetscMPIInt    rank;
  PetscErrorCode code = 0;
  char           msg[MSG_LEN] = "";
  const hsize_t  expect[3]    = {(hsize_t)n0, (hsize_t)n1, (hsize_t)n2};
  const PetscInt64 total      = (PetscInt64)n0 * n1 * n2;
  PetscInt64     bad = total;

  PetscFunctionBegin;
  MfsaValidPointer(optname, 2);
  MfsaValidPointer(file, 3);
  MfsaValidPointer(dataset, 4);
  MfsaValidPointer(a, 8);
  PetscCheck(n0 >= 1 && n1 >= 1 && n2 >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "MfsaReadArray3: sizes must be >= 1");
  PetscCheck(total <= PETSC_MPI_INT_MAX, PETSC_COMM_SELF, PETSC_ERR_SUP, "%s %s: dataset %s is too large to broadcast", optname, file, dataset);
  MfsaH5Silence();
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) code = CheckDataset(optname, file, dataset, 3, expect, NULL, "set -attn_heads/-attn_dim to match or fix the file", msg, sizeof(msg));
  PetscCall(MfsaBcastError(comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, comm, code, "%s", msg);

  /* Model matrices are small and needed whole everywhere: one reader plus a broadcast
   * beats every rank hitting the file system for the same bytes. */
  if (rank == 0) {
    hid_t fid, did;
    if ((fid = OpenSerial(file)) < 0) code = PETSC_ERR_FILE_OPEN;
    else {
      if ((did = H5Dopen2(fid, dataset, H5P_DEFAULT)) < 0 || H5Dread(did, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, a) < 0) code = PETSC_ERR_FILE_READ;
      if (did >= 0) H5Dclose(did);
      H5Fclose(fid);
    }
    if (code) {
      char h5[256];
      MfsaH5ErrorString(h5, sizeof(h5));
      MfsaFormat(msg, sizeof(msg), "%s %s: cannot read dataset %s (%s)", optname, file, dataset, h5);
    }
  }
  PetscCall(MfsaBcastError(comm, &code, msg, sizeof(msg)));
  PetscCheck(!code, comm, code, "%s", msg);
  PetscCallMPI(MPI_Bcast(a, (PetscMPIInt)total, MPIU_REAL, 0, comm));

  bad = FirstNonFinite(a, total, 0, total);
  PetscCheck(bad == total, comm, PETSC_ERR_FILE_UNEXPECTED, "%s %s: dataset %s has a non-finite value (NaN or Inf) at [%" PetscInt64_FMT "][%" PetscInt64_FMT "][%" PetscInt64_FMT "] (0-based); fix the file", optname, file, dataset, bad / ((PetscInt64)n1 * n2), (bad / n2) % n1, bad % n2);
  PetscFunctionReturn(0);
}
