#!/usr/bin/python3
"""PDE solver: grid convergence in theta, mass conservation, positivity.

Smooth case: unmasked S = 1, Q = K = V = I, SA, beta = 1, rho0 = von Mises mixture
(kappa 2 and 4), T = 0.5 (|u| < 0.5, the density stays smooth: its maximum grows by 21%).
Runs with M = 64, 128, 256, 512 and a reference M = 4096 (its own O(dθ^2) error is ~1.5% of
the M = 512 error: bias of the fitted order < 0.01), all with the same fixed dt = 1e-3 (below
the CFL bound 0.4 dθ/max|u| >= 1.4e-3 of the finest grid, checked through the step count;
SSP-RK3 time error ~dt^3 ~ 1e-9 << the spatial errors >= 1e-5).
Error: L1 = dθ sum_k |rho_k - rho_ref(theta_k)| at T; a coarse centre is a reference face and
rho_ref there is the 4-point cubic interpolation of the reference cells (error ~dθ_ref^4 rho^(4)
~1e-12; the t = 0 error, printed, shows it). Comparing point values with point values makes the
t = 0 error ~0, so the measured error is the scheme's, not the initialisation's.
Orders: least-squares slope of log L1 vs log dθ, and the order between the two finest grids,
for -pde_limiter none (linear MUSCL, second order: observed 2.05) and the default mc (clips
slopes at the smooth extrema: first-order truncation in O(1) cells there, an O(dθ^2) L1
contribution whose constant changes with resolution: pairwise orders 1.89, 1.96, 2.14, fit 1.99).
The issue's acceptance (order >= 2 in theta for a smooth case) is checked on the unlimited
scheme: fitted order >= 2.0. The default mc limiter is checked >= 1.9 = 2 minus the
pre-asymptotic spread of its pairwise orders (~0.1): a documented property, not the acceptance.

Mass: every run, every slice: diagnostics mass_drift <= 1e-13 at all times and, from the
snapshots, |/pde/mass - mass(0)| <= 1e-13 and |dθ sum_k rho - /pde/mass| <= 1e-13 (flux form:
the updates telescope exactly, only the rounding of the sums of M terms remains, ~sqrt(M) eps
~1e-15; observed <= 5e-15 up to M = 4096).

Positivity: sharp cases, causal mask S = 8, M = 256, beta = 4, T = 2, CFL-limited steps
(-ts_dt 0.2 > c_SSP 0.4 dθ/max|u| ~ 0.06, c_SSP = 6 for the default 9-stage SSP RK3): (a) von Mises kappa = 50 (two bumps, drift in s),
(b) top hats (jumps next to exact zeros, -pde_init file). mc and minmod: diagnostics rho_min >= 0
at all times and min /pde/rho >= 0 in every snapshot; control: -pde_limiter none goes negative
in both cases (so the cases are sensitive). Also: the diagnostics' dt column should be the
CFL-limited step actually taken (checked in case (a) with mc).
"""
import os
import numpy as np
import mfsa_testlib as L

T = 0.5
DT = 1e-3
MS = [64, 128, 256, 512]
MREF = 4096
ORDER_MIN = {"none": 2.0, "mc": 1.9}
MASS_TOL = 1e-13
SMOOTH = ["-pde_init", "vonmises", "-pde_init_vonmises_centers", "1.0,3.5", "-pde_init_vonmises_kappas", "2,4",
          "-pde_init_vonmises_weights", "0.55,0.45"]


def at_face(f, i):
    """Value of a smooth periodic grid function at the face between cells i-1 and i: 4-point
    cubic interpolation (-f[i-2] + 9 f[i-1] + 9 f[i] - f[i+1]) / 16, error O(dθ^4)."""
    n = len(f)
    return (-f[(i - 2) % n] + 9 * f[(i - 1) % n] + 9 * f[i % n] - f[(i + 1) % n]) / 16


def check_mass(chk, name, out):
    diag = L.read_diagnostics(out)
    drift = float(np.max(np.abs(diag["mass_drift"])))
    chk.close(f"{name}: diagnostics max_t mass_drift", drift, MASS_TOL)
    snaps = L.read_pde_snapshots(out)
    m0 = snaps[0]["mass"]
    M = snaps[0]["rho"].shape[1]
    d_snap = max(float(np.max(np.abs(s["mass"] - m0))) for s in snaps)
    d_sum = max(float(np.max(np.abs(s["rho"].sum(axis=1) * (2 * np.pi / M) - s["mass"]))) for s in snaps)
    chk.close(f"{name}: max_t,j |mass_j(t) - mass_j(0)| from /pde/mass", d_snap, MASS_TOL)
    chk.close(f"{name}: max_t,j |dθ sum_k rho_jk - /pde/mass_j|", d_sum, MASS_TOL)
    return snaps


