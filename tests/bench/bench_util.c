/* Benchmark plumbing shared by every measurement: the common stop rule of timing loops, the
 * solver builder, options-database setters and the machine-readable result line. */
#include "bench.h"
#include <stdarg.h>
#include <stdio.h>

PetscBool BenchKeepGoing(MPI_Comm comm, const BenchTiming *tm, double elapsed, long reps)
{
  int go = (elapsed < tm->min_time || reps < tm->min_reps) ? 1 : 0;
  MPI_Bcast(&go, 1, MPI_INT, 0, comm);
  return go ? PETSC_TRUE : PETSC_FALSE;
}

PetscErrorCode BenchBuildSolver(MPI_Comm comm, AttnModel *model, MfsaSolver *solver)
{
  PetscFunctionBegin;
  PetscCall(AttnModelCreate(comm, model));
  PetscCall(AttnModelSetFromOptions(*model));
  PetscCall(AttnModelSetUp(*model));
  PetscCall(MfsaSolverCreate(*model, solver));
  PetscCall(MfsaSolverSetFromOptions(*solver));
  PetscCall(MfsaSolverSetUp(*solver));
  PetscFunctionReturn(0);
}

PetscErrorCode BenchSetInt(const char *name, PetscInt value)
{
  char str[32];

  PetscFunctionBegin;
  PetscCall(PetscSNPrintf(str, sizeof(str), "%" PetscInt_FMT, value));
  PetscCall(PetscOptionsSetValue(NULL, name, str));
  PetscFunctionReturn(0);
}

PetscErrorCode BenchJson(MPI_Comm comm, const BenchTiming *tm, const char *fmt, ...)
{
  char        line[4096];
  va_list     ap;
  PetscMPIInt rank;

  PetscFunctionBegin;
  if (!tm->json) PetscFunctionReturn(0);
  PetscCallMPI(MPI_Comm_rank(comm, &rank));
  if (rank) PetscFunctionReturn(0);
  PetscCheck(fmt[0] == '{', PETSC_COMM_SELF, PETSC_ERR_PLIB, "BenchJson: the format must be a JSON object");
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt + 1, ap); /* plain C formats: the JSON must not depend on PETSc's */
  va_end(ap);
  PetscCall(PetscPrintf(PETSC_COMM_SELF, "BENCH {\"tag\": \"%s\", %s\n", tm->tag, line));
  PetscFunctionReturn(0);
}

PetscErrorCode BenchRhsTime(MPI_Comm comm, const BenchTiming *tm, double *seconds, long *nreps)
{
  AttnModel      model;
  MfsaSolver     solver;
  Vec            F;
  PetscLogDouble start, t0, t1;
  double         best = 1e300;
  long           reps = 0;

  PetscFunctionBegin;
  PetscCall(BenchBuildSolver(comm, &model, &solver));
  PetscCall(VecDuplicate(solver->X, &F));
  if (tm->warmup) PetscCall(TSComputeRHSFunction(solver->ts, 0.0, solver->X, F));
  PetscCallMPI(MPI_Barrier(comm));
  PetscCall(PetscTime(&start));
  do {
    PetscCallMPI(MPI_Barrier(comm));
    PetscCall(PetscTime(&t0));
    PetscCall(TSComputeRHSFunction(solver->ts, 0.0, solver->X, F));
    PetscCallMPI(MPI_Barrier(comm));
    PetscCall(PetscTime(&t1));
    reps++;
    best = PetscMin(best, t1 - t0);
  } while (BenchKeepGoing(comm, tm, t1 - start, reps));
  *seconds = best;
  *nreps   = reps;
  PetscCall(VecDestroy(&F));
  PetscCall(MfsaSolverDestroy(&solver));
  PetscCall(AttnModelDestroy(&model));
  PetscFunctionReturn(0);
}
