#!/usr/bin/env bash
# The default study: installs what is missing, builds, and runs the reference unmasked
# sphere case (n = 64, d = 3, beta = 1, T = 15; jobs/default_study.opts) on 2 ranks.
# Output: a new folder runs/default_study_<date>/ (never overwrites) with HDF5 snapshots,
# mfsa.xmf (open in ParaView) and diagnostics.h5.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
bash "$src/jobs/install_deps.sh" --build-only
bash "$src/jobs/build.sh" "$src/build"
out="$src/runs/default_study_$(date +%Y%m%d-%H%M%S)"
mkdir -p "$src/runs"
"$src/build/mfsa-mpiexec" 2 "$src/build/mfsa" -options_file "$src/jobs/default_study.opts" -out "$out"
echo "default study: snapshots in $out/snap_*.h5, ParaView index $out/mfsa.xmf, diagnostics $out/diagnostics.h5"
