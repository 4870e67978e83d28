/* Particle solver: exact all-pairs attention between n tokens distributed in contiguous
 * blocks of the global index (pair-balanced under the causal mask). The keys reach the
 * local queries in one of two ways (-particles_exchange):
 *   allgather (default): every RHS evaluation gathers all token states into one
 *     structure-of-arrays key buffer (O(n) memory per rank); each query then sums over the keys
 *     in global order, so a fixed-step run is bitwise identical on any number of ranks;
 *   ring: key blocks travel around the ranks (particles_ring.c), memory per rank O(largest
 *     block): n/P unmasked, ~n/sqrt(P) causal (rank 0's pair-balanced block); the blocks reach
 *     a rank in a rank-count-dependent order, so results agree with allgather to round-off, not
 *     bitwise.
 * The keys are double or float (-precision); the state is always double. */
#include "solver.h"
#include "attention_field.h"
#include "diagnostics.h"
#include "init.h"
#include "options_util.h"
#include "partition.h"
#include "particles_ring.h"
#include <stdlib.h>

typedef enum {
  PARTICLES_EXCHANGE_ALLGATHER,
  PARTICLES_EXCHANGE_RING
} ParticlesExchange;
static const char *const ParticlesExchangeNames[] = {"allgather", "ring", NULL};

typedef struct {
  PetscInt          n, lo, nloc;
  MfsaInitSpec      init;
  ParticlesExchange exchange;
  PairPrecision     precision;
  PetscInt          inflight;         /* ring: blocks in flight towards a rank (1 or 2) */
  PetscMPIInt      *counts, *displs;  /* Allgatherv layout, in doubles */
  PetscReal        *gathered;         /* n x d, row-major (global token order) */
  PetscReal        *keystore;         /* n keys, double SoA */
  float            *keystore_single;  /* n keys, float SoA (-precision single) */
  PairKeys          keys;
  ParticleRing      ring;
  AttnField         field;
  PetscReal        *logz; /* nloc x heads, from the last full evaluation */
  PetscReal        *xhat; /* pre-LN: the local rows x_i/|x_i| the attention sees (nloc x d) */
} Particles;

/* The Allgatherv layout and key buffers of the allgather path (also used by the ring path,
 * transiently, for the diagnostics that need every key). */
static PetscErrorCode AllocateGather(MfsaSolver s, PetscBool with_single)
{
  Particles     *p = (Particles *)s->data;
  const PetscInt d = s->model->d;
  PetscMPIInt    size;
  void          *mem = NULL;

  PetscFunctionBegin;
  PetscCheck((PetscInt64)p->n * d < PETSC_MPI_INT_MAX, s->comm, PETSC_ERR_SUP, "n*d = %" PetscInt64_FMT " exceeds what one MPI_Allgatherv can move (the ring exchange gathers all keys at output times for the clustered-pair diagnostic)", (PetscInt64)p->n * d);
  PetscCallMPI(MPI_Comm_size(s->comm, &size));
  PetscCall(PetscMalloc3(size, &p->counts, size, &p->displs, p->n * d, &p->gathered));
  for (PetscMPIInt r = 0; r < size; r++) {
    const PetscInt lo = MfsaPartitionStart(p->n, s->model->mask == MFSA_MASK_CAUSAL, r, size);
    const PetscInt hi = MfsaPartitionStart(p->n, s->model->mask == MFSA_MASK_CAUSAL, r + 1, size);
    p->counts[r]      = (PetscMPIInt)((hi - lo) * d);
    p->displs[r]      = (PetscMPIInt)(lo * d);
  }
  PetscCall(PairKeysAllocate(p->n, d, &p->keys, &p->keystore));
  if (with_single) {
    /* same layout rule as the double keys: 64-byte aligned, leading dimension keys.ld */
    PetscCheck(posix_memalign(&mem, 64, (size_t)p->keys.ld * (size_t)d * sizeof(float)) == 0, PETSC_COMM_SELF, PETSC_ERR_MEM, "Out of memory allocating %" PetscInt_FMT " x %" PetscInt_FMT " single-precision keys", p->n, d);
    p->keystore_single = (float *)mem;
  }
  PetscFunctionReturn(0);
}

static PetscErrorCode FreeGather(Particles *p)
{
  PetscFunctionBegin;
  if (p->counts) PetscCall(PetscFree3(p->counts, p->displs, p->gathered));
  if (p->keystore) PetscCall(PairKeysFree(&p->keystore));
  free(p->keystore_single);
  p->keystore_single = NULL;
  PetscFunctionReturn(0);
}

