/* The attention model object: reads and validates -attn_* and -geometry, builds Q, K, V
 * (identity, seeded Gaussian / sqrt(d), or from an HDF5 file) and B_h = Q_h^T K_h. */
#include "model.h"
#include <petscviewer.h>
#include "options_util.h"
#include "output.h"
#include "rng.h"

const char *const MfsaMaskNames[]     = {"none", "causal", NULL};
const char *const MfsaNormNames[]     = {"softmax", "unnormalized", NULL};
const char *const MfsaGeometryNames[] = {"euclidean", "sphere", NULL};
const char *const MfsaQKVNames[]      = {"identity", "random", "file", NULL};

PetscErrorCode AttnModelCreate(MPI_Comm comm, AttnModel *model)
{
  AttnModel m;

  PetscFunctionBegin;
  PetscCall(PetscNew(&m));
  m->comm       = comm;
  m->d          = 3;
  m->k          = 3;
  m->heads      = 1;
  m->beta       = 1.0;
  m->mask       = MFSA_MASK_NONE;
  m->norm       = MFSA_NORM_SOFTMAX;
  m->geometry   = MFSA_GEOMETRY_SPHERE;
  m->qkv_source = MFSA_QKV_IDENTITY;
  m->seed       = 0;
  *model        = m;
  PetscFunctionReturn(0);
}

PetscErrorCode AttnModelSetDimensions(AttnModel m, PetscInt d, PetscInt heads)
{
  PetscFunctionBegin;
  PetscCheck(d >= 1, m->comm, PETSC_ERR_USER_INPUT, "-attn_dim must be >= 1 (got %" PetscInt_FMT ")", d);
  PetscCheck(heads >= 1, m->comm, PETSC_ERR_USER_INPUT, "-attn_heads must be >= 1 (got %" PetscInt_FMT ")", heads);
  m->d     = d;
  m->k     = d;
  m->heads = heads;
  PetscFunctionReturn(0);
}

PetscErrorCode AttnModelSetFromOptions(AttnModel m)
{
  PetscInt idx;

  PetscFunctionBegin;
  PetscOptionsBegin(m->comm, NULL, "Attention model", "AttnModel");
  PetscCall(PetscOptionsInt("-attn_dim", "State dimension d of each token", NULL, m->d, &m->d, NULL));
  PetscCall(PetscOptionsInt("-attn_heads", "Number of attention heads H", NULL, m->heads, &m->heads, NULL));
  PetscCall(PetscOptionsReal("-attn_beta", "Inverse temperature beta >= 0", NULL, m->beta, &m->beta, NULL));
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-attn_mask", "Attention mask", MfsaMaskNames, m->mask, &idx));
  m->mask = (MfsaMask)idx;
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-attn_norm", "Normalisation: softmax (SA) or unnormalized (USA, 1/|N(i)| sum e^s V x)", MfsaNormNames, m->norm, &idx));
  m->norm = (MfsaNorm)idx;
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-geometry", "Token space: R^d or the unit sphere S^{d-1}", MfsaGeometryNames, m->geometry, &idx));
  m->geometry = (MfsaGeometry)idx;
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-attn_qkv", "Q, K, V per head: identity, seeded Gaussian/sqrt(d), or from -attn_qkv_file", MfsaQKVNames, m->qkv_source, &idx));
  m->qkv_source = (MfsaQKVSource)idx;
  PetscCall(PetscOptionsString("-attn_qkv_file", "HDF5 file with /model/Q, /model/K (H x d x d) and /model/V (H x d x d) (for -attn_qkv file)", NULL, m->qkv_file, m->qkv_file, sizeof(m->qkv_file), NULL));
  {
    PetscInt seed = (PetscInt)m->seed;
    PetscCall(PetscOptionsInt("-seed", "Seed >= 0 of the counter-based RNG (initial data, random Q/K/V)", NULL, seed, &seed, NULL));
    m->seed = seed;
  }
  PetscOptionsEnd();

  PetscCheck(m->d >= 1, m->comm, PETSC_ERR_USER_INPUT, "-attn_dim must be >= 1 (got %" PetscInt_FMT ")", m->d);
  PetscCheck(m->heads >= 1, m->comm, PETSC_ERR_USER_INPUT, "-attn_heads must be >= 1 (got %" PetscInt_FMT ")", m->heads);
  PetscCheck(PetscIsNormalReal(m->beta) || m->beta == 0, m->comm, PETSC_ERR_USER_INPUT, "-attn_beta must be a finite number >= 0 (got %g)", (double)m->beta);
  PetscCheck(m->beta >= 0, m->comm, PETSC_ERR_USER_INPUT, "-attn_beta must be >= 0 (got %g)", (double)m->beta);
  PetscCheck(m->seed >= 0, m->comm, PETSC_ERR_USER_INPUT, "-seed must be >= 0 (got %" PetscInt64_FMT ")", m->seed);
  PetscCheck(m->geometry != MFSA_GEOMETRY_SPHERE || m->d >= 2, m->comm, PETSC_ERR_USER_INPUT, "-geometry sphere needs -attn_dim >= 2 (got %" PetscInt_FMT "); use -geometry euclidean for d = 1", m->d);
  if (m->qkv_source == MFSA_QKV_FILE) PetscCheck(m->qkv_file[0], m->comm, PETSC_ERR_USER_INPUT, "-attn_qkv file needs -attn_qkv_file <file.h5>");
  else PetscCheck(!m->qkv_file[0], m->comm, PETSC_ERR_USER_INPUT, "-attn_qkv_file is only used with -attn_qkv file (got -attn_qkv %s)", MfsaQKVNames[m->qkv_source]);
  m->k = m->d;
  PetscFunctionReturn(0);
}

