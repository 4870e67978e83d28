/* libFuzzer harness for mfsa's validation of HDF5 input (io/input_check.h): initial tokens
 * (-init_file, n x d), model matrices (-attn_qkv_file, H x d x d), PDE densities (-pde_init_file,
 * S x M) and restart files (checkpoints). The input does not go to HDF5's own decoder (a libhdf5
 * bug is not mfsa's): it describes a file -- which datasets and attributes exist, their paths,
 * type classes, ranks, dimensions and raw values (NaN, Inf, huge or negative counts included) --
 * that is built in memory (core driver, no backing store), turned into a file image
 * (H5Fget_file_image) and opened again from that image (H5Pset_file_image), the way a file from
 * disk is read. Then the validators run on it as the readers do: shape and type checks, values
 * read and checked for NaN/Inf, checkpoint validation down to the output index a restart trusts.
 * A checkpoint description starts from a valid checkpoint of a fixed small model and perturbs
 * parts of it, so the fuzzer reaches the deep checks. Errors are expected; a crash, a sanitizer
 * report or a leak is a bug. */
#include "input_check.h"
#include "h5_util.h"
#include "mfsa_version.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const uint8_t *p;
  size_t         left;
} Bytes;

static unsigned Byte(Bytes *b)
{
  if (!b->left) return 0;
  b->left--;
  return *b->p++;
}

static double Double(Bytes *b)
{
  uint64_t bits = 0;
  double   v;
  for (int i = 0; i < 8; i++) bits |= (uint64_t)Byte(b) << (8 * i);
  memcpy(&v, &bits, sizeof(v));
  return v;
}

/* A dataset described by the input: type class, rank and dimensions (small), values. */
static void MakeDataset(hid_t loc, const char *name, Bytes *b, int rank_hint, const hsize_t *dims_hint)
{
  const unsigned kind = Byte(b) % 8;
  hsize_t        dims[4];
  int            rank;
  hid_t          type, space, dset;
  size_t         count = 1;
  double        *vals;

  if (Byte(b) % 4 || !dims_hint) { /* mostly a shape of its own */
    rank = (int)(Byte(b) % 5);
    for (int r = 0; r < rank; r++) dims[r] = Byte(b) % 7;
  } else {
    rank = rank_hint;
    for (int r = 0; r < rank; r++) dims[r] = dims_hint[r];
  }
  for (int r = 0; r < rank; r++) count *= dims[r];
  space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
  switch (kind) {
  case 0: case 1: type = H5Tcopy(H5T_IEEE_F64LE); break;
  case 2: type = H5Tcopy(H5T_IEEE_F32BE); break;
  case 3: type = H5Tcopy(H5T_STD_I32LE); break;
  case 4: type = H5Tcopy(H5T_STD_U64BE); break;
  case 5: type = H5Tcopy(H5T_C_S1); H5Tset_size(type, 1 + Byte(b) % 16); break;
  case 6: type = H5Tcopy(H5T_C_S1); H5Tset_size(type, H5T_VARIABLE); break;
  default:
    type = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(type, "a", 0, H5T_NATIVE_DOUBLE);
    H5Tinsert(type, "b", 8, H5T_NATIVE_DOUBLE);
  }
  dset = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (dset >= 0 && (kind <= 4 || kind == 7)) {
    vals = calloc(2 * count + 1, sizeof(double));
    for (size_t i = 0; vals && i < 2 * count; i++) vals[i] = Double(b);
    if (vals) {
      hid_t mem = kind == 7 ? type : H5T_NATIVE_DOUBLE; /* HDF5 converts (and clips) to the file type */
      (void)H5Dwrite(dset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals);
    }
    free(vals);
  }
  if (dset >= 0) H5Dclose(dset);
  H5Tclose(type);
  H5Sclose(space);
}

