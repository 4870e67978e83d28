#!/usr/bin/env bash
# Configures and builds mfsa. Usage: jobs/build.sh [BUILD_DIR] [extra cmake args...]
# Default BUILD_DIR: build/ in the source tree.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$src/build}
shift || true
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMFSA_PYTHON=/usr/bin/python3 "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
