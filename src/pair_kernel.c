/* Pair kernel implementation: query blocks x key tiles, one-pass online softmax per tile,
 * an inlined vectorisable exp (ExpNonPositive in pair_kernel_exp.h; -fopenmp-simd),
 * specialised bodies for d = 2, 3, 4 and a general path. */
#include "pair_kernel.h"
#include "pair_kernel_exp.h"
#include <math.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

void PairKernelExp(PetscInt n, const double *restrict x, double *restrict y)
{
#pragma omp simd
  for (PetscInt i = 0; i < n; i++) y[i] = ExpNonPositive(x[i]);
}

#define QUERY_BLOCK 32

typedef struct {
  double m; /* running max score */
  double l; /* running sum of e^{s - m} */
} OnlineState;

/* Rescale a query's running sums so that they refer to the new max `mx`. */
static inline void Rebase(OnlineState *st, double *acc, int d, double mx)
{
  if (mx > st->m) {
    const double scale = exp(st->m - mx); /* exp(-inf) = 0 on the first tile */
    st->l *= scale;
    for (int c = 0; c < d; c++) acc[c] *= scale;
    st->m = mx;
  }
}

/* One query against keys [j0, j0+len) for small constant D (inlined per D). */
static inline __attribute__((always_inline)) void TileSmallD(const int D, const double *restrict q, const double *restrict x, PetscInt ld, PetscInt j0, PetscInt len, double *restrict s, OnlineState *st, double *restrict acc)
{
  const double *restrict x0 = x + j0;
  const double *restrict x1 = x + ld + j0;
  const double *restrict x2 = D > 2 ? x + 2 * ld + j0 : x0;
  const double *restrict x3 = D > 3 ? x + 3 * ld + j0 : x0;
  const double q0 = q[0], q1 = q[1], q2 = D > 2 ? q[2] : 0.0, q3 = D > 3 ? q[3] : 0.0;
  double       mx = -INFINITY;

#pragma omp simd reduction(max : mx)
  for (PetscInt j = 0; j < len; j++) {
    double v = q0 * x0[j] + q1 * x1[j];
    if (D > 2) v += q2 * x2[j];
    if (D > 3) v += q3 * x3[j];
    s[j] = v;
    mx   = v > mx ? v : mx;
  }
  Rebase(st, acc, D, mx);
  const double m = st->m;
  double       l = 0, a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#pragma omp simd reduction(+ : l, a0, a1, a2, a3)
  for (PetscInt j = 0; j < len; j++) {
    const double e = ExpNonPositive(s[j] - m);
    l += e;
    a0 += e * x0[j];
    a1 += e * x1[j];
    if (D > 2) a2 += e * x2[j];
    if (D > 3) a3 += e * x3[j];
  }
  st->l += l;
  acc[0] += a0;
  acc[1] += a1;
  if (D > 2) acc[2] += a2;
  if (D > 3) acc[3] += a3;
}

/* General d: component-outer passes keep every loop unit-stride and vectorised. */
static void TileGeneral(int d, const double *restrict q, const double *restrict x, PetscInt ld, PetscInt j0, PetscInt len, double *restrict s, OnlineState *st, double *restrict acc)
{
  double mx = -INFINITY;
  {
    const double *restrict xc = x + j0;
    const double qc           = q[0];
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) s[j] = qc * xc[j];
  }
  for (int c = 1; c < d; c++) {
    const double *restrict xc = x + c * ld + j0;
    const double qc           = q[c];
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) s[j] += qc * xc[j];
  }
#pragma omp simd reduction(max : mx)
  for (PetscInt j = 0; j < len; j++) mx = s[j] > mx ? s[j] : mx;
  Rebase(st, acc, d, mx);
  const double m = st->m;
  double       l = 0;
#pragma omp simd reduction(+ : l)
  for (PetscInt j = 0; j < len; j++) {
    s[j] = ExpNonPositive(s[j] - m);
    l += s[j];
  }
  st->l += l;
  for (int c = 0; c < d; c++) {
    const double *restrict xc = x + c * ld + j0;
    double a                  = 0;
#pragma omp simd reduction(+ : a)
    for (PetscInt j = 0; j < len; j++) a += s[j] * xc[j];
    acc[c] += a;
  }
}