static void AttrInt64(hid_t loc, const char *name, int64_t v, Bytes *b)
{
  const unsigned how = Byte(b) % 16;
  hsize_t        n   = 1 + Byte(b) % 4;
  int64_t        vals[4] = {v, v, v, v};
  hid_t          space, a, type = H5T_STD_I64LE;

  if (how == 0) return; /* missing */
  if (how == 1) v = (int64_t)(((uint64_t)Byte(b) << 56) | ((uint64_t)Byte(b) << 8) | Byte(b)) * (Byte(b) % 2 ? -1 : 1);
  if (how == 2) v += (int64_t)Byte(b) - 128;
  vals[0] = v;
  space   = how == 3 ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR); /* an array where a scalar belongs */
  if (how == 4) type = H5T_IEEE_F64LE;
  a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    if (how == 4) {
      double d[4] = {(double)v, (double)v, (double)v, (double)v};
      (void)H5Awrite(a, H5T_NATIVE_DOUBLE, d);
    } else (void)H5Awrite(a, H5T_NATIVE_INT64, vals);
    H5Aclose(a);
  }
  H5Sclose(space);
}

static void AttrDouble(hid_t loc, const char *name, double v, Bytes *b)
{
  const unsigned how = Byte(b) % 16;
  hid_t          space = H5Screate(H5S_SCALAR), a;
  if (how == 0) {
    H5Sclose(space);
    return;
  }
  if (how == 1) v = Double(b);
  a = H5Acreate2(loc, name, H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    (void)H5Awrite(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
  }
  H5Sclose(space);
}

static void AttrString(hid_t loc, const char *name, const char *v, Bytes *b)
{
  const unsigned how = Byte(b) % 16;
  char           buf[80];
  hid_t          type = H5Tcopy(H5T_C_S1), space, a;
  hsize_t        n    = 2;

  if (how == 0) {
    H5Tclose(type);
    return;
  }
  if (how == 1) { /* other text, newlines included */
    size_t len = Byte(b) % 40;
    for (size_t i = 0; i < len; i++) buf[i] = (char)(Byte(b) % 3 == 0 ? '\n' : 'a' + Byte(b) % 26);
    buf[len] = 0;
    v        = buf;
  }
  if (how == 2) H5Tset_size(type, strlen(v) + 1); /* fixed-length */
  else H5Tset_size(type, H5T_VARIABLE);
  space = how == 3 ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
  a     = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) {
    const char *two[2] = {v, v};
    if (how == 2) (void)H5Awrite(a, type, v);
    else (void)H5Awrite(a, type, two);
    H5Aclose(a);
  }
  H5Sclose(space);
  H5Tclose(type);
}

/* Dataset of 8-byte elements (double or int64) with the right shape and values unless the
 * input says otherwise: missing, of another shape/type (MakeDataset), or one element replaced by
 * any 64-bit pattern (for doubles: NaN, Inf, huge, ...). */
