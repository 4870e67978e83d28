/* Initial densities rho(s, theta) for the PDE on the circle: uniform plus Fourier modes with an
 * s^p profile, von Mises mixtures with an s-drift, an HDF5 grid, or the histogram of a particle
 * snapshot (so a particle run and a PDE run can start from the same data). */
#pragma once
#include <petscsys.h>

typedef enum { MFSA_DENSITY_UNIFORM, MFSA_DENSITY_MODES, MFSA_DENSITY_VONMISES, MFSA_DENSITY_FILE, MFSA_DENSITY_PARTICLES } MfsaDensityKind;
extern const char *const MfsaDensityNames[];

#define MFSA_DENSITY_MAX_TERMS 16

typedef struct {
  MfsaDensityKind kind;
  /* modes: (1/2pi)(1 + s^power sum_k amp_k cos(mode_k theta + phase_k)) */
  PetscInt  nmodes, modes[MFSA_DENSITY_MAX_TERMS];
  PetscReal amplitudes[MFSA_DENSITY_MAX_TERMS], phases[MFSA_DENSITY_MAX_TERMS], power;
  /* von Mises: sum_k w_k e^{kappa_k cos(theta - c_k - drift s)} / (2 pi I0(kappa_k)) */
  PetscInt  nvm;
  PetscReal centers[MFSA_DENSITY_MAX_TERMS], kappas[MFSA_DENSITY_MAX_TERMS], weights[MFSA_DENSITY_MAX_TERMS], drift;
  char      file[PETSC_MAX_PATH_LEN];
} MfsaDensitySpec;

/* Reads -pde_init and its parameters, validates them (counts, signs). Between Begin/End. */
PetscErrorCode MfsaDensitySetFromOptions(PetscOptionItems *PetscOptionsObject, MPI_Comm, MfsaDensitySpec *);
/* Slices lo..lo+nloc-1 of S, M angles: rho[(j-lo)*M + k] at s_j = (j+1/2)/S, theta_k = (k+1/2) 2pi/M.
 * Checks the result is finite and >= 0 (collective). */
PetscErrorCode MfsaDensityFill(MPI_Comm, const MfsaDensitySpec *, PetscInt S, PetscInt M, PetscInt lo, PetscInt nloc, PetscReal *rho);
