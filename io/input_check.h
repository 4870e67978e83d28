/* Validation of HDF5 input that is already open (a file on disk, or an in-memory file image in
 * the fuzz harness tests/fuzz/fuzz_h5_input.c): what io/h5_input.c and io/checkpoint.c check
 * before they trust a file. Serial, no MPI, no PETSc errors: each returns 0 or a PETSc error
 * code with a user message naming the option, the file and the dataset or attribute. */
#pragma once
#include "output.h"
#include <hdf5.h>

/* `dataset` (a path in the file) exists, is a dataset of integers or floats, and has rank `rank`
 * and dimensions `expect` (rank < 0: any shape; found_rank/found_dims, when non-NULL, receive
 * the shape). expect_names ("n x d") and fix (what to change) go into the message. */
PetscErrorCode MfsaH5CheckDataset(hid_t fid, const char *optname, const char *file, const char *dataset, int rank, const hsize_t *expect, const char *expect_names, const char *fix, char *msg, size_t len, int *found_rank, hsize_t *found_dims);
/* Reads the whole dataset (count values, checked by MfsaH5CheckDataset first) as float64 into
 * buf and refuses a non-finite value, naming its row and column (ncols columns per row). */
PetscErrorCode MfsaH5CheckValues(hid_t fid, const char *optname, const char *file, const char *dataset, PetscInt64 count, PetscInt64 ncols, double *buf, char *msg, size_t len);
/* A checkpoint file (io/checkpoint.c) belongs to this run and is intact: complete, format
 * version, model and sizes (prov, N state values), Q/K/V, the checksum of /state, and an output
 * index and diagnostics table (/output) that a restart can trust. `path` is for messages. */
PetscErrorCode MfsaCheckpointValidateFile(hid_t file, const char *path, const MfsaProvenance *prov, PetscInt64 N, char *msg, size_t len);
