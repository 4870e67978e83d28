#!/usr/bin/python3
"""PDE solver: the FFT velocity equals direct midpoint quadrature on the same grid.

For each snapshot of a short run (t = 0 and one step later) the velocity is recomputed here
from the snapshot's own /pde/rho and /model/Q,K,V by the O(M^2) midpoint sums of the
contract (MODEL.md §2-3), per slice j and angle theta_k:

    masked   R_j = ds (sum_{i<j} rho_i + rho_j / 2)      unmasked  R = ds sum_i rho_i
    Den_h = sum_l e^{beta x_k^T B_h x_l} R_l dphi,  Num_h = sum_l e^{...} <V_h x_l, x_k^perp> R_l dphi
    SA  u = sum_h Num_h / Den_h                        USA  u = sum_h Num_h / (sum_l R_l dphi)

General (non-rotation-invariant) random Q, K, V, 2 heads, S = 8, M = 64, a random positive
density (so every Fourier mode is present), masked and unmasked, SA and USA; plus two cases
with scaled rotations B_h, V_h (the solver's convolution path; -mfsa_view names the path).

Tolerance 1e-12 relative to max|u|: both sides evaluate the same finite sums. The direct sum
here has round-off ~M eps ~1e-14 relative; the solver's truncated double Fourier series is
exact to round-off (truncation from beta||B||, MODEL §3) and its Num/Den ratios amplify
round-off by at most Den_max/Den_min <= e^{2 beta ||B||} ~ 20 for the matrices used here
(beta ||B_h|| is printed), so agreement should be ~1e-14; 1e-12 leaves a factor ~100.
"""
import os
import numpy as np
import mfsa_testlib as L

S, M, H, BETA = 8, 64, 2, 1.0
TOL = 1e-12


def direct_velocity(rho, Q, K, V, beta, mask, norm):
    S_, M_ = rho.shape
    ds, dphi = 1.0 / S_, 2 * np.pi / M_
    _, th = L.pde_grid(S_, M_)
    X = np.stack([np.cos(th), np.sin(th)], axis=1)        # x(theta_k), M x 2
    Xp = np.stack([-np.sin(th), np.cos(th)], axis=1)      # x_perp(theta_k)
    if mask == "causal":
        excl = np.cumsum(rho, axis=0) - rho               # sum_{i<j} rho_i, summed in slice order
        R = ds * (excl + 0.5 * rho)
    else:
        R = np.repeat(ds * rho.sum(axis=0, keepdims=True), S_, axis=0)
    u = np.zeros_like(rho)
    for h in range(Q.shape[0]):
        B = Q[h].T @ K[h]
        E = np.exp(beta * (X @ B @ X.T))                  # E[k, l] = e^{beta x_k^T B x_l}
        P = Xp @ (X @ V[h].T).T                           # P[k, l] = <V x_l, x_perp_k>
        num = R @ (E * P).T * dphi                        # num[j, k]
        if norm == "softmax":
            den = R @ E.T * dphi
            u += num / den
        else:
            u += num / (R.sum(axis=1, keepdims=True) * dphi)
    return u


def body(chk):
    tmp = L.test_dir("pde_fft_vs_direct")
    rng = np.random.default_rng(2024)
    Q, K, V, rho0, qkv, init = L.random_circle_problem(rng, tmp, H, S, M, BETA)
    # scaled rotations B_h = r R_phi, V_h = v R_psi take the solver's convolution path
    Qr = np.stack([0.9 * L.rotation(0.3), 1.1 * L.rotation(-0.8)])
    Kr = np.stack([1.2 * L.rotation(1.0), 0.7 * L.rotation(2.0)])
    Vr = np.stack([0.8 * L.rotation(-0.4), 1.3 * L.rotation(0.9)])
    qkv_rot = L.write_qkv(os.path.join(tmp, "qkv_rot.h5"), Qr, Kr, Vr)
    cases = [(m, nrm, "general", qkv, (Q, K, V)) for m in ("causal", "none") for nrm in ("softmax", "unnormalized")]
    cases += [("causal", "softmax", "rotation", qkv_rot, (Qr, Kr, Vr)), ("none", "unnormalized", "rotation", qkv_rot, (Qr, Kr, Vr))]
    for mask, norm, kind, qkv, (Q, K, V) in cases:
        name = f"{kind}_{mask}_{norm}"
        out = os.path.join(tmp, name)
        r = L.run_ok(1, L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-attn_heads", H, "-attn_qkv", "file",
                                      "-attn_qkv_file", qkv, "-attn_beta", BETA, "-attn_mask", mask, "-attn_norm", norm,
                                      "-pde_init", "file", "-pde_init_file", init, "-mfsa_view",
                                      "-ts_dt", 1e-3, "-ts_max_time", 1e-3], out)
        path = "convolution" if kind == "rotation" else "double series"
        chk.check(path in r.stdout, f"{name}: -mfsa_view reports the kernel path '{path}'")
        snaps = L.read_pde_snapshots(out)
        chk.check(len(snaps) == 2, f"{name}: 2 snapshots (t = 0, 1e-3): got {[s['time'] for s in snaps]}")
        s0 = snaps[0]
        chk.check(s0["rho"].shape == (S, M) and s0["velocity"] is not None and s0["velocity"].shape == (S, M),
                  f"{name}: /pde/rho and /pde/velocity are {S} x {M} (got {s0['rho'].shape}, "
                  f"{None if s0['velocity'] is None else s0['velocity'].shape})")
        chk.close(f"{name}: t = 0 /pde/rho equals the -pde_init file", float(np.max(np.abs(s0["rho"] - rho0))), 1e-15)
        for key, ref in (("Q", Q), ("K", K), ("V", V)):
            ok = s0[key] is not None and s0[key].shape == ref.shape and np.array_equal(s0[key], ref)
            chk.check(ok, f"{name}: /model/{key} is the -attn_qkv_file matrix")
        for snap in snaps:
            u_ref = direct_velocity(snap["rho"], snap["Q"], snap["K"], snap["V"], BETA, mask, norm)
            scale = float(np.max(np.abs(u_ref)))
            err = float(np.max(np.abs(snap["velocity"] - u_ref))) / scale
            chk.close(f"{name}: t = {snap['time']:g}: max|u_fft - u_direct| / max|u| (max|u| = {scale:.3f})", err, TOL)
        if mask == "causal":
            # sanity: the mask matters (slices see different prefixes)
            u_unm = direct_velocity(s0["rho"], Q, K, V, BETA, "none", norm)
            diff = float(np.max(np.abs(s0["velocity"] - u_unm)))
            chk.check(diff > 1e-3, f"{name}: masked velocity differs from the unmasked one (max diff {diff:.3e})")


if __name__ == "__main__":
    L.main_guard("pde_fft_vs_direct", body)
