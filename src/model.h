/* The attention model: dimension, heads, Q/K/V, beta, mask, attention kernel (softmax and its
 * variants, MODEL.md §4), layer normalisation, geometry. Options are read by this object
 * (-attn_*, -geometry). It precomputes B_h = Q_h^T K_h, which is all the pair kernel needs
 * besides V_h. */
#pragma once
#include <petscsys.h>

typedef enum { MFSA_MASK_NONE, MFSA_MASK_CAUSAL } MfsaMask;
typedef enum { MFSA_NORM_SOFTMAX, MFSA_NORM_UNNORMALIZED } MfsaNorm;
typedef enum { MFSA_GEOMETRY_EUCLIDEAN, MFSA_GEOMETRY_SPHERE } MfsaGeometry;
typedef enum { MFSA_QKV_IDENTITY, MFSA_QKV_RANDOM, MFSA_QKV_FILE } MfsaQKVSource;
/* -attn_kernel: the weight of key j for query i (s = beta <Q_h x_i, K_h x_j>):
 *   softmax       e^s / sum_l e^s_il                 unnormalized  e^s / |N(i)|
 *   sigmoid       sigma(s + b_i), b_i = -log|N(i)| (default) or -attn_sigmoid_bias
 *   relu          max(s, 0)                          linear        s
 *   hyla          per-pair hypernetwork: scores RMS-normalised over the heads, ReLU value network
 * sigmoid/relu/linear/hyla are further scaled by c_i = 1/|N(i)| (-attn_kernel_norm count) or 1
 * (none); defaults: count for relu/linear/hyla, none for sigmoid. */
typedef enum { MFSA_KERNEL_SOFTMAX, MFSA_KERNEL_UNNORMALIZED, MFSA_KERNEL_SIGMOID, MFSA_KERNEL_RELU, MFSA_KERNEL_LINEAR, MFSA_KERNEL_HYLA } MfsaKernel;
typedef enum { MFSA_KERNEL_NORM_DEFAULT, MFSA_KERNEL_NORM_COUNT, MFSA_KERNEL_NORM_NONE } MfsaKernelNorm;
/* -attn_ln: where the layer normalisation sits (MODEL.md §1, README "Model"):
 *   none  tokens in R^d, x' = f(X)                       (-geometry euclidean)
 *   post  tokens on the sphere, x' = P_x f(X)            (-geometry sphere; the default there)
 *   pre   tokens in R^d, attention on x/|x|: x' = f(X^)  (-geometry euclidean)
 *   ngpt  tokens on the sphere, x' = alpha P_x (f/|f|)   (-geometry sphere; nGPT's update) */
typedef enum { MFSA_LN_DEFAULT, MFSA_LN_NONE, MFSA_LN_POST, MFSA_LN_PRE, MFSA_LN_NGPT } MfsaLayerNorm;

extern const char *const MfsaMaskNames[];
extern const char *const MfsaNormNames[];
extern const char *const MfsaGeometryNames[];
extern const char *const MfsaQKVNames[];
extern const char *const MfsaKernelNames[];     /* option values of -attn_kernel */
extern const char *const MfsaKernelNormNames[]; /* "default", "count", "none" */
extern const char *const MfsaLayerNormNames[];  /* "default", "none", "post", "pre", "ngpt" */

typedef struct _p_AttnModel *AttnModel;
struct _p_AttnModel {
  MPI_Comm      comm;
  PetscInt      d;     /* state dimension */
  PetscInt      k;     /* query/key dimension per head */
  PetscInt      heads; /* H */
  PetscReal     beta;
  MfsaMask      mask;
  MfsaNorm      norm;        /* softmax or unnormalized: kept equal to the exp kernels' choice */
  MfsaKernel    kernel;      /* -attn_kernel */
  MfsaKernelNorm kernel_norm; /* resolved by SetFromOptions: COUNT or NONE for non-exp kernels */
  PetscBool     sigmoid_bias_set;
  PetscReal     sigmoid_bias; /* -attn_sigmoid_bias (when set; else -log|N(i)|) */
  PetscReal     hyla_eps;     /* -attn_hyla_eps: epsilon of the RMS over heads */
  MfsaLayerNorm ln;           /* resolved: NONE/PRE (euclidean) or POST/NGPT (sphere) */
  PetscReal     ngpt_alpha;   /* -attn_ngpt_alpha: speed of the nGPT update */
  char          kernel_desc[128]; /* one line naming kernel and its parameters (provenance) */
  MfsaGeometry  geometry;
  MfsaQKVSource qkv_source;
  char          qkv_file[PETSC_MAX_PATH_LEN];
  PetscInt64    seed;
  /* Row-major per head: Q[h*k*d + a*d + b], K likewise (k x d), V[h*d*d + a*d + b] (d x d). */
  PetscReal    *Q, *K, *V;
  PetscReal    *B; /* B_h = Q_h^T K_h, d x d per head, row-major */
  PetscBool     setup;
};

PetscErrorCode AttnModelCreate(MPI_Comm, AttnModel *);
PetscErrorCode AttnModelSetFromOptions(AttnModel);
PetscErrorCode AttnModelSetUp(AttnModel);
PetscErrorCode AttnModelView(AttnModel, PetscViewer);
PetscErrorCode AttnModelDestroy(AttnModel *);
/* Setters for programs that build a model without the options database (tests, benchmarks). */
PetscErrorCode AttnModelSetDimensions(AttnModel, PetscInt d, PetscInt heads);
PetscErrorCode AttnModelSetMatrices(AttnModel, const PetscReal *Q, const PetscReal *K, const PetscReal *V);
/* Kernel and layer norm without the options database; runs the same checks as the options
 * (then kernel_norm/ln DEFAULT resolve as there). */
PetscErrorCode AttnModelSetKernel(AttnModel, MfsaKernel, MfsaKernelNorm, MfsaLayerNorm);

/* softmax or unnormalized: the exp kernels (online log-sum-exp in the pair kernel). */
PetscBool AttnModelKernelIsExp(AttnModel);
/* The row factor c_i of a non-exp kernel for a query that attends `count` keys: 1/count or 1. */
PetscReal AttnModelRowScale(AttnModel, PetscInt count);
/* The score offset b_i of the sigmoid kernel for a query that attends `count` keys (0 otherwise). */
PetscReal AttnModelScoreBias(AttnModel, PetscInt count);
/* Scale of the per-head score: beta (beta/sqrt(d) for hyla, whose scores are <Qx,Kx>/sqrt(d_h)). */
PetscReal AttnModelScoreScale(AttnModel);
