#!/usr/bin/python3
"""MODEL.md §6 item 3 through the real solver.

Causal mask, Q = K = V = I, sphere: token 1 never moves and token 2 (which sees only tokens
1 and 2) approaches it along the great circle; the angle theta between them obeys
    theta' = -sin(theta) / (1 + e^{beta (1 - cos theta)}),
in closed form for beta = 0:  tan(theta/2) = tan(theta0/2) e^{-t/2}.
We run n = 5 tokens (tokens 3..5 are random and must not influence token 2), d = 2 and d = 3.
For beta > 0 the reference is RK4 of the scalar ODE with step 1e-3 (error ~1e-13).

Tolerance: mfsa uses RK4 with h = 0.01 up to T = 3: global error ~ C T h^4 with C = O(0.1)
for this O(1) smooth field (measured ~1e-10); TOL = 1e-8.  A wrong attention weight (e.g. a
missing diagonal or token 3 leaking in) changes theta by > 1e-3.
"""
import math
import os
import numpy as np
import mfsa_testlib as L

H = 0.01
T = 3.0
OUT_DT = 0.25
TOL = 1e-8


def case(chk, tmp, d, beta, theta0, seed):
    name = f"d{d}_beta{beta:g}"
    n = 5
    X0 = L.first_token_pair(theta0, d, n, seed)
    init = L.write_init(os.path.join(tmp, name + "_init.h5"), X0)
    out = os.path.join(tmp, name)
    L.run_ok(1, ["-n", n, "-attn_dim", d, "-attn_qkv", "identity", "-attn_beta", beta, "-attn_mask", "causal",
                 "-attn_norm", "softmax", "-geometry", "sphere", "-init", "file", "-init_file", init,
                 "-ts_dt", H, "-ts_max_time", T, "-out_dt", OUT_DT], out)
    snaps = L.read_snapshots(out)
    times = [s["time"] for s in snaps]
    chk.check(len(snaps) == int(round(T / OUT_DT)) + 1, f"{name}: {int(round(T / OUT_DT)) + 1} snapshots (got {len(snaps)})")
    th0 = L.angle(snaps[0]["x"][0], snaps[0]["x"][1])
    chk.close(f"{name}: initial angle from snapshot 0 vs theta0 = {theta0}", abs(th0 - theta0), 1e-14)
    measured = np.array([L.angle(s["x"][0], s["x"][1]) for s in snaps])
    if beta == 0:
        ref = np.array([2 * math.atan(math.tan(th0 / 2) * math.exp(-t / 2)) for t in times])
        label = "closed form tan(theta/2) = tan(theta0/2) e^{-t/2}"
    else:
        ref = L.rk4_scalar(lambda th: -math.sin(th) / (1 + math.exp(beta * (1 - math.cos(th)))), th0, times, 1e-3)
        label = "fine RK4 of theta' = -sin/(1+e^{beta(1-cos)})"
    err = float(np.max(np.abs(measured - ref)))
    chk.close(f"{name}: max_t |theta(t) - {label}| (theta {theta0:.3f} -> {measured[-1]:.4f})", err, TOL)
    t1 = max(float(np.max(np.abs(s["x"][0] - snaps[0]["x"][0]))) for s in snaps)
    chk.close(f"{name}: token 1 does not move", t1, 1e-14)
    # token 2 stays in the plane of x_1(0), x_2(0) (great circle)
    P = np.linalg.qr(np.stack([X0[0], X0[1]]).T)[0]
    off = max(float(np.linalg.norm(s["x"][1] - P @ (P.T @ s["x"][1]))) for s in snaps)
    chk.close(f"{name}: token 2 stays on the great circle through tokens 1, 2", off, 1e-12)


def body(chk):
    tmp = L.test_dir("ref_item3_causal_angle")
    case(chk, tmp, 3, 0.0, 2.6, 21)
    case(chk, tmp, 2, 0.0, 2.0, 22)
    case(chk, tmp, 3, 2.0, 2.6, 23)
    case(chk, tmp, 2, 2.0, 1.5, 24)
    case(chk, tmp, 3, 8.0, 1.0, 25)


if __name__ == "__main__":
    L.main_guard("ref_item3_causal_angle", body)
