#!/usr/bin/python3
"""PDE solver: initial densities, file layout and t = 0 diagnostics against the contract.

Initial densities (point values at cell centres s_j = (j+1/2)/S, theta_k = (k+1/2) 2pi/M):
  modes     (1/2pi)(1 + s^p sum_k a_k cos(m_k theta + phi_k))
  vonmises  sum_k w_k e^{kappa_k cos(theta - c_k - delta s)} / (2 pi I_0(kappa_k)), w normalised
  file      /pde/rho (S x M) as given (also: an earlier PDE snapshot)
  particles token i (0-based) -> slice floor(i S / n), bin floor(theta / (2 pi / M)),
            each slice normalised: rho_jk = count_jk / (n_j dθ)
Tolerance 1e-14 absolute (values O(1) or O(kappa)): the same formula in double precision;
only exp/cos round-off (a few ulp) differs. Counts: exact (bin edges avoided by 1e-9).
Layout: /pde/s, /pde/theta, /pde/mass, attributes time, step, slices, angles, n = S, d = 2;
mfsa.xmf with a 3DCoRectMesh per time.
Diagnostics at t = 0 recomputed from /pde/rho (MODEL §3 with μ = ds sum_j rho_j dθ):
energy (1/2β) sum_h ∬ e^{β x^T B_h y} dμ dμ, order parameter |∫ x dμ|, mode_m of the
slice-averaged density, mass_min/max, rho_min, mass_drift = 0: 1e-12 relative (sums of M^2
positive terms, round-off ~1e-14).
"""
import os
import xml.etree.ElementTree as ET
import numpy as np
import mfsa_testlib as L

S, M = 6, 48
TOL = 1e-14


def first(out):
    return L.read_pde_snapshots(out)[0]


