#!/usr/bin/python3
"""Rank-count invariance (DESIGN.md §3): with fixed-step RK4, the same run on 1, 2, 3 (and 4)
ranks writes bitwise identical snapshots -- /particles/x, /particles/speed, time and step --
because tokens are owned in contiguous blocks and every sum runs in global key order.
n = 37 (not divisible by 2, 3 or 4), 2 heads, random Q/K/V, sphere and R^d.

usage: test_rank_invariance.py MASK [RANKS]   (MASK: causal | none; RANKS e.g. 1,2,3,4)
"""
import os
import sys
import numpy as np
import mfsa_testlib as L


def compare(chk, name, ref, other, p):
    if not chk.check(len(ref) == len(other), f"{name}: {p} ranks wrote {len(other)} snapshots, 1 rank {len(ref)}"):
        return
    bad = []
    for a, b in zip(ref, other):
        for key in ("x", "speed", "s", "index"):
            if a[key] is None or b[key] is None:
                if not (a[key] is None and b[key] is None):
                    bad.append(f"{os.path.basename(b['path'])}:{key} missing")
                continue
            if a[key].shape != b[key].shape or a[key].dtype != b[key].dtype or a[key].tobytes() != b[key].tobytes():
                diff = float(np.max(np.abs(a[key].astype(float) - b[key].astype(float)))) if a[key].shape == b[key].shape else float("inf")
                bad.append(f"{os.path.basename(b['path'])}:/particles/{key} differs (max |diff| = {diff:.3e})")
        if np.float64(a["time"]).tobytes() != np.float64(b["time"]).tobytes():
            bad.append(f"{os.path.basename(b['path'])}: time {b['time']!r} != {a['time']!r}")
        if a["step"] != b["step"]:
            bad.append(f"{os.path.basename(b['path'])}: step {b['step']} != {a['step']}")
    chk.check(not bad, f"{name}: {p} ranks bitwise equal to 1 rank over {len(ref)} snapshots" + ("" if not bad else ": " + "; ".join(bad[:6])))


def body(chk, mask, ranks):
    tmp = L.test_dir(f"rank_invariance_{mask}")
    n, d, heads = 37, 3, 2
    for geometry in ("sphere", "euclidean"):
        name = f"{mask}_{geometry}"
        args = ["-n", n, "-attn_dim", d, "-attn_heads", heads, "-attn_qkv", "random", "-seed", 7,
                "-attn_beta", 2.0, "-attn_mask", mask, "-geometry", geometry, "-init", "gaussian" if geometry == "euclidean" else "uniform",
                "-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none", "-ts_dt", 0.01,
                "-ts_max_time", 0.6, "-out_dt", 0.2]
        runs = {}
        for p in ranks:
            out = os.path.join(tmp, f"{name}_np{p}")
            L.run_ok(p, args, out)
            runs[p] = L.read_snapshots(out)
            chk.check(all(s["attrs"].get("ranks") == p for s in runs[p]), f"{name}: 'ranks' attribute = {p} on every snapshot (got {sorted(set(str(s['attrs'].get('ranks')) for s in runs[p]))})")
        ref = runs[ranks[0]]
        moved = float(np.max(np.abs(ref[-1]["x"] - ref[0]["x"])))
        chk.check(moved > 1e-2 and np.all(np.isfinite(ref[-1]["x"])), f"{name}: tokens moved (max |dx| = {moved:.3f})")
        for p in ranks[1:]:
            compare(chk, name, ref, runs[p], p)


if __name__ == "__main__":
    mask = sys.argv[1] if len(sys.argv) > 1 else "causal"
    ranks = [int(r) for r in (sys.argv[2] if len(sys.argv) > 2 else "1,2,3,4").split(",")]
    L.main_guard(f"rank_invariance_{mask}", lambda chk: body(chk, mask, ranks))
