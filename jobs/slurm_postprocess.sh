#!/usr/bin/env bash
#SBATCH --job-name=mfsa-post
#SBATCH --ntasks=1
#SBATCH --time=00:30:00
#SBATCH --output=mfsa-post-%j.log
#
# Post-processing of the convergence study (jobs/slurm_convergence.sh): for every particle run
# <dir>/particles/n<n>/ it runs analysis/compare_particles_pde.py against the PDE reference
# <dir>/pde/ (per-slice Wasserstein-1 distance on the circle at every common snapshot time),
# writing <dir>/compare/n<n>.csv, .h5 (the tool's --out) and .json (its stdout), then a
# summary <dir>/compare/summary.txt: mean W1 over slices per n at every time, and the slope of
# log W1 against log n at the last time (expect about -1/2).
# Expected run time: seconds (the W1 is exact, O(n log n + M) per slice and time).
# Submit it after the runs it reads, so that it starts only when all of them succeeded:
#
#   sbatch --dependency=afterok:<particles array id>:<pde id> jobs/slurm_postprocess.sh
#
# (jobs/submit_convergence.sh does this). Partition/account: sbatch -p/-A or SBATCH_*.
# Environment: MFSA_SOURCE (mfsa checkout, default $SLURM_SUBMIT_DIR), MFSA_PYTHON (Python 3
# with numpy + h5py, default python3), MFSA_CONV_DIR (study folder, default convergence).
set -euo pipefail
src=${MFSA_SOURCE:-${SLURM_SUBMIT_DIR:-$(pwd)}}
py=${MFSA_PYTHON:-python3}
dir=${MFSA_CONV_DIR:-convergence}
tool=$src/analysis/compare_particles_pde.py
cmp=$dir/compare
echo "mfsa-post: job ${SLURM_JOB_ID:-?} started $(date -Is) on $dir"
[[ -d $dir/pde ]] || { echo "mfsa-post: no PDE reference run $dir/pde" >&2; exit 1; }
mapfile -t runs < <(find "$dir/particles" -mindepth 1 -maxdepth 1 -type d -name 'n*' 2>/dev/null | sort -V)
(( ${#runs[@]} > 0 )) || { echo "mfsa-post: no particle runs under $dir/particles" >&2; exit 1; }
mkdir -p "$cmp"
for run in "${runs[@]}"; do
    name=$(basename "$run")
    echo "mfsa-post: $name"
    "$py" "$tool" "$run" "$dir/pde" --out "$cmp/$name" >"$cmp/$name.json.tmp"
    mv "$cmp/$name.json.tmp" "$cmp/$name.json"
done
"$py" - "$cmp" "${runs[@]}" <<'EOF' | tee "$cmp/summary.txt.tmp"
import json
import math
import os
import sys
cmp, runs = sys.argv[1], sys.argv[2:]
res = []
for run in runs:
    with open(os.path.join(cmp, os.path.basename(run) + ".json")) as f:
        res.append(json.load(f))
res.sort(key=lambda r: r["n"])
times = res[0]["times"]
print("mean over slices of W1(particles, PDE); rows: time, columns: n")
print("%8s " % "t" + " ".join("%11d" % r["n"] for r in res))
for i, t in enumerate(times):
    print("%8.4g " % t + " ".join("%11.4e" % r["mean"][i] if i < len(r["mean"]) else "%11s" % "-" for r in res))
pts = [(math.log(r["n"]), math.log(r["mean"][-1])) for r in res if r["mean"] and r["mean"][-1] > 0]
if len(pts) >= 2:
    mx = sum(p[0] for p in pts) / len(pts)
    my = sum(p[1] for p in pts) / len(pts)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sum((x - mx) ** 2 for x, _ in pts)
    print("slope of log W1 vs log n at t = %g: %.3f (i.i.d. sampling error: -0.5)" % (times[-1], slope))
EOF
mv "$cmp/summary.txt.tmp" "$cmp/summary.txt"
echo "mfsa-post: done $(date -Is): $cmp/summary.txt"