def body(chk):
    tmp = L.test_dir("pde_convergence")
    base = L.PDE_BASE + ["-pde_slices", 1, "-attn_qkv", "identity", "-attn_beta", 1.0, "-attn_mask", "none",
                         "-attn_norm", "softmax", "-ts_dt", DT, "-ts_max_time", T, "-out_dt", T] + SMOOTH
    orders = {}
    for limiter in ("none", "mc"):
        sols = {}
        for M in MS + [MREF]:
            name = f"smooth_{limiter}_M{M}"
            out = os.path.join(tmp, name)
            L.run_ok(1, base + ["-pde_angles", M, "-pde_limiter", limiter], out)
            snaps = check_mass(chk, name, out)
            steps = int(snaps[-1]["step"])
            chk.check(steps == round(T / DT), f"{name}: fixed dt, {round(T / DT)} steps (got {steps})")
            sols[M] = snaps
        ref = sols[MREF][-1]["rho"][0]
        errs, errs0 = [], []
        for M in MS:
            r = MREF // M
            k = np.arange(M)
            ref_at = at_face(ref, k * r + r // 2)
            ref0_at = at_face(sols[MREF][0]["rho"][0], k * r + r // 2)
            errs.append(float(np.sum(np.abs(sols[M][-1]["rho"][0] - ref_at))) * 2 * np.pi / M)
            errs0.append(float(np.sum(np.abs(sols[M][0]["rho"][0] - ref0_at))) * 2 * np.pi / M)
        order = L.fit_order([2 * np.pi / M for M in MS], errs)
        pair = [np.log(errs[i] / errs[i + 1]) / np.log(2) for i in range(len(MS) - 1)]
        orders[limiter] = order
        print(f"  limiter {limiter}: L1 errors at T = {T:g} for M = {MS}: {['%.3e' % e for e in errs]} "
              f"(t = 0: {['%.1e' % e for e in errs0]}); pairwise orders {['%.3f' % o for o in pair]}; fitted order {order:.3f}")
        growth = float(np.max(sols[MREF][-1]["rho"]) / np.max(sols[MREF][0]["rho"]))
        chk.check(growth > 1.02, f"smooth_{limiter}: the density evolved (max rho grew by a factor {growth:.3f})")
        chk.check(order >= ORDER_MIN[limiter], f"smooth, limiter {limiter}: fitted L1 order {order:.3f} >= {ORDER_MIN[limiter]}")
        chk.check(pair[-1] >= ORDER_MIN[limiter], f"smooth, limiter {limiter}: order between the two finest grids {pair[-1]:.3f} >= {ORDER_MIN[limiter]}")
    print(f"  observed L1 orders in theta: {', '.join(f'{k}: {v:.3f}' for k, v in orders.items())}")

    # ---- positivity in sharp cases ------------------------------------------------------
    S, M = 8, 256
    sg, th = L.pde_grid(S, M)
    # top hats (exact zeros next to jumps), a different arc in every slice
    hat = np.zeros((S, M))
    for j in range(S):
        lo_, hi_ = 0.5 + 0.4 * j, 2.0 + 0.4 * j
        hat[j] = ((th >= lo_) & (th < hi_)) | ((th >= lo_ + 3.0) & (th < lo_ + 3.4))
    hat /= hat.sum(axis=1, keepdims=True) * (2 * np.pi / M)
    f_hat = L.write_pde_rho(os.path.join(tmp, "tophat.h5"), hat)
    inits = {"vonmises50": ["-pde_init", "vonmises", "-pde_init_vonmises_centers", "1.0,2.2", "-pde_init_vonmises_kappas", "50,50",
                            "-pde_init_vonmises_weights", "0.5,0.5", "-pde_init_vonmises_drift", 1.0],
             "tophat": ["-pde_init", "file", "-pde_init_file", f_hat]}
    for init, iargs in inits.items():
        for limiter in ("mc", "minmod", "none"):
            name = f"sharp_{init}_{limiter}"
            out = os.path.join(tmp, name)
            L.run_ok(1, L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-attn_qkv", "identity", "-attn_beta", 4.0,
                                      "-attn_mask", "causal", "-pde_limiter", limiter,
                                      "-ts_dt", 0.2, "-ts_max_time", 2.0, "-out_dt", 0.5] + iargs, out)
            diag = L.read_diagnostics(out)
            snaps = check_mass(chk, name, out)
            rmin = float(np.min(diag["rho_min"]))
            smin = min(float(np.min(s_["rho"])) for s_ in snaps)
            if limiter == "none":
                # control: the unlimited reconstruction undershoots at steep fronts, so these
                # cases do test the limiters' positivity
                chk.check(smin < 0, f"{name}: control: without a limiter the density does go negative (min {smin:.3e})")
                continue
            chk.check(rmin >= 0.0, f"{name}: diagnostics min_t rho_min = {rmin:.3e} >= 0")
            chk.check(smin >= 0.0, f"{name}: min over snapshots of /pde/rho = {smin:.3e} >= 0")
            peak0, peak = float(np.max(snaps[0]["rho"])), float(np.max(snaps[-1]["rho"]))
            chk.check(peak > peak0, f"{name}: the density concentrated (max rho {peak0:.2f} -> {peak:.2f})")
            if init == "vonmises50" and limiter == "mc":
                # the step is CFL-limited here (-ts_dt 0.2 > c_SSP 0.4 dθ/max|u| ~ 0.06): the diagnostics'
                # dt column should be the step taken, dt <= c_SSP 0.4 dθ / max|u|, c_SSP = s - sqrt(s) = 6
                # for PETSc's default 9-stage rks3 (centre velocities of the snapshot vs the stages'
                # face velocities: 5% slack)
                umax = np.array([float(np.max(np.abs(s_["velocity"]))) for s_ in snaps])
                bound = 6 * 0.4 * (2 * np.pi / M) / umax
                dt = np.asarray(diag["dt"], dtype=float)
                ok = len(dt) == len(bound) and bool(np.all(dt[1:] <= 1.05 * bound[1:]))
                chk.check(ok, f"{name}: diagnostics dt {dt.tolist()} is the CFL-limited step actually taken (<= {[round(b, 5) for b in bound]}); "
                              f"steps {int(snaps[-1]['step'])} to T = 2")


if __name__ == "__main__":
    L.main_guard("pde_convergence", body)
