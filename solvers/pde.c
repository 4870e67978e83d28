/* Mean-field PDE solver on the circle: the density rho(t, s, theta) on S position slices x M
 * angles, slices owned in contiguous blocks (a plain Vec: slices only couple through the
 * prefix over s, never through a stencil, so a DMDA's ghosting would buy nothing).
 * RHS: the prefix R(s) = int_0^s rho (pipelined, see Prefix), the nonlocal velocity of the
 * attention kernel (src/circle_kernel.c: FFT for the smooth kernels, direct quadrature for relu
 * and hyla; post-LN or nGPT), then conservative MUSCL finite volumes in theta with an upwind flux.
 * Time stepping: PETSc TS, SSP RK3 by default, dt limited by a CFL number every step. */
#include "solver.h"
#include "circle_kernel.h"
#include "density_init.h"
#include "partition.h"

typedef enum { LIMITER_MC, LIMITER_MINMOD, LIMITER_NONE } Limiter;
static const char *const LimiterNames[] = {"mc", "minmod", "none", NULL};

typedef struct {
  PetscInt        S, M, lo, nloc;
  MfsaDensitySpec init;
  Limiter         limiter;
  PetscReal       cfl;
  CircleKernel    kernel;
  PetscReal      *R;      /* nloc x M (masked) or M (unmasked): the prefix / total the velocity sees */
  PetscReal      *carry;  /* M: running sum of rho over the slices before the current one */
  PetscReal      *u;      /* M: face velocities of one slice */
  PetscReal      *slope;  /* M */
  PetscReal      *flux;   /* M */
  PetscReal      *mass0;  /* nloc: initial mass of each slice */
  PetscReal       umax;   /* local max |u| over the RHS evaluations since the last step choice */
} Pde;

/* R_j = ds (sum_{i<j} rho_i + rho_j / 2) (masked; the midpoint rule for int_0^{s_j}) or
 * R = ds sum_i rho_i (unmasked). The running sum is passed rank to rank in slice order
 * (receive, add the local slices one by one, send on) rather than an MPI_Exscan of partial
 * sums: every R_j is then the same floating-point sum on any number of ranks, so fixed-step
 * runs are bitwise rank-invariant. The chain costs S*M additions in total, small next to the
 * S FFT-based velocity evaluations that follow. */
static PetscErrorCode Prefix(MfsaSolver s, const PetscReal *rho)
{
  Pde            *p = (Pde *)s->data;
  const PetscInt  M = p->M;
  const PetscReal ds = 1.0 / p->S;
  const PetscBool masked = s->model->mask == MFSA_MASK_CAUSAL ? PETSC_TRUE : PETSC_FALSE;
  PetscMPIInt     rank, size;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_rank(s->comm, &rank));
  PetscCallMPI(MPI_Comm_size(s->comm, &size));
  PetscCall(PetscArrayzero(p->carry, M));
  if (rank > 0) PetscCallMPI(MPI_Recv(p->carry, (PetscMPIInt)M, MPIU_REAL, rank - 1, 71, s->comm, MPI_STATUS_IGNORE));
  for (PetscInt j = 0; j < p->nloc; j++)
    for (PetscInt k = 0; k < M; k++) {
      if (masked) p->R[j * M + k] = ds * (p->carry[k] + 0.5 * rho[j * M + k]);
      p->carry[k] += rho[j * M + k];
    }
  if (rank < size - 1) PetscCallMPI(MPI_Send(p->carry, (PetscMPIInt)M, MPIU_REAL, rank + 1, 71, s->comm));
  if (!masked) {
    PetscCallMPI(MPI_Bcast(p->carry, (PetscMPIInt)M, MPIU_REAL, size - 1, s->comm));
    for (PetscInt k = 0; k < M; k++) p->R[k] = ds * p->carry[k];
  }
  PetscFunctionReturn(0);
}

static inline PetscReal Slope(Limiter limiter, PetscReal a, PetscReal b)
{
  if (limiter == LIMITER_NONE) return 0.5 * (a + b);
  if (a * b <= 0) return 0;
  const PetscReal sign = a > 0 ? 1.0 : -1.0;
  if (limiter == LIMITER_MINMOD) return sign * PetscMin(PetscAbsReal(a), PetscAbsReal(b));
  return sign * PetscMin(PetscMin(2 * PetscAbsReal(a), 2 * PetscAbsReal(b)), 0.5 * PetscAbsReal(a + b));
}

/* d rho_k / dt = -(F_{k+1} - F_k) / dtheta, face k at theta = k dtheta between cells k-1, k.
 * Limited face states lie between neighbouring cell values: positivity under CFL <= 1/2. */