static void IdentityBlock(PetscInt rows, PetscInt cols, PetscReal *a)
{
  for (PetscInt r = 0; r < rows; r++)
    for (PetscInt c = 0; c < cols; c++) a[r * cols + c] = (r == c) ? 1.0 : 0.0;
}

/* Entry (h, r, c) of a random matrix is drawn from (seed, stream, global element index),
 * so Q/K/V do not depend on the order or number of ranks. */
static void RandomBlock(PetscInt64 seed, uint32_t stream, PetscInt h, PetscInt rows, PetscInt cols, PetscReal scale, PetscReal *a)
{
  for (PetscInt r = 0; r < rows; r++)
    for (PetscInt c = 0; c < cols; c++) {
      double   z[2];
      uint64_t element = ((uint64_t)h * (uint64_t)rows + (uint64_t)r) * (uint64_t)cols + (uint64_t)c;
      MfsaRandomNormal2((uint64_t)seed, stream, element, 0, z);
      a[r * cols + c] = scale * z[0];
    }
}

PetscErrorCode AttnModelSetMatrices(AttnModel m, const PetscReal *Q, const PetscReal *K, const PetscReal *V)
{
  const PetscInt d = m->d, k = m->k, H = m->heads;

  PetscFunctionBegin;
  if (!m->Q) PetscCall(PetscMalloc4(H * k * d, &m->Q, H * k * d, &m->K, H * d * d, &m->V, H * d * d, &m->B));
  PetscCall(PetscArraycpy(m->Q, Q, H * k * d));
  PetscCall(PetscArraycpy(m->K, K, H * k * d));
  PetscCall(PetscArraycpy(m->V, V, H * d * d));
  for (PetscInt h = 0; h < H; h++) {
    const PetscReal *Qh = m->Q + h * k * d, *Kh = m->K + h * k * d;
    PetscReal       *Bh = m->B + h * d * d;
    for (PetscInt a = 0; a < d; a++)
      for (PetscInt b = 0; b < d; b++) {
        PetscReal sum = 0;
        for (PetscInt r = 0; r < k; r++) sum += Qh[r * d + a] * Kh[r * d + b];
        Bh[a * d + b] = sum;
      }
  }
  m->setup = PETSC_TRUE;
  PetscFunctionReturn(0);
}

PetscErrorCode AttnModelSetUp(AttnModel m)
{
  const PetscInt d = m->d, k = m->k, H = m->heads;
  PetscReal     *Q, *K, *V;

  PetscFunctionBegin;
  if (m->setup) PetscFunctionReturn(0);
  PetscCall(PetscMalloc3(H * k * d, &Q, H * k * d, &K, H * d * d, &V));
  switch (m->qkv_source) {
  case MFSA_QKV_IDENTITY:
    for (PetscInt h = 0; h < H; h++) {
      IdentityBlock(k, d, Q + h * k * d);
      IdentityBlock(k, d, K + h * k * d);
      IdentityBlock(d, d, V + h * d * d);
    }
    break;
  case MFSA_QKV_RANDOM: {
    const PetscReal scale = 1.0 / PetscSqrtReal((PetscReal)d);
    for (PetscInt h = 0; h < H; h++) {
      RandomBlock(m->seed, MFSA_STREAM_QUERY, h, k, d, scale, Q + h * k * d);
      RandomBlock(m->seed, MFSA_STREAM_KEY, h, k, d, scale, K + h * k * d);
      RandomBlock(m->seed, MFSA_STREAM_VALUE, h, d, d, scale, V + h * d * d);
    }
  } break;
  case MFSA_QKV_FILE:
    PetscCall(MfsaReadArray3(m->comm, "-attn_qkv_file", m->qkv_file, "/model/Q", H, k, d, Q));
    PetscCall(MfsaReadArray3(m->comm, "-attn_qkv_file", m->qkv_file, "/model/K", H, k, d, K));
    PetscCall(MfsaReadArray3(m->comm, "-attn_qkv_file", m->qkv_file, "/model/V", H, d, d, V));
    break;
  }
  PetscCall(AttnModelSetMatrices(m, Q, K, V));
  PetscCall(PetscFree3(Q, K, V));
  PetscFunctionReturn(0);
}

PetscErrorCode AttnModelView(AttnModel m, PetscViewer viewer)
{
  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "Attention model: d = %" PetscInt_FMT ", heads = %" PetscInt_FMT ", beta = %g, mask = %s, norm = %s, geometry = %s, Q/K/V = %s\n", m->d, m->heads, (double)m->beta, MfsaMaskNames[m->mask], MfsaNormNames[m->norm], MfsaGeometryNames[m->geometry], MfsaQKVNames[m->qkv_source]));
  PetscFunctionReturn(0);
}

PetscErrorCode AttnModelDestroy(AttnModel *model)
{
  PetscFunctionBegin;
  if (!*model) PetscFunctionReturn(0);
  if ((*model)->Q) PetscCall(PetscFree4((*model)->Q, (*model)->K, (*model)->V, (*model)->B));
  PetscCall(PetscFree(*model));
  PetscFunctionReturn(0);
}
