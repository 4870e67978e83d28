#!/usr/bin/python3
"""MODEL.md §6 item 2 through the real solver.

Causal mask: token 1 attends only to itself, so whatever Q, K and beta are,
    sphere:    x_1(t) = e^{tV} x_1(0) / |e^{tV} x_1(0)|
    euclidean: x_1(t) = e^{tV} x_1(0)
with V = sum_h V_h (multi-head adds the heads).  The random V is read back from the
snapshot's /model/V.  With V = I on the sphere the tangent velocity of token 1 is exactly
zero, so token 1 must not move at all (<= 1e-14, round-off of the retraction only).

Tolerance: fixed-step RK4, h = 0.01, T = 2: global error ~ C T h^4 |V|^5 / 5! ~ 1e-9 for
|V| ~ 2; we allow TOL = 1e-8 relative to max(1, |x_1(t)|) (in R^d x_1 grows like e^{t|V|};
measured 4e-11 .. 4e-9).  (A modelling error -- e.g. token 1 seeing token 2 -- is O(1e-1)).
"""
import os
import numpy as np
import mfsa_testlib as L

H = 0.01
T = 2.0
TOL = 1e-8


def case(chk, tmp, name, geometry, heads, d, n, beta, seed):
    X0 = L.random_sphere(n, d, seed) * (1.0 if geometry == "sphere" else 1.7)
    init = L.write_init(os.path.join(tmp, f"{name}_init.h5"), X0)
    out = os.path.join(tmp, name)
    L.run_ok(1, ["-n", n, "-attn_dim", d, "-attn_heads", heads, "-attn_qkv", "random", "-seed", seed,
                 "-attn_beta", beta, "-attn_mask", "causal", "-geometry", geometry,
                 "-init", "file", "-init_file", init, "-ts_dt", H, "-ts_max_time", T, "-out_dt", 0.5], out)
    snaps = L.read_snapshots(out)
    V = snaps[0]["V"]
    chk.check(V is not None and V.shape == (heads, d, d), f"{name}: /model/V has shape (H,d,d)=({heads},{d},{d}): got {None if V is None else V.shape}")
    Vs = V.sum(axis=0)
    chk.check(np.linalg.norm(Vs - np.eye(d)) > 0.1, f"{name}: random V is not the identity (|V-I| = {np.linalg.norm(Vs - np.eye(d)):.3f})")
    x10 = snaps[0]["x"][0]
    chk.close(f"{name}: x_1(0) from snapshot equals the init file", float(np.max(np.abs(x10 - X0[0]))), 1e-15)
    chk.check(abs(snaps[-1]["time"] - T) == 0.0, f"{name}: last snapshot at t = T = {T} (got {snaps[-1]['time']!r})")
    err = 0.0
    for s in snaps:
        y = L.expm(s["time"] * Vs) @ X0[0]
        if geometry == "sphere":
            y = y / np.linalg.norm(y)
        err = max(err, float(np.max(np.abs(s["x"][0] - y))) / max(1.0, float(np.linalg.norm(y))))
    chk.close(f"{name}: max_t |x_1(t) - closed form| / max(1, |x_1(t)|) over {len(snaps)} snapshots (|V|_2 = {np.linalg.norm(Vs, 2):.2f})", err, TOL)
    # the other tokens must have moved (otherwise the comparison above proves little)
    moved = float(np.max(np.abs(snaps[-1]["x"][1:] - X0[1:])))
    chk.check(moved > 1e-3, f"{name}: tokens 2..n moved (max |dx| = {moved:.3e})")


def body(chk):
    tmp = L.test_dir("ref_item2_token1")
    case(chk, tmp, "sphere_h1", "sphere", 1, 3, 6, 1.0, 11)
    case(chk, tmp, "sphere_h2", "sphere", 2, 4, 6, 2.5, 12)
    case(chk, tmp, "euclid_h1", "euclidean", 1, 3, 6, 1.0, 13)
    case(chk, tmp, "euclid_h3", "euclidean", 3, 2, 5, 0.5, 14)

    # V = I on the sphere: token 1 has zero tangent velocity, must not move at all.
    n, d = 6, 3
    X0 = L.random_sphere(n, d, 15)
    init = L.write_init(os.path.join(tmp, "ident_init.h5"), X0)
    out = os.path.join(tmp, "sphere_identity")
    L.run_ok(1, ["-n", n, "-attn_dim", d, "-attn_qkv", "identity", "-attn_beta", 3, "-attn_mask", "causal",
                 "-geometry", "sphere", "-init", "file", "-init_file", init,
                 "-ts_dt", H, "-ts_max_time", T, "-out_dt", 0.5], out)
    snaps = L.read_snapshots(out)
    x1 = snaps[0]["x"][0]
    drift = max(float(np.max(np.abs(s["x"][0] - x1))) for s in snaps)
    chk.close(f"sphere, V = I: token 1 does not move over {len(snaps)} snapshots", drift, 1e-14)
    moved = float(np.max(np.abs(snaps[-1]["x"][1:] - snaps[0]["x"][1:])))
    chk.check(moved > 1e-3, f"sphere, V = I: tokens 2..n moved (max |dx| = {moved:.3e})")


if __name__ == "__main__":
    L.main_guard("ref_item2_token1", body)