static void Transport(Pde *p, const PetscReal *rho, const PetscReal *u, PetscReal *f)
{
  const PetscInt  M = p->M;
  const PetscReal dtheta = 2 * PETSC_PI / M;

  for (PetscInt k = 0; k < M; k++) {
    const PetscReal left = rho[(k + M - 1) % M], right = rho[(k + 1) % M];
    p->slope[k] = Slope(p->limiter, rho[k] - left, right - rho[k]);
  }
  for (PetscInt k = 0; k < M; k++) {
    const PetscInt  km = (k + M - 1) % M;
    const PetscReal rl = rho[km] + 0.5 * p->slope[km], rr = rho[k] - 0.5 * p->slope[k];
    p->flux[k]         = u[k] >= 0 ? u[k] * rl : u[k] * rr;
    p->umax            = PetscMax(p->umax, PetscAbsReal(u[k]));
  }
  for (PetscInt k = 0; k < M; k++) f[k] = -(p->flux[(k + 1) % M] - p->flux[k]) / dtheta;
}

static PetscErrorCode PdeRHS(TS ts, PetscReal t, Vec X, Vec F, void *ctx)
{
  MfsaSolver         s = (MfsaSolver)ctx;
  Pde               *p = (Pde *)s->data;
  const PetscScalar *rho;
  PetscScalar       *f;
  const PetscBool    masked = s->model->mask == MFSA_MASK_CAUSAL ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBegin;
  (void)ts;
  (void)t;
  PetscCall(VecGetArrayRead(X, &rho));
  PetscCall(VecGetArrayWrite(F, &f));
  PetscCall(Prefix(s, rho));
  if (!masked && p->nloc) PetscCall(CircleKernelVelocity(p->kernel, p->R, 0.0, p->u));
  for (PetscInt j = 0; j < p->nloc; j++) {
    if (masked) PetscCall(CircleKernelVelocity(p->kernel, p->R + j * p->M, 0.0, p->u));
    Transport(p, rho + j * p->M, p->u, f + j * p->M);
  }
  PetscCall(VecRestoreArrayWrite(F, &f));
  PetscCall(VecRestoreArrayRead(X, &rho));
  PetscFunctionReturn(0);
}

/* SSP coefficient c of the TS method: it stays positive for dt <= c dt_FE, dt_FE the
 * forward-Euler limit (CFL 1/2 here). PETSc's rks2 has c = s - 1, rks3 (s = n^2 stages)
 * c = s - n, rk104 c = 6; a non-SSP method gets no credit. */
static PetscErrorCode SSPCoefficient(TS ts, PetscReal *c)
{
  PetscBool ssp, match;
  TSSSPType type;
  PetscInt  s;

  PetscFunctionBegin;
  *c = 1.0;
  PetscCall(PetscObjectTypeCompare((PetscObject)ts, TSSSP, &ssp));
  if (!ssp) PetscFunctionReturn(0);
  PetscCall(TSSSPGetType(ts, &type));
  PetscCall(TSSSPGetNumStages(ts, &s));
  PetscCall(PetscStrcmp(type, TSSSPRKS2, &match));
  if (match) *c = (PetscReal)(s - 1);
  PetscCall(PetscStrcmp(type, TSSSPRKS3, &match));
  if (match) *c = (PetscReal)s - PetscSqrtReal((PetscReal)s);
  PetscCall(PetscStrcmp(type, TSSSPRK104, &match));
  if (match) *c = 6.0;
  PetscFunctionReturn(0);
}

/* Largest step the CFL condition allows, from the fastest face velocity seen since the last
 * call (max is exact, so every rank count picks the same dt), times the method's SSP
 * coefficient. */
static PetscErrorCode PdeMaxStep(MfsaSolver s, PetscReal *dtmax)
{
  Pde      *p = (Pde *)s->data;
  PetscReal umax, c;

  PetscFunctionBegin;
  PetscCall(SSPCoefficient(s->ts, &c));
  PetscCall(MPIU_Allreduce(&p->umax, &umax, 1, MPIU_REAL, MPIU_MAX, s->comm));
  *dtmax  = umax > 0 ? c * p->cfl * (2 * PETSC_PI / p->M) / umax : PETSC_MAX_REAL;
  p->umax = 0;
  PetscFunctionReturn(0);
}

/* The CFL step depends on the fastest velocity of the previous step: a restart must have it. */
static PetscErrorCode PdeGetAux(MfsaSolver s, PetscInt *naux, PetscReal aux[])
{
  Pde *p = (Pde *)s->data;

  PetscFunctionBegin;
  PetscCall(MPIU_Allreduce(&p->umax, &aux[0], 1, MPIU_REAL, MPIU_MAX, s->comm));
  *naux = 1;
  PetscFunctionReturn(0);
}

