#!/usr/bin/env bash
# The attention-variant comparison study (issue 9): the same initial tokens (jobs/variant_*.opts:
# n = 64 uniform on S^2, seed 1, beta = 1) evolved under every attention kernel and layer norm,
# then for each variant and snapshot the cluster count and a Lipschitz estimate ||DF(X)||_2 of
# that variant's map at the snapshot's tokens (mfsa-lipschitz -lip_inputs snapshot with the
# variant's -attn_* / -geometry options and the snapshot's own Q, K, V), drawn by
# analysis/plot_variants.py (cluster count and Lipschitz estimate vs time, one line per variant).
#
#   bash jobs/run_variant_study.sh [--out DIR] [--n N] [--T T] [--out-dt DT] [--beta B]
#        [--ranks P] [--jobs J] [--lip-every K] [--variants a,b,...] [--no-build]
#
# Output: DIR (default runs/variant_study_<date>; never overwritten) with one run folder per
# variant (DIR/<variant>/snap_*.h5, diagnostics.h5, mfsa.xmf), its Lipschitz estimates
# (DIR/<variant>/lipschitz/snap_NNNNNN/lipschitz.h5, one per snapshot used), the picture
# DIR/pictures/variants.png, the numbers DIR/variants.json, and a table on stdout.
# Environment: MFSA_BUILD (build folder, default build/ in the checkout).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${MFSA_BUILD:-$src/build}
all_variants="softmax,unnormalized,sigmoid,relu,linear,hyla,preln,ngpt"

usage() {
  cat <<EOF
usage: bash jobs/run_variant_study.sh [options]
  --out DIR        output folder (default runs/variant_study_<date>); must not exist yet
  --n N            tokens (default: the options files' 64)
  --T T            final time (default 15)
  --out-dt DT      snapshot interval; the cluster count is taken at every snapshot (default 1)
  --beta B         inverse temperature for every variant (default: the options files' 1)
  --ranks P        MPI ranks per run (default 1)
  --jobs J         runs at a time (default 4: a run's time is mostly MPI start-up)
  --lip-every K    Lipschitz estimate at every K-th snapshot and the last one (default 2)
  --variants LIST  comma-separated subset of $all_variants (jobs/variant_<name>.opts)
  --no-build       use the existing build in \$MFSA_BUILD (default: install what is missing, build)
EOF
}
die() { echo "run_variant_study.sh: $*" >&2; exit 2; }
posint() { [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer (got '$2')"; }
posreal() { [[ $2 =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$ ]] && awk -v v="$2" 'BEGIN{exit !(v > 0)}' || die "$1 must be a number > 0 (got '$2')"; }

out="" n="" T=15 out_dt=1 beta="" ranks=1 jobs=4 lip_every=2 variants=$all_variants do_build=1
while (($#)); do
  case $1 in
    -h|--help) usage; exit 0 ;;
    --no-build) do_build=0; shift; continue ;;
    --out|--n|--T|--out-dt|--beta|--ranks|--jobs|--lip-every|--variants)
      (($# >= 2)) || die "$1 needs a value"
      case $1 in
        --out) out=$2 ;; --n) posint --n "$2"; n=$2 ;; --T) posreal --T "$2"; T=$2 ;;
        --out-dt) posreal --out-dt "$2"; out_dt=$2 ;; --beta) posreal --beta "$2"; beta=$2 ;;
        --ranks) posint --ranks "$2"; ranks=$2 ;; --jobs) posint --jobs "$2"; jobs=$2 ;;
        --lip-every) posint --lip-every "$2"; lip_every=$2 ;; --variants) variants=$2 ;;
      esac
      shift 2 ;;
    *) usage >&2; die "unknown argument '$1'" ;;
  esac
