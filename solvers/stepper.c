/* The time loop shared by all solvers: PETSc TS steps, clipped so that every output time
 * is hit exactly (the clock is then snapped to the requested value, so snapshot times are
 * exact doubles k*out_dt), post-step retraction, output, rank-0 progress line, checkpoints
 * (every -checkpoint_dt of model time, every -checkpoint_wall minutes, on SIGTERM/SIGUSR1 or a
 * stop file, at the end) and restarts from them. Every accepted step is checked for numerical
 * faults (src/fault_check.h) before anything is written from it: a fault stops the run with
 * time, step and location, a fault report (io/fault_report.c), and the last good checkpoint and
 * snapshots untouched; so does a step-size collapse of an adaptive or CFL-limited stepper. */
#define _POSIX_C_SOURCE 200809L
#include "solver.h"
#include "fault_report.h"
#include "options_util.h"
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Set by the signal handler, acted on at the next step boundary (nothing else is safe in a
 * handler). */
static volatile sig_atomic_t stop_signal = 0;
static void                  OnStopSignal(int sig) { stop_signal = sig; }

PetscErrorCode MfsaInstallStopHandlers(void)
{
  struct sigaction sa;

  PetscFunctionBegin;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  /* replaces PETSc's handler for these two: they mean "checkpoint and stop", not "crash" */
  PetscCheck(!sigaction(SIGTERM, &sa, NULL) && !sigaction(SIGUSR1, &sa, NULL), PETSC_COMM_SELF, PETSC_ERR_SYS, "cannot install the SIGTERM/SIGUSR1 handlers");
  /* A file-size limit (ulimit -f) kills the process with SIGXFSZ by default, mid-write and
   * without a word. Ignored, the write fails with EFBIG instead and io/ reports it cleanly
   * (the half-written file is a temporary that is removed; nothing published is touched). */
  sa.sa_handler = SIG_IGN;
  PetscCheck(!sigaction(SIGXFSZ, &sa, NULL), PETSC_COMM_SELF, PETSC_ERR_SYS, "cannot ignore SIGXFSZ");
  /* the driver calls this right after PetscInitialize, before any option is parsed: the moment
   * for the error handler that names an option with an unparsable value */
  PetscCall(MfsaOptionsPushErrorAnnotator());
  PetscFunctionReturn(0);
}

/* What a fault message points the user to: the last checkpoint and snapshot written (or
 * restored) by this run. */
static PetscReal last_ckpt_time = -1, last_out_time = -1;
static PetscInt  last_ckpt_step = -1;

static PetscErrorCode WriteCheckpoint(MfsaSolver s, MfsaOutput out, PetscReal t, PetscInt step, PetscReal dt)
{
  MfsaCheckpointState st;
  PetscReal           seconds;
  PetscInt64          bytes;

  PetscFunctionBegin;
  st.time = t;
  st.step = step;
  st.dt   = dt;
  st.naux = 0;
  if (s->ops.getaux) PetscCall((*s->ops.getaux)(s, &st.naux, st.aux));
  PetscCall(MfsaCheckpointWrite(out, s->X, &st, &s->provenance));
  last_ckpt_time = t;
  last_ckpt_step = step;
  PetscCall(MfsaCheckpointGetLastWrite(out, &seconds, &bytes));
  PetscCall(PetscPrintf(s->comm, "mfsa: checkpoint at t = %.10g, step %" PetscInt_FMT " (%.1f MB in %.3f s, %.0f MB/s)\n", (double)t, step, bytes / 1e6, (double)seconds, seconds > 0 ? bytes / 1e6 / seconds : 0.0));
  PetscFunctionReturn(0);
}

/* Steps shorter than this fraction of dt are merged into the previous one, so round-off in
 * t never produces a 1e-17 step. */
#define MFSA_TIME_EPS 1e-9

static PetscErrorCode Progress(MfsaSolver s, PetscInt step, PetscReal t, PetscReal dt, PetscReal tmax, PetscLogDouble wall)
{
  const PetscReal eta = t > 0 ? wall * (tmax - t) / t : 0;

  PetscFunctionBegin;
  PetscCall(PetscPrintf(s->comm, "mfsa: step %8" PetscInt_FMT "  t = %-12.6g dt = %-10.4g wall %9.2f s  ETA %9.2f s\n", step, (double)t, (double)dt, (double)wall, (double)eta));
  PetscFunctionReturn(0);
}

static PetscErrorCode Output(MfsaSolver s, MfsaOutput out, PetscInt step, PetscReal dt, PetscReal wall)
{
  PetscFunctionBegin;
  PetscCall((*s->ops.output)(s, out, step, dt, wall));
  PetscCall(TSGetTime(s->ts, &last_out_time));
  PetscFunctionReturn(0);
}