static PetscErrorCode PdeSetAux(MfsaSolver s, PetscInt naux, const PetscReal aux[])
{
  Pde *p = (Pde *)s->data;

  PetscFunctionBegin;
  PetscCheck(naux == 1, s->comm, PETSC_ERR_FILE_UNEXPECTED, "checkpoint holds %" PetscInt_FMT " PDE solver scalars, expected 1", naux);
  p->umax = aux[0];
  PetscFunctionReturn(0);
}

static PetscErrorCode PdeSetFromOptions(MfsaSolver s, PetscOptionItems *PetscOptionsObject)
{
  Pde      *p = (Pde *)s->data;
  AttnModel m = s->model;
  char      value[64];

  PetscFunctionBegin;
  PetscCheck(m->d == 2 && m->geometry == MFSA_GEOMETRY_SPHERE, s->comm, PETSC_ERR_USER_INPUT, "-solver pde solves tokens on the circle: it needs -attn_dim 2 -geometry sphere (got -attn_dim %" PetscInt_FMT " -geometry %s)", m->d, MfsaGeometryNames[m->geometry]);
  PetscCall(CircleKernelCheckModel(m));
  PetscCall(PetscOptionsInt("-pde_slices", "Number S of position slices s in (0, 1]", NULL, p->S, &p->S, NULL));
  PetscCall(PetscOptionsInt("-pde_angles", "Number M of angle cells on the circle", NULL, p->M, &p->M, NULL));
  PetscCall(PetscStrncpy(value, LimiterNames[p->limiter], sizeof(value)));
  PetscCall(PetscOptionsString("-pde_limiter", "Slope limiter of the MUSCL reconstruction (mc|minmod|none)", NULL, value, value, sizeof(value), NULL));
  {
    PetscBool found = PETSC_FALSE;
    for (PetscInt k = 0; LimiterNames[k] && !found; k++) {
      PetscCall(PetscStrcmp(value, LimiterNames[k], &found));
      if (found) p->limiter = (Limiter)k;
    }
    PetscCheck(found, s->comm, PETSC_ERR_USER_INPUT, "Option -pde_limiter: value '%s' is not allowed; choose one of mc|minmod|none", value);
  }
  PetscCall(PetscOptionsReal("-pde_cfl", "CFL number per forward-Euler stage: dt <= c_SSP * cfl * dtheta / max|u| (<= 0.5 keeps the density positive)", NULL, p->cfl, &p->cfl, NULL));
  PetscCall(MfsaDensitySetFromOptions(PetscOptionsObject, s->comm, &p->init));
  PetscCheck(p->S >= 1, s->comm, PETSC_ERR_USER_INPUT, "-pde_slices must be >= 1 (got %" PetscInt_FMT ")", p->S);
  PetscCheck(p->M >= 8, s->comm, PETSC_ERR_USER_INPUT, "-pde_angles must be >= 8 (got %" PetscInt_FMT ")", p->M);
  PetscCheck((PetscInt64)p->S * p->M < PETSC_MAX_INT, s->comm, PETSC_ERR_USER_INPUT, "-pde_slices x -pde_angles = %" PetscInt64_FMT " exceeds 32-bit indices", (PetscInt64)p->S * p->M);
  PetscCheck(p->cfl > 0 && p->cfl <= 1, s->comm, PETSC_ERR_USER_INPUT, "-pde_cfl must lie in (0, 1] (got %g)", (double)p->cfl);
  PetscFunctionReturn(0);
}

static PetscErrorCode PdeSetUp(MfsaSolver s)
{
  Pde         *p = (Pde *)s->data;
  PetscScalar *rho;
  Vec          F;

  PetscFunctionBegin;
  PetscCall(MfsaPartitionTokens(s->comm, p->S, PETSC_FALSE, &p->lo, &p->nloc));
  PetscCall(CircleKernelCreate(s->model, p->M, &p->kernel));
  PetscCall(PetscMalloc6(PetscMax(p->nloc, 1) * p->M, &p->R, p->M, &p->carry, p->M, &p->u, p->M, &p->slope, p->M, &p->flux, PetscMax(p->nloc, 1), &p->mass0));
  PetscCall(VecCreateMPI(s->comm, p->nloc * p->M, p->S * p->M, &s->X));
  PetscCall(VecGetArrayWrite(s->X, &rho));
  PetscCall(MfsaDensityFill(s->comm, &p->init, p->S, p->M, p->lo, p->nloc, rho));
  for (PetscInt j = 0; j < p->nloc; j++) {
    p->mass0[j] = 0;
    for (PetscInt k = 0; k < p->M; k++) p->mass0[j] += rho[j * p->M + k];
    p->mass0[j] *= 2 * PETSC_PI / p->M;
  }
  PetscCall(VecRestoreArrayWrite(s->X, &rho));
  PetscCall(TSSetRHSFunction(s->ts, NULL, PdeRHS, s));
  /* one evaluation so that the first step already knows the fastest velocity */
  PetscCall(VecDuplicate(s->X, &F));
  PetscCall(PdeRHS(s->ts, 0, s->X, F, s));
  PetscCall(VecDestroy(&F));
  s->provenance.n = p->S;
  PetscFunctionReturn(0);
}