done
[[ -z $n || $n -ge 2 ]] || die "--n must be >= 2 (the Lipschitz estimate needs two tokens; got $n)"
IFS=, read -r -a vlist <<<"$variants"
((${#vlist[@]})) || die "--variants is empty; allowed: $all_variants"
for v in "${vlist[@]}"; do
  [[ $v =~ ^[a-z0-9_]+$ && -f $src/jobs/variant_$v.opts ]] || die "--variants: no options file jobs/variant_$v.opts for '$v'; allowed: $all_variants"
done
[[ $(printf '%s\n' "${vlist[@]}" | sort | uniq -d) == "" ]] || die "--variants: a variant is given twice ($variants)"
out=${out:-$src/runs/variant_study_$(date +%Y%m%d-%H%M%S)}
[[ ! -e $out ]] || die "--out $out exists; the study never overwrites a folder (give a new one)"

if ((do_build)); then
  bash "$src/jobs/install_deps.sh" --build-only
  bash "$src/jobs/build.sh" "$build"
fi
for prog in mfsa mfsa-lipschitz mfsa-mpiexec; do
  [[ -x $build/$prog ]] || die "$build/$prog is missing (build first, or drop --no-build; MFSA_BUILD names the build folder)"
done
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Runs the command lines of file $1 (one per line, already quoted) $jobs at a time; each line
# writes its own log. Returns the number of failed lines.
pool() {
  local fails=0 running=0 line
  while IFS= read -r line <&3; do
    if ((running >= jobs)); then wait -n || fails=$((fails + 1)); running=$((running - 1)); fi
    bash -c "$line" </dev/null 3<&- &  # mpiexec forwards stdin: keep it off the command list
    running=$((running + 1))
  done 3<"$1"
  while ((running > 0)); do wait -n || fails=$((fails + 1)); running=$((running - 1)); done
  return $fails
}
# The log's error lines (PETSc's message) for a failed run.
report_failures() {
  local log
  for log in "$@"; do
    [[ -f $log.failed ]] || continue
    echo "run_variant_study.sh: FAILED (log $log):" >&2
    # PETSc's message: the lines between "Error Message" and the version banner (else the tail)
    awk '/Error Message/ {on = 1; next} /Petsc Release Version|WARNING|Option left|See https/ {on = 0} on && !seen[$0]++' "$log" | head -4 >&2
    grep -q "Error Message" "$log" || tail -5 "$log" >&2
  done
}

# 1. One run per variant: the options file, then the overrides (later options win).
over=(-ts_max_time "$T" -out_dt "$out_dt")
[[ -n $n ]] && over+=(-n "$n")
[[ -n $beta ]] && over+=(-attn_beta "$beta")
cmds=$out/.runs.cmd
: >"$cmds"
logs=()
for v in "${vlist[@]}"; do
  log=$out/$v.log
  logs+=("$log")
  printf '%q %q %q -options_file %q %s -out %q >%q 2>&1 || { touch %q; exit 1; }\n' "$build/mfsa-mpiexec" "$ranks" "$build/mfsa" \
    "$src/jobs/variant_$v.opts" "$(printf '%q ' "${over[@]}")" "$out/$v" "$log" "$log.failed" >>"$cmds"
done
echo "variant study: ${#vlist[@]} runs (${vlist[*]}), T = $T, snapshots every $out_dt, $ranks rank(s) each, $jobs at a time -> $out"
if ! pool "$cmds"; then report_failures "${logs[@]}"; exit 1; fi

# 2. Lipschitz estimate of each variant's map at every lip_every-th snapshot (and the last):
# the variant's model options (-attn_*, -geometry, -seed from its options file; Q/K/V from the
# snapshot itself, so random matrices are the run's).
: >"$cmds"
logs=()
nlip=0
for v in "${vlist[@]}"; do
  mapfile -t model < <(grep -E '^-(attn_|geometry|seed)' "$src/jobs/variant_$v.opts" | grep -vE '^-attn_(qkv|qkv_file)[[:space:]]' | tr -s ' \t' ' ')
  lipopt=()
  for line in "${model[@]}"; do read -r -a words <<<"$line"; lipopt+=("${words[@]}"); done
  [[ -n $beta ]] && lipopt+=(-attn_beta "$beta")
  snaps=("$out/$v"/snap_*.h5)
  last=$((${#snaps[@]} - 1))
  mkdir -p "$out/$v/lipschitz"
  for k in "${!snaps[@]}"; do
    ((k % lip_every == 0 || k == last)) || continue
    s=${snaps[$k]}
    name=$(basename "$s" .h5)
    log=$out/$v/lipschitz/$name.log
    logs+=("$log")
    nlip=$((nlip + 1))
    printf '%q %q %q %s -attn_qkv file -attn_qkv_file %q -lip_inputs snapshot -lip_snapshot %q -out %q >%q 2>&1 || { touch %q; exit 1; }\n' \
      "$build/mfsa-mpiexec" "$ranks" "$build/mfsa-lipschitz" "$(printf '%q ' "${lipopt[@]}")" "$s" "$s" "$out/$v/lipschitz/$name" "$log" "$log.failed" >>"$cmds"
  done
done
echo "variant study: $nlip Lipschitz estimates (snapshots 0, $lip_every, $((2 * lip_every)), ... and the last)"
if ! pool "$cmds"; then report_failures "${logs[@]}"; exit 1; fi
rm -f "$cmds"

# 3. The picture and the numbers.
/usr/bin/python3 "$src/analysis/plot_variants.py" "$out" >"$out/variants.json"
/usr/bin/python3 - "$out/variants.json" <<'EOF'
import json, sys
js = json.load(open(sys.argv[1]))
fmt = lambda v: "   n/a" if v is None else f"{v:6.3f}"
print(f"{'variant':13s} {'kernel':40s} {'ln':5s} {'clusters t=0 -> T':>18s} {'Lip(0)':>7s} {'Lip(T)':>7s} {'Lip max':>7s}")
for name in js["order"]:
    e = js["variants"][name]
    lip = [v for v in e["lipschitz"] if v is not None]
    print(f"{name:13s} {e['kernel'][:40]:40s} {e['ln']:5s} {e['cluster_count'][0]:8d} -> {e['cluster_count'][-1]:6d}"
          f"   {fmt(e['lipschitz'][0])} {fmt(e['lipschitz'][-1])} {fmt(max(lip) if lip else None)}")
print(f"picture: {js['png']}")
EOF
echo "variant study: numbers in $out/variants.json"
