#!/bin/sh
# One fuzzing session of a libFuzzer harness, as ctest (label fuzz) and the README's long run do it:
#   run_fuzz.sh HARNESS SECONDS CORPUS_DIR SEED_DIR
# 1. fuzz for SECONDS with ASan+UBSan and ASan's fast unwinder, new inputs into CORPUS_DIR (the
#    seeds in SEED_DIR are read only);
# 2. replay every input of CORPUS_DIR and SEED_DIR once with LeakSanitizer and the slow (DWARF)
#    unwinder: PETSc, HDF5 and Open MPI are built without frame pointers, so only the slow unwinder
#    attributes a leak to mfsa's code or to a suppressed library path (tests/fuzz/lsan.supp). That
#    costs ~40x the speed, which is why step 1 runs without it.
# Any crash, sanitizer report or leak fails (exit != 0, reproducer written next to CORPUS_DIR).
set -eu
harness=$1; seconds=$2; corpus=$3; seeds=$4
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$corpus"
artifacts="$(dirname "$corpus")/artifacts-$(basename "$harness")/"
mkdir -p "$artifacts"
export OMPI_MCA_mca_base_component_disable_dlclose=1   # plugin frames keep their names in reports
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== fuzzing $(basename "$harness") for $seconds s"
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 "$harness" -seed="${MFSA_FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "$seeds"
echo "== replaying $(ls "$corpus" "$seeds" | wc -l) corpus inputs with LeakSanitizer"
ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=1 LSAN_OPTIONS=suppressions="$here/lsan.supp" \
  "$harness" -runs=0 -timeout=60 -rss_limit_mb=4096 -artifact_prefix="$artifacts" "$corpus" "$seeds"
echo "== $(basename "$harness"): no crash, sanitizer report or leak"
