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
const char *const MfsaKernelNames[]   = {"softmax", "unnormalized", "sigmoid", "relu", "linear", "hyla", NULL};
const char *const MfsaKernelNormNames[] = {"default", "count", "none", NULL};
const char *const MfsaLayerNormNames[]  = {"default", "none", "post", "pre", "ngpt", NULL};

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
  m->kernel     = MFSA_KERNEL_SOFTMAX;
  m->hyla_eps   = 1e-6;
  m->ngpt_alpha = 1.0;
  PetscCall(PetscStrncpy(m->kernel_desc, "softmax", sizeof(m->kernel_desc)));
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
  PetscInt  idx;
  PetscBool norm_set = PETSC_FALSE, kernel_set = PETSC_FALSE, hyla_eps_set = PETSC_FALSE, alpha_set = PETSC_FALSE;

  PetscFunctionBegin;
  PetscOptionsBegin(m->comm, NULL, "Attention model", "AttnModel");
  PetscCall(PetscOptionsInt("-attn_dim", "State dimension d of each token", NULL, m->d, &m->d, NULL));
  PetscCall(PetscOptionsInt("-attn_heads", "Number of attention heads H", NULL, m->heads, &m->heads, NULL));
  PetscCall(PetscOptionsReal("-attn_beta", "Inverse temperature beta >= 0", NULL, m->beta, &m->beta, NULL));
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-attn_mask", "Attention mask", MfsaMaskNames, m->mask, &idx));
  m->mask = (MfsaMask)idx;
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-attn_norm", "Normalisation of the exp kernel: softmax (SA) or unnormalized (USA, 1/|N(i)| sum e^s V x); same as -attn_kernel softmax|unnormalized", MfsaNormNames, m->norm, &idx));
  PetscCall(PetscOptionsHasName(NULL, NULL, "-attn_norm", &norm_set));
  m->norm = (MfsaNorm)idx;
  {
    const MfsaKernel fallback = m->norm == MFSA_NORM_UNNORMALIZED ? MFSA_KERNEL_UNNORMALIZED : (m->kernel == MFSA_KERNEL_UNNORMALIZED ? MFSA_KERNEL_SOFTMAX : m->kernel);
    PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-attn_kernel", "Attention weights: softmax, unnormalized (USA), sigmoid, relu, linear, hyla (MODEL.md §4)", MfsaKernelNames, fallback, &idx));
    PetscCall(PetscOptionsHasName(NULL, NULL, "-attn_kernel", &kernel_set));
    m->kernel = (MfsaKernel)idx;
  }
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-attn_kernel_norm", "Row factor of sigmoid/relu/linear/hyla: count (1/|N(i)|) or none; default: none for sigmoid, count otherwise", MfsaKernelNormNames, m->kernel_norm, &idx));
  m->kernel_norm = (MfsaKernelNorm)idx;
  PetscCall(PetscOptionsReal("-attn_sigmoid_bias", "Fixed score offset b of -attn_kernel sigmoid (default: b_i = -log|N(i)|)", NULL, m->sigmoid_bias, &m->sigmoid_bias, &m->sigmoid_bias_set));
  PetscCall(PetscOptionsReal("-attn_hyla_eps", "epsilon of the RMS over heads of -attn_kernel hyla", NULL, m->hyla_eps, &m->hyla_eps, &hyla_eps_set));
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-attn_ln", "Layer norm: none/pre (tokens in R^d) or post/ngpt (tokens on the sphere); default: post on the sphere, none in R^d", MfsaLayerNormNames, m->ln, &idx));
  m->ln = (MfsaLayerNorm)idx;
  PetscCall(PetscOptionsReal("-attn_ngpt_alpha", "Speed alpha > 0 of -attn_ln ngpt (x' = alpha P_x f/|f|)", NULL, m->ngpt_alpha, &m->ngpt_alpha, &alpha_set));
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
  if (norm_set && kernel_set) PetscCheck((m->norm == MFSA_NORM_SOFTMAX && m->kernel == MFSA_KERNEL_SOFTMAX) || (m->norm == MFSA_NORM_UNNORMALIZED && m->kernel == MFSA_KERNEL_UNNORMALIZED), m->comm, PETSC_ERR_USER_INPUT, "-attn_norm %s contradicts -attn_kernel %s: -attn_norm only chooses between softmax and unnormalized; give -attn_kernel alone", MfsaNormNames[m->norm], MfsaKernelNames[m->kernel]);
  PetscCheck(!m->sigmoid_bias_set || m->kernel == MFSA_KERNEL_SIGMOID, m->comm, PETSC_ERR_USER_INPUT, "-attn_sigmoid_bias is only used by -attn_kernel sigmoid (got -attn_kernel %s)", MfsaKernelNames[m->kernel]);
  PetscCheck(!m->sigmoid_bias_set || PetscIsNormalReal(m->sigmoid_bias) || m->sigmoid_bias == 0, m->comm, PETSC_ERR_USER_INPUT, "-attn_sigmoid_bias must be a finite number (got %g)", (double)m->sigmoid_bias);
  PetscCheck(!hyla_eps_set || m->kernel == MFSA_KERNEL_HYLA, m->comm, PETSC_ERR_USER_INPUT, "-attn_hyla_eps is only used by -attn_kernel hyla (got -attn_kernel %s)", MfsaKernelNames[m->kernel]);
  PetscCheck(!alpha_set || m->ln == MFSA_LN_NGPT, m->comm, PETSC_ERR_USER_INPUT, "-attn_ngpt_alpha is only used with -attn_ln ngpt (got -attn_ln %s)", MfsaLayerNormNames[m->ln]);
  m->k = m->d;
  PetscCall(AttnModelSetKernel(m, m->kernel, m->kernel_norm, m->ln));
  PetscFunctionReturn(0);
}

