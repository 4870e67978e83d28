#!/usr/bin/env bash
# Every standard picture of one mfsa run folder, into PICDIR (default RUN/pictures/):
#   particle run: tokens.png (plot_tokens.py), timeseries.png (plot_timeseries.py),
#                 paraview.png (paraview/render.sh: sphere/circle, glyphs coloured by s + trails)
#   PDE run:      density.png (plot_density.py), timeseries.png, paraview.png (density on a cylinder)
# ParaView is skipped (with a note) when pvbatch or xvfb-run is missing. Each script's JSON goes
# to PICDIR/<name>.json (ParaView: paraview.log). Prints the PNG paths; exits non-zero if a matplotlib script fails.
#   analysis/pictures.sh RUN [PICDIR]
# Environment: MFSA_PYTHON (default /usr/bin/python3: Debian's, with numpy, h5py, matplotlib).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=${MFSA_PYTHON:-/usr/bin/python3}
run=${1:?"usage: pictures.sh RUN [PICDIR]"}
[[ -d $run ]] || { echo "pictures.sh: no folder $run" >&2; exit 1; }
run=$(cd "$run" && pwd)
pics=${2:-$run/pictures}
mkdir -p "$pics"
pics=$(cd "$pics" && pwd)
kind=$("$py" "$here/mfsa_read.py" summary "$run" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["kind"])')
made=()
plot() {  # plot NAME SCRIPT ARGS...: run a script, keep its JSON, record its PNG
    local name=$1 script=$2
    shift 2
    "$py" "$here/$script" "$@" --out "$pics/$name.png" >"$pics/$name.json"
    made+=("$pics/$name.png")
}
if [[ $kind == particles ]]; then
    plot tokens plot_tokens.py "$run"
else
    plot density plot_density.py "$run"
fi
plot timeseries plot_timeseries.py "$run"
if command -v pvbatch >/dev/null && command -v xvfb-run >/dev/null; then
    if "$here/paraview/render.sh" "$run" "$pics/paraview.png" --size 640x480 >"$pics/paraview.log"; then
        made+=("$pics/paraview.png")
    else
        echo "pictures.sh: the ParaView rendering failed (see above); the other pictures are fine" >&2
    fi
else
    echo "pictures.sh: pvbatch or xvfb-run not installed: no ParaView picture (Debian: apt-get install paraview xvfb)"
fi
echo "pictures of $run:"
printf '  %s\n' "${made[@]}"
