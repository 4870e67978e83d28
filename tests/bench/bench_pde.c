/* PDE figure: right-hand-side evaluations per second of the circle PDE solver on all ranks of
 * `comm`: S x M grid, causal mask, beta = 4, von Mises initial density; Q = K = V = I (the
 * rotation-invariant FFT kernel) or random Q, K, V (the general double-series kernel). */
#include "bench.h"

PetscErrorCode BenchPde(MPI_Comm comm, const BenchTiming *tm, PetscInt S, PetscInt M, PetscBool general)
{
  PetscMPIInt    size;
  double         best = 1e300;
  long           reps = 0;

  PetscFunctionBegin;
  PetscCallMPI(MPI_Comm_size(comm, &size));
  PetscCall(BenchSetInt("-pde_slices", S));
  PetscCall(BenchSetInt("-pde_angles", M));
  PetscCall(PetscOptionsSetValue(NULL, "-solver", "pde"));
  PetscCall(PetscOptionsSetValue(NULL, "-attn_dim", "2"));
  PetscCall(PetscOptionsSetValue(NULL, "-attn_beta", "4"));
  PetscCall(PetscOptionsSetValue(NULL, "-attn_mask", "causal"));
  PetscCall(PetscOptionsSetValue(NULL, "-pde_init", "vonmises"));
  PetscCall(PetscOptionsSetValue(NULL, "-pde_init_vonmises_centers", "1"));
  PetscCall(PetscOptionsSetValue(NULL, "-pde_init_vonmises_kappas", "2"));
  PetscCall(PetscOptionsSetValue(NULL, "-attn_qkv", general ? "random" : "identity"));
  PetscCall(BenchRhsTime(comm, tm, &best, &reps));
  PetscCall(PetscPrintf(comm, "PDE RHS (causal, %" PetscInt_FMT " x %" PetscInt_FMT ", beta = 4, %s kernel, %d rank%s): %.1f /s\n", S, M, general ? "general (random Q, K, V)" : "rotation-invariant", size, size > 1 ? "s" : "", 1.0 / best));
  PetscCall(BenchJson(comm, tm, "{\"what\": \"pde\", \"slices\": %d, \"angles\": %d, \"kernel\": \"%s\", \"ranks\": %d, \"seconds\": %.6g, \"reps\": %ld, \"rhs_per_s\": %.6g}", (int)S, (int)M, general ? "general" : "identity", size, best, reps, 1.0 / best));
  /* the next measurement in this run may be a particle one */
  PetscCall(PetscOptionsClearValue(NULL, "-solver"));
  PetscCall(PetscOptionsClearValue(NULL, "-attn_qkv"));
  PetscCall(PetscOptionsClearValue(NULL, "-attn_beta"));
  PetscFunctionReturn(0);
}