/* All token states -> SoA keys (identical on every rank count by construction): the double
 * keys when `want_double` (the kernel in double precision, the diagnostics), the float keys
 * in single precision. p->keys describes what the kernel reads. */
static PetscErrorCode GatherKeys(MfsaSolver s, const PetscReal *xloc, PetscBool want_double)
{
  Particles     *p = (Particles *)s->data;
  const PetscInt d = s->model->d, n = p->n, ld = p->keys.ld;
  PetscReal     *soa = p->keystore;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Allgatherv(xloc, (PetscMPIInt)(p->nloc * d), MPIU_REAL, p->gathered, p->counts, p->displs, MPIU_REAL, s->comm));
  if (want_double || !p->keystore_single)
    for (PetscInt j = 0; j < n; j++)
      for (PetscInt a = 0; a < d; a++) soa[a * ld + j] = p->gathered[j * d + a];
  if (p->keystore_single) {
    for (PetscInt j = 0; j < n; j++)
      for (PetscInt a = 0; a < d; a++) p->keystore_single[a * ld + j] = (float)p->gathered[j * d + a];
    p->keys.precision = PAIR_PRECISION_SINGLE;
    p->keys.xs        = p->keystore_single;
  }
  PetscFunctionReturn(0);
}

/* Velocity (and log Z) of the local tokens at states x, through the chosen exchange.
 * Pre-LN (-attn_ln pre): attention reads every token as x/|x| (queries, keys and values), so
 * the velocity is f(X^) of the normalised rows. */
static PetscErrorCode Velocity(MfsaSolver s, const PetscReal *x, PetscReal *vel, PetscReal *logz)
{
  Particles     *p = (Particles *)s->data;
  const PetscInt d = s->model->d;

  PetscFunctionBegin;
  if (s->model->ln == MFSA_LN_PRE) {
    for (PetscInt i = 0; i < p->nloc; i++) {
      PetscReal norm2 = 0;
      for (PetscInt a = 0; a < d; a++) norm2 += x[i * d + a] * x[i * d + a];
      PetscCheck(norm2 > 0 && !PetscIsInfOrNanReal(norm2), PETSC_COMM_SELF, PETSC_ERR_USER_INPUT, "-attn_ln pre normalises every token to x/|x|, but token %" PetscInt_FMT " has |x|^2 = %g; start from nonzero tokens", p->lo + i, (double)norm2);
      const PetscReal inv = 1.0 / PetscSqrtReal(norm2);
      for (PetscInt a = 0; a < d; a++) p->xhat[i * d + a] = inv * x[i * d + a];
    }
    x = p->xhat;
  }
  if (p->exchange == PARTICLES_EXCHANGE_RING) PetscCall(ParticleRingEvaluate(p->ring, p->field, x, vel, logz));
  else {
    PetscCall(GatherKeys(s, x, PETSC_FALSE));
    PetscCall(AttnFieldEvaluate(p->field, &p->keys, p->lo, p->nloc, x, vel, logz));
  }
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
  PetscCall(Velocity(s, x, f, p->logz));
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
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-particles_exchange", "How keys reach the queries: allgather (O(n) memory per rank, bitwise rank-count invariant) or ring (memory O(largest block), agrees to round-off)", ParticlesExchangeNames, p->exchange, &idx));
  p->exchange = (ParticlesExchange)idx;
  PetscCall(PetscOptionsInt("-particles_ring_inflight", "Ring: key blocks in flight towards a rank, 1 or 2 (memory 1 + this many blocks; results do not depend on it)", NULL, p->inflight, &p->inflight, NULL));
  PetscCheck(p->inflight == 1 || p->inflight == 2, s->comm, PETSC_ERR_USER_INPUT, "-particles_ring_inflight must be 1 or 2 (got %" PetscInt_FMT ")", p->inflight);
  PetscCall(MfsaOptionsChoice(PetscOptionsObject, "-precision", "Pair kernel precision: double, or single (keys, scores and exp in float, sums across tiles and the state in double)", PairPrecisionNames, p->precision, &idx));
  p->precision = (PairPrecision)idx;
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
  PetscScalar   *x;

  PetscFunctionBegin;
  if (p->exchange == PARTICLES_EXCHANGE_ALLGATHER) PetscCheck((PetscInt64)p->n * d < PETSC_MPI_INT_MAX, s->comm, PETSC_ERR_SUP, "n*d = %" PetscInt64_FMT " exceeds what one MPI_Allgatherv can move; use fewer tokens or -particles_exchange ring", (PetscInt64)p->n * d);
  PetscCall(MfsaPartitionTokens(s->comm, p->n, m->mask == MFSA_MASK_CAUSAL, &p->lo, &p->nloc));
  PetscCheck(p->precision == PAIR_PRECISION_DOUBLE || AttnModelKernelIsExp(m), s->comm, PETSC_ERR_USER_INPUT, "-precision single is only available for -attn_kernel softmax and unnormalized (got -attn_kernel %s); use -precision double", MfsaKernelNames[m->kernel]);
  PetscCall(PetscMalloc2(PetscMax(p->nloc, 1) * m->heads, &p->logz, PetscMax(p->nloc, 1) * d, &p->xhat));
  if (p->exchange == PARTICLES_EXCHANGE_RING) PetscCall(ParticleRingCreate(s->comm, p->n, d, m->mask == MFSA_MASK_CAUSAL, p->precision, p->inflight, &p->ring));
  else PetscCall(AllocateGather(s, p->precision == PAIR_PRECISION_SINGLE ? PETSC_TRUE : PETSC_FALSE));
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
  PetscCall(Velocity(s, x, vel, p->logz));
  /* the clustered-pair count needs every key in double: the allgather path has them (gathered
   * again here, in double even under -precision single); the ring path gathers them for this
   * output only and frees them after, so its O(block) memory holds between outputs */
  if (p->exchange == PARTICLES_EXCHANGE_RING) PetscCall(AllocateGather(s, PETSC_FALSE));
  PetscCall(GatherKeys(s, x, PETSC_TRUE));
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
  if (p->exchange == PARTICLES_EXCHANGE_RING) PetscCall(FreeGather(p));
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
  PetscCall(PetscViewerASCIIPrintf(viewer, "  key exchange %s", ParticlesExchangeNames[p->exchange]));
  if (p->exchange == PARTICLES_EXCHANGE_RING) PetscCall(PetscViewerASCIIPrintf(viewer, " (%" PetscInt_FMT " block%s in flight)", p->inflight, p->inflight > 1 ? "s" : ""));
  PetscCall(PetscViewerASCIIPrintf(viewer, ", pair kernel precision %s\n", PairPrecisionNames[p->precision]));
  PetscFunctionReturn(0);
}