static PetscErrorCode PdeOutput(MfsaSolver s, MfsaOutput out, PetscInt step, PetscReal dt, PetscReal wall)
{
  Pde               *p = (Pde *)s->data;
  AttnModel          m = s->model;
  const PetscInt     M = p->M;
  const PetscReal    dtheta = 2 * PETSC_PI / M;
  const PetscScalar *rho;
  PetscReal         *vel, *mass, *total, *den, t;
  PetscReal          stats[4] = {PETSC_MAX_REAL, -PETSC_MAX_REAL, 0, PETSC_MAX_REAL}; /* mass min, max, drift, rho min */
  MfsaGridFrame      frame;
  const PetscBool    masked = m->mask == MFSA_MASK_CAUSAL ? PETSC_TRUE : PETSC_FALSE;

  PetscFunctionBegin;
  PetscCall(TSGetTime(s->ts, &t));
  PetscCall(PetscMalloc4(PetscMax(p->nloc, 1) * M, &vel, PetscMax(p->nloc, 1), &mass, M, &total, M, &den));
  PetscCall(VecGetArrayRead(s->X, &rho));
  PetscCall(Prefix(s, rho));
  for (PetscInt j = 0; j < p->nloc; j++) {
    PetscCall(CircleKernelVelocity(p->kernel, masked ? p->R + j * M : p->R, 0.5, vel + j * M));
    mass[j] = 0;
    for (PetscInt k = 0; k < M; k++) {
      mass[j] += rho[j * M + k];
      stats[3] = PetscMin(stats[3], rho[j * M + k]);
    }
    mass[j] *= dtheta;
    stats[0] = PetscMin(stats[0], mass[j]);
    stats[1] = PetscMax(stats[1], mass[j]);
    stats[2] = PetscMax(stats[2], PetscAbsReal(mass[j] - p->mass0[j]));
  }
  frame.time     = t;
  frame.step     = step;
  frame.S        = p->S;
  frame.M        = M;
  frame.lo       = p->lo;
  frame.nloc     = p->nloc;
  frame.rho      = rho;
  frame.velocity = vel;
  frame.mass     = mass;
  PetscCall(MfsaOutputWriteGrid(out, &frame, &s->provenance));

  /* diagnostics of mu = ds sum_j rho_j dtheta (the total over all slices) */
  PetscCall(PetscArrayzero(total, M));
  for (PetscInt j = 0; j < p->nloc; j++)
    for (PetscInt k = 0; k < M; k++) total[k] += rho[j * M + k] / p->S;
  PetscCall(VecRestoreArrayRead(s->X, &rho));
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, total, (PetscMPIInt)M, MPIU_REAL, MPIU_SUM, s->comm));
  stats[0] = -stats[0];
  stats[3] = -stats[3];
  PetscCall(MPIU_Allreduce(MPI_IN_PLACE, stats, 4, MPIU_REAL, MPIU_MAX, s->comm));
  {
    const char *names[] = {"time", "step", "dt", "mass_min", "mass_max", "mass_drift", "rho_min", "energy", "order_parameter", "mode1", "mode2", "mode3", "mode4", "wall"};
    PetscReal   values[14], energy = 0, cx = 0, cy = 0;
    /* the interaction energy belongs to the exp kernels (NaN for the others, as for particles) */
    for (PetscInt h = 0; h < m->heads && AttnModelKernelIsExp(m); h++) {
      PetscCall(CircleKernelApply(p->kernel, h, CIRCLE_KERNEL_H, total, 0.5, den));
      for (PetscInt k = 0; k < M; k++) energy += total[k] * dtheta * den[k];
    }
    for (PetscInt k = 0; k < M; k++) {
      cx += total[k] * dtheta * PetscCosReal((k + 0.5) * dtheta);
      cy += total[k] * dtheta * PetscSinReal((k + 0.5) * dtheta);
    }
    values[0] = t;
    values[1] = (PetscReal)step;
    values[2] = dt;
    values[3] = -stats[0];
    values[4] = stats[1];
    values[5] = stats[2];
    values[6] = -stats[3];
    values[7] = m->beta > 0 && AttnModelKernelIsExp(m) ? energy / (2 * m->beta) : NAN;
    values[8] = PetscSqrtReal(cx * cx + cy * cy);
    for (PetscInt mm = 1; mm <= 4; mm++) {
      PetscReal re = 0, im = 0;
      for (PetscInt k = 0; k < M; k++) {
        re += total[k] * dtheta * PetscCosReal(mm * (k + 0.5) * dtheta);
        im -= total[k] * dtheta * PetscSinReal(mm * (k + 0.5) * dtheta);
      }
      values[8 + mm] = PetscSqrtReal(re * re + im * im);
    }
    values[13] = wall;
    PetscCall(MfsaOutputAppendDiagnosticsColumns(out, 14, names, values, &s->provenance));
  }
  PetscCall(PetscFree4(vel, mass, total, den));
  PetscFunctionReturn(0);
}

