#!/usr/bin/env bash
# The benchmark suite in one command: installs what is missing (build packages only), builds
# (incrementally, so the figures are those of the current sources), runs every measurement of
# tests/bench/suite.py, prints the table and writes the JSON (machine, build, every figure, the
# projection). Full mode takes ~5-10 minutes on 2 cores; --quick takes seconds (CI smoke).
# Run it on a quiet machine: figures are best-of-k, but other work on the cores still shows.
#
# usage: jobs/run_benchmarks.sh [--quick] [--build DIR] [--json FILE] [--ranks P] [--work DIR]
#   --build DIR   build folder (default build/ in the source tree)
#   --json FILE   result file (default DIR/bench_results/mfsa_bench_<UTC time>.json)
#   --ranks P     ranks of the all-cores figures (default: the usable cores)
#   --work DIR    where the snapshot/checkpoint/dd files are written (the file system measured)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build="$src/build"
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --quick) args+=(--quick); shift ;;
    --json|--ranks|--work) args+=("$1" "$2"); shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "run_benchmarks.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
bash "$src/jobs/install_deps.sh" --build-only
mkdir -p "$build"
if ! bash "$src/jobs/build.sh" "$build" >"$build/run_benchmarks.build.log" 2>&1; then
  tail -40 "$build/run_benchmarks.build.log" >&2
  echo "run_benchmarks.sh: the build failed (log: $build/run_benchmarks.build.log)" >&2
  exit 1
fi
echo "run_benchmarks.sh: built $build (log: $build/run_benchmarks.build.log)"
exec /usr/bin/python3 "$src/tests/bench/suite.py" --build "$build" "${args[@]}"
