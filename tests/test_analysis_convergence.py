#!/usr/bin/python3
"""plot_convergence.py on real 2-rank runs, each study's numbers recomputed here:

  particles: a PDE run (S = 1, uniform density, stationary for Q = K = V = I: MODEL.md §6
    item 6) and particle runs with n = 64, 256, 1024 i.i.d. uniform tokens; the W1 of each
    run at T against a brute-force quadrature on 2^20 points (|error| <= 2 pi / 2^20) and
    the slope of log W1 vs log n fitted here with numpy (the bound carried through the
    3-point fit: |slope error| <= max relative W1 error / log 4);
  timestep: RK4 particle runs with dt = 0.2, 0.1, 0.05, 0.025; errors ||X - X_ref||_F/sqrt(n)
    against the dt = 0.025 run and their slope recomputed here (1e-12 / 1e-9); the slope
    itself is that of RK4 (in [3.5, 4.5]);
  grid: PDE runs with M = 64, 128, 256 (S = 4, causal); the M = 256 density averaged onto
    the coarser grids and the L1 errors and slope recomputed here with a loop over cells
    (1e-12 / 1e-9).
Bad input: runs that share no time, a grid that does not refine another -> exit != 0."""
import os

import numpy as np

import mfsa_testlib as L
import test_analysis_common as A