/* -debug_inject_nan_step: the fault a test needs, at a known step and place of the state. */
static PetscErrorCode InjectFault(MfsaSolver s, PetscInt step)
{
  PetscInt N, idx = s->fault.inject_index;

  PetscFunctionBegin;
  PetscCall(VecGetSize(s->X, &N));
  if (idx < 0) idx = N / 2;
  PetscCheck(idx < N, s->comm, PETSC_ERR_USER_INPUT, "-debug_inject_index %" PetscInt_FMT " is outside the state vector (size %" PetscInt_FMT ")", idx, N);
  {
    PetscInt lo, hi;
    PetscCall(VecGetOwnershipRange(s->X, &lo, &hi));
    if (idx >= lo && idx < hi) PetscCall(VecSetValue(s->X, idx, s->fault.inject_value, INSERT_VALUES)); /* the owner only */
    PetscCall(VecAssemblyBegin(s->X));
    PetscCall(VecAssemblyEnd(s->X));
  }
  PetscCall(PetscPrintf(s->comm, "mfsa: -debug_inject_nan_step %" PetscInt_FMT ": state entry %" PetscInt_FMT " set to %g\n", step, idx, (double)s->fault.inject_value));
  PetscFunctionReturn(0);
}

/* Stops the run on a fault: says what and where, writes the fault report, names what is
 * intact, and fails on every rank with `code` (PETSC_ERR_FP for the state, PETSC_ERR_NOT_CONVERGED
 * for a step-size collapse; the exit code of mfsa). Nothing of the faulty state reaches the
 * snapshots or the checkpoints: this runs before the step's output. */
static PetscErrorCode StopOnFault(MfsaSolver s, MfsaOutput out, PetscReal t, PetscInt step, const MfsaFault *f, PetscErrorCode code)
{
  PetscBool  pde, written;
  char       what[1024], message[2048], where[2 * PETSC_MAX_PATH_LEN], ckpt[128] = "no checkpoint was written", snaps[128] = "the snapshots listed in mfsa.xmf";
  const char *folder;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(s->type, "pde", &pde));
  MfsaFaultDescribe(f, pde ? "slice" : "token", pde ? "angle" : "component", what, sizeof(what));
  PetscCall(PetscSNPrintf(message, sizeof(message), "numerical fault at t = %.10g, step %" PetscInt_FMT ": %s", (double)t, step, what));
  PetscCall(PetscPrintf(s->comm, "mfsa: %s\n", message));
  PetscCall(MfsaOutputGetFolder(out, &folder));
  PetscCall(MfsaFaultReportWrite(out, s->X, t, step, message, &s->provenance, &written, where, sizeof(where)));
  if (last_ckpt_step >= 0) PetscCall(PetscSNPrintf(ckpt, sizeof(ckpt), "the last checkpoint (t = %.10g, step %" PetscInt_FMT ")", (double)last_ckpt_time, last_ckpt_step));
  if (last_out_time >= 0) PetscCall(PetscSNPrintf(snaps, sizeof(snaps), "the snapshots up to t = %.10g", (double)last_out_time));
  SETERRQ(s->comm, code, "mfsa: %s. The run stops. Intact in %s/: %s; %s. %s %s. %s", message, folder, snaps, ckpt, written ? "The faulty state is in" : "No fault report:", where,
          f->kind == MFSA_FAULT_COLLAPSE || f->kind == MFSA_FAULT_REJECTED ? "The solution may blow up here; check the model (beta, V, -attn_norm) or lower -fault_dt_min" : "Try a smaller -ts_dt or an adaptive stepper (-ts_rk_type 5dp -ts_adapt_type basic), or check the model; continue from the checkpoint with -restart");
}

/* A fault of the state just computed (the solver's check, or time that did not advance). */
static PetscErrorCode CheckStep(MfsaSolver s, MfsaOutput out, PetscReal t, PetscInt step, PetscReal h_taken)
{
  MfsaFault f;

  PetscFunctionBegin;
  f.kind = MFSA_FAULT_NONE;
  if (s->ops.checkstate) PetscCall((*s->ops.checkstate)(s, &f));
  if (f.kind) PetscCall(StopOnFault(s, out, t, step, &f, PETSC_ERR_FP));
  if (!(h_taken > 0)) { /* t + h == t: the loop would never end */
    f.kind  = MFSA_FAULT_COLLAPSE;
    f.value = h_taken;
    f.limit = s->fault.dt_min;
    PetscCall(StopOnFault(s, out, t, step, &f, PETSC_ERR_NOT_CONVERGED));
  }
  PetscFunctionReturn(0);
}

