/* Numerical fault detection (see fault_check.h): the options, the per-step scans and the
 * sentence that tells the user what went wrong where. A scan is O(size of the state) per step,
 * small next to one right-hand side, plus one or two small reductions. */
#include "fault_check.h"
#include <stdint.h>
#include <stdio.h>

#define NONE_ROW INT64_MAX

void MfsaFaultSpecDefaults(MfsaFaultSpec *spec)
{
  /* 1e8: far beyond any bounded dynamics (softmax attention keeps tokens in the convex hull
   * of V x_j, exponential growth e^{|V| t} needs |V| t ~ 18 to reach it) and far below where
   * the scores beta <Qx, Kx> lose all precision */
  spec->max_norm     = 1e8;
  spec->negative_tol = 1e-12; /* round-off of the flux differences is ~1e-16 max rho */
  spec->mass_tol     = 1e-8;  /* the finite volumes conserve mass to round-off, ~1e-13 over long runs */
  spec->dt_min       = 0;
  spec->inject_step  = -1;
  spec->inject_index = -1;
  spec->inject_value = NAN;
}

PetscErrorCode MfsaFaultSetFromOptions(PetscOptionItems *PetscOptionsObject, MPI_Comm comm, const char *solver, MfsaFaultSpec *spec)
{
  PetscBool pde, particles;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(solver, "pde", &pde));
  PetscCall(PetscStrcmp(solver, "particles", &particles));
  if (particles) {
    PetscCall(PetscOptionsReal("-fault_max_norm", "Stop with a fault when a token leaves the ball |x| <= this bound in R^d (blow-up); 0: no bound", NULL, spec->max_norm, &spec->max_norm, NULL));
    PetscCheck(spec->max_norm >= 0 && !PetscIsInfOrNanReal(spec->max_norm), comm, PETSC_ERR_USER_INPUT, "-fault_max_norm must be a finite number >= 0 (got %g; 0 switches the bound off)", (double)spec->max_norm);
  }
  if (pde) {
    PetscCall(PetscOptionsReal("-fault_negative_tol", "Stop with a fault when the density drops below -tol x max rho (checked when the scheme is positivity-preserving: SSP, limiter mc|minmod, -pde_cfl <= 0.5)", NULL, spec->negative_tol, &spec->negative_tol, NULL));
    PetscCall(PetscOptionsReal("-fault_mass_tol", "Stop with a fault when a slice's mass drifts by more than tol (relative)", NULL, spec->mass_tol, &spec->mass_tol, NULL));
    PetscCheck(spec->negative_tol > 0 && !PetscIsInfOrNanReal(spec->negative_tol), comm, PETSC_ERR_USER_INPUT, "-fault_negative_tol must be a finite number > 0 (got %g)", (double)spec->negative_tol);
    PetscCheck(spec->mass_tol > 0 && !PetscIsInfOrNanReal(spec->mass_tol), comm, PETSC_ERR_USER_INPUT, "-fault_mass_tol must be a finite number > 0 (got %g)", (double)spec->mass_tol);
  }
  PetscCall(PetscOptionsReal("-fault_dt_min", "Stop with a step-size-collapse fault when the next step is shorter than this (0: 1e-10 x the initial -ts_dt)", NULL, spec->dt_min, &spec->dt_min, NULL));
  PetscCheck(spec->dt_min >= 0 && !PetscIsInfOrNanReal(spec->dt_min), comm, PETSC_ERR_USER_INPUT, "-fault_dt_min must be a finite number >= 0 (got %g; 0 picks 1e-10 x -ts_dt)", (double)spec->dt_min);
  PetscCall(PetscOptionsInt("-debug_inject_nan_step", "Testing: after this step, put -debug_inject_value (NaN) into the state (-1: never)", NULL, spec->inject_step, &spec->inject_step, NULL));
  PetscCall(PetscOptionsInt("-debug_inject_index", "Testing: entry of the global state vector that -debug_inject_nan_step changes (-1: the middle one)", NULL, spec->inject_index, &spec->inject_index, NULL));
  PetscCall(PetscOptionsReal("-debug_inject_value", "Testing: the value -debug_inject_nan_step writes (default nan)", NULL, spec->inject_value, &spec->inject_value, NULL));
  PetscCheck(spec->inject_step >= -1, comm, PETSC_ERR_USER_INPUT, "-debug_inject_nan_step must be a step number >= 0, or -1 for never (got %" PetscInt_FMT ")", spec->inject_step);
  PetscCheck(spec->inject_index >= -1, comm, PETSC_ERR_USER_INPUT, "-debug_inject_index must be an index >= 0 into the state vector, or -1 for the middle (got %" PetscInt_FMT ")", spec->inject_index);
  PetscFunctionReturn(0);
}

