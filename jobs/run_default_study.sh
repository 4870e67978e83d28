#!/usr/bin/env bash
# The default study: installs what is missing, builds, and runs the reference unmasked
# sphere case (n = 64, d = 3, beta = 1, T = 15; jobs/default_study.opts) on 2 ranks, then
# draws its pictures (analysis/pictures.sh: tokens on the sphere coloured by s, the
# diagnostics' time series, a ParaView rendering when ParaView + Xvfb are installed).
# Output: a new folder runs/default_study_<date>/ (never overwrites) with HDF5 snapshots,
# mfsa.xmf (open in ParaView), diagnostics.h5 and pictures/*.png.
# Environment: MFSA_BUILD (build folder, default build/ in the checkout).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${MFSA_BUILD:-$src/build}
bash "$src/jobs/install_deps.sh" --build-only
bash "$src/jobs/build.sh" "$build"
out="$src/runs/default_study_$(date +%Y%m%d-%H%M%S)"
mkdir -p "$src/runs"
"$build/mfsa-mpiexec" 2 "$build/mfsa" -options_file "$src/jobs/default_study.opts" -out "$out"
echo "default study: snapshots in $out/snap_*.h5, ParaView index $out/mfsa.xmf, diagnostics $out/diagnostics.h5"
bash "$src/analysis/pictures.sh" "$out"
echo "default study: pictures in $out/pictures/"
