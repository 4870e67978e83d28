#!/usr/bin/env bash
#SBATCH --job-name=mfsa-conv
#SBATCH --ntasks=4
#SBATCH --time=01:00:00
#SBATCH --output=mfsa-conv-%j.log
#
# Convergence study, particles -> mean-field PDE (MODEL.md §6 item 10, at scale), on the circle
# (d = 2), causal mask, beta = 1, Q = K = V = I, softmax: both solvers start from the same
# law rho0(theta) = von Mises mixture 0.6 VM(1.0, kappa 2) + 0.4 VM(4.0, kappa 3) (the same in
# every slice s), evolved to T = 4 with snapshots every 0.5.
#   particles (job array, task k): n = 2^k tokens sampled i.i.d. from rho0 (numpy, seed k +
#       MFSA_CONV_SEED, written to <dir>/particles/n<n>/init.h5 and read by -init file),
#       fixed-step RK4 dt 0.05 -> <dir>/particles/n<n>/
#   pde (one job): the mean-field density on S = 8 slices x M = 512 angles, started from rho0
#       itself (-pde_init vonmises) -> <dir>/pde/
# jobs/slurm_postprocess.sh then measures the per-slice Wasserstein-1 distance between each
# particle run and the PDE run at every snapshot time (expect W1 ~ n^(-1/2): i.i.d. sampling
# error carried by the mean-field flow). jobs/submit_convergence.sh submits all three.
# Expected run time (4 ranks): seconds per particle task up to n = 4096, about a minute at
# n = 16384 (all-pairs: cost ~ n^2); the PDE reference a few seconds.
#
#   sbatch --array=6-14 jobs/slurm_convergence.sh particles
#   sbatch jobs/slurm_convergence.sh pde
#   sbatch --dependency=afterok:<particles id>:<pde id> jobs/slurm_postprocess.sh
# (or: bash jobs/submit_convergence.sh [sbatch options...], which prints the three job ids)
# Extra arguments after particles|pde are passed to mfsa (options of that solver only).
#
# Partition/account: sbatch -p/-A or SBATCH_PARTITION/SBATCH_ACCOUNT.
# Environment (exported to the job by sbatch's default --export=ALL):
#   MFSA_SOURCE  mfsa checkout (default: $SLURM_SUBMIT_DIR); MFSA_BUILD (default: $MFSA_SOURCE/build)
#   MFSA_LAUNCH  MPI launcher prefix (default: srun --mpi=pmix)
#   MFSA_PYTHON  Python 3 with numpy + h5py, samples the particles (default: python3)
#   MFSA_CONV_DIR  study folder shared by the three jobs (default: convergence)
#   MFSA_CONV_T (4), MFSA_CONV_OUT_DT (0.5), MFSA_CONV_DT (0.05, particle RK4 step),
#   MFSA_CONV_SLICES (8), MFSA_CONV_ANGLES (512), MFSA_CONV_BETA (1), MFSA_CONV_MASK (causal),
#   MFSA_CONV_SEED (0): the study's parameters; set them identically for all three jobs.
set -euo pipefail
role=${1:-}
shift || true
src=${MFSA_SOURCE:-${SLURM_SUBMIT_DIR:-$(pwd)}}
build=${MFSA_BUILD:-$src/build}
launch=${MFSA_LAUNCH:-srun --mpi=pmix}
py=${MFSA_PYTHON:-python3}
dir=${MFSA_CONV_DIR:-convergence}
T=${MFSA_CONV_T:-4}
out_dt=${MFSA_CONV_OUT_DT:-0.5}
centers=1.0,4.0
kappas=2.0,3.0
weights=0.6,0.4
model=(-attn_dim 2 -geometry sphere -attn_mask "${MFSA_CONV_MASK:-causal}" -attn_beta "${MFSA_CONV_BETA:-1}"
       -attn_norm softmax -attn_qkv identity -ts_max_time "$T" -out_dt "$out_dt")

case $role in
particles)
    k=${SLURM_ARRAY_TASK_ID:?"submit the particle runs as an array: sbatch --array=6-14 jobs/slurm_convergence.sh particles"}
    [[ $k =~ ^[0-9]+$ ]] && (( k <= 30 )) || { echo "array index $k: want 0..30 (n = 2^k)" >&2; exit 2; }
    n=$((1 << k))
    seed=$((k + ${MFSA_CONV_SEED:-0}))
    out=$dir/particles/n$n
    mkdir -p "$out"
    echo "mfsa-conv: particles, task $k: n = $n, seed $seed -> $out ($(date -Is))"
    # i.i.d. sample of rho0: pick a mixture component, then an exact von Mises draw
    "$py" - "$out/init.h5" "$n" "$seed" "$centers" "$kappas" "$weights" <<'EOF'
import sys
import numpy as np
import h5py
path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c, k, w = (np.array([float(v) for v in a.split(",")]) for a in sys.argv[4:7])
rng = np.random.default_rng(seed)
comp = rng.choice(len(w), size=n, p=w / w.sum())
theta = np.mod(rng.vonmises(c[comp], k[comp]), 2 * np.pi)
with h5py.File(path, "w") as f:
    f.create_dataset("/particles/x", data=np.stack([np.cos(theta), np.sin(theta)], axis=1))
EOF
    $launch "$build/mfsa" "${model[@]}" -n "$n" -init file -init_file "$out/init.h5" \
        -ts_type rk -ts_rk_type 4 -ts_dt "${MFSA_CONV_DT:-0.05}" -out "$out" -out_overwrite "$@"
    ;;
pde)
    out=$dir/pde
    mkdir -p "$out"
    echo "mfsa-conv: PDE reference -> $out ($(date -Is))"
    $launch "$build/mfsa" "${model[@]}" -solver pde -pde_slices "${MFSA_CONV_SLICES:-8}" \
        -pde_angles "${MFSA_CONV_ANGLES:-512}" -pde_init vonmises -pde_init_vonmises_centers "$centers" \
        -pde_init_vonmises_kappas "$kappas" -pde_init_vonmises_weights "$weights" -ts_dt 0.01 \
        -out "$out" -out_overwrite "$@"
    ;;
*)
    echo "usage: sbatch --array=6-14 jobs/slurm_convergence.sh particles | sbatch jobs/slurm_convergence.sh pde   (got '$role')" >&2
    exit 2 ;;
esac
echo "mfsa-conv: $role done ($(date -Is))"