/* Every rank: the global first row of a category (MIN), then its column and value from the
 * rank that owns it (the others add zeros). */
static PetscErrorCode Agree(MPI_Comm comm, PetscInt64 nrows, const PetscInt64 rows[], const PetscInt64 cols[], const PetscReal values[], const MfsaFaultKind kinds[], PetscReal const limits[], MfsaFault *f)
{
  PetscInt64 g[4];
  PetscReal  cv[2] = {0, 0};

  PetscFunctionBegin;
  PetscCheck(nrows <= 4, PETSC_COMM_SELF, PETSC_ERR_PLIB, "at most 4 fault categories");
  PetscCall(MPIU_Allreduce(rows, g, (PetscMPIInt)nrows, MPIU_INT64, MPI_MIN, comm));
  f->kind = MFSA_FAULT_NONE;
  for (PetscInt64 c = 0; c < nrows; c++) {
    if (g[c] == NONE_ROW) continue;
    if (rows[c] == g[c]) { /* the owner (rows are disjoint between ranks) */
      cv[0] = (PetscReal)cols[c];
      cv[1] = values[c];
    }
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, cv, 2, MPIU_REAL, MPIU_SUM, comm));
    f->kind  = kinds[c];
    f->row   = g[c];
    f->col   = (PetscInt64)cv[0];
    f->value = cv[1];
    f->limit = limits[c];
    break;
  }
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaFaultScanRows(MPI_Comm comm, const PetscReal *x, PetscInt lo, PetscInt nloc, PetscInt width, PetscReal max_norm, MfsaFault *f)
{
  PetscInt64          rows[2] = {NONE_ROW, NONE_ROW}, cols[2] = {-1, -1};
  PetscReal           values[2] = {0, 0};
  const MfsaFaultKind kinds[2]  = {MFSA_FAULT_NONFINITE, MFSA_FAULT_NORM};
  const PetscReal     limits[2] = {0, max_norm};

  PetscFunctionBegin;
  for (PetscInt i = 0; i < nloc && rows[0] == NONE_ROW; i++) {
    PetscReal n2 = 0;
    for (PetscInt a = 0; a < width; a++) {
      const PetscReal v = x[i * width + a];
      if (PetscIsInfOrNanReal(v)) {
        rows[0]   = (PetscInt64)lo + i;
        cols[0]   = a;
        values[0] = v;
        break;
      }
      n2 += v * v;
    }
    if (rows[0] == NONE_ROW && max_norm > 0 && rows[1] == NONE_ROW && !(PetscSqrtReal(n2) <= max_norm)) {
      rows[1]   = (PetscInt64)lo + i;
      values[1] = PetscSqrtReal(n2); /* may be Inf when the squares overflow: still a blow-up */
    }
  }
  PetscCall(Agree(comm, 2, rows, cols, values, kinds, limits, f));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaFaultScanDensity(MPI_Comm comm, const PetscReal *rho, PetscInt lo, PetscInt nloc, PetscInt M, PetscReal dtheta, const PetscReal *mass0, PetscBool check_negative, PetscReal negative_tol, PetscReal mass_tol, MfsaFault *f)
{
  PetscInt64          rows[3] = {NONE_ROW, NONE_ROW, NONE_ROW}, cols[3] = {-1, -1, -1};
  PetscReal           values[3] = {0, 0, 0}, rmax = 0, floor_;
  const MfsaFaultKind kinds[3]  = {MFSA_FAULT_NONFINITE, MFSA_FAULT_NEGATIVE, MFSA_FAULT_MASS};
  PetscReal           limits[3] = {0, 0, mass_tol};

  PetscFunctionBegin;
  for (PetscInt i = 0; i < nloc * M; i++) {
    if (PetscIsInfOrNanReal(rho[i])) {
      rows[0]   = (PetscInt64)lo + i / M;
      cols[0]   = i % M;
      values[0] = rho[i];
      break;
    }
    rmax = PetscMax(rmax, PetscAbsReal(rho[i]));
  }
  if (check_negative) PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &rmax, 1, MPIU_REAL, MPIU_MAX, comm));
  floor_    = -negative_tol * rmax;
  limits[1] = floor_;
  if (rows[0] == NONE_ROW) {
    for (PetscInt i = 0; check_negative && i < nloc * M; i++)
      if (rho[i] < floor_) {
        rows[1]   = (PetscInt64)lo + i / M;
        cols[1]   = i % M;
        values[1] = rho[i];
        break;
      }
    for (PetscInt j = 0; mass_tol > 0 && j < nloc; j++) {
      PetscReal m = 0;
      for (PetscInt k = 0; k < M; k++) m += rho[j * M + k];
      m *= dtheta;
      if (PetscAbsReal(m - mass0[j]) > mass_tol * PetscAbsReal(mass0[j])) {
        rows[2]   = (PetscInt64)lo + j;
        values[2] = mass0[j] != 0 ? (m - mass0[j]) / PetscAbsReal(mass0[j]) : m;
        break;
      }
    }
  }
  PetscCall(Agree(comm, 3, rows, cols, values, kinds, limits, f));
  PetscFunctionReturn(0);
}

