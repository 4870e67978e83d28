/* Template (internal to src/pair_kernel.c, included once per precision): the pair kernel's
 * work on one query against one tile of keys, and the loop over query blocks x key tiles.
 * One source for double and float, so there is one implementation of the weights.
 * Before including, define:
 *   PK_REAL       double | float             scores, exp and the sums within a tile
 *   PK_NAME(x)    x##Double | x##Single      function names
 *   PK_EXP2       Exp2Kernel | Exp2KernelF   2^u for PK_ULO <= u <= 127
 *   PK_ULO        -1021 | -125               clamp of u (2^PK_ULO is a normal number)
 *   PK_KEYS(k)    k->x | k->xs               the key array of a PairKeys
 *
 * Online softmax with a lazily moved max (log2 units, u = log2(e) s - m): for each query and
 * tile, loop 1 computes u against the query's current max m (the shift rides on the score's FMA
 * chain) with the tile's largest and smallest u; loop 2 sums 2^u and 2^u x_j. Only if some u
 * exceeded PK_UMAX is the state rebased to the tile's max (and the stored u shifted): scores
 * above the running max by up to 2^64 are harmless (sums of at most n such terms stay far from
 * overflow in double and, within a tile of keys, in float), so after a query's first tile this
 * almost never happens and no separate max pass is spent. The first key a query sees provides
 * its initial max. Small d keeps every component in registers; general d goes component by
 * component through the score buffer (unit-stride, vectorised loops). */

#define PK_UMAX 64

/* Provisional max for a query that has seen no key yet: its score against key j0. */
static inline PK_REAL PK_NAME(FirstScore)(int d, const PK_REAL *q, const PK_REAL *x, PetscInt ld, PetscInt j0)
{
  PK_REAL s = 0;
  for (int c = 0; c < d; c++) s += q[c] * x[c * ld + j0];
  return s;
}

/* Scale the state of one query from max m to max mnew >= m. */
static inline void PK_NAME(Rebase)(int d, double mnew, double *m, double *l, double *acc)
{
  if (mnew == *m) return; /* the common case: the max did not move */
  if (*m == -INFINITY) { /* no key seen yet: l = acc = 0 */
    *m = mnew;
    return;
  }
  const double scale = exp2(*m - mnew);
  *l *= scale;
  for (int c = 0; c < d; c++) acc[c] *= scale;
  *m = mnew;
}

/* Clamp of u below (2^PK_ULO is the smallest weight: next to the max weight >= 1 it is
 * nothing; below it the exponent assembly of PK_EXP2 would wrap). Only applied to tiles whose
 * smallest u needs it; NaN scores are never clamped, so a NaN input yields a NaN result. */
#define PK_CLAMP(u) ((u) < (PK_REAL)PK_ULO ? (PK_REAL)PK_ULO : (u))

/* After pass 1 (u stored in s, their max and min known): if some u exceeded PK_UMAX (rare),
 * move the max to the tile's and shift the stored u; clamp them if some fell below PK_ULO
 * (tracking the min costs one vminpd per vector, the clamp two instructions, and most tiles
 * need none). Returns the max to use for this tile. */
static inline PK_REAL PK_NAME(MoveMax)(PetscInt len, PK_REAL *restrict s, PK_REAL mm, PK_REAL umax, PK_REAL umin)
{
  if (umax > (PK_REAL)PK_UMAX) {
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) s[j] = PK_CLAMP(s[j] - umax);
    return mm + umax;
  }
  if (!(umin >= (PK_REAL)PK_ULO)) {
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) s[j] = PK_CLAMP(s[j]);
  }
  return mm;
}

/* One query (q already scaled by log2 e) against local keys [j0, j0+len), small constant D.
 * Two loops over the tile: u = log2(e) s - m (stored in the L1-resident buffer s) then
 * exp + sums. One fused loop would be fewer instructions but one ~45-cycle dependency
 * chain per vector, more than the out-of-order window overlaps; split, each loop runs at
 * its throughput. */
