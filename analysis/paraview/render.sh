#!/usr/bin/env bash
# Renders an mfsa run folder with ParaView, headless: particles on the sphere/circle coloured by
# s with trails, or a PDE density on a cylinder (analysis/paraview/mfsa_view.py does the work).
#   analysis/paraview/render.sh RUN [PNG] [mfsa_view.py options: --time T --shape ring --no-trails --size WxH]
# PNG defaults to RUN/pictures/paraview.png. Needs pvbatch (Debian: paraview) and xvfb-run
# (Debian: xvfb): ParaView 5.11 on Debian renders through GLX only, so an X server is required.
# Prints the script's MFSA_PV_JSON line (points/cells read per time step, ...) and the PNG path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run=${1:?"usage: render.sh RUN [PNG] [options]"}
shift
[[ -f $run/mfsa.xmf ]] || { echo "render.sh: $run/mfsa.xmf not found (is $run an mfsa -out folder?)" >&2; exit 1; }
run=$(cd "$run" && pwd)
png=$run/pictures/paraview.png
if [[ $# -gt 0 && $1 != -* ]]; then png=$1; shift; fi
mkdir -p "$(dirname "$png")"
png=$(cd "$(dirname "$png")" && pwd)/$(basename "$png")
for tool in pvbatch xvfb-run; do
    command -v $tool >/dev/null || { echo "render.sh: $tool not found (Debian: apt-get install paraview xvfb)" >&2; exit 1; }
done
# Xvfb now and then refuses the first window on a loaded machine (pvbatch aborts in
# CreateAWindow before reading anything): that, and only that, is retried.
for attempt in 1 2 3; do
    if out=$(xvfb-run -a -s "-screen 0 1024x768x24" pvbatch "$here/mfsa_view.py" "$run/mfsa.xmf" "$png" "$@" 2>/tmp/mfsa_render.$$); then
        rm -f /tmp/mfsa_render.$$
        grep '^MFSA_PV_JSON ' <<<"$out"
        echo "render.sh: wrote $png"
        exit 0
    fi
    if ! grep -q CreateAWindow /tmp/mfsa_render.$$; then break; fi
done
grep '^MFSA_PV_JSON ' <<<"$out" || true
tail -5 /tmp/mfsa_render.$$ >&2
rm -f /tmp/mfsa_render.$$
echo "render.sh: pvbatch failed on $run/mfsa.xmf" >&2
exit 1
