/* mfsa-lipschitz: the local Lipschitz constant ||Df(X)||_2 of (masked) self-attention
 * (MODEL.md §5) for inputs X from several families, swept over n. Object pattern: Create /
 * SetFromOptions (-lip_*) / SetUp / Run / View / Destroy; the attention model is read from the
 * usual -attn_* options, output goes to -out <folder>/lipschitz.h5. */
#pragma once
#include <petscmat.h>
#include "model.h"
#include "output.h"

typedef enum { LIP_INPUT_BALL, LIP_INPUT_SPHERE, LIP_INPUT_ADVERSARIAL, LIP_INPUT_UNIFORM, LIP_INPUT_GAUSSIAN, LIP_INPUT_SNAPSHOT } LipInputFamily;
extern const char *const LipInputNames[];

/* Power iteration on Df^T Df: v <- Df^T Df v / ||.||, lambda = ||Df v||^2. Stops when the
 * relative eigen-residual ||Df^T Df v - lambda v|| / lambda <= tol (then some eigenvalue of
 * Df^T Df lies within tol*lambda of lambda), or after max_it products. sigma = sqrt(lambda). */
typedef struct {
  PetscReal sigma, residual;
  PetscInt  iterations;
  PetscBool converged;
} LipschitzEstimate;
PetscErrorCode LipschitzPowerIteration(Mat J, PetscReal tol, PetscInt max_it, PetscInt64 seed, LipschitzEstimate *est);
/* Lanczos on Df^T Df with full reorthogonalisation (each step one JVP + one VJP, one more Vec of
 * memory): the largest Ritz value lambda and its residual ||Df^T Df z - lambda z|| = beta_k |y_k|,
 * the same stopping rule as the power iteration; converges in far fewer products when the top
 * singular values are close. */
PetscErrorCode LipschitzLanczos(Mat J, PetscReal tol, PetscInt max_it, PetscInt64 seed, LipschitzEstimate *est);
/* Unit start vector from the counter-based RNG keyed by (seed, global entry). */
PetscErrorCode LipschitzStartVector(Vec v, PetscInt64 seed);
typedef enum { LIP_METHOD_LANCZOS, LIP_METHOD_POWER } LipMethod;
extern const char *const LipMethodNames[];

/* Tokens lo..lo+nloc-1 (nloc x d) of the family at size n: ball = uniform in the ball of radius
 * R; sphere = uniform on the sphere of radius R; adversarial = the constructed family of
 * lipschitz_inputs.c; uniform / gaussian = the particle solver's initialisers. Snapshot inputs are
 * read by the study. Counter-based RNG keyed by (seed, global index). */
PetscErrorCode LipschitzInputTokens(AttnModel, LipInputFamily, PetscReal R, PetscInt n, PetscInt lo, PetscInt nloc, PetscReal *x);

/* MODEL.md §5's upper bound sum_h ||V_h|| (1 + 3 beta ||B_h|| R^2) min(sqrt n, e^{beta ||B_h|| R^2})
 * for unmasked softmax attention in R^d; NaN where it does not apply (masked, unnormalised, sphere). */
PetscErrorCode LipschitzUpperBound(AttnModel, PetscInt n, PetscReal R, PetscReal *bound);

typedef struct _p_MfsaLipschitz *MfsaLipschitz;
PetscErrorCode MfsaLipschitzCreate(AttnModel, MfsaLipschitz *);
PetscErrorCode MfsaLipschitzSetFromOptions(MfsaLipschitz);
PetscErrorCode MfsaLipschitzSetUp(MfsaLipschitz);
/* Every family x every n: estimate, print a line, rewrite <out>/lipschitz.h5. */
PetscErrorCode MfsaLipschitzRun(MfsaLipschitz, MfsaOutput);
PetscErrorCode MfsaLipschitzView(MfsaLipschitz, PetscViewer);
PetscErrorCode MfsaLipschitzDestroy(MfsaLipschitz *);
