/* Initial data: RNG draws per (seed, token index), or rows of an HDF5 dataset. */
#include "init.h"
#include "output.h"
#include "rng.h"

const char *const MfsaInitNames[] = {"uniform", "gaussian", "file", NULL};

void MfsaNormalizeRows(PetscInt nloc, PetscInt d, PetscReal *x)
{
  for (PetscInt i = 0; i < nloc; i++) {
    PetscReal norm2 = 0;
    for (PetscInt a = 0; a < d; a++) norm2 += x[i * d + a] * x[i * d + a];
    const PetscReal inv = 1.0 / PetscSqrtReal(norm2);
    for (PetscInt a = 0; a < d; a++) x[i * d + a] *= inv;
  }
}

PetscErrorCode MfsaInitialTokens(AttnModel m, const MfsaInitSpec *spec, PetscInt n, PetscInt lo, PetscInt nloc, PetscReal *x)
{
  const PetscInt d      = m->d;
  const PetscBool sphere = (m->geometry == MFSA_GEOMETRY_SPHERE) ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBegin;
  switch (spec->kind) {
  case MFSA_INIT_UNIFORM:
  case MFSA_INIT_GAUSSIAN:
    for (PetscInt i = 0; i < nloc; i++) MfsaRandomNormals((uint64_t)m->seed, MFSA_STREAM_TOKENS, (uint64_t)(lo + i), (int)d, x + i * d);
    if (spec->kind == MFSA_INIT_UNIFORM || sphere) MfsaNormalizeRows(nloc, d, x);
    break;
  case MFSA_INIT_FILE: {
    PetscReal worst = 0;
    PetscInt  bad   = -1;
    PetscCall(MfsaReadRows(m->comm, "-init_file", spec->file, spec->dataset, n, d, lo, nloc, x));
    if (!sphere) break;
    for (PetscInt i = 0; i < nloc; i++) {
      PetscReal norm2 = 0;
      for (PetscInt a = 0; a < d; a++) norm2 += x[i * d + a] * x[i * d + a];
      const PetscReal err = PetscAbsReal(PetscSqrtReal(norm2) - 1.0);
      if (err > 1e-6 && bad < 0) bad = lo + i;
      worst = PetscMax(worst, err);
    }
    PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &worst, 1, MPIU_REAL, MPIU_MAX, m->comm));
    {
      PetscInt firstbad = bad < 0 ? PETSC_MAX_INT : bad;
      PetscCall(MPIU_Allreduce(MPI_IN_PLACE, &firstbad, 1, MPIU_INT, MPI_MIN, m->comm));
      PetscCheck(worst <= 1e-6, m->comm, PETSC_ERR_USER_INPUT, "-init_file %s: row %" PetscInt_FMT " of %s is not a unit vector (| |x| - 1 | up to %g > 1e-6) but -geometry is sphere; normalise the rows or use -geometry euclidean", spec->file, firstbad, spec->dataset, (double)worst);
    }
    MfsaNormalizeRows(nloc, d, x);
  } break;
  }
  PetscFunctionReturn(0);
}
