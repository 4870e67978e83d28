/* Solver registry and the type-independent part of every solver: TS creation with mfsa's
 * defaults (fixed-step RK4), option validation, and dispatch through the ops table. */
#include "solver.h"

static PetscFunctionList MfsaSolverList           = NULL;
static PetscBool         MfsaSolverRegisterCalled = PETSC_FALSE;

PetscErrorCode MfsaSolverRegister(const char name[], PetscErrorCode (*create)(MfsaSolver))
{
  PetscFunctionBegin;
  PetscCall(PetscFunctionListAdd(&MfsaSolverList, name, create));
  PetscFunctionReturn(0);
}

/* PetscFinalize frees the registry (like PETSc's own packages), so -malloc_dump stays clean. */
static PetscErrorCode MfsaSolverFinalizePackage(void)
{
  PetscFunctionBegin;
  PetscCall(PetscFunctionListDestroy(&MfsaSolverList));
  MfsaSolverRegisterCalled = PETSC_FALSE;
  PetscFunctionReturn(0);
}

static PetscErrorCode MfsaSolverRegisterAll(void)
{
  PetscFunctionBegin;
  if (MfsaSolverRegisterCalled) PetscFunctionReturn(0);
  MfsaSolverRegisterCalled = PETSC_TRUE;
  PetscCall(PetscRegisterFinalize(MfsaSolverFinalizePackage));
  PetscCall(MfsaSolverRegister("particles", MfsaSolverCreate_Particles));
  PetscCall(MfsaSolverRegister("pde", MfsaSolverCreate_Pde));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSolverCreate(AttnModel model, MfsaSolver *solver)
{
  MfsaSolver s;

  PetscFunctionBegin;
  PetscCall(MfsaSolverRegisterAll());
  PetscCall(PetscNew(&s));
  s->comm  = model->comm;
  s->model = model;
  PetscCall(PetscStrncpy(s->type, "particles", sizeof(s->type)));
  s->progress_interval = 30.0;
  s->checkpoint_final  = PETSC_TRUE;
  MfsaFaultSpecDefaults(&s->fault);
  PetscCall(TSCreate(s->comm, &s->ts));
  PetscCall(TSSetProblemType(s->ts, TS_NONLINEAR));
  PetscCall(TSSetType(s->ts, TSRK));
  PetscCall(TSRKSetType(s->ts, TSRK4));
  PetscCall(TSSetTimeStep(s->ts, 0.01));
  PetscCall(TSSetMaxTime(s->ts, 1.0));
  PetscCall(TSSetMaxSteps(s->ts, PETSC_MAX_INT));
  PetscCall(TSSetExactFinalTime(s->ts, TS_EXACTFINALTIME_MATCHSTEP));
  {
    TSAdapt adapt;
    PetscCall(TSGetAdapt(s->ts, &adapt));
    PetscCall(TSAdaptSetType(adapt, TSADAPTNONE));
  }
  *solver = s;
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSolverSetFromOptions(MfsaSolver s)
{
  PetscErrorCode (*create)(MfsaSolver) = NULL;
  char      type[64];
  PetscBool set;
  PetscReal dt, tmax;

  PetscFunctionBegin;
  PetscCall(PetscStrncpy(type, s->type, sizeof(type)));
  PetscOptionsBegin(s->comm, NULL, "mfsa solver", "MfsaSolver");
  PetscCall(PetscOptionsString("-solver", "Solver type (particles|pde)", NULL, s->type, type, sizeof(type), &set));
  PetscCall(PetscOptionsReal("-progress_interval", "Wall-clock seconds between rank-0 progress lines, besides those at output times (0: only at outputs)", NULL, s->progress_interval, &s->progress_interval, NULL));
  PetscCheck(s->progress_interval >= 0, s->comm, PETSC_ERR_USER_INPUT, "-progress_interval must be >= 0 seconds (got %g)", (double)s->progress_interval);
  PetscCall(PetscOptionsReal("-checkpoint_dt", "Model time between checkpoints (0: none; SIGTERM/SIGUSR1 and the stop file always checkpoint)", NULL, s->checkpoint_dt, &s->checkpoint_dt, NULL));
  PetscCall(PetscOptionsReal("-checkpoint_wall", "Wall-clock minutes between checkpoints (0: none)", NULL, s->checkpoint_wall, &s->checkpoint_wall, NULL));
  PetscCall(PetscOptionsBool("-checkpoint_final", "Write a checkpoint at the end of the run", NULL, s->checkpoint_final, &s->checkpoint_final, NULL));
  PetscCall(PetscOptionsString("-checkpoint_stop_file", "If this file appears, checkpoint and stop (exit code 3) (default <out>/mfsa.stop)", NULL, s->stop_file, s->stop_file, sizeof(s->stop_file), NULL));
  PetscCall(PetscOptionsString("-restart", "Continue from a checkpoint: auto (the newest valid one in -out, or a fresh start if none) or a file", NULL, s->restart, s->restart, sizeof(s->restart), NULL));
  PetscCheck(s->checkpoint_dt >= 0 && !PetscIsInfOrNanReal(s->checkpoint_dt), s->comm, PETSC_ERR_USER_INPUT, "-checkpoint_dt must be >= 0 (got %g)", (double)s->checkpoint_dt);
  PetscCheck(s->checkpoint_wall >= 0 && !PetscIsInfOrNanReal(s->checkpoint_wall), s->comm, PETSC_ERR_USER_INPUT, "-checkpoint_wall must be >= 0 minutes (got %g)", (double)s->checkpoint_wall);
  PetscCall(PetscOptionsBool("-mfsa_view", "Print the model, solver and time stepper after set-up", NULL, s->view, &s->view, NULL));
  PetscCall(PetscFunctionListFind(MfsaSolverList, type, &create));
  PetscCheck(create, s->comm, PETSC_ERR_USER_INPUT, "-solver %s is not a known solver; available: particles, pde", type);
  PetscCall(PetscStrncpy(s->type, type, sizeof(s->type)));
  PetscCall((*create)(s));
  if (s->ops.setfromoptions) PetscCall((*s->ops.setfromoptions)(s, PetscOptionsObject));
  PetscCall(MfsaFaultSetFromOptions(PetscOptionsObject, s->comm, s->type, &s->fault));
  PetscOptionsEnd();

  PetscCall(TSSetFromOptions(s->ts));
  PetscCall(TSGetTimeStep(s->ts, &dt));
  PetscCall(TSGetMaxTime(s->ts, &tmax));
  PetscCheck(PetscIsNormalReal(dt) && dt > 0, s->comm, PETSC_ERR_USER_INPUT, "-ts_dt must be a finite number > 0 (got %g)", (double)dt);
  PetscCheck(PetscIsNormalReal(tmax) && tmax > 0, s->comm, PETSC_ERR_USER_INPUT, "-ts_max_time must be a finite number > 0 (got %g)", (double)tmax);
  if (s->fault.dt_min == 0) s->fault.dt_min = 1e-10 * dt; /* a collapse by ten orders of magnitude below the nominal step */
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSolverSetUp(MfsaSolver s)
{
  PetscFunctionBegin;
  PetscCall((*s->ops.setup)(s));
  s->provenance.seed     = s->model->seed;
  s->provenance.d        = s->model->d;
  s->provenance.heads    = s->model->heads;
  s->provenance.k        = s->model->k;
  s->provenance.beta     = s->model->beta;
  s->provenance.mask     = MfsaMaskNames[s->model->mask];
  s->provenance.norm     = MfsaNormNames[s->model->norm];
  s->provenance.geometry = MfsaGeometryNames[s->model->geometry];
  s->provenance.kernel     = s->model->kernel_desc;
  s->provenance.layer_norm = MfsaLayerNormNames[s->model->ln];
  s->provenance.Q        = s->model->Q;
  s->provenance.K        = s->model->K;
  s->provenance.V        = s->model->V;
  PetscCall(TSSetSolution(s->ts, s->X));
  PetscCall(TSSetUp(s->ts));
  if (s->view) PetscCall(MfsaSolverView(s, PETSC_VIEWER_STDOUT_(s->comm)));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSolverView(MfsaSolver s, PetscViewer viewer)
{
  PetscFunctionBegin;
  PetscCall(AttnModelView(s->model, viewer));
  if (s->ops.view) PetscCall((*s->ops.view)(s, viewer));
  PetscCall(TSView(s->ts, viewer));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSolverDestroy(MfsaSolver *solver)
{
  PetscFunctionBegin;
  if (!*solver) PetscFunctionReturn(0);
  if ((*solver)->ops.destroy) PetscCall((*(*solver)->ops.destroy)(*solver));
  PetscCall(VecDestroy(&(*solver)->X));
  PetscCall(TSDestroy(&(*solver)->ts));
  PetscCall(PetscFree(*solver));
  PetscFunctionReturn(0);
}
