#!/usr/bin/env bash
#SBATCH --job-name=mfsa
#SBATCH --ntasks=4
#SBATCH --time=00:10:00
#SBATCH --output=mfsa-%j.log
# One mfsa run under Slurm: the default study (jobs/default_study.opts) on the allocated
# ranks, output in mfsa_<jobid>/ next to where you submitted. Expected run time: seconds.
#   sbatch jobs/slurm_single.sh [extra mfsa options...]
# Partition/account: pass them to sbatch (-p, -A) or set SBATCH_PARTITION/SBATCH_ACCOUNT.
# MFSA_BUILD (default: build/ next to this script's folder) locates the executable;
# MFSA_LAUNCH (default: srun --mpi=pmix) is the MPI launcher.
set -euo pipefail
src=${SLURM_SUBMIT_DIR:-$(pwd)}
build=${MFSA_BUILD:-$src/build}
launch=${MFSA_LAUNCH:-srun --mpi=pmix}
$launch "$build/mfsa" -options_file "$src/jobs/default_study.opts" -out "$src/mfsa_${SLURM_JOB_ID:-local}" "$@"
