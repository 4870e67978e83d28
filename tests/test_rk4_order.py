#!/usr/bin/python3
"""Measured order of convergence of fixed-step RK4 through the real solver.

usage: test_rk4_order.py CASE    (CASE: sphere | euclidean)
  sphere:    MODEL.md §6 item 3, beta = 0, causal, Q = K = V = I, d = 3: closed form
             tan(theta/2) = tan(theta0/2) e^{-t/2} for the angle between tokens 1 and 2
             (nonlinear, with the retraction onto the sphere after every step).
  euclidean: MODEL.md §6 item 5, beta = 0, no mask, random V (scaled up x2 so the error is
             well above round-off): x_i(T) = x_i(0) + (e^{TV} - I) xbar(0).
dt = 0.2, 0.1, 0.05, 0.025 to T = 2.  Passes iff the least-squares slope of log(error)
against log(dt) lies in [3.8, 4.2] and the smallest error is >= 1e-11, i.e. >= 100x the
round-off accumulated over 80 steps of an O(1) state (~80 x 1e-16 x a few ~ 1e-13).
"""
import math
import os
import sys
import numpy as np
import mfsa_testlib as L

DTS = [0.2, 0.1, 0.05, 0.025]
T = 2.0


def run_case(chk, tmp, case, dt):
    out = os.path.join(tmp, f"{case}_dt{dt:g}")
    common = ["-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none", "-ts_dt", dt, "-ts_max_time", T]
    if case == "sphere":
        X0 = L.first_token_pair(3.0, 3, 3, 61)
        init = L.write_init(os.path.join(tmp, "sphere_init.h5"), X0)
        L.run_ok(1, ["-n", 3, "-attn_dim", 3, "-attn_qkv", "identity", "-attn_beta", 0, "-attn_mask", "causal",
                     "-geometry", "sphere", "-init", "file", "-init_file", init] + common, out)
        snaps = L.read_snapshots(out)
        s = snaps[-1]
        th0 = L.angle(X0[0], X0[1])
        ref = 2 * math.atan(math.tan(th0 / 2) * math.exp(-s["time"] / 2))
        return s["time"], abs(L.angle(s["x"][0], s["x"][1]) - ref)
    rng = np.random.default_rng(62)
    X0 = rng.standard_normal((6, 3)) + np.array([1.0, 0.5, -1.0])
    init = L.write_init(os.path.join(tmp, "euclid_init.h5"), X0)
    qkv = os.path.join(tmp, "euclid_qkv.h5")
    V = 2.0 * rng.standard_normal((1, 3, 3)) / math.sqrt(3)
    L.write_qkv(qkv, np.eye(3)[None], np.eye(3)[None], V)
    L.run_ok(1, ["-n", 6, "-attn_dim", 3, "-attn_qkv", "file", "-attn_qkv_file", qkv, "-attn_beta", 0,
                 "-attn_mask", "none", "-geometry", "euclidean", "-init", "file", "-init_file", init] + common, out)
    s = L.read_snapshots(out)[-1]
    chk.check(s["V"] is not None and np.array_equal(s["V"], V), f"dt={dt}: /model/V equals the -attn_qkv_file V")
    ref = X0 + (L.expm(s["time"] * V[0]) - np.eye(3)) @ X0.mean(axis=0)
    return s["time"], float(np.max(np.abs(s["x"] - ref)))


def body(chk, case):
    tmp = L.test_dir(f"rk4_order_{case}")
    errs = []
    print(f"{'dt':>8} {'T':>6} {'error':>12} {'order':>7}")
    for dt in DTS:
        t, e = run_case(chk, tmp, case, dt)
        chk.check(t == T, f"dt={dt}: final snapshot at t = {T} (got {t!r})")
        order = "" if not errs else f"{math.log(errs[-1] / e) / math.log(2):7.3f}"
        print(f"{dt:8.3f} {t:6.3f} {e:12.4e} {order}", flush=True)
        errs.append(e)
    p = L.fit_order(DTS, errs)
    chk.check(min(errs) >= 1e-11, f"{case}: smallest error {min(errs):.3e} far above round-off (>= 1e-11)")
    chk.check(3.8 <= p <= 4.2, f"{case}: fitted RK4 order {p:.4f} in [3.8, 4.2]")


if __name__ == "__main__":
    case = sys.argv[1] if len(sys.argv) > 1 else "sphere"
    L.main_guard(f"rk4_order_{case}", lambda chk: body(chk, case))
