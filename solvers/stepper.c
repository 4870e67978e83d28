/* The time loop shared by all solvers: PETSc TS steps, clipped so that every output time
 * is hit exactly (the clock is then snapped to the requested value, so snapshot times are
 * exact doubles k*out_dt), post-step retraction, output, rank-0 progress line. */
#include "solver.h"

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

PetscErrorCode MfsaSolverSolve(MfsaSolver s, MfsaOutput out)
{
  TS             ts = s->ts;
  TSAdapt        adapt;
  PetscBool      fixed;
  PetscReal      t, dt, tmax, out_dt, t_next, h_taken = 0;
  PetscInt       step, max_steps, k_out = 0;
  PetscLogDouble t0, now, last_print = 0;
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

  PetscCall((*s->ops.output)(s, out, step, dt, 0.0));
  PetscCall(Progress(s, step, t, dt, tmax, 0.0));
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
    }
    const PetscReal t_before = t;
    PetscCall(TSSetTimeStep(ts, h));
    PetscCall(TSStep(ts));
    {
      TSConvergedReason reason;
      PetscCall(TSGetConvergedReason(ts, &reason));
      PetscCheck(reason >= 0, s->comm, PETSC_ERR_NOT_CONVERGED, "Time step %" PetscInt_FMT " at t = %g failed (%s); try a smaller -ts_dt or an adaptive -ts_rk_type 5dp -ts_adapt_type basic", step, (double)t, TSConvergedReasons[reason]);
    }
    if (s->ops.poststep) PetscCall((*s->ops.poststep)(s));
    PetscCall(TSGetStepNumber(ts, &step));
    PetscCall(TSGetTime(ts, &t));
    h_taken = t - t_before; /* what the state at t came from (rejected tries excluded) */
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
      PetscCall((*s->ops.output)(s, out, step, h_taken, (PetscReal)(now - t0)));
      PetscCall(Progress(s, step, t, h_taken, tmax, now - t0));
      last_print = now - t0;
    } else if (progress_interval > 0 && now - t0 - last_print >= progress_interval) {
      /* rank 0's clock decides; only rank 0 prints, so the ranks need not agree */
      PetscCall(Progress(s, step, t, h_taken, tmax, now - t0));
      last_print = now - t0;
    }
  }
  if (t < tmax) { /* stopped by -ts_max_steps: keep the last state too */
    PetscCall(PetscTime(&now));
    PetscCall((*s->ops.output)(s, out, step, h_taken, (PetscReal)(now - t0)));
    PetscCall(Progress(s, step, t, h_taken, tmax, now - t0));
  }
  PetscCall(TSViewFromOptions(ts, NULL, "-ts_view")); /* what TSSolve would do at the end */
  PetscFunctionReturn(0);
}
