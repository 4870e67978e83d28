/* Initial densities for the PDE solver (see density_init.h). */
#include <petscsys.h>
#include "density_init.h"
#include "output.h"

const char *const MfsaDensityNames[] = {"uniform", "modes", "vonmises", "file", "particles", NULL};

/* e^{-kappa} I0(kappa) by its power series with the scaling folded into every term, so it
 * neither overflows nor loses precision for kappa up to ~700. */
static PetscReal ScaledBesselI0(PetscReal kappa)
{
  PetscReal sum = 0, logterm;
  for (PetscInt k = 0; k < 2000; k++) {
    logterm = (k ? 2.0 * k * PetscLogReal(0.5 * kappa) : 0.0) - 2.0 * lgamma((double)k + 1.0) - kappa;
    const PetscReal term = PetscExpReal(logterm);
    sum += term;
    if (k > kappa && term < 1e-18 * sum) break;
  }
  return sum;
}

PetscErrorCode MfsaDensitySetFromOptions(PetscOptionItems *PetscOptionsObject, MPI_Comm comm, MfsaDensitySpec *spec)
{
  const char *const names[] = {"uniform", "modes", "vonmises", "file", "particles", NULL};
  char              value[64];
  PetscBool         set, fileset;
  PetscInt          na = MFSA_DENSITY_MAX_TERMS, np = MFSA_DENSITY_MAX_TERMS, nk = MFSA_DENSITY_MAX_TERMS, nw = MFSA_DENSITY_MAX_TERMS;
  PetscBool         aset, pset, kset, wset;

  PetscFunctionBegin;
  PetscCall(PetscStrncpy(value, names[spec->kind], sizeof(value)));
  PetscCall(PetscOptionsString("-pde_init", "Initial density (uniform|modes|vonmises|file|particles)", NULL, value, value, sizeof(value), &set));
  {
    PetscBool found = PETSC_FALSE;
    for (PetscInt k = 0; names[k] && !found; k++) {
      PetscCall(PetscStrcmp(value, names[k], &found));
      if (found) spec->kind = (MfsaDensityKind)k;
    }
    PetscCheck(found, comm, PETSC_ERR_USER_INPUT, "Option -pde_init: value '%s' is not allowed; choose one of uniform|modes|vonmises|file|particles", value);
  }
  spec->nmodes = MFSA_DENSITY_MAX_TERMS;
  PetscCall(PetscOptionsIntArray("-pde_init_modes", "modes: wave numbers m_k >= 1", NULL, spec->modes, &spec->nmodes, &set));
  if (!set) spec->nmodes = 0;
  PetscCall(PetscOptionsRealArray("-pde_init_amplitudes", "modes: amplitudes a_k of (1/2pi)(1 + s^p sum a_k cos(m_k theta + phase_k))", NULL, spec->amplitudes, &na, &aset));
  PetscCall(PetscOptionsRealArray("-pde_init_phases", "modes: phases (default 0)", NULL, spec->phases, &np, &pset));
  PetscCall(PetscOptionsReal("-pde_init_power", "modes: the perturbation is multiplied by s^p", NULL, spec->power, &spec->power, NULL));
  spec->nvm = MFSA_DENSITY_MAX_TERMS;
  PetscCall(PetscOptionsRealArray("-pde_init_vonmises_centers", "vonmises: centres c_k (radians)", NULL, spec->centers, &spec->nvm, &set));
  if (!set) spec->nvm = 0;
  PetscCall(PetscOptionsRealArray("-pde_init_vonmises_kappas", "vonmises: concentrations kappa_k >= 0", NULL, spec->kappas, &nk, &kset));
  PetscCall(PetscOptionsRealArray("-pde_init_vonmises_weights", "vonmises: weights w_k > 0 (normalised to sum 1; default equal)", NULL, spec->weights, &nw, &wset));
  PetscCall(PetscOptionsReal("-pde_init_vonmises_drift", "vonmises: centres move by drift * s", NULL, spec->drift, &spec->drift, NULL));
  PetscCall(PetscOptionsString("-pde_init_file", "file: HDF5 with /pde/rho (S x M); particles: a particle snapshot (/particles/x, n x 2)", NULL, spec->file, spec->file, sizeof(spec->file), &fileset));

  if (spec->kind == MFSA_DENSITY_MODES) {
    PetscCheck(spec->nmodes >= 1, comm, PETSC_ERR_USER_INPUT, "-pde_init modes needs -pde_init_modes m1,m2,... and -pde_init_amplitudes a1,a2,...");
    PetscCheck(aset && na == spec->nmodes, comm, PETSC_ERR_USER_INPUT, "-pde_init_amplitudes must give one amplitude per mode: %" PetscInt_FMT " modes, %" PetscInt_FMT " amplitudes", spec->nmodes, aset ? na : 0);
    PetscCheck(!pset || np == spec->nmodes, comm, PETSC_ERR_USER_INPUT, "-pde_init_phases must give one phase per mode: %" PetscInt_FMT " modes, %" PetscInt_FMT " phases", spec->nmodes, np);
    if (!pset)
      for (PetscInt k = 0; k < spec->nmodes; k++) spec->phases[k] = 0;
    for (PetscInt k = 0; k < spec->nmodes; k++) PetscCheck(spec->modes[k] >= 1, comm, PETSC_ERR_USER_INPUT, "-pde_init_modes: wave numbers must be >= 1 (got %" PetscInt_FMT ")", spec->modes[k]);
    PetscCheck(spec->power >= 0, comm, PETSC_ERR_USER_INPUT, "-pde_init_power must be >= 0 (got %g)", (double)spec->power);
  }
  if (spec->kind == MFSA_DENSITY_VONMISES) {
    PetscCheck(spec->nvm >= 1, comm, PETSC_ERR_USER_INPUT, "-pde_init vonmises needs -pde_init_vonmises_centers c1,... and -pde_init_vonmises_kappas k1,...");
    PetscCheck(kset && nk == spec->nvm, comm, PETSC_ERR_USER_INPUT, "-pde_init_vonmises_kappas must give one kappa per centre: %" PetscInt_FMT " centres, %" PetscInt_FMT " kappas", spec->nvm, kset ? nk : 0);
    PetscCheck(!wset || nw == spec->nvm, comm, PETSC_ERR_USER_INPUT, "-pde_init_vonmises_weights must give one weight per centre: %" PetscInt_FMT " centres, %" PetscInt_FMT " weights", spec->nvm, nw);
    PetscReal wsum = 0;
    for (PetscInt k = 0; k < spec->nvm; k++) {
      if (!wset) spec->weights[k] = 1.0;
      PetscCheck(spec->kappas[k] >= 0 && spec->kappas[k] <= 700, comm, PETSC_ERR_USER_INPUT, "-pde_init_vonmises_kappas must lie in [0, 700] (got %g)", (double)spec->kappas[k]);
      PetscCheck(spec->weights[k] > 0, comm, PETSC_ERR_USER_INPUT, "-pde_init_vonmises_weights must be > 0 (got %g)", (double)spec->weights[k]);
      wsum += spec->weights[k];
    }
    for (PetscInt k = 0; k < spec->nvm; k++) spec->weights[k] /= wsum;
  }
  if (spec->kind == MFSA_DENSITY_FILE || spec->kind == MFSA_DENSITY_PARTICLES) PetscCheck(spec->file[0], comm, PETSC_ERR_USER_INPUT, "-pde_init %s needs -pde_init_file <file.h5>", names[spec->kind]);
  else PetscCheck(!fileset, comm, PETSC_ERR_USER_INPUT, "-pde_init_file is only used with -pde_init file|particles (got -pde_init %s)", names[spec->kind]);
  PetscFunctionReturn(0);
}

