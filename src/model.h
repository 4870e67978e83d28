/* The attention model: dimension, heads, Q/K/V, beta, mask, normalisation, geometry.
 * Options are read by this object (-attn_*, -geometry). It precomputes B_h = Q_h^T K_h,
 * which is all the pair kernel needs besides V_h. */
#pragma once
#include <petscsys.h>

typedef enum { MFSA_MASK_NONE, MFSA_MASK_CAUSAL } MfsaMask;
typedef enum { MFSA_NORM_SOFTMAX, MFSA_NORM_UNNORMALIZED } MfsaNorm;
typedef enum { MFSA_GEOMETRY_EUCLIDEAN, MFSA_GEOMETRY_SPHERE } MfsaGeometry;
typedef enum { MFSA_QKV_IDENTITY, MFSA_QKV_RANDOM, MFSA_QKV_FILE } MfsaQKVSource;

extern const char *const MfsaMaskNames[];
extern const char *const MfsaNormNames[];
extern const char *const MfsaGeometryNames[];
extern const char *const MfsaQKVNames[];

typedef struct _p_AttnModel *AttnModel;
struct _p_AttnModel {
  MPI_Comm      comm;
  PetscInt      d;     /* state dimension */
  PetscInt      k;     /* query/key dimension per head */
  PetscInt      heads; /* H */
  PetscReal     beta;
  MfsaMask      mask;
  MfsaNorm      norm;
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