PetscErrorCode AttnModelSetKernel(AttnModel m, MfsaKernel kernel, MfsaKernelNorm kernel_norm, MfsaLayerNorm ln)
{
  const PetscBool sphere = m->geometry == MFSA_GEOMETRY_SPHERE ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBegin;
  m->kernel = kernel;
  if (kernel == MFSA_KERNEL_SOFTMAX) m->norm = MFSA_NORM_SOFTMAX;
  if (kernel == MFSA_KERNEL_UNNORMALIZED) m->norm = MFSA_NORM_UNNORMALIZED;
  PetscCheck(kernel_norm == MFSA_KERNEL_NORM_DEFAULT || !AttnModelKernelIsExp(m), m->comm, PETSC_ERR_USER_INPUT, "-attn_kernel_norm is for sigmoid, relu, linear and hyla; -attn_kernel %s fixes its own normalisation (softmax: the row sum; unnormalized: 1/|N(i)|)", MfsaKernelNames[kernel]);
  if (kernel_norm == MFSA_KERNEL_NORM_DEFAULT) kernel_norm = kernel == MFSA_KERNEL_SIGMOID ? MFSA_KERNEL_NORM_NONE : MFSA_KERNEL_NORM_COUNT;
  m->kernel_norm = kernel_norm;
  PetscCheck(kernel != MFSA_KERNEL_HYLA || m->heads >= 2, m->comm, PETSC_ERR_USER_INPUT, "-attn_kernel hyla normalises the scores over the heads and needs -attn_heads >= 2 (got %" PetscInt_FMT ")", m->heads);
  PetscCheck(kernel != MFSA_KERNEL_HYLA || (m->hyla_eps > 0 && PetscIsNormalReal(m->hyla_eps)), m->comm, PETSC_ERR_USER_INPUT, "-attn_hyla_eps must be a finite number > 0 (got %g)", (double)m->hyla_eps);
  if (ln == MFSA_LN_DEFAULT) ln = sphere ? MFSA_LN_POST : MFSA_LN_NONE;
  PetscCheck(!sphere || ln == MFSA_LN_POST || ln == MFSA_LN_NGPT, m->comm, PETSC_ERR_USER_INPUT, "-attn_ln %s keeps tokens in R^d: use it with -geometry euclidean (with -geometry sphere -attn_ln is post or ngpt)", MfsaLayerNormNames[ln]);
  PetscCheck(sphere || ln == MFSA_LN_NONE || ln == MFSA_LN_PRE, m->comm, PETSC_ERR_USER_INPUT, "-attn_ln %s keeps tokens on the unit sphere: use it with -geometry sphere (with -geometry euclidean -attn_ln is none or pre)", MfsaLayerNormNames[ln]);
  PetscCheck(ln != MFSA_LN_NGPT || (m->ngpt_alpha > 0 && PetscIsNormalReal(m->ngpt_alpha)), m->comm, PETSC_ERR_USER_INPUT, "-attn_ngpt_alpha must be a finite number > 0 (got %g)", (double)m->ngpt_alpha);
  m->ln = ln;
  switch (kernel) {
  case MFSA_KERNEL_SOFTMAX:
  case MFSA_KERNEL_UNNORMALIZED:
    PetscCall(PetscSNPrintf(m->kernel_desc, sizeof(m->kernel_desc), "%s", MfsaKernelNames[kernel]));
    break;
  case MFSA_KERNEL_SIGMOID:
    if (m->sigmoid_bias_set) PetscCall(PetscSNPrintf(m->kernel_desc, sizeof(m->kernel_desc), "sigmoid bias=%.15g norm=%s", (double)m->sigmoid_bias, MfsaKernelNormNames[kernel_norm]));
    else PetscCall(PetscSNPrintf(m->kernel_desc, sizeof(m->kernel_desc), "sigmoid bias=-log|N(i)| norm=%s", MfsaKernelNormNames[kernel_norm]));
    break;
  case MFSA_KERNEL_RELU:
  case MFSA_KERNEL_LINEAR:
    PetscCall(PetscSNPrintf(m->kernel_desc, sizeof(m->kernel_desc), "%s norm=%s", MfsaKernelNames[kernel], MfsaKernelNormNames[kernel_norm]));
    break;
  case MFSA_KERNEL_HYLA:
    PetscCall(PetscSNPrintf(m->kernel_desc, sizeof(m->kernel_desc), "hyla eps=%.15g norm=%s", (double)m->hyla_eps, MfsaKernelNormNames[kernel_norm]));
    break;
  }
  if (ln == MFSA_LN_NGPT) {
    size_t len;
    PetscCall(PetscStrlen(m->kernel_desc, &len));
    PetscCall(PetscSNPrintf(m->kernel_desc + len, sizeof(m->kernel_desc) - len, " ngpt_alpha=%.15g", (double)m->ngpt_alpha));
  }
  PetscFunctionReturn(0);
}

