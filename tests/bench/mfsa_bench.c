/* mfsa_bench: figures for the pair kernel, the particle and PDE solvers and snapshot output
 * (not a test: it prints; tests/bench/suite.py runs it for the whole suite). Each measurement
 * runs on all ranks of the launch; the particle solver's own options (-particles_exchange,
 * -precision, -attn_beta, ...) pass straight through to it.
 *   -bench_what exp,kernel,step,pde,snapshot,velocity   (default exp,kernel,step,pde)
 *     exp       exp-only bounds, ns/exp/core (bench_exp.c)
 *     kernel    ns/pair/core of one velocity evaluation for each -bench_dims x -bench_masks
 *     step      seconds per RK4 particle step (n = -bench_n, d = -bench_d, -bench_mask)
 *     pde       PDE right-hand sides per second (-bench_pde_slices x -bench_pde_angles)
 *     snapshot  snapshot write MB/s (n = -bench_snapshot_n tokens) into -out
 *     velocity  writes x and x' = f(x) of the configured run to -bench_velocity_out (raw float64)
 *   -bench_jobs "what [-option value ...]; what [...]; ..."   instead of -bench_what: several
 *     measurements with their own options in ONE launch (an MPI launch costs seconds here). Each
 *     job's options are set for that job only, must all be used by it, and are then removed.
 * Timing: best of runs during -bench_min_time s and at least -bench_min_reps runs, after one
 * untimed run unless -bench_warmup 0. -bench_json: one "BENCH {json}" line per figure, with
 * the job's -bench_tag in it.
 * Usage: mfsa-mpiexec 2 mfsa_bench [-bench_n 16384] [-bench_d 3] [-bench_mask causal] */
#include "bench.h"
#include "options_util.h"
#include <ctype.h>

typedef struct {
  PetscInt    n, d, S, M, snap_n, dims[8], ndims, nmasks;
  char       *masks[4];
  char        mask[16], velocity_out[PETSC_MAX_PATH_LEN];
  PetscBool   pde_general;
  BenchTiming tm;
} BenchConfig;

/* The bench's own options, from the database as it is now (command line + the current job). */
static PetscErrorCode ReadConfig(BenchConfig *c)
{
  PetscBool set;

  PetscFunctionBegin;
  for (PetscInt m = 0; m < c->nmasks; m++) PetscCall(PetscFree(c->masks[m]));
  c->n = 16384, c->d = 3, c->S = 1024, c->M = 1024, c->snap_n = 1 << 20;
  c->ndims = 8, c->nmasks = 4;
  c->pde_general = PETSC_FALSE;
  c->tm          = (BenchTiming){1.0, 3, PETSC_TRUE, c->tm.json, ""};
  PetscCall(PetscStrncpy(c->mask, "causal", sizeof(c->mask)));
  c->velocity_out[0] = 0;
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "mfsa benchmark", NULL);
  PetscCall(PetscOptionsInt("-bench_n", "Tokens (kernel, step)", NULL, c->n, &c->n, NULL));
  PetscCall(PetscOptionsInt("-bench_d", "Dimension (step, snapshot)", NULL, c->d, &c->d, NULL));
  PetscCall(PetscOptionsString("-bench_mask", "Mask of the step measurement (none|causal)", NULL, c->mask, c->mask, sizeof(c->mask), NULL));
  c->dims[0] = c->d;
  PetscCall(PetscOptionsIntArray("-bench_dims", "Dimensions of the kernel measurement (default -bench_d)", NULL, c->dims, &c->ndims, &set));
  if (!set) c->ndims = 1;
  PetscCall(PetscOptionsStringArray("-bench_masks", "Masks of the kernel measurement (default -bench_mask)", NULL, c->masks, &c->nmasks, &set));
  if (!set) {
    c->nmasks = 1;
    PetscCall(PetscStrallocpy(c->mask, &c->masks[0]));
  }
  PetscCall(PetscOptionsReal("-bench_min_time", "Seconds per measurement", NULL, c->tm.min_time, &c->tm.min_time, NULL));
  PetscCall(PetscOptionsInt("-bench_min_reps", "Timed runs per measurement, at least", NULL, c->tm.min_reps, &c->tm.min_reps, NULL));
  PetscCall(PetscOptionsBool("-bench_warmup", "One untimed run before timing", NULL, c->tm.warmup, &c->tm.warmup, NULL));
  PetscCall(PetscOptionsBool("-bench_json", "Also print one BENCH {json} line per figure", NULL, c->tm.json, &c->tm.json, NULL));
  PetscCall(PetscOptionsString("-bench_tag", "Label copied into the JSON lines (which job a figure belongs to)", NULL, c->tm.tag, c->tm.tag, sizeof(c->tm.tag), NULL));
  PetscCall(PetscOptionsInt("-bench_pde_slices", "PDE slices S", NULL, c->S, &c->S, NULL));
  PetscCall(PetscOptionsInt("-bench_pde_angles", "PDE angles M", NULL, c->M, &c->M, NULL));
  PetscCall(PetscOptionsBool("-bench_pde_general", "PDE with random Q, K, V (the general double-series kernel) instead of identity", NULL, c->pde_general, &c->pde_general, NULL));
  PetscCall(PetscOptionsInt("-bench_snapshot_n", "Tokens of the snapshot measurement", NULL, c->snap_n, &c->snap_n, NULL));
  PetscCall(PetscOptionsString("-bench_velocity_out", "File for the velocity measurement", NULL, c->velocity_out, c->velocity_out, sizeof(c->velocity_out), NULL));
  PetscOptionsEnd();
  PetscCheck(c->n >= 1 && c->d >= 1 && c->snap_n >= 1 && c->tm.min_reps >= 1 && c->tm.min_time >= 0, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-bench_n, -bench_d, -bench_snapshot_n, -bench_min_reps must be >= 1 and -bench_min_time >= 0");
  PetscFunctionReturn(0);
}

