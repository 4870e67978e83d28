#!/usr/bin/python3
"""PDE solver under the causal mask: causality and product preservation (MODEL.md §2).

Causality: two masked runs (random Q, K, V, 2 heads, SA, S = 16, M = 64) whose initial
densities (-pde_init file) agree on slices j < j0 = 6 and differ on j >= j0. Slices j < j0
see only the prefix over i <= j, so /pde/rho and /pde/velocity of slices j < j0 must be
BITWISE equal in every snapshot (same operations on the same numbers), while slices >= j0
must differ. The step size is fixed (-ts_dt well below the CFL bound, and the diagnostics'
dt column is compared): a CFL step depends on max|u| over ALL slices, so with an active
CFL limit the step sequence -- and everything -- would legitimately depend on later slices.

Product preservation: an s-independent initial density (modes with p = 0) under the mask
(S = 16) must equal the unmasked S = 1 run slice by slice. Not bitwise: the masked prefix
R_j = ds(sum_{i<j} rho_i + rho_j/2) is (j+1/2) ds rho only up to rounding (the sum of j equal
numbers is rounded differently from the product), and SA divides it out only up to rounding
too; the dynamics then carries these ~1e-16 differences. Tolerance 1e-12 relative to
max rho (max|u| for velocities): round-off ~1e-15 per step amplified over T = 1 by at most
e^{L T} with L ~ beta ||B|| ||V|| ~ a few (printed growth of the difference stays << 1e-12).
"""
import os
import numpy as np
import mfsa_testlib as L

S, M, H, J0 = 16, 64, 2, 6
DT = 0.005  # below the CFL bound 0.4 (2 pi / M) / max|u| (max|u| is printed)
TOL = 1e-12


def diag_dt(out):
    d = L.read_diagnostics(out)
    return np.asarray(d["dt"]), np.asarray(d["step"])