static PetscErrorCode PdeView(MfsaSolver s, PetscViewer viewer)
{
  Pde *p = (Pde *)s->data;
  char kernel[256];

  PetscFunctionBegin;
  PetscCall(CircleKernelDescribe(p->kernel, kernel, sizeof(kernel)));
  PetscCall(PetscViewerASCIIPrintf(viewer, "PDE solver on the circle: %" PetscInt_FMT " slices x %" PetscInt_FMT " angles, init %s, limiter %s, CFL %g; %s\n", p->S, p->M, MfsaDensityNames[p->init.kind], LimiterNames[p->limiter], (double)p->cfl, kernel));
  PetscFunctionReturn(0);
}

static PetscErrorCode PdeDestroy(MfsaSolver s)
{
  Pde *p = (Pde *)s->data;

  PetscFunctionBegin;
  if (p->R) PetscCall(PetscFree6(p->R, p->carry, p->u, p->slope, p->flux, p->mass0));
  PetscCall(CircleKernelDestroy(&p->kernel));
  PetscCall(PetscFree(s->data));
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSolverCreate_Pde(MfsaSolver s)
{
  Pde *p;

  PetscFunctionBegin;
  PetscCall(PetscNew(&p));
  p->S       = 1;
  p->M       = 256;
  p->cfl     = 0.4;
  p->limiter = LIMITER_MC;
  s->data    = p;
  /* SSP RK3: each stage is a forward-Euler step of the positive FV scheme */
  PetscCall(TSSetType(s->ts, TSSSP));
  PetscCall(TSSSPSetType(s->ts, TSSSPRKS3));
  s->ops.setfromoptions = PdeSetFromOptions;
  s->ops.setup          = PdeSetUp;
  s->ops.maxstep        = PdeMaxStep;
  s->ops.getaux         = PdeGetAux;
  s->ops.setaux         = PdeSetAux;
  s->ops.output         = PdeOutput;
  s->ops.view           = PdeView;
  s->ops.destroy        = PdeDestroy;
  s->ops.checkstate     = MfsaSolverCheckState_Pde;
  s->provenance.solver  = "pde";
  PetscFunctionReturn(0);
}

/* Numerical faults of the density after a step (src/fault_check.h): a cell that is not finite;
 * a cell negative beyond round-off where the scheme guarantees positivity (an SSP method, a
 * limiter and -pde_cfl strictly below 1/2: at 1/2 a velocity that grows within the step may
 * cross the bound; otherwise undershoots belong to the chosen scheme and show in the rho_min
 * diagnostic only); a slice whose mass drifted, which every choice conserves to round-off. */
PetscErrorCode MfsaSolverCheckState_Pde(MfsaSolver s, MfsaFault *f)
{
  Pde               *p = (Pde *)s->data;
  const PetscScalar *rho;
  PetscBool          ssp;

  PetscFunctionBegin;
  PetscCall(PetscObjectTypeCompare((PetscObject)s->ts, TSSSP, &ssp));
  PetscCall(VecGetArrayRead(s->X, &rho));
  PetscCall(MfsaFaultScanDensity(s->comm, rho, p->lo, p->nloc, p->M, 2 * PETSC_PI / p->M, p->mass0, (PetscBool)(ssp && p->limiter != LIMITER_NONE && p->cfl < 0.5), s->fault.negative_tol, s->fault.mass_tol, f));
  PetscCall(VecRestoreArrayRead(s->X, &rho));
  PetscFunctionReturn(0);
}
