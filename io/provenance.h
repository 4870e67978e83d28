/* Provenance writer used by every io/ file: where the data came from (version, options,
 * ranks, model). */
#pragma once
#include "output.h"
#include <hdf5.h>

/* Writes the provenance attributes on `loc` (normally the file root) and the group
 * /model with datasets Q, K, V (skipped when the pointers are NULL) into `file`.
 * ranks: the run's rank count. write_data: whether this process supplies the /model
 * arrays in the (collective) transfer dxpl; exactly one process of the file's
 * communicator should pass PETSC_TRUE. Every process of the file's communicator calls it. */
PetscErrorCode MfsaH5WriteProvenance(MPI_Comm comm, const char *fname, hid_t file, hid_t loc, const MfsaProvenance *prov, PetscMPIInt ranks, PetscBool write_data, hid_t dxpl);
