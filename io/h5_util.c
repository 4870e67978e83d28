/* Small HDF5 helpers shared by io/: error translation, MPI-IO file access, attributes,
 * row-block writes, and the broadcast that makes all ranks fail with one message. */
#include "h5_util.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void MfsaH5Silence(void)
{
  (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

typedef struct {
  char  *buf;
  size_t len;
  int    found;
} ErrorWalk;

/* Walking upward visits the innermost frame first: that is the one that knows the cause
 * ("unable to open file: ... errno = 2, error message = 'No such file or directory'"),
 * while the outer frames only repeat "unable to open file". */
static herr_t TakeInnermost(unsigned n, const H5E_error2_t *err, void *ctx)
{
  ErrorWalk *w = (ErrorWalk *)ctx;
  (void)n;
  if (!w->found && err->desc && err->desc[0]) {
    snprintf(w->buf, w->len, "%s", err->desc);
    w->found = 1;
  }
  return 0;
}

void MfsaH5ErrorString(char *buf, size_t len)
{
  ErrorWalk w = {buf, len, 0};
  if (!len) return;
  buf[0] = 0;
  (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, TakeInnermost, &w);
  if (!w.found) snprintf(buf, len, "unknown HDF5 error");
  (void)H5Eclear2(H5E_DEFAULT);
}

static PetscErrorCode CreateMpioFapl(MPI_Comm comm, const char *fname, hid_t *fapl)
{
  PetscFunctionBegin;
  MfsaH5Check(comm, fname, *fapl = H5Pcreate(H5P_FILE_ACCESS));
  MfsaH5Check(comm, fname, H5Pset_fapl_mpio(*fapl, comm, MPI_INFO_NULL));
  /* Metadata reads/writes done collectively: one rank touches the file instead of all
   * of them, which matters on parallel file systems with many ranks. */
  MfsaH5Check(comm, fname, H5Pset_all_coll_metadata_ops(*fapl, 1));
  MfsaH5Check(comm, fname, H5Pset_coll_metadata_write(*fapl, 1));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5CreateParallel(MPI_Comm comm, const char *fname, hid_t *file)
{
  hid_t fapl;

  PetscFunctionBegin;
  MfsaH5Silence();
  PetscCall(CreateMpioFapl(comm, fname, &fapl));
  MfsaH5Check(comm, fname, *file = H5Fcreate(fname, H5F_ACC_TRUNC, H5P_DEFAULT, fapl));
  MfsaH5Check(comm, fname, H5Pclose(fapl));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5OpenParallel(MPI_Comm comm, const char *fname, hid_t *file)
{
  hid_t fapl;

  PetscFunctionBegin;
  MfsaH5Silence();
  PetscCall(CreateMpioFapl(comm, fname, &fapl));
  MfsaH5Check(comm, fname, *file = H5Fopen(fname, H5F_ACC_RDONLY, fapl));
  MfsaH5Check(comm, fname, H5Pclose(fapl));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5SerialFapl(MPI_Comm comm, const char *fname, hid_t *fapl)
{
  PetscFunctionBegin;
  MfsaH5Check(comm, fname, *fapl = H5Pcreate(H5P_FILE_ACCESS));
  MfsaH5Check(comm, fname, H5Pset_file_locking(*fapl, 1, 1));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5CreateDxpl(MPI_Comm comm, const char *fname, PetscBool collective, hid_t *dxpl)
{
  PetscFunctionBegin;
  MfsaH5Check(comm, fname, *dxpl = H5Pcreate(H5P_DATASET_XFER));
  if (collective) MfsaH5Check(comm, fname, H5Pset_dxpl_mpio(*dxpl, H5FD_MPIO_COLLECTIVE));
  PetscFunctionReturn(0);
}

static PetscErrorCode WriteAttr(MPI_Comm comm, const char *fname, hid_t loc, const char *name, hid_t type, const void *value)
{
  hid_t space, attr;

  PetscFunctionBegin;
  MfsaH5Check(comm, fname, space = H5Screate(H5S_SCALAR));
  /* Provenance is written once per file, but a caller may rewrite an attribute: replace it. */
  htri_t exists;
  MfsaH5Check(comm, fname, exists = H5Aexists(loc, name));
  if (exists) MfsaH5Check(comm, fname, H5Adelete(loc, name));
  MfsaH5Check(comm, fname, attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT));
  MfsaH5Check(comm, fname, H5Awrite(attr, type, value));
  MfsaH5Check(comm, fname, H5Aclose(attr));
  MfsaH5Check(comm, fname, H5Sclose(space));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5WriteAttrString(MPI_Comm comm, const char *fname, hid_t loc, const char *name, const char *value)
{
  hid_t       type;
  const char *v = value ? value : "";

  PetscFunctionBegin;
  MfsaH5Check(comm, fname, type = H5Tcopy(H5T_C_S1));
  MfsaH5Check(comm, fname, H5Tset_size(type, H5T_VARIABLE));
  MfsaH5Check(comm, fname, H5Tset_cset(type, H5T_CSET_UTF8));
  PetscCall(WriteAttr(comm, fname, loc, name, type, &v));
  MfsaH5Check(comm, fname, H5Tclose(type));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5WriteAttrInt(MPI_Comm comm, const char *fname, hid_t loc, const char *name, int value)
{
  PetscFunctionBegin;
  PetscCall(WriteAttr(comm, fname, loc, name, H5T_NATIVE_INT, &value));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5WriteAttrInt64(MPI_Comm comm, const char *fname, hid_t loc, const char *name, int64_t value)
{
  PetscFunctionBegin;
  PetscCall(WriteAttr(comm, fname, loc, name, H5T_NATIVE_INT64, &value));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5WriteAttrDouble(MPI_Comm comm, const char *fname, hid_t loc, const char *name, double value)
{
  PetscFunctionBegin;
  PetscCall(WriteAttr(comm, fname, loc, name, H5T_NATIVE_DOUBLE, &value));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5WriteRows(MPI_Comm comm, const char *fname, hid_t loc, const char *name, hid_t memtype, hid_t filetype, int rank, const hsize_t dims[], hsize_t lo, hsize_t nloc, const void *buf, hid_t dxpl)
{
  hid_t   fspace, mspace, dset;
  hsize_t start[3] = {0, 0, 0}, count[3], mdims[3];
  double  dummy = 0; /* HDF5 rejects a NULL buffer even for an empty selection */

  PetscFunctionBegin;
  PetscCheck(rank >= 1 && rank <= 3, comm, PETSC_ERR_PLIB, "dataset rank %d not supported", rank);
  PetscCheck(lo + nloc <= dims[0], comm, PETSC_ERR_PLIB, "rows [%llu, %llu) outside dataset %s of %llu rows in %s", (unsigned long long)lo, (unsigned long long)(lo + nloc), name, (unsigned long long)dims[0], fname);
  MfsaH5Check(comm, fname, fspace = H5Screate_simple(rank, dims, NULL));
  MfsaH5Check(comm, fname, dset = H5Dcreate2(loc, name, filetype, fspace, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  for (int r = 0; r < rank; r++) {
    count[r] = dims[r];
    mdims[r] = dims[r];
  }
  start[0] = lo;
  count[0] = nloc;
  /* A zero-sized memory space is legal in current HDF5 but has been fragile in older
   * releases; a 1-row space with nothing selected says the same thing safely. */
  mdims[0] = nloc ? nloc : 1;
  MfsaH5Check(comm, fname, mspace = H5Screate_simple(rank, mdims, NULL));
  if (nloc) {
    MfsaH5Check(comm, fname, H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL));
  } else {
    MfsaH5Check(comm, fname, H5Sselect_none(fspace));
    MfsaH5Check(comm, fname, H5Sselect_none(mspace));
  }
  MfsaH5Check(comm, fname, H5Dwrite(dset, memtype, mspace, fspace, dxpl, (nloc && buf) ? buf : (const void *)&dummy));
  MfsaH5Check(comm, fname, H5Sclose(mspace));
  MfsaH5Check(comm, fname, H5Sclose(fspace));
  MfsaH5Check(comm, fname, H5Dclose(dset));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaBcastError(MPI_Comm comm, PetscErrorCode *code, char *msg, size_t len)
{
  int c = (int)*code;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Bcast(&c, 1, MPI_INT, 0, comm));
  if (c) PetscCallMPI(MPI_Bcast(msg, (PetscMPIInt)len, MPI_CHAR, 0, comm));
  *code = (PetscErrorCode)c;
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaPathJoin(MPI_Comm comm, const char *folder, const char *name, char *path, size_t len)
{
  int w;

  PetscFunctionBegin;
  w = snprintf(path, len, "%s/%s", folder, name);
  PetscCheck(w >= 0 && (size_t)w < len, comm, PETSC_ERR_ARG_SIZ, "path %s/%s is longer than %zu characters; choose a shorter -out", folder, name, len - 1);
  PetscFunctionReturn(0);
}

int MfsaFormat(char *buf, size_t len, const char *fmt, ...)
{
  va_list ap;
  int     w;
  if (!len) return 0;
  va_start(ap, fmt);
  w = vsnprintf(buf, len, fmt, ap);
  va_end(ap);
  /* Report what was stored, so callers that append can never run past the end. */
  return w < 0 ? 0 : ((size_t)w >= len ? (int)(len - 1) : w);
}
