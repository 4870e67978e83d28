#!/usr/bin/python3
"""MODEL.md §6 item 5 through the real solver.

beta = 0, R^d, no mask: every attention weight is 1/n, so every token moves with the same
velocity V xbar (V = sum over heads), xbar' = V xbar and
    x_i(t) = x_i(0) + (e^{tV} - I) xbar(0);
pairwise differences x_i - x_j are conserved.  Unnormalised attention (USA) gives the same
field at beta = 0 ((1/n) sum_j e^0 V x_j), so it is checked too.  V random (read back from
/model/V), initial mean far from 0 so that the velocity is O(1).

Tolerance: RK4, h = 0.01, T = 2 on the linear system xbar' = V xbar: global error
~ T h^4 |V|^5 |xbar| / 5! ~ 1e-9; TOL = 1e-8 (relative to max(1, |x|)).  Differences: every
token gets the same increment, so only round-off of x + h k remains: TOL 1e-12.
"""
import os
import numpy as np
import mfsa_testlib as L

H = 0.01
T = 2.0
TOL = 1e-8


def case(chk, tmp, name, d, heads, n, norm, mask, seed, nprocs=1):
    rng = np.random.default_rng(seed)
    X0 = rng.standard_normal((n, d)) + np.linspace(1.0, -2.0, d)
    init = L.write_init(os.path.join(tmp, name + "_init.h5"), X0)
    out = os.path.join(tmp, name)
    L.run_ok(nprocs, ["-n", n, "-attn_dim", d, "-attn_heads", heads, "-attn_qkv", "random", "-seed", seed,
                      "-attn_beta", 0, "-attn_mask", mask, "-attn_norm", norm, "-geometry", "euclidean",
                      "-init", "file", "-init_file", init, "-ts_dt", H, "-ts_max_time", T, "-out_dt", 0.4], out)
    snaps = L.read_snapshots(out)
    V = snaps[0]["V"].sum(axis=0)
    xbar0 = X0.mean(axis=0)
    scale = max(1.0, float(np.max(np.abs(X0))))
    err = 0.0
    derr = 0.0
    D0 = X0[:, None, :] - X0[None, :, :]
    for s in snaps:
        ref = X0 + (L.expm(s["time"] * V) - np.eye(d)) @ xbar0
        err = max(err, float(np.max(np.abs(s["x"] - ref))) / scale)
        D = s["x"][:, None, :] - s["x"][None, :, :]
        derr = max(derr, float(np.max(np.abs(D - D0))) / scale)
    moved = float(np.max(np.abs(snaps[-1]["x"] - X0)))
    chk.close(f"{name}: max_t,i |x_i(t) - x_i(0) - (e^tV - I) xbar(0)| / max(1,|x|) over {len(snaps)} snapshots (tokens moved {moved:.2f})", err, TOL)
    chk.close(f"{name}: pairwise differences conserved", derr, 1e-12)


def body(chk):
    tmp = L.test_dir("ref_item5_beta0_mean")
    case(chk, tmp, "sa_h1_d3", 3, 1, 7, "softmax", "none", 51)
    case(chk, tmp, "sa_h2_d4", 4, 2, 9, "softmax", "none", 52)
    case(chk, tmp, "usa_h1_d3", 3, 1, 7, "unnormalized", "none", 53)


if __name__ == "__main__":
    L.main_guard("ref_item5_beta0_mean", body)