static inline __attribute__((always_inline)) void PK_NAME(TileSmallD)(const int D, const PK_REAL *restrict q, const PK_REAL *restrict x, PetscInt ld, PetscInt j0, PetscInt len, PK_REAL *restrict s, double *restrict m, double *restrict l, double *restrict acc)
{
  const PK_REAL *restrict x0 = x + j0;
  const PK_REAL *restrict x1 = x + ld + j0;
  const PK_REAL *restrict x2 = D > 2 ? x + 2 * ld + j0 : x0;
  const PK_REAL *restrict x3 = D > 3 ? x + 3 * ld + j0 : x0;
  const PK_REAL q0 = q[0], q1 = q[1], q2 = D > 2 ? q[2] : 0, q3 = D > 3 ? q[3] : 0;
  PK_REAL       mm = *m == -INFINITY ? PK_NAME(FirstScore)(D, q, x, ld, j0) : (PK_REAL)*m;
  const PK_REAL nm = -mm;
  PK_REAL       umax = -INFINITY, umin = INFINITY, ls = 0, a0 = 0, a1 = 0, a2 = 0, a3 = 0;

#pragma omp simd reduction(max : umax) reduction(min : umin)
  for (PetscInt j = 0; j < len; j++) {
    PK_REAL u = nm + q0 * x0[j] + q1 * x1[j]; /* one FMA chain */
    if (D > 2) u += q2 * x2[j];
    if (D > 3) u += q3 * x3[j];
    umax = u > umax ? u : umax;
    umin = u < umin ? u : umin;
    s[j] = u;
  }
  mm = PK_NAME(MoveMax)(len, s, mm, umax, umin);
  PK_NAME(Rebase)(D, (double)mm, m, l, acc); /* no-op unless the max moved */
#pragma omp simd reduction(+ : ls, a0, a1, a2, a3)
  for (PetscInt j = 0; j < len; j++) {
    const PK_REAL e = PK_EXP2(s[j]);
    ls += e;
    a0 += e * x0[j];
    a1 += e * x1[j];
    if (D > 2) a2 += e * x2[j];
    if (D > 3) a3 += e * x3[j];
  }
  *l += ls;
  acc[0] += a0;
  acc[1] += a1;
  if (D > 2) acc[2] += a2;
  if (D > 3) acc[3] += a3;
}

/* General d: component-outer sweeps keep every loop unit-stride and vectorised; four
 * components per sweep so that the score buffer s (TILE scratch) is loaded and stored once per
 * four multiply-adds, not once per one. */
static void PK_NAME(TileGeneral)(int d, const PK_REAL *restrict q, const PK_REAL *restrict x, PetscInt ld, PetscInt j0, PetscInt len, PK_REAL *restrict s, double *restrict m, double *restrict l, double *restrict acc)
{
  PK_REAL mm = *m == -INFINITY ? PK_NAME(FirstScore)(d, q, x, ld, j0) : (PK_REAL)*m;
  PK_REAL umax = -INFINITY, umin = INFINITY, ls = 0;
  int     c;

  {
    const PK_REAL nm = -mm;
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) s[j] = nm;
  }
  for (c = 0; c + 4 <= d; c += 4) {
    const PK_REAL *restrict xa = x + c * ld + j0, *restrict xb = xa + ld, *restrict xc = xb + ld, *restrict xd = xc + ld;
    const PK_REAL qa = q[c], qb = q[c + 1], qc = q[c + 2], qd = q[c + 3];
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) s[j] += qa * xa[j] + qb * xb[j] + qc * xc[j] + qd * xd[j];
  }
  for (; c < d; c++) {
    const PK_REAL *restrict xa = x + c * ld + j0;
    const PK_REAL qa           = q[c];
#pragma omp simd
    for (PetscInt j = 0; j < len; j++) s[j] += qa * xa[j];
  }
#pragma omp simd reduction(max : umax) reduction(min : umin)
  for (PetscInt j = 0; j < len; j++) {
    umax = s[j] > umax ? s[j] : umax;
    umin = s[j] < umin ? s[j] : umin;
  }
  mm = PK_NAME(MoveMax)(len, s, mm, umax, umin);
  PK_NAME(Rebase)(d, (double)mm, m, l, acc);
