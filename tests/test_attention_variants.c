/* Issue 9, acceptance 1: the velocity of every attention variant through the particle solver's
 * own path (the TS right-hand side of solvers/particles.c: allgather or ring exchange, pre-LN
 * normalisation, AttnField, the pair-kernel layer, the layer norm) against the dense long-double
 * reference of tests/brute_variants.h, written from the formulas of MODEL.md §4.
 *
 * Grid: kernels softmax, unnormalized, sigmoid (default bias, norm none; fixed bias, norm count),
 * relu (count, none), linear (count, none), hyla (2 heads, default eps; 3 heads, eps 0.25) x
 * layer norm none, pre (R^d), post, ngpt (sphere) x mask none, causal x exchange allgather, ring x
 * (d, heads) = (2, 2), (3, 1), (5, 2) (hyla: its own heads) -- 480 cases of n = 23 tokens, random Q/K/V, random
 * tokens; plus one case per kernel with n = 600 (crosses the pair kernel's 512-key tile). On 2
 * ranks every rank checks its own rows (the ring then really moves blocks).
 *
 * Error: per token |F_i - F_ref_i|_max / (mag_i + |F_ref_i|) where mag_i bounds the sum of the
 * absolute values of the terms of f_i (softmax: normalised weights; ngpt: divided by |f_i|, the
 * conditioning of f/|f|): a relative round-off measure that does not depend on cancellation.
 * Tolerance 1e-13: double sums of <= 600 terms with libm/libmvec exp (a few ulp) stay below
 * ~600 * 2^-53 = 7e-14 of the terms' magnitude, and in practice far below.
 *
 * Rank invariance: for each kernel x layer norm (40 cases) 5 fixed RK4 steps with the retraction,
 * once on PETSC_COMM_WORLD and once on PETSC_COMM_SELF (the whole problem on one rank): the final
 * states must be bitwise identical (allgather exchange). On 1 rank this is trivial; it runs in the
 * np2 test. */
#include <petscts.h>
#include "solver.h"
#include "variants_solver.h"
#include "rng.h"
#include "brute_variants.h"
#include <string.h>

#define TOL 1e-13

typedef struct {
  MfsaKernel  kernel;
  const char *opts;  /* extra options */
  PetscBool   count; /* resolved row factor 1/|N(i)| */
  PetscBool   bias_set;
  double      bias;
  double      eps;
  PetscInt    heads; /* 0: from the loop */
} KernelCase;

static const KernelCase kcases[] = {
  {MFSA_KERNEL_SOFTMAX, "-attn_kernel softmax", PETSC_FALSE, PETSC_FALSE, 0, 0, 0},
  {MFSA_KERNEL_UNNORMALIZED, "-attn_kernel unnormalized", PETSC_FALSE, PETSC_FALSE, 0, 0, 0},
  {MFSA_KERNEL_SIGMOID, "-attn_kernel sigmoid", PETSC_FALSE, PETSC_FALSE, 0, 0, 0},
  {MFSA_KERNEL_SIGMOID, "-attn_kernel sigmoid -attn_sigmoid_bias -0.7 -attn_kernel_norm count", PETSC_TRUE, PETSC_TRUE, -0.7, 0, 0},
  {MFSA_KERNEL_RELU, "-attn_kernel relu", PETSC_TRUE, PETSC_FALSE, 0, 0, 0},
  {MFSA_KERNEL_RELU, "-attn_kernel relu -attn_kernel_norm none", PETSC_FALSE, PETSC_FALSE, 0, 0, 0},
  {MFSA_KERNEL_LINEAR, "-attn_kernel linear -attn_kernel_norm count", PETSC_TRUE, PETSC_FALSE, 0, 0, 0},
  {MFSA_KERNEL_LINEAR, "-attn_kernel linear -attn_kernel_norm none", PETSC_FALSE, PETSC_FALSE, 0, 0, 0},
  {MFSA_KERNEL_HYLA, "-attn_kernel hyla", PETSC_TRUE, PETSC_FALSE, 0, 1e-6, 2},
  {MFSA_KERNEL_HYLA, "-attn_kernel hyla -attn_hyla_eps 0.25 -attn_kernel_norm count", PETSC_TRUE, PETSC_FALSE, 0, 0.25, 3},
};
#define NKERNEL ((int)(sizeof(kcases) / sizeof(kcases[0])))

