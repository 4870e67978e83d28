/* Output of a run: the output folder, HDF5 snapshots (parallel, collective), the XDMF
 * index ParaView opens, the diagnostics table, and provenance attributes on every file.
 * io/ only moves bytes; it computes nothing. Options read here: -out, -out_dt, -out_overwrite. */
#pragma once
#include <petscvec.h>

/* Everything a file must say about where it came from. Same values on every rank. */
typedef struct {
  const char      *solver;    /* "particles", ... */
  PetscInt64       seed;
  PetscInt         n, d;      /* tokens, state dimension */
  PetscInt         heads, k;  /* heads, query/key dimension */
  PetscReal        beta;
  const char      *mask;      /* "none" | "causal" */
  const char      *norm;      /* "softmax" | "unnormalized" */
  const char      *geometry;  /* "euclidean" | "sphere" */
  const char      *kernel;    /* -attn_kernel and its parameters (AttnModel kernel_desc); NULL: norm */
  const char      *layer_norm; /* "none" | "post" | "pre" | "ngpt"; NULL: from the geometry */
  const PetscReal *Q, *K, *V; /* heads*k*d, heads*k*d, heads*d*d (row-major per head) */
} MfsaProvenance;

/* One particle snapshot: this rank's contiguous rows [lo, lo+nloc) of the global arrays. */
typedef struct {
  PetscReal        time;
  PetscInt         step;
  PetscInt         n, d;
  PetscInt         lo, nloc;
  const PetscReal *x;     /* nloc x d, row-major */
  const PetscReal *speed; /* nloc: |x_i'| */
} MfsaParticleFrame;

/* One row of the diagnostics time series (same values on every rank; rank 0 writes). */
typedef struct {
  PetscReal time;
  PetscInt  step;
  PetscReal dt; /* the step that produced this state (the nominal -ts_dt at the initial time) */
  PetscReal energy;             /* (1/(2 beta n^2)) sum_h sum_i Z_{h,i}; NaN when beta = 0 */
  PetscReal log_energy;         /* log of the above, finite even when energy overflows */
  PetscReal order_parameter;    /* |mean x| */
  PetscReal clustered_fraction; /* fraction of pairs i<j with cos(x_i,x_j) > 0.999 */
  PetscReal logz_min, logz_max; /* over tokens and heads */
  PetscReal norm_drift;         /* max | |x_i| - 1 | (sphere), 0 otherwise */
  PetscReal wall;               /* seconds since the run started */
} MfsaDiagnosticsRow;

/* One PDE snapshot on the circle: S position slices x M angles, this rank's contiguous slices
 * [lo, lo+nloc). Cell centres: s_j = (j+1/2)/S, theta_k = (k+1/2) 2 pi / M. */
typedef struct {
  PetscReal        time;
  PetscInt         step;
  PetscInt         S, M;
  PetscInt         lo, nloc;
  const PetscReal *rho;      /* nloc x M, row-major: density in theta of each slice (integrates to ~1) */
  const PetscReal *velocity; /* nloc x M: theta' at the cell centres */
  const PetscReal *mass;     /* nloc: integral of rho over theta, per slice */
} MfsaGridFrame;

typedef struct _p_MfsaOutput *MfsaOutput;

PetscErrorCode MfsaOutputCreate(MPI_Comm, MfsaOutput *);
/* Reads -out <folder> (default "mfsa_out"), -out_dt <interval> (> 0; the default 0 means first
 * and last state only; negative or non-finite is an error), -out_overwrite (bool, default false). */
PetscErrorCode MfsaOutputSetFromOptions(MfsaOutput);
/* Creates the folder (mkdir -p) or checks it. Errors (collectively, same message on all ranks):
 * folder exists and already holds mfsa output (snap_*.h5, *.xmf, diagnostics.h5) and
 * -out_overwrite was not given; folder cannot be created or is not writable; path is a file.
 * With -out_overwrite, the old mfsa files are removed only here, after all checks passed. */