#pragma omp simd reduction(+ : ls)
  for (PetscInt j = 0; j < len; j++) {
    s[j] = PK_EXP2(s[j]);
    ls += s[j];
  }
  *l += ls;
  for (c = 0; c + 4 <= d; c += 4) {
    const PK_REAL *restrict xa = x + c * ld + j0, *restrict xb = xa + ld, *restrict xc = xb + ld, *restrict xd = xc + ld;
    PK_REAL aa = 0, ab = 0, ac = 0, ad = 0;
#pragma omp simd reduction(+ : aa, ab, ac, ad)
    for (PetscInt j = 0; j < len; j++) {
      aa += s[j] * xa[j];
      ab += s[j] * xb[j];
      ac += s[j] * xc[j];
      ad += s[j] * xd[j];
    }
    acc[c] += aa;
    acc[c + 1] += ab;
    acc[c + 2] += ac;
    acc[c + 3] += ad;
  }
  for (; c < d; c++) {
    const PK_REAL *restrict xa = x + c * ld + j0;
    PK_REAL a                  = 0;
#pragma omp simd reduction(+ : a)
    for (PetscInt j = 0; j < len; j++) a += s[j] * xa[j];
    acc[c] += a;
  }
}

static void PK_NAME(Tile)(int d, const PK_REAL *q, const PK_REAL *x, PetscInt ld, PetscInt j0, PetscInt len, PK_REAL *s, double *m, double *l, double *acc)
{
  switch (d) {
  case 2:
    PK_NAME(TileSmallD)(2, q, x, ld, j0, len, s, m, l, acc);
    break;
  case 3:
    PK_NAME(TileSmallD)(3, q, x, ld, j0, len, s, m, l, acc);
    break;
  case 4:
    PK_NAME(TileSmallD)(4, q, x, ld, j0, len, s, m, l, acc);
    break;
  default:
    PK_NAME(TileGeneral)(d, q, x, ld, j0, len, s, m, l, acc);
  }
}

/* Query blocks x key tiles: a tile of keys stays in cache for a whole query block. Tiles are
 * aligned to global multiples of PAIR_KERNEL_TILE and clipped to the block and to klim. */
static PetscErrorCode PK_NAME(Accumulate)(const PairKeys *keys, PetscInt nq, const PetscReal *qt, const PetscInt *klim, PairKernelState *st)
{
  const int      d = (int)keys->d;
  const PetscInt ld = keys->ld, off = keys->offset, end = keys->offset + keys->n;
  const PK_REAL *x = PK_KEYS(keys);
  PK_REAL        qs[QUERY_BLOCK * PAIR_KERNEL_MAXQD];
  PK_REAL       *qb = qs, *qheap = NULL;
  PK_REAL        s[PAIR_KERNEL_TILE] __attribute__((aligned(64)));

  PetscFunctionBegin;
  if (keys->n <= 0 || nq <= 0) PetscFunctionReturn(0);
  if (d > PAIR_KERNEL_MAXQD) {
    PetscCall(PetscMalloc1((size_t)QUERY_BLOCK * d, &qheap));
    qb = qheap;
  }
  for (PetscInt q0 = 0; q0 < nq; q0 += QUERY_BLOCK) {
    const PetscInt nb   = PetscMin(QUERY_BLOCK, nq - q0);
    PetscInt       kmax = off;
    for (PetscInt b = 0; b < nb; b++) {
      PetscCheck(klim[q0 + b] >= 1, PETSC_COMM_SELF, PETSC_ERR_ARG_OUTOFRANGE, "Pair kernel: key limit %" PetscInt_FMT " of query %" PetscInt_FMT " must be >= 1", klim[q0 + b], q0 + b);
      kmax = PetscMax(kmax, PetscMin(klim[q0 + b], end));
      for (int c = 0; c < d; c++) qb[b * d + c] = (PK_REAL)(PAIR_KERNEL_LOG2E * qt[(q0 + b) * d + c]);
    }
    if (kmax <= off) continue; /* every query of the block is masked off this key block */
    for (PetscInt jt = (off / PAIR_KERNEL_TILE) * PAIR_KERNEL_TILE; jt < kmax; jt += PAIR_KERNEL_TILE) {
      const PetscInt ja = PetscMax(jt, off);
      for (PetscInt b = 0; b < nb; b++) {
        const PetscInt jb  = PetscMin(PetscMin(jt + PAIR_KERNEL_TILE, end), klim[q0 + b]);
        const PetscInt len = jb - ja;
        if (len <= 0) continue; /* masked tile: skipped, no exp spent */
        PK_NAME(Tile)(d, qb + b * d, x, ld, ja - off, len, s, &st->m[q0 + b], &st->l[q0 + b], st->acc + (q0 + b) * d);
      }
    }
  }
  PetscCall(PetscFree(qheap));
  PetscFunctionReturn(0);
}
