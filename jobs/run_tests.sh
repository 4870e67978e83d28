#!/usr/bin/env bash
# The whole test suite as CI runs it: install what is missing (including Slurm, ParaView,
# Xvfb for the real-client tests), build with -Werror, run every ctest test; then an
# ASan+UBSan build runs the serial tests; then clang builds the libFuzzer harnesses (build-fuzz,
# only those two targets) and `ctest -L fuzz` fuzzes each for 30 s (README "Fuzzing").
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=$(nproc)
bash "$src/jobs/install_deps.sh"

bash "$src/jobs/build.sh" "$src/build" -DMFSA_WERROR=ON
(cd "$src/build" && ctest --output-on-failure -j "$jobs" --timeout 600)

bash "$src/jobs/build.sh" "$src/build-asan" -DMFSA_WERROR=ON -DMFSA_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
(cd "$src/build-asan" && ctest --output-on-failure -j "$jobs" -L serial --timeout 900)

cmake -S "$src" -B "$src/build-fuzz" -DCMAKE_C_COMPILER=clang -DMFSA_FUZZ=ON -DMFSA_NATIVE=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMFSA_PYTHON=/usr/bin/python3 >/dev/null
cmake --build "$src/build-fuzz" -j "$jobs" --target fuzz_options fuzz_h5_input
(cd "$src/build-fuzz" && ctest --output-on-failure -L fuzz --timeout 600)