PetscErrorCode MfsaSolverSolve(MfsaSolver s, MfsaOutput out, PetscBool *stopped)
{
  TS             ts = s->ts;
  TSAdapt        adapt;
  PetscBool      fixed;
  PetscReal      t, dt, tmax, out_dt, t_next, h_taken = 0;
  PetscInt       step, max_steps, k_out = 0;
  PetscLogDouble t0, now, last_print = 0, last_checkpoint = 0;
  PetscInt       k_ckpt = 0;
  PetscBool      restarted = PETSC_FALSE;
  char           stop_file[PETSC_MAX_PATH_LEN];
  const PetscReal progress_interval = s->progress_interval;

  PetscFunctionBegin;
  PetscCall(PetscTime(&t0));
  PetscCall(TSGetAdapt(ts, &adapt));
  PetscCall(PetscObjectTypeCompare((PetscObject)adapt, TSADAPTNONE, &fixed));
  PetscCall(TSGetTime(ts, &t));
  PetscCall(TSGetMaxTime(ts, &tmax));
  PetscCall(TSGetMaxSteps(ts, &max_steps));
  PetscCall(TSGetTimeStep(ts, &dt));
  PetscCall(TSGetStepNumber(ts, &step));
  PetscCall(MfsaOutputGetInterval(out, &out_dt));
  if (out_dt <= 0) out_dt = tmax; /* only the first and the last state */
  *stopped = PETSC_FALSE;
  PetscCall(MfsaInstallStopHandlers());
  if (s->stop_file[0]) PetscCall(PetscStrncpy(stop_file, s->stop_file, sizeof(stop_file)));
  else {
    const char *folder;
    PetscCall(MfsaOutputGetFolder(out, &folder));
    PetscCall(PetscSNPrintf(stop_file, sizeof(stop_file), "%s/mfsa.stop", folder));
  }
  if (s->restart[0]) {
    MfsaCheckpointState st;
    PetscCall(MfsaCheckpointRestore(out, s->restart, s->X, &st, &s->provenance, &restarted));
    if (restarted) {
      t              = st.time;
      step           = st.step;
      dt             = st.dt;
      last_ckpt_time = t;
      last_ckpt_step = step;
      PetscCall(TSSetTime(ts, t));
      PetscCall(TSSetStepNumber(ts, step));
      PetscCall(TSSetTimeStep(ts, dt));
      if (s->ops.setaux) PetscCall((*s->ops.setaux)(s, st.naux, st.aux));
    }
  }
  if (s->checkpoint_dt > 0) k_ckpt = (PetscInt)PetscFloorReal(t / s->checkpoint_dt + MFSA_TIME_EPS);

  if (!restarted && s->restart[0]) {
    /* a restartable run checkpoints before it writes anything else: whatever a kill leaves
     * in the folder can then be continued with the same command line */
    PetscCall(WriteCheckpoint(s, out, t, step, dt));
  }
  {
    PetscInt nsnap;
    PetscCall(MfsaOutputGetSnapshotCount(out, &nsnap));
    if (!restarted || !nsnap) { /* a restart's state at t is already in its output index */
      PetscCall(Output(s, out, step, dt, 0.0));
      PetscCall(Progress(s, step, t, dt, tmax, 0.0));
    }
  }
  while (t < tmax && step < max_steps) {
    /* next output time as an exact multiple of out_dt (no accumulated round-off) */
    while ((PetscReal)(k_out + 1) * out_dt <= t + MFSA_TIME_EPS * dt) k_out++;
    t_next = PetscMin((PetscReal)(k_out + 1) * out_dt, tmax);
    PetscCall(TSGetTimeStep(ts, &dt));
    PetscReal h       = dt;
    PetscBool clipped = PETSC_FALSE;
    if (s->ops.maxstep) { /* stability limit (CFL) of this step */
      PetscReal hmax;
      PetscCall((*s->ops.maxstep)(s, &hmax));
      if (hmax < h) {
        h       = hmax;
        clipped = PETSC_TRUE;
      }
    }
    if (t + h >= t_next - MFSA_TIME_EPS * h) {
      h       = t_next - t;
      clipped = PETSC_TRUE;
    } else if (!(h >= s->fault.dt_min)) { /* the adaptor's or the CFL step, not an output clip */
      MfsaFault f;
      f.kind  = MFSA_FAULT_COLLAPSE;
      f.value = h;
      f.limit = s->fault.dt_min;
      PetscCall(StopOnFault(s, out, t, step, &f, PETSC_ERR_NOT_CONVERGED));
    }
    const PetscReal t_before = t;
    PetscCall(TSSetTimeStep(ts, h));
    PetscCall(TSStep(ts));
    {
      TSConvergedReason reason;
      PetscCall(TSGetConvergedReason(ts, &reason));
      if (reason == TS_DIVERGED_STEP_REJECTED) { /* the adaptor shrank the step until it gave up */
        MfsaFault f;
        PetscCall(TSGetTimeStep(ts, &f.value));
        f.kind  = MFSA_FAULT_REJECTED;
        f.limit = s->fault.dt_min;
        PetscCall(StopOnFault(s, out, t, step, &f, PETSC_ERR_NOT_CONVERGED));
      }
      PetscCheck(reason >= 0, s->comm, PETSC_ERR_NOT_CONVERGED, "Time step %" PetscInt_FMT " at t = %g failed (%s); try a smaller -ts_dt or an adaptive -ts_rk_type 5dp -ts_adapt_type basic", step, (double)t, TSConvergedReasons[reason]);
    }
    if (s->ops.poststep) PetscCall((*s->ops.poststep)(s));
    PetscCall(TSGetStepNumber(ts, &step));
    PetscCall(TSGetTime(ts, &t));
    h_taken = t - t_before; /* what the state at t came from (rejected tries excluded) */
    if (step == s->fault.inject_step) PetscCall(InjectFault(s, step));
    PetscCall(CheckStep(s, out, t, step, h_taken)); /* before anything is written from this state */
    PetscCall(TSMonitor(ts, step, t, s->X));
    if (clipped) {
      PetscReal proposed;
      PetscCall(TSGetTimeStep(ts, &proposed));
      /* a clipped step says nothing about the step the dynamics allows: keep the nominal one
       * (fixed step), or the larger of it and the adaptor's proposal */
      if (PetscAbsReal(t - t_next) <= MFSA_TIME_EPS * dt) {
        t = t_next;
        PetscCall(TSSetTime(ts, t));
      }
      PetscCall(TSSetTimeStep(ts, fixed ? dt : PetscMax(dt, proposed)));
    }
    PetscCall(PetscTime(&now));
    if (t == t_next) {
      PetscCall(Output(s, out, step, h_taken, (PetscReal)(now - t0)));
      PetscCall(Progress(s, step, t, h_taken, tmax, now - t0));
      last_print = now - t0;
    } else if (progress_interval > 0 && now - t0 - last_print >= progress_interval) {
      /* rank 0's clock decides; only rank 0 prints, so the ranks need not agree */
      PetscCall(Progress(s, step, t, h_taken, tmax, now - t0));
      last_print = now - t0;
    }
    { /* checkpoint triggers; the ranks must agree, so the local ones are OR-reduced */
      int flags = 0;
      if (s->checkpoint_dt > 0 && t >= (k_ckpt + 1) * s->checkpoint_dt - MFSA_TIME_EPS * dt) {
        flags |= 1;
        k_ckpt = (PetscInt)PetscFloorReal(t / s->checkpoint_dt + MFSA_TIME_EPS);
      }
      if (stop_signal) flags |= 2;
      if (s->checkpoint_wall > 0 && now - t0 - last_checkpoint >= 60.0 * s->checkpoint_wall) flags |= 4;
      if (!access(stop_file, F_OK)) flags |= 8;
      PetscCallMPI(MPI_Allreduce(MPI_IN_PLACE, &flags, 1, MPI_INT, MPI_BOR, s->comm));
      /* at t = tmax the run is done: the final checkpoint below covers every trigger */
      if (flags && t < tmax) {
        PetscCall(TSGetTimeStep(ts, &dt));
        PetscCall(WriteCheckpoint(s, out, t, step, dt));
        last_checkpoint = now - t0;
        if (flags & (2 | 8)) {
          PetscMPIInt rank;
          PetscCallMPI(MPI_Comm_rank(s->comm, &rank));
          if (rank == 0 && (flags & 8)) (void)unlink(stop_file); /* acted on: the restart must not stop again */
          *stopped = PETSC_TRUE;
          PetscFunctionReturn(0);
        }
      }
    }
  }
  if (t < tmax) { /* stopped by -ts_max_steps: keep the last state too */
    PetscCall(PetscTime(&now));
    PetscCall(Output(s, out, step, h_taken, (PetscReal)(now - t0)));
    PetscCall(Progress(s, step, t, h_taken, tmax, now - t0));
  }
  if (s->checkpoint_final) {
    PetscCall(TSGetTimeStep(ts, &dt));
    PetscCall(WriteCheckpoint(s, out, t, step, dt));
  }
  PetscCall(TSViewFromOptions(ts, NULL, "-ts_view")); /* what TSSolve would do at the end */
  PetscFunctionReturn(0);
}
