/* Particle solver: exact all-pairs attention between n tokens distributed in contiguous
 * blocks of the global index (pair-balanced under the causal mask). Each RHS evaluation
 * gathers all token states into a structure-of-arrays key buffer and hands the local
 * queries to the attention field. */
#include "solver.h"
#include "attention_field.h"
#include "diagnostics.h"
#include "init.h"
#include "options_util.h"
#include "partition.h"

typedef struct {
  PetscInt     n, lo, nloc;
  MfsaInitSpec init;
  PetscMPIInt *counts, *displs; /* Allgatherv layout, in doubles */
  PetscReal   *gathered;        /* n x d, row-major (global token order) */
  PetscReal   *keystore;
  PairKeys     keys;
  AttnField    field;
  PetscReal   *logz; /* nloc x heads, from the last full evaluation */
} Particles;

/* All token states -> SoA keys. Identical on every rank count by construction. */
static PetscErrorCode GatherKeys(MfsaSolver s, const PetscReal *xloc)
{
  Particles     *p = (Particles *)s->data;
  const PetscInt d = s->model->d, n = p->n, ld = p->keys.ld;
  PetscReal     *soa = p->keystore;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allgatherv(xloc, (PetscMPIInt)(p->nloc * d), MPIU_REAL, p->gathered, p->counts, p->displs, MPIU_REAL, s->comm));
  for (PetscInt j = 0; j < n; j++)
    for (PetscInt a = 0; a < d; a++) soa[a * ld + j] = p->gathered[j * d + a];
  PetscFunctionReturn(0);
}

static PetscErrorCode ParticlesRHS(TS ts, PetscReal t, Vec X, Vec F, void *ctx)
{
  MfsaSolver         s = (MfsaSolver)ctx;
  Particles         *p = (Particles *)s->data;
  const PetscScalar *x;
  PetscScalar       *f;

  PetscFunctionBegin;
  (void)ts;
  (void)t;
  PetscCall(VecGetArrayRead(X, &x));
  PetscCall(VecGetArrayWrite(F, &f));
  PetscCall(GatherKeys(s, x));
  PetscCall(AttnFieldEvaluate(p->field, &p->keys, p->lo, p->nloc, x, f, p->logz));
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(VecRestoreArrayRead(X, &x));
  PetscFunctionReturn(0);
}

static PetscErrorCode ParticlesSetFromOptions(MfsaSolver s, PetscOptionItems *PetscOptionsObject)
{
  Particles *p = (Particles *)s->data;
  PetscInt   idx;
  PetscBool  fileset;

  PetscFunctionBegin;
  PetscCall(PetscOptionsInt("-n", "Number of tokens n", NULL, p->n, &p->n, NULL));
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-init", "Initial tokens: uniform on the sphere, standard Gaussian, or -init_file", MfsaInitNames, p->init.kind, &idx));
  p->init.kind = (MfsaInitKind)idx;
  PetscCall(PetscOptionsString("-init_file", "HDF5 file with the initial tokens (n x d float64)", NULL, p->init.file, p->init.file, sizeof(p->init.file), &fileset));
  PetscCall(PetscOptionsString("-init_dataset", "Dataset in -init_file", NULL, p->init.dataset, p->init.dataset, sizeof(p->init.dataset), NULL));
  PetscCheck(p->n >= 1, s->comm, PETSC_ERR_USER_INPUT, "-n must be >= 1 (got %" PetscInt_FMT ")", p->n);
  if (p->init.kind == MFSA_INIT_FILE) PetscCheck(p->init.file[0], s->comm, PETSC_ERR_USER_INPUT, "-init file needs -init_file <file.h5> (dataset %s, n x d float64)", p->init.dataset);
  else PetscCheck(!fileset, s->comm, PETSC_ERR_USER_INPUT, "-init_file is only used with -init file (got -init %s)", MfsaInitNames[p->init.kind]);
  PetscFunctionReturn(0);
}

static PetscErrorCode ParticlesSetUp(MfsaSolver s)
{
  Particles     *p = (Particles *)s->data;
  AttnModel      m = s->model;
  const PetscInt d = m->d;
  PetscMPIInt    size;
  PetscScalar   *x;

  PetscFunctionBegin;
  PetscCheck((PetscInt64)p->n * d < PETSC_MPI_INT_MAX, s->comm, PETSC_ERR_SUP, "n*d = %" PetscInt64_FMT " exceeds what one MPI_Allgatherv can move; use fewer tokens", (PetscInt64)p->n * d);
  PetscCallMPI(MPI_Comm_size(s->comm, &size));
  PetscCall(MfsaPartitionTokens(s->comm, p->n, m->mask == MFSA_MASK_CAUSAL, &p->lo, &p->nloc));
  PetscCall(PetscMalloc2(size, &p->counts, size, &p->displs));
  for (PetscMPIInt r = 0; r < size; r++) {
    const PetscInt lo = MfsaPartitionStart(p->n, m->mask == MFSA_MASK_CAUSAL, r, size);
    const PetscInt hi = MfsaPartitionStart(p->n, m->mask == MFSA_MASK_CAUSAL, r + 1, size);
    p->counts[r]      = (PetscMPIInt)((hi - lo) * d);
    p->displs[r]      = (PetscMPIInt)(lo * d);
  }
  PetscCall(PetscMalloc2(p->n * d, &p->gathered, PetscMax(p->nloc, 1) * m->heads, &p->logz));
  PetscCall(PairKeysAllocate(p->n, d, &p->keys, &p->keystore));
  PetscCall(AttnFieldCreate(m, p->nloc, &p->field));

  PetscCall(VecCreateMPI(s->comm, p->nloc * d, p->n * d, &s->X));
  PetscCall(VecSetBlockSize(s->X, d));
  PetscCall(VecGetArrayWrite(s->X, &x));
  PetscCall(MfsaInitialTokens(m, &p->init, p->n, p->lo, p->nloc, x));
  PetscCall(VecRestoreArrayWrite(s->X, &x));
  PetscCall(TSSetRHSFunction(s->ts, NULL, ParticlesRHS, s));

  s->provenance.n = p->n;
  PetscFunctionReturn(0);
}

