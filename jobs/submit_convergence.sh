#!/usr/bin/env bash
# Submits the convergence study (jobs/slurm_convergence.sh: particle array + PDE reference) and
# its post-processing (jobs/slurm_postprocess.sh, --dependency=afterok on both), all in one
# study folder; prints the three job ids ("particles=<id> pde=<id> post=<id>") and the folder.
# Takes seconds; the jobs then run as the queue allows (see the scripts' headers).
#
#   bash jobs/submit_convergence.sh [--array=6-14] [sbatch options for all three jobs...]
#   MFSA_CONV_DIR=my_study bash jobs/submit_convergence.sh -p PART -A ACCT
#
# Run it from the mfsa checkout (or set MFSA_SOURCE); every MFSA_* variable of the scripts
# (MFSA_BUILD, MFSA_LAUNCH, MFSA_PYTHON, MFSA_CONV_*) is exported to the jobs.
set -euo pipefail
src=${MFSA_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export MFSA_SOURCE=$src
export MFSA_CONV_DIR=${MFSA_CONV_DIR:-conv_$(date +%Y%m%d-%H%M%S)_$$}
array=--array=6-14
common=()
for a in "$@"; do
    case $a in
        --array=*) array=$a ;;
        *) common+=("$a") ;;
    esac
done
p=$(sbatch --parsable "$array" "${common[@]}" "$src/jobs/slurm_convergence.sh" particles)
p=${p%%;*}
q=$(sbatch --parsable "${common[@]}" "$src/jobs/slurm_convergence.sh" pde)
q=${q%%;*}
r=$(sbatch --parsable --dependency="afterok:$p:$q" "${common[@]}" "$src/jobs/slurm_postprocess.sh")
r=${r%%;*}
echo "particles=$p pde=$q post=$r"
echo "study folder: $MFSA_CONV_DIR (relative to the jobs' working directory); summary: $MFSA_CONV_DIR/compare/summary.txt"
