/* Numerical faults of a run, detected after every accepted step (solvers/stepper.c): values
 * that are not finite, tokens beyond a bound in R^d (blow-up), a PDE density negative beyond
 * round-off where the scheme guarantees positivity, a slice mass drifting where the scheme
 * conserves it, and step-size collapse. The options are read by the solver (they belong to the
 * time loop that acts on them); the scans below are shared by the solver types, which know
 * what a row and a column of their state are (token/component, slice/angle). */
#pragma once
#include <petscsys.h>

typedef enum {
  MFSA_FAULT_NONE = 0,
  MFSA_FAULT_NONFINITE, /* NaN or Inf */
  MFSA_FAULT_NORM,      /* |x_i| > -fault_max_norm */
  MFSA_FAULT_NEGATIVE,  /* rho < -fault_negative_tol * max rho */
  MFSA_FAULT_MASS,      /* |m_j - m_j(0)| > -fault_mass_tol |m_j(0)| */
  MFSA_FAULT_COLLAPSE,  /* next step < -fault_dt_min, or time does not advance */
  MFSA_FAULT_REJECTED   /* the adaptive step was rejected until the stepper gave up */
} MfsaFaultKind;

typedef struct {
  PetscReal max_norm;     /* -fault_max_norm: bound on |x_i| in R^d (particles; 0 = off) */
  PetscReal negative_tol; /* -fault_negative_tol: relative to max rho (PDE) */
  PetscReal mass_tol;     /* -fault_mass_tol: relative drift of a slice's mass (PDE) */
  PetscReal dt_min;       /* -fault_dt_min: smallest step (0: 1e-10 x the initial -ts_dt) */
  PetscInt  inject_step;  /* -debug_inject_nan_step: after this step, write inject_value into the state (-1: off) */
  PetscInt  inject_index; /* -debug_inject_index: which entry of the global state vector (-1: the middle one) */
  PetscReal inject_value; /* -debug_inject_value (NaN) */
} MfsaFaultSpec;

/* A detected fault: where (row, col: token and component, or slice and angle; col = -1 when
 * the fault concerns the row as a whole) and the offending value against its limit. */
typedef struct {
  MfsaFaultKind kind;
  PetscInt64    row, col;
  PetscReal     value, limit;
} MfsaFault;

/* Defaults: max_norm 1e8, negative_tol 1e-12, mass_tol 1e-8, dt_min automatic, no injection. */
void MfsaFaultSpecDefaults(MfsaFaultSpec *);
/* Reads the options (between PetscOptionsBegin/End): -fault_max_norm (particles),
 * -fault_negative_tol and -fault_mass_tol (pde), -fault_dt_min, -debug_inject_nan_step,
 * -debug_inject_index, -debug_inject_value; checks their ranges. */
PetscErrorCode MfsaFaultSetFromOptions(PetscOptionItems *PetscOptionsObject, MPI_Comm comm, const char *solver, MfsaFaultSpec *spec);

/* Collective. Rows [lo, lo+nloc) of an n x width row-major array (this rank's tokens): the
 * first non-finite entry, else the first row with Euclidean norm > max_norm (max_norm > 0).
 * Every rank gets the same verdict (kind NONE when all is well). */
PetscErrorCode MfsaFaultScanRows(MPI_Comm comm, const PetscReal *x, PetscInt lo, PetscInt nloc, PetscInt width, PetscReal max_norm, MfsaFault *f);
/* Collective. Slices [lo, lo+nloc) of an S x M density (row-major), cell width dtheta, initial
 * slice masses mass0 (local): the first non-finite cell; else (check_negative) the first cell
 * below -negative_tol x the global max of rho; else the first slice whose mass
 * dtheta sum_k rho drifted by more than mass_tol |mass0| (mass_tol > 0). */
PetscErrorCode MfsaFaultScanDensity(MPI_Comm comm, const PetscReal *rho, PetscInt lo, PetscInt nloc, PetscInt M, PetscReal dtheta, const PetscReal *mass0, PetscBool check_negative, PetscReal negative_tol, PetscReal mass_tol, MfsaFault *f);
/* One sentence for the user: what is wrong and where, e.g. "token 5, component 1 is nan (not
 * finite)"; rowname/colname say what a row and a column are ("token"/"component"). */
void MfsaFaultDescribe(const MfsaFault *f, const char *rowname, const char *colname, char *buf, size_t len);