typedef struct {
  MfsaLayerNorm ln;
  const char   *opts;
} LnCase;
static const LnCase lncases[] = {
  {MFSA_LN_NONE, "-geometry euclidean -attn_ln none"},
  {MFSA_LN_PRE, "-geometry euclidean -attn_ln pre"},
  {MFSA_LN_POST, "-geometry sphere -attn_ln post"},
  {MFSA_LN_NGPT, "-geometry sphere -attn_ln ngpt -attn_ngpt_alpha 0.7"},
};

/* Tokens of case `seed`: unit vectors (sphere), or Gaussians of varied norm (R^d). */
static void Tokens(PetscInt n, PetscInt d, PetscBool sphere, uint64_t seed, double *x)
{
  for (PetscInt i = 0; i < n; i++) {
    double nrm = 0, z[2];
    MfsaRandomNormals(seed, 31, (uint64_t)i, (int)d, x + i * d);
    for (PetscInt a = 0; a < d; a++) nrm += x[i * d + a] * x[i * d + a];
    nrm = sqrt(nrm);
    MfsaRandomNormals(seed, 32, (uint64_t)i, 2, z);
    for (PetscInt a = 0; a < d; a++) x[i * d + a] *= sphere ? 1.0 / nrm : (0.5 + 0.4 * fabs(z[0])) / sqrt((double)d);
  }
}

/* Local rows of X <- rows lo.. of the global token array x. */
static PetscErrorCode SetState(Vec X, const double *x)
{
  PetscInt     lo, hi;
  PetscScalar *a;

  PetscFunctionBegin;
  PetscCall(VecGetOwnershipRange(X, &lo, &hi));
  PetscCall(VecGetArrayWrite(X, &a));
  for (PetscInt k = lo; k < hi; k++) a[k - lo] = x[k];
  PetscCall(VecRestoreArrayWrite(X, &a));
  PetscFunctionReturn(0);
}

/* One case: the solver's RHS at tokens x vs the reference; *err = worst relative error on this
 * rank's rows (collective max afterwards by the caller). */
static PetscErrorCode VelocityCase(const KernelCase *kc, const LnCase *lc, PetscBool causal, PetscBool ring, PetscInt d, PetscInt H, PetscInt n, uint64_t seed, double *err)
{
  char         opts[1024];
  AttnModel    m;
  MfsaSolver   s;
  Vec          F;
  PetscInt     lo, hi;
  double      *x, *Fref, *mag, *B;
  const double beta = 1.3;
  const PetscScalar *f;

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(opts, sizeof(opts), "%s %s -attn_dim %" PetscInt_FMT " -attn_heads %" PetscInt_FMT " -attn_qkv random -seed %d -attn_beta %g -attn_mask %s -n %" PetscInt_FMT " -particles_exchange %s -ts_dt 0.01 -ts_max_time 0.05", kc->opts, lc->opts, d, H, (int)(seed % 1000), beta, causal ? "causal" : "none", n, ring ? "ring" : "allgather"));
  PetscCall(VariantsBuild(PETSC_COMM_WORLD, opts, &m, &s));
  PetscCall(PetscMalloc4(n * d, &x, n * d, &Fref, n, &mag, H * d * d, &B));
  Tokens(n, d, lc->ln == MFSA_LN_POST || lc->ln == MFSA_LN_NGPT, seed, x);
  PetscCall(SetState(s->X, x));
  PetscCall(VecDuplicate(s->X, &F));
  PetscCall(TSComputeRHSFunction(s->ts, 0.0, s->X, F));

  /* B_h = Q_h^T K_h from the model's Q, K (recomputed here, not taken from m->B) */
  for (PetscInt h = 0; h < H; h++)
    for (PetscInt a = 0; a < d; a++)
      for (PetscInt b = 0; b < d; b++) {
        long double sum = 0;
        for (PetscInt r = 0; r < d; r++) sum += (long double)m->Q[h * d * d + r * d + a] * m->K[h * d * d + r * d + b];
        B[h * d * d + a * d + b] = (double)sum;
      }
  {
    BruteVariant bv = {kc->kernel, kc->count, kc->bias_set, kc->bias, kc->eps, lc->ln, 0.7, causal, beta, n, d, H, B, m->V};
    BruteVariantVelocity(&bv, x, Fref, mag);
  }
  PetscCall(VecGetOwnershipRange(F, &lo, &hi));
  PetscCall(VecGetArrayRead(F, &f));
  *err = 0;
  for (PetscInt i = lo / d; i < hi / d; i++) {
    double e = 0, fr = 0;
    for (PetscInt a = 0; a < d; a++) {
      e  = PetscMax(e, fabs(f[i * d + a - lo] - Fref[i * d + a]));
      fr = PetscMax(fr, fabs(Fref[i * d + a]));
      if (!isfinite(f[i * d + a - lo])) e = INFINITY;
    }
    e /= (mag[i] + fr + 1e-300);
    *err = PetscMax(*err, e);
  }
  PetscCall(VecRestoreArrayRead(F, &f));
  PetscCall(VecDestroy(&F));
  PetscCall(PetscFree4(x, Fref, mag, B));
  PetscCall(VariantsDestroy(&m, &s));
  PetscFunctionReturn(0);
}