static PetscErrorCode RunOne(const char *what, BenchConfig *c)
{
  PetscBool is_exp, is_kernel, is_step, is_pde, is_snap, is_vel;

  PetscFunctionBegin;
  PetscCall(PetscStrcmp(what, "exp", &is_exp));
  PetscCall(PetscStrcmp(what, "kernel", &is_kernel));
  PetscCall(PetscStrcmp(what, "step", &is_step));
  PetscCall(PetscStrcmp(what, "pde", &is_pde));
  PetscCall(PetscStrcmp(what, "snapshot", &is_snap));
  PetscCall(PetscStrcmp(what, "velocity", &is_vel));
  if (is_exp) PetscCall(BenchExp(PETSC_COMM_WORLD, &c->tm));
  else if (is_kernel) PetscCall(BenchKernel(PETSC_COMM_WORLD, &c->tm, c->n, c->ndims, c->dims, c->nmasks, c->masks));
  else if (is_step) PetscCall(BenchStep(PETSC_COMM_WORLD, &c->tm, c->n, c->d, c->mask));
  else if (is_pde) PetscCall(BenchPde(PETSC_COMM_WORLD, &c->tm, c->S, c->M, c->pde_general));
  else if (is_snap) PetscCall(BenchSnapshot(PETSC_COMM_WORLD, &c->tm, c->snap_n, c->d));
  else if (is_vel) {
    PetscCheck(c->velocity_out[0], PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "velocity needs -bench_velocity_out <file>");
    PetscCall(BenchVelocityDump(PETSC_COMM_WORLD, c->velocity_out));
  } else SETERRQ(PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "mfsa_bench: unknown measurement '%s'; choose from exp, kernel, step, pde, snapshot, velocity", what);
  PetscFunctionReturn(0);
}

/* One job "what -opt value ...": its options live in the database for this job only. */
static PetscErrorCode RunJob(char *job, BenchConfig *c)
{
  char *what, *opts, *tok, *save = NULL;

  PetscFunctionBegin;
  while (isspace((unsigned char)*job)) job++;
  if (!*job) PetscFunctionReturn(0);
  what = job;
  opts = job;
  while (*opts && !isspace((unsigned char)*opts)) opts++;
  if (*opts) *opts++ = 0;
  PetscCall(PetscOptionsInsertString(NULL, opts));
  PetscCall(ReadConfig(c));
  PetscCall(RunOne(what, c));
  /* every option of the job must have been read by it (a misspelling must not go unnoticed),
   * then it is removed so the next job starts from the command line's options */
  for (tok = strtok_r(opts, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
    PetscBool used;
    if (tok[0] != '-' || !isalpha((unsigned char)tok[1])) continue; /* a value */
    PetscCall(PetscOptionsUsed(NULL, tok + 1, &used)); /* the database keeps names without the dash */
    PetscCheck(used, PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "-bench_jobs: option %s of job '%s' was not used by it; check the spelling", tok, what);
    PetscCall(PetscOptionsClearValue(NULL, tok));
  }
  PetscFunctionReturn(0);
}

int main(int argc, char **argv)
{
  BenchConfig c = {0};
  char        jobs[8192] = "", *what[8];
  PetscInt    nwhat      = 8;
  PetscBool   has_jobs, has_what;

  PetscCall(PetscInitialize(&argc, &argv, NULL, "mfsa benchmark program (see tests/bench/mfsa_bench.c)\n"));
  PetscOptionsBegin(PETSC_COMM_WORLD, NULL, "mfsa benchmark", NULL);
  PetscCall(PetscOptionsString("-bench_jobs", "Measurements with their own options: \"what -opt value ...; what ...\"", NULL, jobs, jobs, sizeof(jobs), &has_jobs));
  PetscCall(PetscOptionsStringArray("-bench_what", "Measurements, comma-separated: exp,kernel,step,pde,snapshot,velocity", NULL, what, &nwhat, &has_what));
  PetscOptionsEnd();
  PetscCheck(!(has_jobs && has_what), PETSC_COMM_WORLD, PETSC_ERR_USER_INPUT, "give -bench_what or -bench_jobs, not both");
  if (has_jobs) {
    char *save = NULL;
    for (char *job = strtok_r(jobs, ";", &save); job; job = strtok_r(NULL, ";", &save)) PetscCall(RunJob(job, &c));
  } else {
    if (!has_what) {
      nwhat = 4;
      PetscCall(PetscStrallocpy("exp", &what[0]));
      PetscCall(PetscStrallocpy("kernel", &what[1]));
      PetscCall(PetscStrallocpy("step", &what[2]));
      PetscCall(PetscStrallocpy("pde", &what[3]));
    }
    PetscCall(ReadConfig(&c));
    for (PetscInt w = 0; w < nwhat; w++) PetscCall(RunOne(what[w], &c));
    for (PetscInt w = 0; w < nwhat; w++) PetscCall(PetscFree(what[w]));
  }
  /* a misspelled pass-through option (e.g. -precison single) must not go unnoticed */
  PetscCall(MfsaOptionsCheckUnused(PETSC_COMM_WORLD));
  for (PetscInt m = 0; m < c.nmasks; m++) PetscCall(PetscFree(c.masks[m]));
  PetscCall(PetscFinalize());
  return 0;
}
