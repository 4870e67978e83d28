#!/usr/bin/env bash
# Regenerates the README gallery docs/gallery/*.png from a small study run here (about 2-4
# minutes on 2 cores): the default study (n = 64, d = 3, beta = 1, T = 15), a causal circle run
# (n = 128, beta = 9), a causal circle run with n = 4096 and the PDE started from its tokens'
# histogram, the masked PDE example
# (jobs/pde_masked.opts on a 64 x 256 grid), convergence runs (n, time step, grid) and a beta
# sweep (n = 32, d = 128, T = 30), and the attention-variant study (jobs/run_variant_study.sh, about
# 70 s more). Every picture comes from the analysis/ scripts; the PNGs are
# then reduced to a 256-colour palette so each stays well below 80 kB.
#   bash analysis/make_gallery.sh [GALLERY_DIR (default docs/gallery)]
# Environment: MFSA_BUILD (built mfsa, default build/), MFSA_PYTHON (default /usr/bin/python3),
# MFSA_GALLERY_WORK (run folders, default a new runs/gallery_<date>/; kept afterwards),
# MFSA_GALLERY_SKIP_RUNS=1 (redraw from the runs already in MFSA_GALLERY_WORK).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${MFSA_BUILD:-$src/build}
py=${MFSA_PYTHON:-/usr/bin/python3}
gal=${1:-$src/docs/gallery}
work=${MFSA_GALLERY_WORK:-$src/runs/gallery_$(date +%Y%m%d-%H%M%S)}
an=$src/analysis
mfsa() { "$build/mfsa-mpiexec" "$1" "$build/mfsa" "${@:2}" >/dev/null; }
[[ -x $build/mfsa ]] || { echo "make_gallery: no $build/mfsa (build first: bash jobs/build.sh $build)" >&2; exit 1; }
mkdir -p "$gal" "$work"
echo "make_gallery: runs in $work"

# --- runs (small; a few at a time: most of their wall time is MPI start-up) ---
if [[ ${MFSA_GALLERY_SKIP_RUNS:-0} != 1 ]]; then
mfsa 2 -options_file "$src/jobs/default_study.opts" -out "$work/default" &
mfsa 2 -n 128 -attn_dim 2 -attn_beta 9 -attn_mask causal -seed 3 -ts_dt 0.02 -ts_max_time 10 -out_dt 0.5 -out "$work/circle" &
mfsa 2 -n 4096 -attn_dim 2 -attn_beta 4 -attn_mask causal -seed 5 -ts_dt 0.05 -ts_max_time 3 -out_dt 1 -out "$work/side" &
mfsa 2 -options_file "$src/jobs/pde_masked.opts" -pde_slices 64 -pde_angles 256 -ts_max_time 16 -out_dt 1 -out "$work/pde_masked" &
wait
mfsa 2 -solver pde -attn_dim 2 -geometry sphere -attn_beta 4 -attn_mask causal -pde_slices 8 -pde_angles 128 \
    -pde_init particles -pde_init_file "$work/side/snap_000000.h5" -ts_max_time 3 -out_dt 1 -out "$work/side_pde" &
mfsa 2 -solver pde -attn_dim 2 -geometry sphere -attn_beta 1 -pde_slices 1 -pde_angles 256 -ts_max_time 1 -out_dt 1 -out "$work/conv/pde" &
for k in 6 8 10 12; do  # three i.i.d. uniform samples per n (plot_convergence averages runs of equal n)
    for seed in 1 2 3; do
        mfsa 1 -n $((1 << k)) -attn_dim 2 -attn_beta 1 -seed $((10 * k + seed)) -ts_dt 0.05 -ts_max_time 1 -out_dt 1 \
            -out "$work/conv/n$((1 << k))_s$seed" &
    done
    wait
done
for dt in 0.2 0.1 0.05 0.025 0.0125; do
    mfsa 1 -options_file "$src/jobs/default_study.opts" -ts_dt $dt -ts_max_time 2 -out_dt 1 -out "$work/dt/dt$dt" &
done
for m in 64 128 256 512; do
    mfsa 1 -solver pde -attn_dim 2 -geometry sphere -attn_beta 2 -attn_mask causal -pde_slices 4 -pde_angles $m -pde_init vonmises \
        -pde_init_vonmises_centers 1 -pde_init_vonmises_kappas 3 -pde_init_vonmises_drift 2 -ts_max_time 1 -out_dt 1 -out "$work/grid/M$m" &
done
wait
i=0
for b in 0.5 1 2 3 4 5 6 6.5 7 7.5 8 9; do
    mfsa 1 -n 32 -attn_dim 128 -attn_beta $b -seed 1 -ts_dt 0.05 -ts_max_time 30 -out_dt 0.5 -out "$work/sweep/beta$b" &
    if (( ++i % 4 == 0 )); then wait; fi
done
wait
MFSA_BUILD=$build bash "$src/jobs/run_variant_study.sh" --no-build --out "$work/variants" >"$work/variants.log"
fi

# --- pictures ---
p() { local name=$1 script=$2; shift 2; "$py" "$an/$script" "$@" --out "$gal/$name.png" --dpi 72 >"$work/$name.json"; echo "  $name.png"; }
p tokens_sphere plot_tokens.py "$work/default" --panels 6
p timeseries plot_timeseries.py "$work/default"
p tokens_circle plot_tokens.py "$work/circle" --times 0,2,10
p density plot_density.py "$work/pde_masked" --times 0,6,9,11,13,15
p particles_vs_pde plot_particles_vs_pde.py "$work/side" "$work/side_pde" --time 2
p convergence_n plot_convergence.py particles "$work/conv/pde" "$work"/conv/n*
p convergence_dt plot_convergence.py timestep "$work"/dt/dt*
p convergence_grid plot_convergence.py grid "$work"/grid/M*
p phase_diagram plot_phase_diagram.py "$work/sweep" --T 30
p variants plot_variants.py "$work/variants"
if command -v pvbatch >/dev/null && command -v xvfb-run >/dev/null; then
    bash "$an/paraview/render.sh" "$work/default" "$gal/paraview_sphere.png" --time 5 --size 560x420 >"$work/paraview_sphere.log" && echo "  paraview_sphere.png"
    bash "$an/paraview/render.sh" "$work/pde_masked" "$gal/paraview_cylinder.png" --time 12 --size 560x420 >"$work/paraview_cylinder.log" && echo "  paraview_cylinder.png"
else
    echo "make_gallery: no pvbatch/xvfb-run: ParaView pictures not regenerated"
fi

# --- keep them small: 256-colour palette, optimised PNG ---
"$py" - "$gal" <<'EOF'
import glob, os, sys
from PIL import Image
total = 0
for p in sorted(glob.glob(os.path.join(sys.argv[1], "*.png"))):
    Image.open(p).convert("RGB").quantize(colors=256).save(p, optimize=True)
    total += os.path.getsize(p)
    print("  %-28s %6.1f kB" % (os.path.basename(p), os.path.getsize(p) / 1e3))
print("make_gallery: %d PNGs, %.0f kB in %s" % (len(glob.glob(os.path.join(sys.argv[1], "*.png"))), total / 1e3, sys.argv[1]))
EOF