void MfsaFaultDescribe(const MfsaFault *f, const char *rowname, const char *colname, char *buf, size_t len)
{
  switch (f->kind) {
  case MFSA_FAULT_NONE:
    snprintf(buf, len, "no fault");
    break;
  case MFSA_FAULT_NONFINITE:
    snprintf(buf, len, "%s %lld, %s %lld is %g (not finite)", rowname, (long long)f->row, colname, (long long)f->col, (double)f->value);
    break;
  case MFSA_FAULT_NORM:
    snprintf(buf, len, "%s %lld has |x| = %g > -fault_max_norm %g (blow-up)", rowname, (long long)f->row, (double)f->value, (double)f->limit);
    break;
  case MFSA_FAULT_NEGATIVE:
    snprintf(buf, len, "the density at %s %lld, %s %lld is %g < %g = -fault_negative_tol x max rho (negative beyond round-off, although the scheme preserves positivity)", rowname, (long long)f->row, colname, (long long)f->col, (double)f->value, (double)f->limit);
    break;
  case MFSA_FAULT_MASS:
    snprintf(buf, len, "the mass of %s %lld drifted by %g (relative) > -fault_mass_tol %g, although the scheme conserves it", rowname, (long long)f->row, (double)f->value, (double)f->limit);
    break;
  case MFSA_FAULT_COLLAPSE:
    snprintf(buf, len, "step-size collapse: the next step would be %g < -fault_dt_min %g (a blow-up or a stiff singularity ahead)", (double)f->value, (double)f->limit);
    break;
  case MFSA_FAULT_REJECTED:
    snprintf(buf, len, "step-size collapse: the adaptive stepper rejected the step down to dt = %g and gave up (a blow-up or a stiff singularity ahead)", (double)f->value);
    break;
  }
}
