#!/usr/bin/env bash
# Checkpoint write bandwidth against a plain `dd` of the same size on the same file system.
# usage: tests/bench/checkpoint_bandwidth.sh [BUILD_DIR] [RANKS] [SLICES] [ANGLES] [FOLDER]
# The state is a PDE grid of SLICES x ANGLES doubles (default 4096 x 2048 = 67 MB); one short
# run writes its end-of-run checkpoint (collective MPI-IO to .tmp, fsync, rename) and prints
# its MB/s; dd then writes the same number of bytes with conv=fsync. Prints both and the ratio.
set -euo pipefail
build=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
ranks=${2:-2}
S=${3:-4096}
M=${4:-2048}
dir=${5:-$(mktemp -d "${TMPDIR:-/tmp}/mfsa_ckpt_bw.XXXXXX")}
out="$dir/run"
log=$("$build/mfsa-mpiexec" "$ranks" "$build/mfsa" -solver pde -attn_dim 2 -attn_beta 1 -pde_slices "$S" -pde_angles "$M" \
      -pde_init vonmises -pde_init_vonmises_centers 1 -pde_init_vonmises_kappas 2 -ts_dt 1e-4 -ts_max_time 1e-4 \
      -out "$out" -progress_interval 0)
line=$(printf '%s\n' "$log" | grep "checkpoint at" | tail -1)
mb=$(printf '%s\n' "$line" | sed -E 's/.*\(([0-9.]+) MB in ([0-9.]+) s.*/\1/')
secs=$(printf '%s\n' "$line" | sed -E 's/.*\(([0-9.]+) MB in ([0-9.]+) s.*/\2/')
bytes=$(stat -c %s "$out/checkpoint.h5")
count=$(( (bytes + 1048575) / 1048576 ))
ddout=$(dd if=/dev/zero of="$dir/dd.bin" bs=1M count="$count" conv=fsync 2>&1 | tail -1)
ddsecs=$(printf '%s\n' "$ddout" | sed -E 's/.*, ([0-9.e+-]+) s, .*/\1/')
awk -v mb="$mb" -v s="$secs" -v c="$count" -v ds="$ddsecs" -v r="$ranks" -v f="$bytes" 'BEGIN {
  ck = mb / s; dd = c * 1.048576 / ds;
  printf "checkpoint (%d ranks, state %.1f MB, file %.1f MB): %.3f s, %.0f MB/s\n", r, mb, f / 1e6, s, ck;
  printf "dd (%d MiB, conv=fsync): %.3f s, %.0f MB/s\n", c, ds, dd;
  printf "checkpoint / dd bandwidth: %.2f\n", ck / dd }'
rm -rf "$dir"