def body(chk):
    tmp = L.test_dir("pde_causality")
    rng = np.random.default_rng(99)
    Q, K, V = (rng.standard_normal((H, 2, 2)) / np.sqrt(2) for _ in range(3))
    qkv = L.write_qkv(os.path.join(tmp, "qkv.h5"), Q, K, V)
    s, th = L.pde_grid(S, M)
    # smooth s-dependent density A; B = A with slices j >= J0 replaced by another density
    A = L.vonmises_mixture(th[None, :] - 2.0 * s[:, None], [1.0, 4.0], [2.0, 4.0], [0.6, 0.4])
    Bd = A.copy()
    Bd[J0:] = L.vonmises_mixture(th[None, :] + 1.5 * s[J0:, None], [2.5], [6.0], [1.0])
    fa = L.write_pde_rho(os.path.join(tmp, "rho_A.h5"), A)
    fb = L.write_pde_rho(os.path.join(tmp, "rho_B.h5"), Bd)
    common = L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-attn_heads", H, "-attn_qkv", "file",
                           "-attn_qkv_file", qkv, "-attn_beta", 1.5, "-attn_mask", "causal", "-attn_norm", "softmax",
                           "-pde_init", "file", "-ts_dt", DT, "-ts_max_time", 1.0, "-out_dt", 0.25]
    outs = {}
    for name, f in (("A", fa), ("B", fb)):
        outs[name] = os.path.join(tmp, f"causal_{name}")
        L.run_ok(1, common + ["-pde_init_file", f], outs[name])
    ra, rb = L.read_pde_snapshots(outs["A"]), L.read_pde_snapshots(outs["B"])
    chk.check(len(ra) == len(rb) == 5, f"causality: 5 snapshots each (got {len(ra)}, {len(rb)})")
    dta, sta = diag_dt(outs["A"])
    dtb, stb = diag_dt(outs["B"])
    chk.check(L.bitwise_equal(dta, dtb) and L.bitwise_equal(sta, stb),
              f"causality: identical fixed steps in both runs (dt values {sorted(set(dta.tolist()))} / {sorted(set(dtb.tolist()))})")
    bad = []
    for a, b in zip(ra, rb):
        for key in ("rho", "velocity"):
            if not L.bitwise_equal(a[key][:J0], b[key][:J0]):
                bad.append(f"t={a['time']:g} {key}: max diff {float(np.max(np.abs(a[key][:J0] - b[key][:J0]))):.3e}")
    chk.check(not bad, f"causality: slices j < {J0} bitwise equal in every snapshot (rho and velocity)" + ("" if not bad else ": " + "; ".join(bad[:6])))
    later = min(float(np.min(np.max(np.abs(a["rho"][J0:] - b["rho"][J0:]), axis=1))) for a, b in zip(ra, rb))
    chk.check(later > 1e-3, f"causality: every slice j >= {J0} differs in every snapshot (min over slices of max diff {later:.3e})")
    umax = max(float(np.max(np.abs(x["velocity"]))) for x in ra + rb)
    chk.check(DT < 0.4 * (2 * np.pi / M) / umax, f"causality: fixed dt {DT} < CFL bound 0.4 (2 pi/M)/max|u| = {0.4 * (2 * np.pi / M) / umax:.4f}")
    moved = float(np.max(np.abs(ra[-1]["rho"] - ra[0]["rho"])))
    chk.check(moved > 1e-2, f"causality: the density evolved (max |rho(T) - rho(0)| = {moved:.3f})")

    # ---- product preservation ----------------------------------------------------------
    for norm in ("softmax", "unnormalized"):
        base = L.PDE_BASE + ["-pde_angles", M, "-attn_heads", H, "-attn_qkv", "file", "-attn_qkv_file", qkv,
                             "-attn_beta", 1.5, "-attn_norm", norm, "-pde_init", "modes", "-pde_init_modes", "1,2,3",
                             "-pde_init_amplitudes", "0.5,0.3,0.2", "-pde_init_phases", "0.3,1.0,-2.0", "-pde_init_power", 0,
                             "-ts_dt", DT, "-ts_max_time", 1.0, "-out_dt", 0.25]
        om = os.path.join(tmp, f"product_{norm}_masked")
        ou = os.path.join(tmp, f"product_{norm}_unmasked")
        L.run_ok(1, base + ["-pde_slices", S, "-attn_mask", "causal"], om)
        L.run_ok(1, base + ["-pde_slices", 1, "-attn_mask", "none"], ou)
        rm, ru = L.read_pde_snapshots(om), L.read_pde_snapshots(ou)
        if not chk.check(len(rm) == len(ru) == 5, f"product {norm}: 5 snapshots each (got {len(rm)}, {len(ru)})"):
            continue
        _, th_ = L.pde_grid(1, M)
        r0 = (1 + 0.5 * np.cos(th_ + 0.3) + 0.3 * np.cos(2 * th_ + 1.0) + 0.2 * np.cos(3 * th_ - 2.0)) / (2 * np.pi)
        chk.close(f"product {norm}: unmasked t = 0 density is the modes formula (point values)", float(np.max(np.abs(ru[0]["rho"][0] - r0))), 1e-15)
        errs, uerrs = [], []
        for a, b in zip(rm, ru):
            errs.append(float(np.max(np.abs(a["rho"] - b["rho"][0][None, :]))) / float(np.max(b["rho"])))
            uerrs.append(float(np.max(np.abs(a["velocity"] - b["velocity"][0][None, :]))) / float(np.max(np.abs(b["velocity"]))))
        print(f"  product {norm}: relative differences over time: rho {['%.1e' % e for e in errs]}, u {['%.1e' % e for e in uerrs]}")
        chk.close(f"product {norm}: masked S = {S} equals unmasked S = 1 in every slice and snapshot (rho, relative to max rho)", max(errs), TOL)
        chk.close(f"product {norm}: same for the velocity (relative to max|u|)", max(uerrs), TOL)
        moved = float(np.max(np.abs(ru[-1]["rho"] - ru[0]["rho"])))
        chk.check(moved > 1e-2, f"product {norm}: the density evolved (max |rho(T) - rho(0)| = {moved:.3f})")


if __name__ == "__main__":
    L.main_guard("pde_causality", body)
