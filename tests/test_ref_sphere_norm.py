#!/usr/bin/python3
"""MODEL.md §6 item 9 through the real solver: sphere runs keep | |x_i| - 1 | <= 1e-12 in every
snapshot (the state is retracted onto the sphere after each step), for causal and unmasked,
multi-head random Q/K/V, softmax and unnormalised attention, fixed-step and adaptive RK.
The diagnostics table's norm_drift column must agree (<= 1e-12 at every entry)."""
import os
import numpy as np
import h5py
import mfsa_testlib as L

TOL = 1e-12


def case(chk, tmp, name, extra, mask, norm, d, heads, n, beta, seed):
    out = os.path.join(tmp, name)
    L.run_ok(1, ["-n", n, "-attn_dim", d, "-attn_heads", heads, "-attn_qkv", "random", "-seed", seed,
                 "-attn_beta", beta, "-attn_mask", mask, "-attn_norm", norm, "-geometry", "sphere",
                 "-init", "uniform", "-ts_max_time", 2.0, "-out_dt", 0.25] + extra, out)
    snaps = L.read_snapshots(out)
    dev = max(float(np.max(np.abs(np.linalg.norm(s["x"], axis=1) - 1.0))) for s in snaps)
    chk.close(f"{name}: max over {len(snaps)} snapshots and {n} tokens of | |x_i| - 1 |", dev, TOL)
    moved = float(np.max(np.abs(snaps[-1]["x"] - snaps[0]["x"])))
    chk.check(moved > 1e-2, f"{name}: tokens moved (max |dx| = {moved:.3f})")
    diag = os.path.join(out, "diagnostics.h5")
    if chk.check(os.path.isfile(diag), f"{name}: diagnostics.h5 written"):
        with h5py.File(diag, "r") as f:
            if chk.check("norm_drift" in f, f"{name}: diagnostics.h5 has norm_drift"):
                nd = f["norm_drift"][()]
                chk.close(f"{name}: diagnostics norm_drift (max over {nd.size} rows)", float(np.max(np.abs(nd))), TOL)


def body(chk):
    tmp = L.test_dir("ref_item9_sphere_norm")
    fixed = ["-ts_type", "rk", "-ts_rk_type", "4", "-ts_dt", "0.01"]
    adapt = ["-ts_type", "rk", "-ts_rk_type", "5dp", "-ts_adapt_type", "basic", "-ts_dt", "0.05"]
    case(chk, tmp, "causal_sa_h3", fixed, "causal", "softmax", 3, 3, 24, 4.0, 91)
    case(chk, tmp, "none_sa_h2", fixed, "none", "softmax", 5, 2, 24, 2.0, 92)
    case(chk, tmp, "none_usa_h2", fixed, "none", "unnormalized", 3, 2, 16, 1.0, 93)
    case(chk, tmp, "causal_sa_h2_5dp", adapt, "causal", "softmax", 4, 2, 20, 9.0, 94)


if __name__ == "__main__":
    L.main_guard("ref_item9_sphere_norm", body)
