/* The solver interface (PETSc ops-table pattern). A solver owns the state Vec and the TS;
 * the driver only calls Create / SetFromOptions / SetUp / Solve / Destroy. Adding a solver
 * is one file in solvers/ plus one MfsaSolverRegister line in solver.c. */
#pragma once
#include <petscts.h>
#include "model.h"
#include "output.h"
#include "fault_check.h"

typedef struct _p_MfsaSolver *MfsaSolver;

typedef struct {
  PetscErrorCode (*setfromoptions)(MfsaSolver, PetscOptionItems *); /* type options */
  PetscErrorCode (*setup)(MfsaSolver);                              /* state Vec, initial data, TS RHS */
  PetscErrorCode (*poststep)(MfsaSolver);                           /* after every accepted step (retraction); may be NULL */
  PetscErrorCode (*maxstep)(MfsaSolver, PetscReal *);               /* largest stable next step (CFL); may be NULL */
  PetscErrorCode (*getaux)(MfsaSolver, PetscInt *, PetscReal[]);    /* solver scalars a checkpoint must keep; may be NULL */
  PetscErrorCode (*setaux)(MfsaSolver, PetscInt, const PetscReal[]);
  PetscErrorCode (*output)(MfsaSolver, MfsaOutput, PetscInt step, PetscReal dt, PetscReal wall); /* snapshot + diagnostics at the TS's time */
  PetscErrorCode (*view)(MfsaSolver, PetscViewer);
  PetscErrorCode (*checkstate)(MfsaSolver, MfsaFault *);            /* numerical faults of the state after a step (collective); may be NULL */
  PetscErrorCode (*destroy)(MfsaSolver);
} MfsaSolverOps;

struct _p_MfsaSolver {
  MPI_Comm       comm;
  char           type[64];
  AttnModel      model;
  TS             ts;
  Vec            X;
  MfsaSolverOps  ops;
  void          *data;
  MfsaProvenance provenance;
  PetscBool      view;              /* -mfsa_view: print model, solver and TS after set-up */
  PetscReal      progress_interval; /* -progress_interval: wall seconds between progress lines */
  PetscReal      checkpoint_dt;     /* -checkpoint_dt: model time between checkpoints (0: off) */
  PetscReal      checkpoint_wall;   /* -checkpoint_wall: wall minutes between checkpoints (0: off) */
  PetscBool      checkpoint_final;  /* -checkpoint_final: one at the end of the run */
  char           stop_file[PETSC_MAX_PATH_LEN]; /* -checkpoint_stop_file (default <out>/mfsa.stop) */
  char           restart[PETSC_MAX_PATH_LEN];   /* -restart auto|<file> ("" = none) */
  MfsaFaultSpec  fault;             /* -fault_*, -debug_inject_*: numerical fault detection (src/fault_check.h) */
};

PetscErrorCode MfsaSolverRegister(const char name[], PetscErrorCode (*create)(MfsaSolver));
PetscErrorCode MfsaSolverCreate(AttnModel, MfsaSolver *);
/* -solver <type> (default particles), the type's options, then PETSc TS options (-ts_*). */
PetscErrorCode MfsaSolverSetFromOptions(MfsaSolver);
PetscErrorCode MfsaSolverSetUp(MfsaSolver);
/* Time loop: steps with PETSc TS, lands exactly on every output time, writes output and
 * checkpoints. *stopped: it stopped early after a checkpoint (signal or stop file). */
PetscErrorCode MfsaSolverSolve(MfsaSolver, MfsaOutput, PetscBool *stopped);
PetscErrorCode MfsaSolverView(MfsaSolver, PetscViewer);
/* SIGTERM/SIGUSR1 -> "checkpoint at the next step boundary and stop"; SIGXFSZ ignored (a file-size
 * limit fails the write with EFBIG, reported by io/). Installed right after PetscInitialize so
 * that a signal during set-up is kept, not fatal (and then also the error handler that names an
 * option with an unparsable value, src/options_util.h). */
PetscErrorCode MfsaInstallStopHandlers(void);
PetscErrorCode MfsaSolverDestroy(MfsaSolver *);

/* Solver types */
PetscErrorCode MfsaSolverCreate_Particles(MfsaSolver);
PetscErrorCode MfsaSolverCreate_Pde(MfsaSolver);
/* checkstate ops of the solver types (appended to their files) */
PetscErrorCode MfsaSolverCheckState_Particles(MfsaSolver, MfsaFault *);
PetscErrorCode MfsaSolverCheckState_Pde(MfsaSolver, MfsaFault *);
