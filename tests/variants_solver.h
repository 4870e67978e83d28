/* Test-only helper of the attention-variant tests: a model and a particle solver built from an
 * options string in an options database of their own (pushed while they read it), so that one
 * test program can set up many configurations through exactly the path mfsa uses
 * (AttnModelSetFromOptions, MfsaSolverSetFromOptions, MfsaSolverSetUp). */
#pragma once
#include "solver.h"

static inline PetscErrorCode VariantsBuild(MPI_Comm comm, const char *opts, AttnModel *m, MfsaSolver *s)
{
  PetscOptions o;

  PetscFunctionBegin;
  PetscCall(PetscOptionsCreate(&o));
  PetscCall(PetscOptionsInsertString(o, opts));
  PetscCall(PetscOptionsPush(o));
  PetscCall(AttnModelCreate(comm, m));
  PetscCall(AttnModelSetFromOptions(*m));
  PetscCall(AttnModelSetUp(*m));
  PetscCall(MfsaSolverCreate(*m, s));
  PetscCall(MfsaSolverSetFromOptions(*s));
  PetscCall(MfsaSolverSetUp(*s));
  PetscCall(PetscOptionsPop());
  PetscCall(PetscOptionsDestroy(&o));
  PetscFunctionReturn(0);
}

static inline PetscErrorCode VariantsDestroy(AttnModel *m, MfsaSolver *s)
{
  PetscFunctionBegin;
  PetscCall(MfsaSolverDestroy(s));
  PetscCall(AttnModelDestroy(m));
  PetscFunctionReturn(0);
}

/* 'steps' steps of the solver's TS, each followed by the solver's post-step (the sphere's
 * retraction), as the time loop of solvers/stepper.c does. */
static inline PetscErrorCode VariantsStep(MfsaSolver s, int steps)
{
  PetscFunctionBegin;
  for (int k = 0; k < steps; k++) {
    PetscCall(TSStep(s->ts));
    if (s->ops.poststep) PetscCall((*s->ops.poststep)(s));
  }
  PetscFunctionReturn(0);
}