PetscErrorCode MfsaOutputSetUp(MfsaOutput);
PetscErrorCode MfsaOutputGetInterval(MfsaOutput, PetscReal *out_dt);
PetscErrorCode MfsaOutputGetFolder(MfsaOutput, const char **folder);
/* Collective. Writes <folder>/snap_<6-digit counter>.h5 and rewrites <folder>/mfsa.xmf. */
PetscErrorCode MfsaOutputWriteParticles(MfsaOutput, const MfsaParticleFrame *, const MfsaProvenance *);
/* Collective. Writes <folder>/snap_<counter>.h5 with /pde/rho, /pde/velocity (S x M), /pde/mass (S),
 * /pde/s (S), /pde/theta (M), root attributes time, step, slices, angles + provenance, and rewrites
 * <folder>/mfsa.xmf (3DCoRectMesh "1 S M" per time, attributes rho and velocity). */
PetscErrorCode MfsaOutputWriteGrid(MfsaOutput, const MfsaGridFrame *, const MfsaProvenance *);
/* Collective (rank 0 writes). Appends a row to <folder>/diagnostics.h5. */
PetscErrorCode MfsaOutputAppendDiagnostics(MfsaOutput, const MfsaDiagnosticsRow *, const MfsaProvenance *);
/* Generic form: one row of named columns (the same names, in the same order, for every row of a
 * run; "time" and "step" must be among them). Same values on every rank; rank 0 writes. */
PetscErrorCode MfsaOutputAppendDiagnosticsColumns(MfsaOutput, PetscInt ncols, const char *const names[], const PetscReal values[], const MfsaProvenance *);
PetscErrorCode MfsaOutputDestroy(MfsaOutput *);
/* Before SetUp: the folder holds this run's own earlier output (a checkpoint restart): keep it. */
PetscErrorCode MfsaOutputSetRestart(MfsaOutput, PetscBool);

/* Checkpoints (io/checkpoint.c): <folder>/checkpoint.h5 (newest) and checkpoint.prev.h5, written
 * collectively to checkpoint.h5.tmp, flushed, then renamed, so a valid checkpoint exists at every
 * moment. They hold the state Vec (global order), time, step, dt, solver scalars, the provenance
 * (model and options), an order-independent checksum, and the output index and diagnostics rows
 * so that a restart continues the output without duplicate or missing times. */
#define MFSA_CHECKPOINT_MAX_AUX 8
typedef struct {
  PetscReal time, dt;
  PetscInt  step;
  PetscInt  naux;
  PetscReal aux[MFSA_CHECKPOINT_MAX_AUX];
} MfsaCheckpointState;
PetscErrorCode MfsaCheckpointWrite(MfsaOutput, Vec X, const MfsaCheckpointState *, const MfsaProvenance *);
/* spec: "auto" (newest valid checkpoint of the folder; *found = false when there is none) or a
 * file (must be valid). Refuses corrupt, truncated, foreign (other model or sizes) and
 * other-format checkpoints with a message. On success fills X and the state, restores the
 * output index and table, and removes output written after the checkpoint. Collective. */
PetscErrorCode MfsaCheckpointRestore(MfsaOutput, const char *spec, Vec X, MfsaCheckpointState *, const MfsaProvenance *, PetscBool *found);
/* Snapshots in the index (0 on a fresh start, or after a restart from another folder's checkpoint). */
PetscErrorCode MfsaOutputGetSnapshotCount(MfsaOutput, PetscInt *nsnap);
/* Seconds and bytes of the last MfsaCheckpointWrite (for the bandwidth figure). */
PetscErrorCode MfsaCheckpointGetLastWrite(MfsaOutput, PetscReal *seconds, PetscInt64 *bytes);

/* Input files (collective). Reads rows [lo, lo+nloc) of a 2-D double dataset of shape n x d
 * from `file` (dataset path `dataset`, e.g. "/particles/x"). Errors name the option `optname`
 * and the file: cannot open, dataset missing, wrong rank/shape (say expected vs found),
 * non-finite value (say which row). */
PetscErrorCode MfsaReadRows(MPI_Comm, const char *optname, const char *file, const char *dataset, PetscInt n, PetscInt d, PetscInt lo, PetscInt nloc, PetscReal *x);
/* Shape (n0, n1) of a 2-D numeric dataset (same error rules; collective). */
PetscErrorCode MfsaReadDims2(MPI_Comm, const char *optname, const char *file, const char *dataset, PetscInt *n0, PetscInt *n1);
/* Reads a whole 3-D double dataset of shape (n0, n1, n2) on every rank (model matrices).
 * Same error rules. */
PetscErrorCode MfsaReadArray3(MPI_Comm, const char *optname, const char *file, const char *dataset, PetscInt n0, PetscInt n1, PetscInt n2, PetscReal *a);
