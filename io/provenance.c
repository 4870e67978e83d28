/* Provenance attributes and the /model group: enough in every file to know which code,
 * which options and which model produced it, and to rerun it. */
#include "provenance.h"
#include "h5_util.h"
#include "mfsa_version.h"
#include <string.h>

static PetscErrorCode WriteModelArray(MPI_Comm comm, const char *fname, hid_t group, const char *name, const PetscReal *a, PetscInt n0, PetscInt n1, PetscInt n2, PetscBool write_data, hid_t dxpl)
{
  const hsize_t dims[3] = {(hsize_t)n0, (hsize_t)n1, (hsize_t)n2};

  PetscFunctionBegin;
  PetscCall(MfsaH5WriteRows(comm, fname, group, name, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE, 3, dims, 0, write_data ? dims[0] : 0, a, dxpl));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaH5WriteProvenance(MPI_Comm comm, const char *fname, hid_t file, hid_t loc, const MfsaProvenance *prov, PetscMPIInt ranks, PetscBool write_data, hid_t dxpl)
{
  char *options = NULL;
  hid_t group;

  PetscFunctionBegin;
  MfsaValidPointer(prov, 5);
  PetscCall(MfsaH5WriteAttrInt(comm, fname, loc, "format_version", MFSA_FORMAT_VERSION));
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "mfsa_version", MFSA_VERSION));
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "git_revision", MFSA_GIT_REVISION));
  /* The resolved database (command line, -options_file, environment) is what the run
   * actually used; the command line alone would miss options files. */
  PetscCall(PetscOptionsGetAll(NULL, &options));
  for (size_t len = strlen(options); len > 0 && options[len - 1] == ' '; len--) options[len - 1] = 0;
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "options", options));
  PetscCall(PetscFree(options));
  PetscCall(MfsaH5WriteAttrInt(comm, fname, loc, "ranks", (int)ranks));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, loc, "seed", (int64_t)prov->seed));
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "solver", prov->solver));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, loc, "n", (int64_t)prov->n));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, loc, "d", (int64_t)prov->d));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, loc, "heads", (int64_t)prov->heads));
  PetscCall(MfsaH5WriteAttrInt64(comm, fname, loc, "k", (int64_t)prov->k));
  PetscCall(MfsaH5WriteAttrDouble(comm, fname, loc, "beta", (double)prov->beta));
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "mask", prov->mask));
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "norm", prov->norm));
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "geometry", prov->geometry));
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "kernel", prov->kernel ? prov->kernel : prov->norm));
  PetscCall(MfsaH5WriteAttrString(comm, fname, loc, "layer_norm", prov->layer_norm ? prov->layer_norm : (strcmp(prov->geometry, "sphere") ? "none" : "post")));

  /* Same layout that -attn_qkv_file reads (/model/Q, /model/K, /model/V), so any output
   * file can seed a rerun with the exact model. */
  if (prov->Q || prov->K || prov->V) {
    PetscCheck(prov->heads >= 1 && prov->k >= 1 && prov->d >= 1, comm, PETSC_ERR_ARG_OUTOFRANGE, "provenance for %s: heads, k, d must be >= 1 to write /model (got %" PetscInt_FMT ", %" PetscInt_FMT ", %" PetscInt_FMT ")", fname, prov->heads, prov->k, prov->d);
    MfsaH5Check(comm, fname, group = H5Gcreate2(file, "/model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    if (prov->Q) PetscCall(WriteModelArray(comm, fname, group, "Q", prov->Q, prov->heads, prov->k, prov->d, write_data, dxpl));
    if (prov->K) PetscCall(WriteModelArray(comm, fname, group, "K", prov->K, prov->heads, prov->k, prov->d, write_data, dxpl));
    if (prov->V) PetscCall(WriteModelArray(comm, fname, group, "V", prov->V, prov->heads, prov->d, prov->d, write_data, dxpl));
    MfsaH5Check(comm, fname, H5Gclose(group));
  }
  PetscFunctionReturn(0);
}
