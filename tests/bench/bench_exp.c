/* The exp-only bound of the pair kernel: ns per exp per core of
 *   - the kernel's own vectorised exp (PairKernelExp / PairKernelExpSingle: the exp arithmetic
 *     every double / single pair pays, the bound),
 *   - glibc's libmvec vector exp / expf (what gcc calls from an `omp simd` loop),
 * in double and in float. Timed on rank 0 alone (one core), other ranks wait. Arguments in
 * [-10, 0]: the kernel only ever takes e^(s - max) <= 1.
 * PairKernelExpSingle is referenced weakly: a build without single precision in the kernel
 * reports that bound as not available (JSON null) instead of failing to link. */
#include "bench.h"
#include "pair_kernel.h"

#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern float expf(float);
/* declared here too (same prototype as pair_kernel.h), so that this file builds against a kernel without it */
void PairKernelExpSingle(PetscInt n, const float *x, float *y);
#pragma weak PairKernelExpSingle

#define EXP_N     4096
#define EXP_BATCH 64 /* calls per timed batch: ~0.3 M exps, well above the clock's resolution */

typedef enum { EXP_KERNEL_DOUBLE, EXP_LIBMVEC_DOUBLE, EXP_KERNEL_FLOAT, EXP_LIBMVEC_FLOAT } ExpKind;

static void ExpOnce(ExpKind kind, const double *a, double *b, const float *af, float *bf)
{
  switch (kind) {
  case EXP_KERNEL_DOUBLE:
    PairKernelExp(EXP_N, a, b);
    break;
  case EXP_LIBMVEC_DOUBLE:
#pragma omp simd
    for (int i = 0; i < EXP_N; i++) b[i] = exp(a[i]);
    break;
  case EXP_KERNEL_FLOAT:
    PairKernelExpSingle(EXP_N, af, bf);
    break;
  case EXP_LIBMVEC_FLOAT:
#pragma omp simd
    for (int i = 0; i < EXP_N; i++) bf[i] = expf(af[i]);
    break;
  }
}

/* Best batch over min_time seconds, ns per exp. */
static PetscErrorCode ExpTime(ExpKind kind, double min_time, double *ns)
{
  double        *a, *b, sink = 0, best = 1e300;
  float         *af, *bf;
  PetscLogDouble start, t0, t1;
  long           batches = 0;

  PetscFunctionBegin;
  PetscCall(PetscMalloc4(EXP_N, &a, EXP_N, &b, EXP_N, &af, EXP_N, &bf));
  for (int i = 0; i < EXP_N; i++) {
    a[i]  = -10.0 * i / EXP_N;
    af[i] = (float)a[i];
  }
  ExpOnce(kind, a, b, af, bf); /* warm-up: page faults, libmvec's lazy binding */
  PetscCall(PetscTime(&start));
  do {
    PetscCall(PetscTime(&t0));
    for (int r = 0; r < EXP_BATCH; r++) {
      ExpOnce(kind, a, b, af, bf);
      sink += (kind == EXP_KERNEL_FLOAT || kind == EXP_LIBMVEC_FLOAT) ? (double)bf[r] : b[r]; /* keeps every call alive */
    }
    PetscCall(PetscTime(&t1));
    best = PetscMin(best, t1 - t0);
    batches++;
  } while (t1 - start < min_time || batches < 3);
  *ns = 1e9 * best / ((double)EXP_BATCH * EXP_N);
  if (sink == 42.0) PetscCall(PetscPrintf(PETSC_COMM_SELF, " "));
  PetscCall(PetscFree4(a, b, af, bf));
  PetscFunctionReturn(0);
}

PetscErrorCode BenchExp(MPI_Comm comm, const BenchTiming *tm)
{
  PetscMPIInt rank;
  double      kd = 0, ld = 0, kf = 0, lf = 0;
  PetscBool   has_single = PairKernelExpSingle ? PETSC_TRUE : PETSC_FALSE;
  char        kfs[32] = "null", kfh[32] = "(not in this build)";

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank == 0) {
    PetscCall(ExpTime(EXP_KERNEL_DOUBLE, tm->min_time, &kd));
    PetscCall(ExpTime(EXP_LIBMVEC_DOUBLE, tm->min_time, &ld));
    if (has_single) PetscCall(ExpTime(EXP_KERNEL_FLOAT, tm->min_time, &kf));
    PetscCall(ExpTime(EXP_LIBMVEC_FLOAT, tm->min_time, &lf));
  }
  if (has_single) {
    PetscCall(PetscSNPrintf(kfs, sizeof(kfs), "%.6g", kf));
    PetscCall(PetscSNPrintf(kfh, sizeof(kfh), "%.3f ns/exp/core", kf));
  }
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(PetscPrintf(comm, "exp, double: kernel's own %.3f ns/exp/core (the exp-only bound), libmvec %.3f ns/exp/core\n", kd, ld));
  PetscCall(PetscPrintf(comm, "exp, float:  kernel's own %s, libmvec %.3f ns/exp/core\n", kfh, lf));
  PetscCall(BenchJson(comm, tm, "{\"what\": \"exp\", \"double_kernel_ns\": %.6g, \"double_libmvec_ns\": %.6g, \"float_kernel_ns\": %s, \"float_libmvec_ns\": %.6g}", kd, ld, kfs, lf));
  PetscFunctionReturn(0);
}