static PetscErrorCode ParticlesDestroy(MfsaSolver s)
{
  Particles *p = (Particles *)s->data;

  PetscFunctionBegin;
  PetscCall(FreeGather(p));
  PetscCall(PetscFree2(p->logz, p->xhat));
  PetscCall(ParticleRingDestroy(&p->ring));
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
  p->exchange  = PARTICLES_EXCHANGE_ALLGATHER;
  p->precision = PAIR_PRECISION_DOUBLE;
  p->inflight  = 1;
  PetscCall(PetscStrncpy(p->init.dataset, "/particles/x", sizeof(p->init.dataset)));
  s->data                = p;
  s->ops.setfromoptions  = ParticlesSetFromOptions;
  s->ops.setup           = ParticlesSetUp;
  s->ops.poststep        = ParticlesPostStep;
  s->ops.output          = ParticlesOutput;
  s->ops.view            = ParticlesView;
  s->ops.destroy         = ParticlesDestroy;
  s->ops.checkstate      = MfsaSolverCheckState_Particles;
  s->provenance.solver   = "particles";
  PetscFunctionReturn(0);
}

/* Numerical faults of the tokens after a step (src/fault_check.h): a value that is not finite,
 * or in R^d a token beyond -fault_max_norm (on the sphere the retraction keeps |x_i| = 1). */
PetscErrorCode MfsaSolverCheckState_Particles(MfsaSolver s, MfsaFault *f)
{
  Particles         *p = (Particles *)s->data;
  const PetscScalar *x;

  PetscFunctionBegin;
  PetscCall(VecGetArrayRead(s->X, &x));
  PetscCall(MfsaFaultScanRows(s->comm, x, p->lo, p->nloc, s->model->d, s->model->geometry == MFSA_GEOMETRY_EUCLIDEAN ? s->fault.max_norm : 0, f));
  PetscCall(VecRestoreArrayRead(s->X, &x));
  PetscFunctionReturn(0);
}
