/* Shared pieces of the benchmark program mfsa_bench (tests/bench/): the measurements each
 * bench_*.c file owns, the timing rule, and the machine-readable result line.
 *
 * Timing rule: every figure is the best of repeated runs (the least noisy estimate on a shared
 * machine), each run timed between barriers so the slowest rank counts; rank 0's clock decides
 * when all ranks stop. Results: a human line, and with -bench_json one line
 * "BENCH {json}" per figure that tests/bench/suite.py parses (never a test of the times). */
#pragma once
#include <petscts.h>
#include "model.h"
#include "solver.h"

typedef struct {
  PetscReal min_time; /* seconds per measurement (at least min_reps runs) */
  PetscInt  min_reps; /* runs per measurement, >= 1 */
  PetscBool warmup;   /* one untimed run first */
  PetscBool json;     /* print BENCH {json} lines */
  char      tag[64];  /* copied into the JSON lines */
} BenchTiming;

/* Rank 0 decides for everybody: ranks must leave a timing loop together. */
PetscBool BenchKeepGoing(MPI_Comm comm, const BenchTiming *tm, double elapsed, long reps);
/* Model + solver on `comm` from the options database, set up and ready to step. */
PetscErrorCode BenchBuildSolver(MPI_Comm comm, AttnModel *model, MfsaSolver *solver);
/* Best seconds of one RHS evaluation of the solver the options describe, and how many were timed. */
PetscErrorCode BenchRhsTime(MPI_Comm comm, const BenchTiming *tm, double *seconds, long *nreps);
/* Sets an integer / string in the options database (the solver reads them as usual). */
PetscErrorCode BenchSetInt(const char *name, PetscInt value);
/* Prints "BENCH " + the formatted JSON object (fmt starts with '{') with "tag" added, on rank 0 when tm->json. */
PetscErrorCode BenchJson(MPI_Comm comm, const BenchTiming *tm, const char *fmt, ...) PETSC_ATTRIBUTE_FORMAT(3, 4);

/* bench_exp.c: the exp-only bounds, ns per exp per core (rank 0 alone). */
PetscErrorCode BenchExp(MPI_Comm comm, const BenchTiming *tm);
/* bench_particles.c */
PetscErrorCode BenchKernel(MPI_Comm comm, const BenchTiming *tm, PetscInt n, PetscInt ndims, const PetscInt dims[], PetscInt nmasks, char *masks[]);
PetscErrorCode BenchStep(MPI_Comm comm, const BenchTiming *tm, PetscInt n, PetscInt d, const char *mask);
PetscErrorCode BenchVelocityDump(MPI_Comm comm, const char *path);
/* bench_pde.c */
PetscErrorCode BenchPde(MPI_Comm comm, const BenchTiming *tm, PetscInt S, PetscInt M, PetscBool general);
/* bench_io.c */
PetscErrorCode BenchSnapshot(MPI_Comm comm, const BenchTiming *tm, PetscInt n, PetscInt d);