def run0(tmp, name, extra):
    out = os.path.join(tmp, name)
    L.run_ok(1, L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-ts_dt", 1e-3, "-ts_max_time", 1e-3] + extra, out)
    return out


def body(chk):
    tmp = L.test_dir("pde_init")
    s, th = L.pde_grid(S, M)

    # ---- modes with a profile and phases --------------------------------------------------
    modes, amps, phases, p = [1, 3], [0.4, 0.25], [0.5, -1.2], 2
    out = run0(tmp, "modes", ["-pde_init", "modes", "-pde_init_modes", "1,3", "-pde_init_amplitudes", L.csv_floats(amps),
                              "-pde_init_phases", L.csv_floats(phases), "-pde_init_power", p])
    ref = (1 + s[:, None] ** p * sum(a * np.cos(m * th[None, :] + f) for m, a, f in zip(modes, amps, phases))) / (2 * np.pi)
    snap = first(out)
    chk.close("modes: rho(0) = (1/2pi)(1 + s^p sum a cos(m theta + phi)) at cell centres", float(np.max(np.abs(snap["rho"] - ref))), TOL)
    out_d = run0(tmp, "modes_default", ["-pde_init", "modes", "-pde_init_modes", "2", "-pde_init_amplitudes", "0.3"])
    ref_d = np.tile((1 + 0.3 * np.cos(2 * th)) / (2 * np.pi), (S, 1))
    chk.close("modes: defaults phase 0, power 0", float(np.max(np.abs(first(out_d)["rho"] - ref_d))), TOL)

    # layout checks on the modes run
    a = snap["attrs"]
    chk.check(a.get("slices") == S and a.get("angles") == M and a.get("n") == S and a.get("d") == 2 and a.get("time") == 0.0 and a.get("step") == 0,
              f"attributes slices={a.get('slices')} angles={a.get('angles')} n={a.get('n')} d={a.get('d')} time={a.get('time')} step={a.get('step')}")
    chk.close("/pde/s = (j + 1/2)/S", float(np.max(np.abs(snap["s"] - s))) if snap["s"] is not None else np.inf, 1e-15)
    chk.close("/pde/theta = (k + 1/2) 2pi/M", float(np.max(np.abs(snap["theta"] - th))) if snap["theta"] is not None else np.inf, 1e-14)
    chk.close("/pde/mass = dθ sum_k rho (= 1 for modes)", float(np.max(np.abs(snap["mass"] - 1))) if snap["mass"] is not None else np.inf, 1e-14)
    root = ET.parse(os.path.join(out, "mfsa.xmf")).getroot()
    topo = [t.get("TopologyType") for t in root.iter("Topology")]
    chk.check(len(topo) == 2 and all(t == "3DCoRectMesh" for t in topo), f"mfsa.xmf: one 3DCoRectMesh grid per snapshot (got {topo})")

    # ---- von Mises mixture with drift -----------------------------------------------------
    c, k, w, delta = [0.7, 3.9], [3.0, 12.0], [2.0, 1.0], 1.7
    out = run0(tmp, "vonmises", ["-pde_init", "vonmises", "-pde_init_vonmises_centers", L.csv_floats(c),
                                 "-pde_init_vonmises_kappas", L.csv_floats(k), "-pde_init_vonmises_weights", L.csv_floats(w),
                                 "-pde_init_vonmises_drift", delta])
    ref = L.vonmises_mixture(th[None, :] - delta * s[:, None], c, k, w)
    chk.close("vonmises: mixture with weights normalised and drift delta s", float(np.max(np.abs(first(out)["rho"] - ref))), TOL * 10)

    # valid densities with tiny values: subnormal numbers are finite and non-negative
    r = L.run_mfsa(1, L.PDE_BASE + ["-pde_slices", 1, "-pde_angles", 64, "-pde_init", "vonmises", "-pde_init_vonmises_centers", "0",
                                    "-pde_init_vonmises_kappas", "356", "-ts_dt", 1e-4, "-ts_max_time", 1e-4,
                                    "-out", os.path.join(tmp, "vonmises_kappa356")])
    chk.check(r.rc == 0 and len(L.snapshot_files(os.path.join(tmp, "vonmises_kappa356"))) == 2,
              f"vonmises kappa = 356 (allowed range [0, 700]; its tail e^(-712) ~ 1e-309 is subnormal) is accepted "
              f"(rc {r.rc}: {next((l for l in r.output.splitlines() if 'ERROR: -pde' in l), '')!r})")
    tiny = np.full((S, M), 1 / (2 * np.pi))
    tiny[1, 5], tiny[2, 7] = 1e-310, 0.0
    ftiny = L.write_pde_rho(os.path.join(tmp, "rho_tiny.h5"), tiny)
    r = L.run_mfsa(1, L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-pde_init", "file", "-pde_init_file", ftiny,
                                    "-ts_dt", 1e-4, "-ts_max_time", 1e-4, "-out", os.path.join(tmp, "file_tiny")])
    chk.check(r.rc == 0, f"file: a density with a subnormal value (1e-310) and an exact 0 is accepted "
                         f"(rc {r.rc}: {next((l for l in r.output.splitlines() if 'ERROR: -pde' in l), '')!r})")

    # ---- file (an earlier PDE snapshot works) ---------------------------------------------
    snapfile = L.snapshot_files(out)[-1]
    out2 = run0(tmp, "file_from_snapshot", ["-pde_init", "file", "-pde_init_file", snapfile])
    last = L.read_pde_snapshot(snapfile)["rho"]
    chk.check(L.bitwise_equal(first(out2)["rho"], last), "file: an earlier PDE snapshot restarts bitwise (rho(0) == its /pde/rho)")

    # ---- particles histogram ----------------------------------------------------------------
    n = 101  # not a multiple of S: slices get 16 or 17 tokens
    rng = np.random.default_rng(5)
    ang = rng.uniform(0, 2 * np.pi, n)
    dth = 2 * np.pi / M
    frac = ang / dth - np.floor(ang / dth)
    ang = np.where(np.minimum(frac, 1 - frac) < 1e-6, ang + 0.3 * dth, ang)  # keep away from bin edges
    pf = L.write_init(os.path.join(tmp, "particles.h5"), np.stack([np.cos(ang), np.sin(ang)], axis=1))
    out = run0(tmp, "particles", ["-pde_init", "particles", "-pde_init_file", pf])
    a_mod = np.mod(np.arctan2(np.sin(ang), np.cos(ang)), 2 * np.pi)
    ref = np.zeros((S, M))
    sl = (np.arange(n) * S) // n
    np.add.at(ref, (sl, np.floor(a_mod / dth).astype(int)), 1.0)
    ref /= ref.sum(axis=1, keepdims=True) * dth
    chk.close(f"particles: histogram of slice floor(i S/n), bin floor(theta/dθ), normalised per slice (n = {n}, S = {S})",
              float(np.max(np.abs(first(out)["rho"] - ref))), TOL)

    # ---- diagnostics at t = 0 (2 random heads, masked) -------------------------------------
    H, beta = 2, 1.3
    Q, K, V = (rng.standard_normal((H, 2, 2)) / np.sqrt(2) for _ in range(3))
    qkv = L.write_qkv(os.path.join(tmp, "qkv.h5"), Q, K, V)
    rho_in = np.abs(1 + 0.5 * rng.standard_normal((S, M)))
    rho_in /= rho_in.sum(axis=1, keepdims=True) * dth
    fin = L.write_pde_rho(os.path.join(tmp, "rho_diag.h5"), rho_in)
    out = run0(tmp, "diagnostics", ["-attn_heads", H, "-attn_qkv", "file", "-attn_qkv_file", qkv, "-attn_beta", beta,
                                    "-attn_mask", "causal", "-pde_init", "file", "-pde_init_file", fin])
    snap = first(out)
    rho = snap["rho"]
    diag = L.read_diagnostics(out)
    X = np.stack([np.cos(th), np.sin(th)], axis=1)
    mu = rho.sum(axis=0) / S * dth  # weights of mu at theta_k
    energy = sum(float(mu @ np.exp(beta * X @ (Q[h].T @ K[h]) @ X.T) @ mu) for h in range(H)) / (2 * beta)
    order = float(np.linalg.norm(mu @ X))
    rbar = rho.mean(axis=0)
    masses = rho.sum(axis=1) * dth
    expect = {"energy": energy, "order_parameter": order, "mass_min": masses.min(), "mass_max": masses.max(),
              "rho_min": rho.min(), "mass_drift": 0.0}
    for m in range(1, 5):
        expect[f"mode{m}"] = float(np.abs(np.sum(rbar * np.exp(-1j * m * th)) * dth))
    for key, val in expect.items():
        if key not in diag:
            chk.fail(f"diagnostics.h5 has no '{key}' column (has {sorted(diag)})")
            continue
        got = float(diag[key][0])
        chk.close(f"diagnostics t = 0 {key} = {got:.15g} vs {val:.15g} (relative to max(1, |value|))", abs(got - val) / max(1.0, abs(val)), 1e-12)
    for key in ("time", "step", "dt"):
        chk.check(key in diag, f"diagnostics.h5 has a '{key}' column")
    chk.close("file: rho(0) equals the file", float(np.max(np.abs(rho - rho_in))), TOL * 10)


if __name__ == "__main__":
    L.main_guard("pde_init", body)
