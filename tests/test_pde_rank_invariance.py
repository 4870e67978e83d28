#!/usr/bin/python3
"""PDE solver: rank-count invariance (DESIGN.md §3). Slices are owned in blocks by ranks; the
masked prefix is a local scan plus MPI_Exscan of an M-vector, the unmasked total a sum over
all slices. Same run on 1, 2, 3 ranks must write bitwise identical /pde/rho, /pde/velocity,
/pde/mass, time and step in every snapshot (S = 13: not divisible by 2 or 3; M = 64; random
Q, K, V, 2 heads; an s-dependent von Mises mixture so every slice differs).

Two stepping regimes: a fixed step (-ts_dt 0.005 below the CFL bound) and the CFL-limited
step (-ts_dt 1 -pde_cfl 0.1: dt = c_SSP 0.1 (2 pi/M)/max|u| every step; max is exact in any reduction order, so
this must be rank-invariant too).

Bitwise requires that the sums run in global slice order whatever the layout (an Exscan of
partial sums in a different association would break it -- that is what this test guards).

usage: test_pde_rank_invariance.py MASK [RANKS]   (MASK: causal | none; RANKS e.g. 1,2,3)
"""
import os
import sys
import numpy as np
import mfsa_testlib as L

S, M, H = 13, 64, 2


def compare(chk, name, ref, other, p):
    if not chk.check(len(ref) == len(other), f"{name}: {p} ranks wrote {len(other)} snapshots, 1 rank {len(ref)}"):
        return
    bad = []
    for a, b in zip(ref, other):
        for key in ("rho", "velocity", "mass", "s", "theta"):
            if a[key] is None or b[key] is None:
                if not (a[key] is None and b[key] is None):
                    bad.append(f"{os.path.basename(b['path'])}:/pde/{key} missing")
                continue
            if not L.bitwise_equal(a[key], b[key]):
                diff = float(np.max(np.abs(a[key] - b[key]))) if a[key].shape == b[key].shape else float("inf")
                bad.append(f"{os.path.basename(b['path'])}:/pde/{key} differs (max |diff| = {diff:.3e})")
        if np.float64(a["time"]).tobytes() != np.float64(b["time"]).tobytes():
            bad.append(f"{os.path.basename(b['path'])}: time {b['time']!r} != {a['time']!r}")
        if a["step"] != b["step"]:
            bad.append(f"{os.path.basename(b['path'])}: step {b['step']} != {a['step']}")
    chk.check(not bad, f"{name}: {p} ranks bitwise equal to {1} rank over {len(ref)} snapshots" + ("" if not bad else ": " + "; ".join(bad[:6])))


def body(chk, mask, ranks):
    tmp = L.test_dir(f"pde_rank_invariance_{mask}")
    for regime, dt in (("fixed", 0.005), ("cfl", 1.0)):
        name = f"{mask}_{regime}"
        args = L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-attn_heads", H, "-attn_qkv", "random", "-seed", 11,
                             "-attn_beta", 2.0, "-attn_mask", mask, "-attn_norm", "softmax",
                             "-pde_init", "vonmises", "-pde_init_vonmises_centers", "1,4", "-pde_init_vonmises_kappas", "2,5",
                             "-pde_init_vonmises_weights", "0.6,0.4", "-pde_init_vonmises_drift", 3.0,
                             "-ts_dt", dt, "-ts_max_time", 0.5, "-out_dt", 0.25] + (["-pde_cfl", 0.1] if regime == "cfl" else [])
        runs = {}
        for p in ranks:
            out = os.path.join(tmp, f"{name}_np{p}")
            L.run_ok(p, args, out)
            runs[p] = L.read_pde_snapshots(out)
            chk.check(all(s["attrs"].get("ranks") == p for s in runs[p]),
                      f"{name}: 'ranks' attribute = {p} on every snapshot (got {sorted(set(str(s['attrs'].get('ranks')) for s in runs[p]))})")
        ref = runs[ranks[0]]
        moved = float(np.max(np.abs(ref[-1]["rho"] - ref[0]["rho"])))
        chk.check(moved > 1e-2 and np.all(np.isfinite(ref[-1]["rho"])), f"{name}: density evolved (max |drho| = {moved:.3f})")
        slices_differ = float(np.max(np.abs(ref[0]["rho"][-1] - ref[0]["rho"][0])))
        chk.check(slices_differ > 1e-2, f"{name}: the initial density depends on s (first vs last slice max diff {slices_differ:.3f})")
        if regime == "cfl":
            steps = int(ref[-1]["step"])
            chk.check(steps > 4, f"{name}: the CFL limit set the step ({steps} steps to T = 0.5; 2 without it)")
        for p in ranks[1:]:
            compare(chk, name, ref, runs[p], p)


if __name__ == "__main__":
    mask = sys.argv[1] if len(sys.argv) > 1 else "causal"
    ranks = [int(r) for r in (sys.argv[2] if len(sys.argv) > 2 else "1,2,3").split(",")]
    L.main_guard(f"pde_rank_invariance_{mask}", lambda chk: body(chk, mask, ranks))
