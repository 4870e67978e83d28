/* Pair kernel implementation: the online-softmax state across key blocks, the double and float
 * instantiations of the tile template (src/pair_kernel_tile.h: query blocks x key tiles,
 * one-pass online softmax with a lazily moved max, d = 2, 3, 4 specialised + a general path),
 * and the exp-only bound. Compiled with -O3 -fopenmp-simd -ffp-contract=fast (CMakeLists.txt). */
#include "pair_kernel.h"
#include "pair_kernel_exp.h"
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

const char *const PairPrecisionNames[] = {"double", "single", NULL};

#define QUERY_BLOCK        32
#define PAIR_KERNEL_MAXQD  16 /* queries of up to this dimension live on the stack */
#define PAIR_KERNEL_LOG2E  1.4426950408889634074
#define PAIR_KERNEL_LN2    0.69314718055994530942

#define PK_REAL    double
#define PK_NAME(x) x##Double
#define PK_EXP2    Exp2Kernel
#define PK_ULO     -1021
#define PK_KEYS(k) ((k)->x)
#include "pair_kernel_tile.h"
#undef PK_REAL
#undef PK_NAME
#undef PK_EXP2
#undef PK_ULO
#undef PK_KEYS
#undef PK_UMAX
#undef PK_CLAMP

#define PK_REAL    float
#define PK_NAME(x) x##Single
#define PK_EXP2    Exp2KernelF
#define PK_ULO     -125
#define PK_KEYS(k) ((k)->xs)
#include "pair_kernel_tile.h"
#undef PK_REAL
#undef PK_NAME
#undef PK_EXP2
#undef PK_ULO
#undef PK_KEYS
#undef PK_UMAX
#undef PK_CLAMP

void PairKernelExp(PetscInt n, const double *restrict x, double *restrict y)
{
#pragma omp simd
  for (PetscInt i = 0; i < n; i++) {
    double u = PAIR_KERNEL_LOG2E * x[i];
    u        = u < -1021.0 ? -1021.0 : u;
    y[i]     = Exp2Kernel(u);
  }
}

void PairKernelExpSingle(PetscInt n, const float *restrict x, float *restrict y)
{
#pragma omp simd
  for (PetscInt i = 0; i < n; i++) {
    float u = (float)PAIR_KERNEL_LOG2E * x[i];
    u       = u < -125.0f ? -125.0f : u;
    y[i]    = Exp2KernelF(u);
  }
}

PetscErrorCode PairKernelStateCreate(PetscInt nq, PetscInt d, PairKernelState *st)
{
  PetscFunctionBegin;
  st->nq = nq;
  st->d  = d;
  PetscCall(PetscMalloc3(PetscMax(nq, 1), &st->m, PetscMax(nq, 1), &st->l, PetscMax(nq * d, 1), &st->acc));
  PetscCall(PairKernelStateReset(st));
  PetscFunctionReturn(0);
}

PetscErrorCode PairKernelStateReset(PairKernelState *st)
{
  PetscFunctionBegin;
  for (PetscInt q = 0; q < st->nq; q++) {
    st->m[q] = -INFINITY;
    st->l[q] = 0;
  }
  PetscCall(PetscArrayzero(st->acc, st->nq * st->d));
  PetscFunctionReturn(0);
}

PetscErrorCode PairKernelStateDestroy(PairKernelState *st)
{
  PetscFunctionBegin;
  PetscCall(PetscFree3(st->m, st->l, st->acc));
  st->nq = 0;
  PetscFunctionReturn(0);
}

PetscErrorCode PairKernelAccumulate(const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscInt *klim, PairKernelState *st)
{
  PetscFunctionBegin;
  PetscCheck(keys->d == st->d && nq <= st->nq, PETSC_COMM_SELF, PETSC_ERR_ARG_SIZ, "Pair kernel: state for %" PetscInt_FMT " queries of dimension %" PetscInt_FMT ", called with %" PetscInt_FMT " of dimension %" PetscInt_FMT, st->nq, st->d, nq, keys->d);
  if (keys->precision == PAIR_PRECISION_SINGLE) {
    PetscCheck(keys->xs || keys->n == 0, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "Pair kernel: single-precision keys without a float array");
    PetscCall(AccumulateSingle(keys, nq, qt, klim, st));
  } else {
    PetscCheck(keys->x || keys->n == 0, PETSC_COMM_SELF, PETSC_ERR_ARG_NULL, "Pair kernel: double-precision keys without an array");
    PetscCall(AccumulateDouble(keys, nq, qt, klim, st));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PairKernelFinish(const PairKernelState *st, PetscReal *mean, PetscReal *logz)
{
  const PetscInt d = st->d;

  PetscFunctionBegin;
  for (PetscInt q = 0; q < st->nq; q++) {
    PetscCheck(st->m[q] > -INFINITY || PetscIsNanReal(st->m[q]), PETSC_COMM_SELF, PETSC_ERR_ARG_WRONGSTATE, "Pair kernel: query %" PetscInt_FMT " attended no key", q);
    const double inv = 1.0 / st->l[q];
    for (PetscInt c = 0; c < d; c++) mean[q * d + c] = PetscIsNanReal(st->m[q]) ? NAN : st->acc[q * d + c] * inv;
    logz[q] = PAIR_KERNEL_LN2 * (st->m[q] + log2(st->l[q]));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode PairKernelApply(const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscInt *klim, PetscReal *mean, PetscReal *logz)
{
  PairKernelState st;

  PetscFunctionBegin;
  for (PetscInt q = 0; q < nq; q++) PetscCheck(klim[q] > keys->offset && klim[q] <= keys->offset + keys->n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "Pair kernel: key limit %" PetscInt_FMT " outside [%" PetscInt_FMT ", %" PetscInt_FMT "]", klim[q], keys->offset + 1, keys->offset + keys->n);
  PetscCall(PairKernelStateCreate(nq, keys->d, &st));
  PetscCall(PairKernelAccumulate(keys, nq, qt, klim, &st));
  PetscCall(PairKernelFinish(&st, mean, logz));
  PetscCall(PairKernelStateDestroy(&st));
  PetscFunctionReturn(0);
}

PetscInt PairKeysLeadingDimension(PetscInt n) { return PetscMax(((n + 7) / 8) * 8, 8); }

PetscErrorCode PairKeysAllocate(PetscInt n, PetscInt d, PairKeys *keys, PetscReal **storage)
{
  const PetscInt ld  = PairKeysLeadingDimension(n);
  void          *mem = NULL;

  PetscFunctionBegin;
  /* A fixed 64-byte base alignment: the vectoriser's peeling, hence the summation order,
   * must be the same in every run and on every rank count. */
  PetscCheck(posix_memalign(&mem, 64, (size_t)ld * (size_t)PetscMax(d, 1) * sizeof(PetscReal)) == 0, PETSC_COMM_SELF, PETSC_ERR_MEM, "Out of memory allocating %" PetscInt_FMT " x %" PetscInt_FMT " keys", n, d);
  *storage = (PetscReal *)mem;
  memset(keys, 0, sizeof(*keys));
  keys->n         = n;
  keys->d         = d;
  keys->ld        = ld;
  keys->x         = *storage;
  keys->offset    = 0;
  keys->precision = PAIR_PRECISION_DOUBLE;
  PetscFunctionReturn(0);
}

PetscErrorCode PairKeysFree(PetscReal **storage)
{
  PetscFunctionBegin;
  free(*storage);
  *storage = NULL;
  PetscFunctionReturn(0);
}