static void Tile(int d, const double *q, const double *x, PetscInt ld, PetscInt j0, PetscInt len, double *s, OnlineState *st, double *acc)
{
  switch (d) {
  case 2:
    TileSmallD(2, q, x, ld, j0, len, s, st, acc);
    break;
  case 3:
    TileSmallD(3, q, x, ld, j0, len, s, st, acc);
    break;
  case 4:
    TileSmallD(4, q, x, ld, j0, len, s, st, acc);
    break;
  default:
    TileGeneral(d, q, x, ld, j0, len, s, st, acc);
  }
}

PetscErrorCode PairKernelApply(const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscInt *klim, PetscReal *mean, PetscReal *logz)
{
  const int      d  = (int)keys->d;
  const PetscInt ld = keys->ld;
  OnlineState    st[QUERY_BLOCK];
  PetscReal     *acc;
  double         s[PAIR_KERNEL_TILE] __attribute__((aligned(64)));

  PetscFunctionBegin;
  PetscCall(PetscMalloc1((size_t)QUERY_BLOCK * d, &acc));
  for (PetscInt q0 = 0; q0 < nq; q0 += QUERY_BLOCK) {
    const PetscInt nb   = PetscMin(QUERY_BLOCK, nq - q0);
    PetscInt       kmax = 0;
    for (PetscInt b = 0; b < nb; b++) {
      PetscCheck(klim[q0 + b] >= 1 && klim[q0 + b] <= keys->n, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "Pair kernel: key limit %" PetscInt_FMT " outside [1, %" PetscInt_FMT "]", klim[q0 + b], keys->n);
      st[b].m = -INFINITY;
      st[b].l = 0;
      kmax    = PetscMax(kmax, klim[q0 + b]);
    }
    PetscCall(PetscArrayzero(acc, (size_t)nb * d));
    /* Tiles outer, queries inner: a tile of keys stays in cache for the whole query block. */
    for (PetscInt j0 = 0; j0 < kmax; j0 += PAIR_KERNEL_TILE) {
      for (PetscInt b = 0; b < nb; b++) {
        const PetscInt len = PetscMin(PAIR_KERNEL_TILE, klim[q0 + b] - j0);
        if (len <= 0) continue; /* masked tile: skipped, no exp spent */
        Tile(d, qt + (q0 + b) * d, keys->x, ld, j0, len, s, &st[b], acc + b * d);
      }
    }
    for (PetscInt b = 0; b < nb; b++) {
      const double inv = 1.0 / st[b].l;
      for (int c = 0; c < d; c++) mean[(q0 + b) * d + c] = acc[b * d + c] * inv;
      logz[q0 + b] = st[b].m + log(st[b].l);
    }
  }
  PetscCall(PetscFree(acc));
  PetscFunctionReturn(0);
}

PetscErrorCode PairKeysAllocate(PetscInt n, PetscInt d, PairKeys *keys, PetscReal **storage)
{
  const PetscInt ld = ((n + 7) / 8) * 8;
  void          *mem = NULL;

  PetscFunctionBegin;
  /* A fixed 64-byte base alignment: the vectoriser's peeling, hence the summation order,
   * must be the same in every run and on every rank count. */
  PetscCheck(posix_memalign(&mem, 64, (size_t)PetscMax(ld, 8) * (size_t)d * sizeof(PetscReal)) == 0, PETSC_COMM_SELF, PETSC_ERR_MEM, "Out of memory allocating %" PetscInt_FMT " x %" PetscInt_FMT " keys", n, d);
  *storage = (PetscReal *)mem;
  keys->n  = n;
  keys->d  = d;
  keys->ld = ld;
  keys->x  = *storage;
  PetscFunctionReturn(0);
}

PetscErrorCode PairKeysFree(PetscReal **storage)
{
  PetscFunctionBegin;
  free(*storage);
  *storage = NULL;
  PetscFunctionReturn(0);
}