static void Typed8(hid_t loc, const char *name, hid_t filetype, hid_t memtype, int rank, const hsize_t *dims, const void *v, Bytes *b)
{
  const unsigned how = Byte(b) % 16;
  hid_t          space, d;
  size_t         count = 1;

  if (how == 0) return;
  if (how == 1) {
    MakeDataset(loc, name, b, rank, dims);
    return;
  }
  for (int r = 0; r < rank; r++) count *= dims[r];
  space = H5Screate_simple(rank, dims, NULL);
  d     = H5Dcreate2(loc, name, filetype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (d >= 0) {
    uint64_t *w = malloc(8 * (count ? count : 1));
    if (w) {
      memcpy(w, v, 8 * count);
      if (how == 2 && count) {
        double x = Double(b);
        memcpy(&w[Byte(b) % count], &x, 8);
      }
      (void)H5Dwrite(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, w);
    }
    free(w);
    H5Dclose(d);
  }
  H5Sclose(space);
}

static void Doubles(hid_t loc, const char *name, int rank, const hsize_t *dims, const double *v, Bytes *b)
{
  Typed8(loc, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rank, dims, v, b);
}

static void Int64s(hid_t loc, const char *name, int rank, const hsize_t *dims, const int64_t *v, Bytes *b)
{
  Typed8(loc, name, H5T_STD_I64LE, H5T_NATIVE_INT64, rank, dims, v, b);
}

/* The model every checkpoint description is checked against: particles, n = 3, d = 2, one head. */
#define CK_N 3
#define CK_D 2
static const double CK_Q[4] = {1, 0, 0, 1}, CK_K[4] = {0.5, 0, 0, 0.5}, CK_V[4] = {0, -1, 1, 0};

/* Order-independent checksum of io/checkpoint.c (the same mix, here to write valid files). */
static uint64_t Mix(uint64_t z)
{
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void MakeCheckpoint(hid_t file, Bytes *b)
{
  double        state[CK_N * CK_D];
  uint64_t      sum = 0;
  const hsize_t n6 = CK_N * CK_D, mdims[3] = {1, CK_D, CK_D};
  hid_t         g;

  for (int i = 0; i < CK_N * CK_D; i++) {
    uint64_t bits;
    state[i] = Byte(b) % 8 ? (double)(i + 1) / 7.0 : Double(b);
    memcpy(&bits, &state[i], sizeof(bits));
    sum += Mix(bits ^ Mix((uint64_t)i));
  }
  Doubles(file, "state", 1, &n6, state, b);
  AttrInt64(file, "complete", 1, b);
  AttrInt64(file, "format_version", MFSA_FORMAT_VERSION, b);
  AttrString(file, "solver", "particles", b);
  AttrString(file, "mask", "causal", b);
  AttrString(file, "norm", "softmax", b);
  AttrString(file, "geometry", "sphere", b);
  AttrInt64(file, "n", CK_N, b);
  AttrInt64(file, "d", CK_D, b);
  AttrInt64(file, "heads", 1, b);
  AttrInt64(file, "k", CK_D, b);
  AttrDouble(file, "beta", 2.0, b);
  AttrInt64(file, "state_size", CK_N * CK_D, b);
  AttrInt64(file, "state_checksum", (int64_t)sum, b);
  AttrDouble(file, "time", 0.5, b);
  AttrDouble(file, "dt", 0.01, b);
  AttrInt64(file, "step", 50, b);
  AttrInt64(file, "naux", 0, b);
  if ((g = H5Gcreate2(file, "/model", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0) {
    Doubles(g, "Q", 3, mdims, CK_Q, b);
    Doubles(g, "K", 3, mdims, CK_K, b);
    Doubles(g, "V", 3, mdims, CK_V, b);
    H5Gclose(g);
  }
  if (Byte(b) % 16 && (g = H5Gcreate2(file, "/output", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0) {
    const int64_t nsnap = 1 + Byte(b) % 3, ncols = 2, rows = Byte(b) % 4;
    const hsize_t tdims[1] = {(hsize_t)nsnap}, edims[2] = {(hsize_t)nsnap, 6}, ddims[2] = {(hsize_t)rows, (hsize_t)ncols};
    double        times[3], diag[8];
    int64_t       entries[18];
    for (int i = 0; i < nsnap; i++) {
      times[i] = 0.1 * i;
      const int64_t e[6] = {1, i, CK_N, CK_D, 0, 0};
      memcpy(entries + 6 * i, e, sizeof(e));
    }
    for (int i = 0; i < rows * ncols; i++) diag[i] = i;
    AttrInt64(g, "nsnap_files", nsnap, b);
    AttrInt64(g, "kind", 1, b);
    AttrInt64(g, "nsnap", nsnap, b);
    AttrString(g, "diag_columns", "time\nstep", b);
    AttrInt64(g, "diag_rows", rows, b);
    Doubles(g, "snap_time", 1, tdims, times, b);
    Int64s(g, "snap_entry", 2, edims, entries, b);
    if (rows) Doubles(g, "diag_values", 2, ddims, diag, b);
    H5Gclose(g);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
  (void)argc;
  (void)argv;
  MfsaH5Silence();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const paths[] = {"/particles/x", "/pde/rho", "/model/Q", "/model/V", "/x", "/particles", "/a/b/c/d"};
  Bytes                    b       = {data, size};
  const unsigned           target  = Byte(&b) % 4;
  hid_t                    fapl, file, g;
  ssize_t                  len;
  void                    *image;
  char                     msg[4096];

  if (size > 1 << 16) return 0;
  /* build the described file in memory */
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_core(fapl, 1 << 16, 0);
  file = H5Fcreate("fuzz-build.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  if (file < 0) abort();
  if (target == 3) MakeCheckpoint(file, &b);
  else {
    const unsigned ndatasets = 1 + Byte(&b) % 3;
    for (unsigned k = 0; k < ndatasets; k++) {
      const char *path = paths[Byte(&b) % 7];
      if (!strncmp(path, "/particles/", 11) || !strncmp(path, "/pde/", 5) || !strncmp(path, "/model/", 7)) { /* the parent group */
        char parent[32];
        snprintf(parent, sizeof(parent), "%.*s", (int)(strchr(path + 1, '/') - path), path);
        if (H5Lexists(file, parent, H5P_DEFAULT) <= 0 && (g = H5Gcreate2(file, parent, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0) H5Gclose(g);
      }
      if (H5Lexists(file, path, H5P_DEFAULT) <= 0 && !(path[1] == 'a')) MakeDataset(file, path, &b, 0, NULL);
      H5Eclear2(H5E_DEFAULT);
    }
  }
  H5Eclear2(H5E_DEFAULT);
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 || (len = H5Fget_file_image(file, NULL, 0)) <= 0) abort();
  image = malloc((size_t)len);
  if (!image || H5Fget_file_image(file, image, (size_t)len) != len) abort();
  H5Fclose(file);

  /* read it back from the image, as a reader opens a file */
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_core(fapl, 1 << 16, 0);
  H5Pset_file_image(fapl, image, (size_t)len);
  file = H5Fopen("fuzz-image.h5", H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  free(image);
  if (file < 0) abort();
  if (target == 3) {
    MfsaProvenance prov;
    memset(&prov, 0, sizeof(prov));
    prov.solver   = "particles";
    prov.n        = CK_N;
    prov.d        = CK_D;
    prov.heads    = 1;
    prov.k        = CK_D;
    prov.beta     = 2.0;
    prov.mask     = "causal";
    prov.norm     = "softmax";
    prov.geometry = "sphere";
    prov.Q        = CK_Q;
    prov.K        = CK_K;
    prov.V        = CK_V;
    msg[0] = 0;
    if (!MfsaCheckpointValidateFile(file, "fuzz-image.h5", &prov, CK_N * CK_D, msg, sizeof(msg))) snprintf(msg, sizeof(msg), "valid checkpoint");
  } else {
    /* what the reader expects: -init_file n x d, -pde_init_file S x M, -attn_qkv_file H x d x d */
    static const char *const wanted[3]   = {"/particles/x", "/pde/rho", "/model/Q"};
    static const char *const options[3]  = {"-init_file", "-pde_init_file", "-attn_qkv_file"};
    const int                rank        = target == 2 ? 3 : 2;
    hsize_t                  expect[3];
    size_t                   count = 1;
    for (int r = 0; r < rank; r++) {
      expect[r] = Byte(&b) % 7;
      count *= expect[r];
    }
    msg[0] = 0;
    if (!MfsaH5CheckDataset(file, options[target], "fuzz-image.h5", wanted[target], rank, expect, rank == 2 ? "n x d" : NULL, "fix the file", msg, sizeof(msg), NULL, NULL) && count) {
      double *buf = malloc(sizeof(double) * count);
      if (!buf) abort();
      if (!MfsaH5CheckValues(file, options[target], "fuzz-image.h5", wanted[target], (PetscInt64)count, (PetscInt64)expect[rank - 1], buf, msg, sizeof(msg))) snprintf(msg, sizeof(msg), "valid %s", wanted[target]);
      free(buf);
    }
  }
  if (getenv("MFSA_FUZZ_VERBOSE")) fprintf(stderr, "target %u: %s\n", target, msg); /* to check seeds */
  H5Fclose(file);
  H5Eclear2(H5E_DEFAULT);
  /* a validator that leaves a dataset, group, attribute or file open leaks inside HDF5, where
   * LeakSanitizer cannot see it (HDF5 still references it) */
  if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) {
    fprintf(stderr, "fuzz_h5_input: %lld HDF5 objects left open after validation\n", (long long)H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL));
    abort();
  }
  return 0;
}