/* 5 RK4 steps (+ the solver's retraction) from tokens x on comm; the whole final state on every
 * rank in y (n x d). */
static PetscErrorCode Trajectory(MPI_Comm comm, const char *opts, PetscInt n, PetscInt d, const double *x, double *y)
{
  AttnModel   m;
  MfsaSolver  s;
  VecScatter  sc;
  Vec         all;
  const PetscScalar *a;

  PetscFunctionBegin;
  PetscCall(VariantsBuild(comm, opts, &m, &s));
  PetscCall(SetState(s->X, x));
  PetscCall(VariantsStep(s, 5));
  PetscCall(VecScatterCreateToAll(s->X, &sc, &all));
  PetscCall(VecScatterBegin(sc, s->X, all, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecScatterEnd(sc, s->X, all, INSERT_VALUES, SCATTER_FORWARD));
  PetscCall(VecGetArrayRead(all, &a));
  for (PetscInt k = 0; k < n * d; k++) y[k] = a[k];
  PetscCall(VecRestoreArrayRead(all, &a));
  PetscCall(VecScatterDestroy(&sc));
  PetscCall(VecDestroy(&all));
  PetscCall(VariantsDestroy(&m, &s));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  const PetscInt dims[] = {2, 3, 5}, hcombo[] = {2, 1, 2}; /* (d, heads) pairs */
  PetscInt       cases = 0, failures = 0;
  double         worst[NKERNEL] = {0};
  PetscMPIInt    size, rank;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCallMPI(MPI_Comm_size(PETSC_COMM_WORLD, &size));
  PetscCallMPI(MPI_Comm_rank(PETSC_COMM_WORLD, &rank));
  for (int k = 0; k < NKERNEL; k++)
    for (int l = 0; l < 4; l++)
      for (int causal = 0; causal < 2; causal++)
        for (int ring = 0; ring < 2; ring++)
          for (int di = 0; di < 3; di++) {
              const PetscInt heads = kcases[k].heads ? kcases[k].heads : hcombo[di];
              const uint64_t seed  = 1000 + (uint64_t)cases;
              double         e, eg;
              PetscCall(VelocityCase(&kcases[k], &lncases[l], (PetscBool)causal, (PetscBool)ring, dims[di], heads, 23, seed, &e));
              PetscCallMPI(MPI_Allreduce(&e, &eg, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
              cases++;
              worst[k] = PetscMax(worst[k], eg);
              if (!(eg <= TOL)) {
                failures++;
                PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL velocity [%s | %s | mask %s | %s | d=%d H=%d n=23]: rel err %.3e > %.0e\n", kcases[k].opts, lncases[l].opts, causal ? "causal" : "none", ring ? "ring" : "allgather", (int)dims[di], (int)heads, eg, TOL));
              }
            }
  /* one case per kernel across the 512-key tile boundary */
  for (int k = 0; k < NKERNEL; k++) {
    const PetscInt heads = kcases[k].heads ? kcases[k].heads : 2;
    double         e, eg;
    PetscCall(VelocityCase(&kcases[k], &lncases[k % 4], (PetscBool)(k % 2), (PetscBool)(k % 3 == 0), 3, heads, 600, 7000 + (uint64_t)k, &e));
    PetscCallMPI(MPI_Allreduce(&e, &eg, 1, MPI_DOUBLE, MPI_MAX, PETSC_COMM_WORLD));
    cases++;
    worst[k] = PetscMax(worst[k], eg);
    if (!(eg <= TOL)) {
      failures++;
      PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL velocity [%s | %s | n=600]: rel err %.3e > %.0e\n", kcases[k].opts, lncases[k % 4].opts, eg, TOL));
    }
  }
  for (int k = 0; k < NKERNEL; k++) PetscCall(PetscPrintf(PETSC_COMM_WORLD, "velocity vs dense reference, %-70s worst rel err %.2e (tol %.0e)\n", kcases[k].opts, worst[k], TOL));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%" PetscInt_FMT " velocity cases on %d rank(s), %" PetscInt_FMT " failed\n", cases, size, failures));

  /* rank invariance of 5 RK4 steps: PETSC_COMM_WORLD vs the whole problem on PETSC_COMM_SELF */
  {
    const PetscInt n = 29, d = 3;
    PetscInt       bad = 0, tried = 0;
    double        *x, *yw, *ys;
    PetscCall(PetscMalloc3(n * d, &x, n * d, &yw, n * d, &ys));
    for (int k = 0; k < NKERNEL; k++)
      for (int l = 0; l < 4; l++) {
        char           opts[1024];
        const PetscInt heads = kcases[k].heads ? kcases[k].heads : 2;
        int            same, allsame;
        PetscCall(PetscSNPrintf(opts, sizeof(opts), "%s %s -attn_dim %" PetscInt_FMT " -attn_heads %" PetscInt_FMT " -attn_qkv random -seed %d -attn_beta 1.1 -attn_mask %s -n %" PetscInt_FMT " -ts_dt 0.05 -ts_max_time 1", kcases[k].opts, lncases[l].opts, d, heads, 10 + k, (k + l) % 2 ? "causal" : "none", n));
        Tokens(n, d, lncases[l].ln == MFSA_LN_POST || lncases[l].ln == MFSA_LN_NGPT, 500 + (uint64_t)(k * 4 + l), x);
        PetscCall(Trajectory(PETSC_COMM_WORLD, opts, n, d, x, yw));
        PetscCall(Trajectory(PETSC_COMM_SELF, opts, n, d, x, ys));
        same = memcmp(yw, ys, sizeof(double) * (size_t)(n * d)) == 0;
        for (PetscInt q = 0; q < n * d; q++)
          if (!isfinite(yw[q])) same = 0;
        PetscCallMPI(MPI_Allreduce(&same, &allsame, 1, MPI_INT, MPI_MIN, PETSC_COMM_WORLD));
        tried++;
        if (!allsame) {
          bad++;
          PetscCall(PetscPrintf(PETSC_COMM_WORLD, "FAIL rank invariance [%s | %s]: 5 RK4 steps on %d ranks differ from 1 rank\n", kcases[k].opts, lncases[l].opts, size));
        }
      }
    PetscCall(PetscPrintf(PETSC_COMM_WORLD, "rank invariance (5 RK4 steps, %d ranks vs 1, bitwise): %" PetscInt_FMT " of %" PetscInt_FMT " identical\n", size, tried - bad, tried));
    failures += bad;
    PetscCall(PetscFree3(x, yw, ys));
  }
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "%s\n", failures ? "FAILED" : "attention variants: all checks passed"));
  PetscCall(PetscFinalize());
  return failures ? 1 : 0;
}