PetscBool AttnModelKernelIsExp(AttnModel m)
{
  return (m->kernel == MFSA_KERNEL_SOFTMAX || m->kernel == MFSA_KERNEL_UNNORMALIZED) ? PETSC_TRUE : PETSC_FALSE;
}

PetscReal AttnModelRowScale(AttnModel m, PetscInt count)
{
  const MfsaKernelNorm kn = m->kernel_norm != MFSA_KERNEL_NORM_DEFAULT ? m->kernel_norm : (m->kernel == MFSA_KERNEL_SIGMOID ? MFSA_KERNEL_NORM_NONE : MFSA_KERNEL_NORM_COUNT);
  return kn == MFSA_KERNEL_NORM_COUNT ? 1.0 / (PetscReal)count : 1.0;
}

PetscReal AttnModelScoreBias(AttnModel m, PetscInt count)
{
  if (m->kernel != MFSA_KERNEL_SIGMOID) return 0;
  return m->sigmoid_bias_set ? m->sigmoid_bias : -PetscLogReal((PetscReal)count);
}

PetscReal AttnModelScoreScale(AttnModel m)
{
  return m->kernel == MFSA_KERNEL_HYLA ? m->beta / PetscSqrtReal((PetscReal)m->k) : m->beta;
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
  PetscCall(PetscViewerASCIIPrintf(viewer, "Attention model: d = %" PetscInt_FMT ", heads = %" PetscInt_FMT ", beta = %g, mask = %s, kernel = %s, layer norm = %s, geometry = %s, Q/K/V = %s\n", m->d, m->heads, (double)m->beta, MfsaMaskNames[m->mask], m->kernel_desc, MfsaLayerNormNames[m->ln], MfsaGeometryNames[m->geometry], MfsaQKVNames[m->qkv_source]));
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
