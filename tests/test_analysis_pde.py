#!/usr/bin/python3
"""analysis/ on a real 2-rank PDE run and the 2-rank particle run it started from
(-pde_init particles: the histogram of the same tokens, so both describe one system):
plot_density.py (heat maps + movie frames), plot_particles_vs_pde.py, plot_timeseries.py on
the PDE run; bad input (a missing /pde/rho, a diagnostics table of another format_version,
a time the runs do not share) -> exit != 0 and a one-line message naming file and dataset.

Independent truths: min rho, per-slice masses and the order parameter the scripts compute
from the snapshots against the PDE's own diagnostics.h5 (C sums in another order: 1e-13);
the per-slice W1 against a brute-force quadrature on 2^20 points here (2 pi / 2^20, the
quadrature's own error bound; the script uses the exact piecewise-linear integral); the particle
order parameter against the particle run's diagnostics.h5 (1e-12)."""
import os

import h5py
import numpy as np

import mfsa_testlib as L
import test_analysis_common as A


def body(chk):
    tmp = L.test_dir("analysis_pde")
    part, pde = os.path.join(tmp, "particles"), os.path.join(tmp, "pde")
    S, M, n = 8, 64, 512
    L.run_ok(2, ["-n", n, "-attn_dim", 2, "-attn_beta", 4, "-attn_mask", "causal", "-seed", 7, "-ts_dt", 0.05,
                 "-ts_max_time", 2, "-out_dt", 1], part)
    L.run_ok(2, L.PDE_BASE + ["-attn_beta", 4, "-attn_mask", "causal", "-pde_slices", S, "-pde_angles", M,
                              "-pde_init", "particles", "-pde_init_file", os.path.join(part, "snap_000000.h5"),
                              "-ts_max_time", 2, "-out_dt", 0.5], pde)
    qs, qd = L.read_pde_snapshots(pde), L.read_diagnostics(pde)

    # ---- plot_density ----
    r = A.Script("plot_density.py", [pde, "--out", os.path.join(tmp, "density.png"), "--frames", os.path.join(tmp, "frames")])
    if r.ok(chk, "plot_density"):
        js = r.js
        A.check_png(chk, js["png"], "plot_density")
        chk.check((js["slices"], js["angles"]) == (S, M) and js["times"] == [q["time"] for q in qs],
                  f"plot_density: S x M = {js['slices']} x {js['angles']}, panels at every snapshot time {js['times']}")
        chk.check(all(v == A.diag_at(qd, t, "rho_min") for t, v in zip(js["times"], js["rho_min"])),
                  f"plot_density: min rho per time == diagnostics.h5 rho_min {js['rho_min']}")
        err = max(max(abs(a - A.diag_at(qd, t, "mass_min")), abs(b - A.diag_at(qd, t, "mass_max")))
                  for t, a, b in zip(js["times"], js["mass_min"], js["mass_max"]))
        chk.close("plot_density: per-slice mass min/max vs diagnostics.h5 mass_min/mass_max", err, 1e-13)
        err = max(abs(v - A.diag_at(qd, t, "order_parameter")) for t, v in zip(js["times"], js["order_parameter"]))
        chk.close("plot_density: order parameter |int rho_bar e^{i theta}| vs diagnostics.h5", err, 1e-13)
        chk.check(max(js["order_parameter"]) > 1e-3, f"the PDE run is not uniform (order parameter up to {max(js['order_parameter']):.3g}), so the comparison is not vacuous")
        chk.check(js["frames"] == len(qs) == len([f for f in os.listdir(js["frames_dir"]) if f.endswith(".png")]),
                  f"plot_density: one movie frame per snapshot ({js['frames']})")
        A.check_png(chk, os.path.join(js["frames_dir"], "frame_00000.png"), "plot_density: first movie frame")

    # ---- plot_particles_vs_pde ----
    r = A.Script("plot_particles_vs_pde.py", [part, pde, "--out", os.path.join(tmp, "side.png")])
    if r.ok(chk, "plot_particles_vs_pde"):
        js = r.js
        A.check_png(chk, js["png"], "plot_particles_vs_pde")
        chk.check(js["time"] == 2.0 and (js["n"], js["slices"], js["angles"]) == (n, S, M) and M % js["bins"] == 0,
                  f"plot_particles_vs_pde: last common time {js['time']} == 2, n, S, M = {js['n']}, {js['slices']}, {js['angles']}, bins {js['bins']} | M")
        ps = L.read_snapshots(part)[-1]
        x = ps["x"][np.argsort(ps["index"])]
        ang = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi)
        sl = (np.arange(n) * S) // n
        brute = [L.brute_w1(ang[sl == j], qs[-1]["rho"][j]) for j in range(S)]
        # the quadrature resolves each token's jump of the CDF to one of its 2^20 cells; the jumps
        # add up to 1, so |W1 - quadrature| <= 2 pi / 2^20 (the piecewise-linear PDE CDF is
        # integrated to O(cell^2))
        tol = 2 * np.pi / 2 ** 20
        err = max(abs(a - b) for a, b in zip(js["w1"], brute))
        chk.close(f"plot_particles_vs_pde: per-slice W1 {['%.4f' % w for w in js['w1']]} vs brute force on 2^20 points", err, tol)
        chk.close("plot_particles_vs_pde: w1_mean vs the mean of the brute-force values", abs(js["w1_mean"] - float(np.mean(brute))), tol)
        chk.close("plot_particles_vs_pde: particle order parameter vs the particle run's diagnostics.h5",
                  abs(js["order_parameter_particles"] - A.diag_at(L.read_diagnostics(part), 2.0, "order_parameter")), 1e-12)
        chk.close("plot_particles_vs_pde: PDE order parameter vs the PDE run's diagnostics.h5",
                  abs(js["order_parameter_pde"] - A.diag_at(qd, 2.0, "order_parameter")), 1e-13)
    r = A.Script("plot_particles_vs_pde.py", [part, pde, "--time", 0.5, "--out", os.path.join(tmp, "x.png")])
    A.check_refusal(chk, r, "plot_particles_vs_pde --time 0.5 (a PDE time only)", ["--time 0.5", "common times"])

    # ---- plot_timeseries on the PDE run ----
    r = A.Script("plot_timeseries.py", [pde, "--out", os.path.join(tmp, "timeseries.png")])
    if r.ok(chk, "plot_timeseries pde"):
        js = r.js
        A.check_png(chk, js["png"], "plot_timeseries pde")
        cols = ("time", "energy", "order_parameter", "mode1", "mode2", "mode3", "mode4", "mass_drift", "rho_min")
        chk.check(js["kind"] == "pde" and all(np.array_equal(np.asarray(js[c], float), np.asarray(qd[c], float)) for c in cols),
                  "plot_timeseries pde: energy, order parameter, modes 1-4, mass drift, min rho == diagnostics.h5 columns")
        chk.check(js["last"]["order_parameter"] == float(qd["order_parameter"][-1]),
                  f"plot_timeseries pde: last order parameter {js['last']['order_parameter']} == diagnostics.h5")

    # ---- bad input ----
    bad = A.copy_run(pde, os.path.join(tmp, "bad_rho"))
    with h5py.File(os.path.join(bad, "snap_000001.h5"), "r+") as f:
        del f["/pde/rho"]
    A.check_refusal(chk, A.Script("plot_density.py", [bad, "--out", os.path.join(tmp, "x.png")]), "plot_density: /pde/rho missing",
                    ["snap_000001.h5", "/pde/rho"])
    bad = A.copy_run(pde, os.path.join(tmp, "bad_format"))
    with h5py.File(os.path.join(bad, "diagnostics.h5"), "r+") as f:
        f.attrs["format_version"] = 3
    A.check_refusal(chk, A.Script("plot_timeseries.py", [bad, "--out", os.path.join(tmp, "x.png")]), "plot_timeseries: diagnostics.h5 of format_version 3",
                    ["diagnostics.h5", "format_version 3"])
    A.check_refusal(chk, A.Script("plot_density.py", [part, "--out", os.path.join(tmp, "x.png")]), "plot_density on a particle run",
                    ["particle", os.path.basename(part)])
    chk.check(not os.path.exists(os.path.join(tmp, "x.png")), "no PNG is written for refused input")


if __name__ == "__main__":
    L.main_guard("analysis_pde", body)
