#!/usr/bin/env bash
#SBATCH --job-name=mfsa-sweep
#SBATCH --array=6-10
#SBATCH --ntasks=4
#SBATCH --time=00:30:00
#SBATCH --output=mfsa-sweep-%A_%a.log
#
# n-sweep as a job array: task k runs the study in jobs/default_study.opts with n = 2^k tokens
# (array index k; --array=6-10 gives n = 64 .. 1024), output in sweep_<array job id>/n<n>/
# (snap_*.h5, mfsa.xmf, diagnostics.h5), one folder per task, relative to the job's working
# directory (the submit directory unless sbatch --chdir says otherwise).
# Expected run time (default study, T = 15, fixed-step RK4, 4 ranks): well under a minute per
# task up to n = 1024; the all-pairs cost grows as n^2 (n = 2^14: tens of minutes).
#
#   sbatch jobs/slurm_sweep.sh                                   # from the mfsa checkout
#   sbatch --array=8-12 -p PART -A ACCT jobs/slurm_sweep.sh -attn_mask causal   # extra args go to mfsa
#
# Partition/account: sbatch -p/-A or SBATCH_PARTITION/SBATCH_ACCOUNT; the --array,
# --ntasks, --time above are defaults, override them on the sbatch line.
# Environment (exported to the job by sbatch's default --export=ALL):
#   MFSA_SOURCE  mfsa checkout holding jobs/ (default: $SLURM_SUBMIT_DIR)
#   MFSA_BUILD   folder with the mfsa executable (default: $MFSA_SOURCE/build)
#   MFSA_LAUNCH  MPI launcher prefix (default: srun --mpi=pmix)
#   MFSA_OPTS    options file (default: $MFSA_SOURCE/jobs/default_study.opts); -n is overridden
#   MFSA_SWEEP_DIR output root (default: sweep_<array job id>)
set -euo pipefail
src=${MFSA_SOURCE:-${SLURM_SUBMIT_DIR:-$(pwd)}}
build=${MFSA_BUILD:-$src/build}
launch=${MFSA_LAUNCH:-srun --mpi=pmix}
opts=${MFSA_OPTS:-$src/jobs/default_study.opts}
k=${SLURM_ARRAY_TASK_ID:?"submit as a job array: sbatch --array=6-10 jobs/slurm_sweep.sh"}
[[ $k =~ ^[0-9]+$ ]] && (( k <= 30 )) || { echo "array index $k: want 0..30 (n = 2^k)" >&2; exit 2; }
n=$((1 << k))
root=${MFSA_SWEEP_DIR:-sweep_${SLURM_ARRAY_JOB_ID:-${SLURM_JOB_ID:-local}}}
out=$root/n$n
mkdir -p "$root"
echo "mfsa-sweep: job ${SLURM_JOB_ID:-?} task $k: n = $n -> $out ($(date -Is), host $(hostname), launcher: $launch)"
# a resubmitted/requeued task rewrites its own folder (-out_overwrite); other tasks are untouched
$launch "$build/mfsa" -options_file "$opts" -n "$n" -out "$out" -out_overwrite "$@"
echo "mfsa-sweep: task $k done ($(date -Is))"