/* Histogram of a particle snapshot: token i (s = (i+1)/n) belongs to slice floor(i S / n). */
static PetscErrorCode FillFromParticles(MPI_Comm comm, const MfsaDensitySpec *spec, PetscInt S, PetscInt M, PetscInt lo, PetscInt nloc, PetscReal *rho)
{
  PetscInt   n, d, i0, i1, empty = -1;
  PetscReal *x;
  const PetscReal dtheta = 2 * PETSC_PI / M;

  PetscFunctionBegin;
  PetscCall(MfsaReadDims2(comm, "-pde_init_file", spec->file, "/particles/x", &n, &d));
  PetscCheck(d == 2, comm, PETSC_ERR_USER_INPUT, "-pde_init_file %s: /particles/x has %" PetscInt_FMT " columns; -pde_init particles needs tokens on the circle (n x 2)", spec->file, d);
  PetscCheck(n >= S, comm, PETSC_ERR_USER_INPUT, "-pde_init_file %s: %" PetscInt_FMT " tokens cannot fill %" PetscInt_FMT " slices; use -pde_slices <= %" PetscInt_FMT, spec->file, n, S, n);
  /* tokens of slices [lo, lo+nloc): i with floor(i S / n) in that range */
  i0 = (PetscInt)(((PetscInt64)lo * n + S - 1) / S);
  i1 = (PetscInt)(((PetscInt64)(lo + nloc) * n + S - 1) / S);
  PetscCall(PetscMalloc1(PetscMax(1, 2 * (i1 - i0)), &x));
  PetscCall(MfsaReadRows(comm, "-pde_init_file", spec->file, "/particles/x", n, 2, i0, i1 - i0, x));
  PetscCall(PetscArrayzero(rho, nloc * M));
  for (PetscInt i = i0; i < i1; i++) {
    const PetscInt j = (PetscInt)(((PetscInt64)i * S) / n) - lo;
    PetscReal      theta = atan2(x[2 * (i - i0) + 1], x[2 * (i - i0)]);
    if (theta < 0) theta += 2 * PETSC_PI;
    const PetscInt k = PetscMin(M - 1, (PetscInt)(theta / dtheta));
    rho[j * M + k] += 1.0;
  }
  for (PetscInt j = 0; j < nloc; j++) {
    PetscReal count = 0;
    for (PetscInt k = 0; k < M; k++) count += rho[j * M + k];
    if (count == 0 && empty < 0) empty = lo + j;
    for (PetscInt k = 0; k < M; k++) rho[j * M + k] /= PetscMax(count, 1.0) * dtheta;
  }
  PetscCall(PetscFree(x));
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &empty, 1, MPIU_INT, MPI_MAX, comm));
  PetscCheck(empty < 0, comm, PETSC_ERR_USER_INPUT, "-pde_init_file %s: slice %" PetscInt_FMT " receives no token; use fewer -pde_slices", spec->file, empty);
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaDensityFill(MPI_Comm comm, const MfsaDensitySpec *spec, PetscInt S, PetscInt M, PetscInt lo, PetscInt nloc, PetscReal *rho)
{
  const PetscReal dtheta = 2 * PETSC_PI / M;
  PetscInt        bad[2] = {PETSC_MAX_INT, PETSC_MAX_INT}; /* first negative, first non-finite (global index) */

  PetscFunctionBegin;
  switch (spec->kind) {
  case MFSA_DENSITY_UNIFORM:
    for (PetscInt i = 0; i < nloc * M; i++) rho[i] = 1.0 / (2 * PETSC_PI);
    break;
  case MFSA_DENSITY_MODES:
    for (PetscInt j = 0; j < nloc; j++) {
      const PetscReal s = (lo + j + 0.5) / S, profile = spec->power == 0 ? 1.0 : PetscPowReal(s, spec->power);
      for (PetscInt k = 0; k < M; k++) {
        const PetscReal theta = (k + 0.5) * dtheta;
        PetscReal       pert  = 0;
        for (PetscInt q = 0; q < spec->nmodes; q++) pert += spec->amplitudes[q] * PetscCosReal(spec->modes[q] * theta + spec->phases[q]);
        rho[j * M + k] = (1.0 + profile * pert) / (2 * PETSC_PI);
      }
    }
    break;
  case MFSA_DENSITY_VONMISES:
    for (PetscInt j = 0; j < nloc; j++) {
      const PetscReal s = (lo + j + 0.5) / S;
      for (PetscInt k = 0; k < M; k++) {
        const PetscReal theta = (k + 0.5) * dtheta;
        PetscReal       value = 0;
        for (PetscInt q = 0; q < spec->nvm; q++) value += spec->weights[q] * PetscExpReal(spec->kappas[q] * (PetscCosReal(theta - spec->centers[q] - spec->drift * s) - 1.0)) / (2 * PETSC_PI * ScaledBesselI0(spec->kappas[q]));
        rho[j * M + k] = value;
      }
    }
    break;
  case MFSA_DENSITY_FILE:
    PetscCall(MfsaReadRows(comm, "-pde_init_file", spec->file, "/pde/rho", S, M, lo, nloc, rho));
    break;
  case MFSA_DENSITY_PARTICLES:
    PetscCall(FillFromParticles(comm, spec, S, M, lo, nloc, rho));
    break;
  }
  for (PetscInt i = 0; i < nloc * M; i++) {
    if (PetscIsInfOrNanReal(rho[i])) bad[1] = PetscMin(bad[1], lo * M + i);
    else if (rho[i] < 0) bad[0] = PetscMin(bad[0], lo * M + i);
  }
  PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, bad, 2, MPIU_INT, MPI_MIN, comm));
  PetscCheck(bad[1] == PETSC_MAX_INT, comm, PETSC_ERR_USER_INPUT, "-pde_init %s: the initial density is not finite at slice %" PetscInt_FMT ", angle %" PetscInt_FMT, MfsaDensityNames[spec->kind], bad[1] / M, bad[1] % M);
  PetscCheck(bad[0] == PETSC_MAX_INT, comm, PETSC_ERR_USER_INPUT, "-pde_init %s%s%s: the initial density is negative at slice %" PetscInt_FMT ", angle %" PetscInt_FMT "%s", MfsaDensityNames[spec->kind], spec->file[0] ? " -pde_init_file " : "", spec->file, bad[0] / M, bad[0] % M, spec->kind == MFSA_DENSITY_MODES ? " (amplitudes too large: need sum |a_k| s^p <= 1)" : "");
  PetscFunctionReturn(0);
}
