#!/usr/bin/python3
"""MODEL.md §6 item 6 through the PDE solver (uniform density on the circle).

(a) Q = K = V = I: the uniform density 1/(2 pi) is stationary. Checked: u == 0 in every
    snapshot and max|rho - 1/(2 pi)| after T = 2, SA and USA, unmasked (S = 1) and masked
    (S = 4, where R_j = s_j / (2 pi) is still uniform).
    Tolerance 1e-13 (absolute; u and rho are O(1)): the exact velocity is 0 and every cell is
    identical, so only round-off of the kernel sums (~M eps I_0(beta) / I_0(beta) ~ 1e-14)
    and its transport over ~200 steps (~steps * eps / (2 pi) ~ 1e-14) can appear.
(b) Q = I, K = r R_phi, V = v R_psi (B = Q^T K = r R_phi): the uniform density rotates rigidly,
    u == omega everywhere, with
        SA:  omega = -v I_1(beta r) sin(phi - psi) / I_0(beta r)
        USA: omega = -v I_1(beta r) sin(phi - psi)          (Den replaced by int R = 1)
    and several heads add their omegas. Tolerance 1e-12 relative to |omega|: the midpoint
    rule of the smooth periodic kernel on M = 64 points is exact up to aliased Fourier modes
    |m| >= M - 1 whose size ~ I_63(beta r) / I_0 < 1e-60, so only round-off (~1e-15) remains.
    The density must stay uniform (rotation of a constant): same 1e-13 bound as in (a).
I_0, I_1 from their power series (mfsa_testlib.bessel_i), accurate to ~1e-16.
"""
import math
import os
import numpy as np
import mfsa_testlib as L

M = 64
T = 2.0
TOL_ABS = 1e-13
TOL_OMEGA = 1e-12


def run(chk, tmp, name, S, mask, norm, beta, extra):
    out = os.path.join(tmp, name)
    L.run_ok(1, L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-pde_init", "uniform", "-attn_beta", beta,
                              "-attn_mask", mask, "-attn_norm", norm, "-ts_dt", 0.01, "-ts_max_time", T,
                              "-out_dt", 0.5] + extra, out)
    snaps = L.read_pde_snapshots(out)
    times = [s["time"] for s in snaps]
    chk.check(len(snaps) == 5 and abs(times[-1] - T) <= 1e-12, f"{name}: snapshots at 0, 0.5, ..., {T:g} (got {times})")
    for s in snaps:
        if s["rho"].shape != (S, M) or s["velocity"] is None or s["velocity"].shape != (S, M):
            raise L.RunFailed(f"{name}: {s['path']}: /pde/rho or /pde/velocity is not {S} x {M}")
    return snaps


def body(chk):
    tmp = L.test_dir("pde_item6")
    # (a) Q = K = V = I: stationary
    for S, mask in ((1, "none"), (4, "causal")):
        for norm in ("softmax", "unnormalized"):
            name = f"identity_{mask}_{norm}"
            snaps = run(chk, tmp, name, S, mask, norm, 4.0, ["-attn_qkv", "identity"])
            umax = max(float(np.max(np.abs(s["velocity"]))) for s in snaps)
            chk.close(f"{name}: max over snapshots |u| (exact 0)", umax, TOL_ABS)
            dev = max(float(np.max(np.abs(s["rho"] - 1 / (2 * np.pi)))) for s in snaps)
            chk.close(f"{name}: max over snapshots |rho - 1/(2 pi)| up to T = {T:g}", dev, TOL_ABS)

    # (b) B = r R_phi, V = v R_psi: rigid rotation at omega
    heads = [(1.5, 0.7, 0.8, -0.4), (0.6, -1.1, 1.3, -2.0)]  # (r, phi, v, psi): both omegas < 0 (no cancellation)
    beta = 2.0
    for H in (1, 2):
        hs = heads[:H]
        Q = np.stack([np.eye(2) for _ in hs])
        K = np.stack([r * L.rotation(phi) for r, phi, _, _ in hs])
        V = np.stack([v * L.rotation(psi) for _, _, v, psi in hs])
        qkv = L.write_qkv(os.path.join(tmp, f"rot_qkv_H{H}.h5"), Q, K, V)
        for norm in ("softmax", "unnormalized"):
            omega = 0.0
            for r, phi, v, psi in hs:
                w = -v * L.bessel_i(1, beta * r) * math.sin(phi - psi)
                omega += w / L.bessel_i(0, beta * r) if norm == "softmax" else w
            for S, mask in ((1, "none"), (4, "causal")):
                name = f"rotation_H{H}_{mask}_{norm}"
                snaps = run(chk, tmp, name, S, mask, norm, beta,
                            ["-attn_heads", H, "-attn_qkv", "file", "-attn_qkv_file", qkv])
                err = max(float(np.max(np.abs(s["velocity"] - omega))) for s in snaps) / abs(omega)
                chk.close(f"{name}: max over snapshots |u - omega| / |omega| (omega = {omega:.15f})", err, TOL_OMEGA)
                dev = max(float(np.max(np.abs(s["rho"] - 1 / (2 * np.pi)))) for s in snaps)
                chk.close(f"{name}: max over snapshots |rho - 1/(2 pi)| up to T = {T:g} (rotated uniform stays uniform)", dev, TOL_ABS)


if __name__ == "__main__":
    L.main_guard("pde_item6", body)
