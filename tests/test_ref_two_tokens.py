#!/usr/bin/python3
"""MODEL.md §6 item 4 through the real solver.

No mask, two tokens, Q = K = V = I, softmax attention, sphere: both tokens move toward each
other along their great circle and the angle obeys
    theta' = -2 sin(theta) / (1 + e^{beta (1 - cos theta)}).
Reference: RK4 of that scalar ODE with step 1e-3 (error ~1e-13); for beta = 0 also the
closed form tan(theta/2) = tan(theta0/2) e^{-t}.  By symmetry the midpoint direction is fixed.

Tolerance: mfsa RK4 with h = 0.01 to T = 3: error ~ C T h^4, measured ~1e-10; TOL = 1e-8.
"""
import math
import os
import numpy as np
import mfsa_testlib as L

H = 0.01
T = 3.0
TOL = 1e-8


def case(chk, tmp, d, beta, theta0, seed):
    name = f"d{d}_beta{beta:g}"
    X0 = L.first_token_pair(theta0, d, 2, seed)
    init = L.write_init(os.path.join(tmp, name + "_init.h5"), X0)
    out = os.path.join(tmp, name)
    L.run_ok(1, ["-n", 2, "-attn_dim", d, "-attn_qkv", "identity", "-attn_beta", beta, "-attn_mask", "none",
                 "-attn_norm", "softmax", "-geometry", "sphere", "-init", "file", "-init_file", init,
                 "-ts_dt", H, "-ts_max_time", T, "-out_dt", 0.3], out)
    snaps = L.read_snapshots(out)
    times = [s["time"] for s in snaps]
    th0 = L.angle(snaps[0]["x"][0], snaps[0]["x"][1])
    measured = np.array([L.angle(s["x"][0], s["x"][1]) for s in snaps])
    ref = L.rk4_scalar(lambda th: -2 * math.sin(th) / (1 + math.exp(beta * (1 - math.cos(th)))), th0, times, 1e-3)
    err = float(np.max(np.abs(measured - ref)))
    chk.close(f"{name}: max_t |theta(t) - RK4 of theta' = -2 sin/(1+e^(beta(1-cos)))| (theta {theta0:.3f} -> {measured[-1]:.4f}, {len(snaps)} snapshots)", err, TOL)
    if beta == 0:
        closed = np.array([2 * math.atan(math.tan(th0 / 2) * math.exp(-t)) for t in times])
        chk.close(f"{name}: max_t |theta(t) - closed form tan(theta0/2) e^-t|", float(np.max(np.abs(measured - closed))), TOL)
    m0 = X0[0] + X0[1]
    m0 /= np.linalg.norm(m0)
    mid = max(float(np.linalg.norm((s["x"][0] + s["x"][1]) / np.linalg.norm(s["x"][0] + s["x"][1]) - m0)) for s in snaps)
    chk.close(f"{name}: midpoint direction conserved", mid, 1e-12)


def body(chk):
    tmp = L.test_dir("ref_item4_two_tokens")
    case(chk, tmp, 3, 0.0, 2.5, 31)
    case(chk, tmp, 3, 1.0, 2.5, 32)
    case(chk, tmp, 2, 4.0, 1.2, 33)


if __name__ == "__main__":
    L.main_guard("ref_item4_two_tokens", body)
