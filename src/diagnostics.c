/* Particle diagnostics. Energy E = sum_h (1/(2 beta n^2)) sum_i Z_{h,i} comes for free from
 * the online softmax's log Z (unmasked: Z_i = sum_j e^{beta x_i^T B x_j}; causal: over j <= i). */
#include "diagnostics.h"

#define MFSA_CLUSTER_COS 0.999

PetscInt64 MfsaCountClusteredPairs(const PairKeys *keys, PetscInt lo, PetscInt nloc, PetscBool lower_only, PetscReal threshold)
{
  const PetscInt   n = keys->n, d = keys->d, ld = keys->ld;
  const PetscReal *x  = keys->x;
  const PetscReal  t2 = threshold * threshold;
  PetscInt64       count = 0;

  for (PetscInt i = lo; i < lo + nloc; i++) {
    PetscReal ni = 0;
    for (PetscInt a = 0; a < d; a++) ni += x[a * ld + i] * x[a * ld + i];
    const PetscInt jend = lower_only ? i : n;
    for (PetscInt j = 0; j < jend; j++) {
      PetscReal dot = 0, nj = 0;
      for (PetscInt a = 0; a < d; a++) {
        dot += x[a * ld + i] * x[a * ld + j];
        nj += x[a * ld + j] * x[a * ld + j];
      }
      /* cos > t  <=>  dot > 0 and dot^2 > t^2 (|x_i|^2 |x_j|^2): symmetric in (i, j) bit for
       * bit, so counting both orders gives exactly twice the pairs */
      if (j != i && dot > 0 && dot * dot > t2 * (ni * nj)) count++;
    }
  }
  return count;
}

PetscErrorCode MfsaParticleDiagnostics(AttnModel m, const PairKeys *keys, PetscInt lo, PetscInt nloc, const PetscReal *x, const PetscReal *logz, MfsaDiagnosticsRow *row)
{
  const PetscInt d = m->d, H = m->heads, n = keys->n;
  PetscReal     *sums, lzmin = PETSC_MAX_REAL, lzmax = -PETSC_MAX_REAL, lzmax_all, drift = 0, esum = 0;
  PetscInt64     pairs;

  PetscFunctionBegin;
  PetscCall(PetscCalloc1(d, &sums));
  for (PetscInt i = 0; i < nloc; i++) {
    PetscReal norm2 = 0;
    for (PetscInt a = 0; a < d; a++) {
      sums[a] += x[i * d + a];
      norm2 += x[i * d + a] * x[i * d + a];
    }
    if (m->geometry == MFSA_GEOMETRY_SPHERE) drift = PetscMax(drift, PetscAbsReal(PetscSqrtReal(norm2) - 1.0));
    for (PetscInt h = 0; h < H; h++) {
      lzmin = PetscMin(lzmin, logz[i * H + h]);
      lzmax = PetscMax(lzmax, logz[i * H + h]);
    }
  }
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, sums, d, MPIU_REAL, MPIU_SUM, m->comm));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &lzmin, 1, MPIU_REAL, MPIU_MIN, m->comm));
  PetscCall(MPIU_Allreduce(&lzmax, &lzmax_all, 1, MPIU_REAL, MPIU_MAX, m->comm));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &drift, 1, MPIU_REAL, MPIU_MAX, m->comm));
  /* log-sum-exp over tokens, shifted by the global max so the energy cannot overflow
   * before the final exp */
  for (PetscInt i = 0; i < nloc * H; i++) esum += PetscExpReal(logz[i] - lzmax_all);
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &esum, 1, MPIU_REAL, MPIU_SUM, m->comm));
  /* balanced work: pair-balanced causal blocks count j < i; equal unmasked blocks count all
   * j != i (each pair twice) */
  pairs = MfsaCountClusteredPairs(keys, lo, nloc, m->mask == MFSA_MASK_CAUSAL ? PETSC_TRUE : PETSC_FALSE, MFSA_CLUSTER_COS);
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &pairs, 1, MPIU_INT64, MPI_SUM, m->comm));
  if (m->mask != MFSA_MASK_CAUSAL) pairs /= 2; /* ordered pairs -> unordered */

  PetscReal norm2 = 0;
  for (PetscInt a = 0; a < d; a++) norm2 += (sums[a] / n) * (sums[a] / n);
  PetscCall(PetscFree(sums));
  row->order_parameter    = PetscSqrtReal(norm2);
  row->logz_min           = lzmin;
  row->logz_max           = lzmax_all;
  if (!AttnModelKernelIsExp(m)) { /* log Z and the energy are those of the exp kernels */
    row->logz_min = row->logz_max = NAN;
  }
  row->norm_drift         = drift;
  row->clustered_fraction = n > 1 ? (PetscReal)pairs / (0.5 * (PetscReal)n * (PetscReal)(n - 1)) : 0.0;
  if (m->beta > 0 && AttnModelKernelIsExp(m)) {
    row->log_energy = lzmax_all + PetscLogReal(esum) - PetscLogReal(2.0 * m->beta * (PetscReal)n * (PetscReal)n);
    row->energy     = PetscExpReal(row->log_energy);
  } else { /* E = (1/2 beta) ... is infinite at beta = 0 and belongs to the exp kernels: NaN, documented */
    row->log_energy = NAN;
    row->energy     = NAN;
  }
  PetscFunctionReturn(0);
}
