/* ring_kernel_bench: the pair kernel alone against its exp-only bound, in the same run, double
 * and single precision (a figure, not a test: it prints, nothing asserts a time).
 *   - exp-only bound: PairKernelExp / PairKernelExpSingle over 1024 values (in + out stay in
 *     L1) and over 4096 values (what tests/bench uses), ns per exp, best of many short batches;
 *   - kernel: PairKernelApply on n tokens on the sphere (beta = 1, B = I), causal or not, timed
 *     in chunks of 32 queries, each chunk the best of -reps runs, summed: on a machine shared with
 *     other jobs the best of short runs is the least disturbed estimate, a whole evaluation
 *     (~0.1 s) is almost never left alone.
 * Usage: mfsa-mpiexec 1 tests/ring_kernel_bench [-n 16384] [-d 3] [-causal 1] [-reps 15] */
#include <petscsys.h>
#include <stdlib.h>
#include "pair_kernel.h"
#include "rng.h"

static PetscErrorCode ExpBound(PetscInt N, PetscBool single, PetscInt reps, double *ns)
{
  double *a, *b;
  float  *af, *bf;
  double  best = 1e300, sink = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc4(N, &a, N, &b, N, &af, N, &bf));
  for (PetscInt i = 0; i < N; i++) {
    a[i]  = -10.0 * i / N;
    af[i] = (float)a[i];
  }
  for (PetscInt r = 0; r < 50 * reps; r++) {
    PetscLogDouble t0, t1;
    PetscCall(PetscTime(&t0));
    for (int k = 0; k < 16; k++) {
      if (single) PairKernelExpSingle(N, af, bf);
      else PairKernelExp(N, a, b);
    }
    PetscCall(PetscTime(&t1));
    sink += single ? bf[r % N] : b[r % N];
    best = PetscMin(best, t1 - t0);
  }
  *ns = 1e9 * best / (16.0 * N);
  if (sink == 42.0) PetscCall(PetscPrintf(PETSC_COMM_SELF, " "));
  PetscCall(PetscFree4(a, b, af, bf));
  PetscFunctionReturn(0);
}

static PetscErrorCode KernelTime(PetscInt n, PetscInt d, PetscBool causal, PairPrecision prec, PetscInt reps, double *ns)
{
  const PetscInt CH = 32;
  double        *q, *mean, *logz, *xd, total = 0;
  float         *xs;
  void          *mem = NULL;
  PetscInt      *klim;
  PairKeys       keys;

  PetscFunctionBegin;
  PetscCall(PetscMalloc4(n * d, &q, n * d, &mean, n, &logz, n, &klim));
  PetscCall(PairKeysAllocate(n, d, &keys, &xd));
  PetscCheck(posix_memalign(&mem, 64, sizeof(float) * keys.ld * d) == 0, PETSC_COMM_SELF, PETSC_ERR_MEM, "out of memory");
  xs = (float *)mem;
  for (PetscInt i = 0; i < n; i++) {
    double x[256], norm = 0;
    MfsaRandomNormals(1, 1, (uint64_t)i, (int)d, x);
    for (PetscInt a = 0; a < d; a++) norm += x[a] * x[a];
    for (PetscInt a = 0; a < d; a++) {
      xd[a * keys.ld + i] = x[a] / sqrt(norm);
      xs[a * keys.ld + i] = (float)(x[a] / sqrt(norm));
      q[i * d + a]        = x[a] / sqrt(norm);
    }
    klim[i] = causal ? i + 1 : n;
  }
  keys.precision = prec;
  keys.xs        = xs;
  for (PetscInt c0 = 0; c0 < n; c0 += CH) {
    const PetscInt nc   = PetscMin(CH, n - c0);
    double         best = 1e300;
    for (PetscInt r = 0; r < reps; r++) {
      PetscLogDouble t0, t1;
      PetscCall(PetscTime(&t0));
      PetscCall(PairKernelApply(&keys, nc, q + c0 * d, klim + c0, mean + c0 * d, logz + c0));
      PetscCall(PetscTime(&t1));
      best = PetscMin(best, t1 - t0);
    }
    total += best;
  }
  *ns = 1e9 * total / (causal ? 0.5 * (double)n * (n + 1) : (double)n * n);
  PetscCall(PairKeysFree(&xd));
  free(xs);
  PetscCall(PetscFree4(q, mean, logz, klim));
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  PetscInt  n = 16384, d = 3, reps = 15;
  PetscBool causal = PETSC_TRUE;
  double    e1d, e1f, e4d, e4f, kd, ks;

  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "pair kernel benchmark", NULL);
  PetscCall(PetscOptionsInt("-n", "Tokens", NULL, n, &n, NULL));
  PetscCall(PetscOptionsInt("-d", "Dimension", NULL, d, &d, NULL));
  PetscCall(PetscOptionsBool("-causal", "Causal mask", NULL, causal, &causal, NULL));
  PetscCall(PetscOptionsInt("-reps", "Runs per chunk of 32 queries (the best counts)", NULL, reps, &reps, NULL));
  PetscOptionsEnd();
  PetscCheck(n >= 1 && d >= 1 && d <= 256 && reps >= 1, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "need -n >= 1, 1 <= -d <= 256, -reps >= 1");
  PetscCall(ExpBound(1024, PETSC_FALSE, reps, &e1d));
  PetscCall(ExpBound(1024, PETSC_TRUE, reps, &e1f));
  PetscCall(ExpBound(4096, PETSC_FALSE, reps, &e4d));
  PetscCall(ExpBound(4096, PETSC_TRUE, reps, &e4f));
  PetscCall(KernelTime(n, d, causal, PAIR_PRECISION_DOUBLE, reps, &kd));
  PetscCall(KernelTime(n, d, causal, PAIR_PRECISION_SINGLE, reps, &ks));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "exp-only bound, ns/exp/core: double %.3f (L1-resident) %.3f (4096 values), float %.3f (L1) %.3f (4096)\n", e1d, e4d, e1f, e4f));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "pair kernel, %s, d = %d, n = %d: double %.3f ns/pair/core (bound/kernel %.0f%% L1, %.0f%% 4096), single %.3f ns/pair/core (%.0f%%, %.0f%%)\n", causal ? "causal" : "unmasked", (int)d, (int)n, kd, 100 * e1d / kd, 100 * e4d / kd, ks, 100 * e1f / ks, 100 * e4f / ks));
  PetscCall(PetscFinalize());
  return 0;
}