/* Sphere: pull the state back onto the sphere after every step (the retraction). */
static PetscErrorCode ParticlesPostStep(MfsaSolver s)
{
  Particles   *p = (Particles *)s->data;
  PetscScalar *x;

  PetscFunctionBegin;
  if (s->model->geometry != MFSA_GEOMETRY_SPHERE) PetscFunctionReturn(0);
  PetscCall(VecGetArray(s->X, &x));
  MfsaNormalizeRows(p->nloc, s->model->d, x);
  PetscCall(VecRestoreArray(s->X, &x));
  /* FSAL methods (5dp, 3bs) must not reuse the last stage's RHS of the un-retracted state */
  PetscCall(TSRestartStep(s->ts));
  PetscFunctionReturn(0);
}

static PetscErrorCode ParticlesOutput(MfsaSolver s, MfsaOutput out, PetscInt step, PetscReal dt, PetscReal wall)
{
  Particles         *p = (Particles *)s->data;
  const PetscInt     d = s->model->d;
  const PetscScalar *x;
  PetscReal         *vel, *speed, t;
  MfsaParticleFrame  frame;
  MfsaDiagnosticsRow row;

  PetscFunctionBegin;
  PetscCall(TSGetTime(s->ts, &t));
  PetscCall(PetscMalloc2(PetscMax(p->nloc, 1) * d, &vel, PetscMax(p->nloc, 1), &speed));
  PetscCall(VecGetArrayRead(s->X, &x));
  PetscCall(GatherKeys(s, x));
  PetscCall(AttnFieldEvaluate(p->field, &p->keys, p->lo, p->nloc, x, vel, p->logz));
  for (PetscInt i = 0; i < p->nloc; i++) {
    PetscReal v2 = 0;
    for (PetscInt a = 0; a < d; a++) v2 += vel[i * d + a] * vel[i * d + a];
    speed[i] = PetscSqrtReal(v2);
  }
  frame.time  = t;
  frame.step  = step;
  frame.n     = p->n;
  frame.d     = d;
  frame.lo    = p->lo;
  frame.nloc  = p->nloc;
  frame.x     = x;
  frame.speed = speed;
  PetscCall(MfsaOutputWriteParticles(out, &frame, &s->provenance));
  PetscCall(MfsaParticleDiagnostics(s->model, &p->keys, p->lo, p->nloc, x, p->logz, &row));
  PetscCall(VecRestoreArrayRead(s->X, &x));
  row.time = t;
  row.step = step;
  row.dt   = dt;
  row.wall = wall;
  PetscCall(MfsaOutputAppendDiagnostics(out, &row, &s->provenance));
  PetscCall(PetscFree2(vel, speed));
  PetscFunctionReturn(0);
}

static PetscErrorCode ParticlesView(MfsaSolver s, PetscViewer viewer)
{
  Particles *p = (Particles *)s->data;

  PetscFunctionBegin;
  PetscCall(PetscViewerASCIIPrintf(viewer, "Particle solver: n = %" PetscInt_FMT ", init = %s\n", p->n, MfsaInitNames[p->init.kind]));
  PetscFunctionReturn(0);
}

static PetscErrorCode ParticlesDestroy(MfsaSolver s)
{
  Particles *p = (Particles *)s->data;

  PetscFunctionBegin;
  if (p->counts) PetscCall(PetscFree2(p->counts, p->displs));
  if (p->gathered) PetscCall(PetscFree2(p->gathered, p->logz));
  if (p->keystore) PetscCall(PairKeysFree(&p->keystore));
  PetscCall(AttnFieldDestroy(&p->field));
  PetscCall(PetscFree(s->data));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSolverCreate_Particles(MfsaSolver s)
{
  Particles *p;

  PetscFunctionBegin;
  PetscCall(PetscNew(&p));
  p->n         = 64;
  p->init.kind = MFSA_INIT_UNIFORM;
  PetscCall(PetscStrncpy(p->init.dataset, "/particles/x", sizeof(p->init.dataset)));
  s->data                = p;
  s->ops.setfromoptions  = ParticlesSetFromOptions;
  s->ops.setup           = ParticlesSetUp;
  s->ops.poststep        = ParticlesPostStep;
  s->ops.output          = ParticlesOutput;
  s->ops.view            = ParticlesView;
  s->ops.destroy         = ParticlesDestroy;
  s->provenance.solver   = "particles";
  PetscFunctionReturn(0);
}