def body(chk):
    tmp = L.test_dir("analysis_convergence")
    T = 0.5
    pde = os.path.join(tmp, "pde_uniform")
    NS = [64, 256, 1024]
    parts = [os.path.join(tmp, f"n{n}") for n in NS]
    DTS = [0.2, 0.1, 0.05, 0.025]
    steps = [os.path.join(tmp, f"dt{dt}") for dt in DTS]
    MS = [64, 128, 256]
    grids = [os.path.join(tmp, f"M{m}") for m in MS]
    circle = ["-attn_dim", 2, "-geometry", "sphere", "-attn_mask", "none", "-attn_qkv", "identity", "-attn_beta", 1]
    jobs = [(2, L.PDE_BASE + ["-attn_mask", "none", "-attn_beta", 1, "-pde_slices", 1, "-pde_angles", 128, "-pde_init", "uniform",
                              "-ts_max_time", T, "-out_dt", T], pde)]
    jobs += [(2, circle + ["-n", n, "-init", "uniform", "-seed", 11 + k, "-ts_dt", 0.05, "-ts_max_time", T, "-out_dt", T], p)
             for k, (n, p) in enumerate(zip(NS, parts))]
    jobs += [(2, ["-n", 12, "-attn_dim", 3, "-attn_beta", 2, "-seed", 2, "-ts_dt", dt, "-ts_max_time", 1, "-out_dt", 1], p)
             for dt, p in zip(DTS, steps)]
    jobs += [(2, L.PDE_BASE + ["-attn_mask", "causal", "-attn_beta", 2, "-pde_slices", 4, "-pde_angles", m, "-pde_init", "vonmises",
                              "-pde_init_vonmises_centers", 1, "-pde_init_vonmises_kappas", 3, "-pde_init_vonmises_drift", 2,
                              "-ts_max_time", T, "-out_dt", T], p) for m, p in zip(MS, grids)]
    A.run_all(jobs)

    # ---- particles -> PDE ----
    r = A.Script("plot_convergence.py", ["particles", pde] + parts + ["--out", os.path.join(tmp, "conv_n.png")])
    if r.ok(chk, "plot_convergence particles"):
        js = r.js
        A.check_png(chk, js["png"], "plot_convergence particles")
        rho = L.read_pde_snapshots(pde)[-1]["rho"][0]
        brute = []
        for p in parts:
            s = L.read_snapshots(p)[-1]
            chk.check(s["time"] == T, f"{os.path.basename(p)}: last snapshot at T = {T}")
            brute.append(L.brute_w1(np.mod(np.arctan2(s["x"][:, 1], s["x"][:, 0]), 2 * np.pi), rho))
        tol = 2 * np.pi / 2 ** 20
        chk.check(js["n"] == NS and js["time"] == T, f"particles: n {js['n']} == {NS}, time {js['time']} == {T}")
        chk.close(f"particles: W1 per n {['%.4e' % w for w in js['w1']]} vs brute force", max(abs(a - b) for a, b in zip(js["w1"], brute)), tol)
        slope = float(np.polyfit(np.log(NS), np.log(brute), 1)[0])
        chk.close(f"particles: fitted slope {js['slope']:.4f} vs numpy's fit of the brute-force W1 ({slope:.4f})",
                  abs(js["slope"] - slope), tol / min(brute) / np.log(4))
        print(f"  W1 vs n slope {js['slope']:.3f} (i.i.d. sampling: -1/2; one sample per n, so only printed)")

    # ---- time step ----
    r = A.Script("plot_convergence.py", ["timestep"] + steps + ["--out", os.path.join(tmp, "conv_dt.png")])
    if r.ok(chk, "plot_convergence timestep"):
        js = r.js
        A.check_png(chk, js["png"], "plot_convergence timestep")
        X = {dt: (lambda s: s["x"][np.argsort(s["index"])])(L.read_snapshots(p)[-1]) for dt, p in zip(DTS, steps)}
        errs = [float(np.sqrt(np.sum((X[dt] - X[DTS[-1]]) ** 2) / 12)) for dt in DTS[:-1]]
        chk.check(js["reference"] == os.path.abspath(steps[-1]) and np.allclose(js["h"], sorted(DTS[:-1]), rtol=1e-12, atol=0),
                  f"timestep: reference dt = {DTS[-1]}, h {js['h']} == {sorted(DTS[:-1])} (t / steps)")
        mine = dict(zip(DTS[:-1], errs))
        chk.close(f"timestep: errors {['%.3e' % e for e in js['error']]} vs numpy here (relative)",
                  max(abs(e - mine[min(DTS, key=lambda d: abs(d - h))]) / mine[min(DTS, key=lambda d: abs(d - h))] for h, e in zip(js["h"], js["error"])), 1e-12)
        slope = float(np.polyfit(np.log(DTS[:-1]), np.log(errs), 1)[0])
        chk.close(f"timestep: slope {js['slope']:.4f} vs numpy's fit ({slope:.4f})", abs(js["slope"] - slope), 1e-9)
        chk.check(3.5 <= js["slope"] <= 4.5, f"timestep: RK4 slope {js['slope']:.3f} in [3.5, 4.5]")

    # ---- grid ----
    r = A.Script("plot_convergence.py", ["grid"] + grids + ["--out", os.path.join(tmp, "conv_grid.png")])
    if r.ok(chk, "plot_convergence grid"):
        js = r.js
        A.check_png(chk, js["png"], "plot_convergence grid")
        ref = L.read_pde_snapshots(grids[-1])[-1]["rho"]
        errs = []
        for m, p in zip(MS[:-1], grids[:-1]):
            rho = L.read_pde_snapshots(p)[-1]["rho"]
            f = MS[-1] // m
            e = 0.0
            for j in range(4):
                for k in range(m):
                    e += abs(rho[j, k] - ref[j, k * f:(k + 1) * f].mean()) * (2 * np.pi / m) / 4
            errs.append(e)
        chk.check(js["variable"] == "angles" and js["reference_grid"] == [4, MS[-1]] and
                  np.allclose(js["h"], [2 * np.pi / m for m in sorted(MS[:-1], reverse=True)], rtol=1e-15),
                  f"grid: h = 2 pi / M for M = {sorted(MS[:-1], reverse=True)}, reference 4 x {MS[-1]}")
        mine = {round(2 * np.pi / m, 12): e for m, e in zip(MS[:-1], errs)}
        chk.close(f"grid: L1 errors {['%.3e' % e for e in js['error']]} vs a loop over cells here (relative)",
                  max(abs(e - mine[round(h, 12)]) / mine[round(h, 12)] for h, e in zip(js["h"], js["error"])), 1e-12)
        slope = float(np.polyfit(np.log([2 * np.pi / m for m in MS[:-1]]), np.log(errs), 1)[0])
        chk.close(f"grid: slope {js['slope']:.4f} vs numpy's fit ({slope:.4f})", abs(js["slope"] - slope), 1e-9)

    # ---- bad input ----
    A.check_refusal(chk, A.Script("plot_convergence.py", ["grid", grids[0], pde, "--out", os.path.join(tmp, "x.png")]),
                    "grid: S = 1 x 128 does not refine S = 4 x 64", ["refine", os.path.basename(pde)])
    A.check_refusal(chk, A.Script("plot_convergence.py", ["timestep", steps[0], os.path.join(tmp, "nowhere"), "--out", os.path.join(tmp, "x.png")]),
                    "timestep: a folder that does not exist", ["nowhere"])


if __name__ == "__main__":
    L.main_guard("analysis_convergence", body)
