#!/usr/bin/env bash
#SBATCH --job-name=mfsa
#SBATCH --ntasks=4
#SBATCH --time=00:10:00
#SBATCH --output=mfsa-%j.log
#
# One mfsa run under Slurm: the study in jobs/default_study.opts (n = 64 tokens on the sphere,
# T = 15) on the allocated ranks, plus any mfsa options given after the script name; output in
# mfsa_<job id>/ relative to the job's working directory (the submit directory unless sbatch
# --chdir says otherwise). Expected run time: seconds (the default study); ~n^2 for larger n.
#
#   sbatch jobs/slurm_single.sh [extra mfsa options...]          # from the mfsa checkout
#   sbatch --ntasks=16 -p PART -A ACCT jobs/slurm_single.sh -n 8192 -ts_max_time 5
#
# Partition/account: sbatch -p/-A or SBATCH_PARTITION/SBATCH_ACCOUNT.
# Environment (exported to the job by sbatch's default --export=ALL):
#   MFSA_SOURCE  mfsa checkout holding jobs/ (default: $SLURM_SUBMIT_DIR)
#   MFSA_BUILD   folder with the mfsa executable (default: $MFSA_SOURCE/build)
#   MFSA_LAUNCH  MPI launcher prefix (default: srun --mpi=pmix; `mpirun` inside the allocation works too)
#   MFSA_OPTS    options file (default: $MFSA_SOURCE/jobs/default_study.opts)
#   MFSA_OUT     output folder (default: mfsa_<job id>)
set -euo pipefail
src=${MFSA_SOURCE:-${SLURM_SUBMIT_DIR:-$(pwd)}}
build=${MFSA_BUILD:-$src/build}
launch=${MFSA_LAUNCH:-srun --mpi=pmix}
opts=${MFSA_OPTS:-$src/jobs/default_study.opts}
out=${MFSA_OUT:-mfsa_${SLURM_JOB_ID:-local}}
echo "mfsa: job ${SLURM_JOB_ID:-?} -> $out ($(date -Is), host $(hostname), launcher: $launch)"
$launch "$build/mfsa" -options_file "$opts" -out "$out" "$@"
