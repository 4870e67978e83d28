#!/usr/bin/python3
"""Provenance and file layout of the snapshots, checked with the real h5dump (label client).

A 2-rank run; `h5dump -A` on a snapshot must show the attributes git_revision, options
(containing the options we passed), ranks (= 2), seed (= the -seed we passed), time, step,
format_version, mfsa_version, solver, n, d, heads, beta, mask, norm, geometry.  Round trip:
snapshot 0 of a run started from an init file holds exactly that data (R^d: no
renormalisation), /particles/s = (i+1)/n, /particles/index = i.  diagnostics.h5 holds the
1-D time series, all of one length.
"""
import os
import re
import shutil
import subprocess
import numpy as np
import h5py
import mfsa_testlib as L

ATTRS = ["time", "step", "format_version", "mfsa_version", "git_revision", "options", "ranks", "seed",
         "solver", "n", "d", "heads", "beta", "mask", "norm", "geometry"]
DIAG = ["time", "step", "dt", "energy", "log_energy", "order_parameter", "clustered_fraction",
        "logz_min", "logz_max", "norm_drift", "wall"]


def body(chk):
    h5dump = shutil.which("h5dump")
    if not h5dump:
        print("SKIP: h5dump not installed (Debian package hdf5-tools)")
        raise SystemExit(L.SKIP)
    tmp = L.test_dir("provenance_h5dump")
    n, d = 11, 3
    X0 = np.random.default_rng(81).standard_normal((n, d)) * 3.0
    init = L.write_init(os.path.join(tmp, "init.h5"), X0)
    out = os.path.join(tmp, "run")
    L.run_ok(2, ["-n", n, "-attn_dim", d, "-attn_heads", 2, "-attn_qkv", "random", "-seed", 4242,
                 "-attn_beta", 0.75, "-attn_mask", "causal", "-geometry", "euclidean",
                 "-init", "file", "-init_file", init, "-ts_dt", 0.05, "-ts_max_time", 0.5, "-out_dt", 0.25], out)
    snaps = L.read_snapshots(out)
    snap = snaps[1]["path"]
    p = subprocess.run([h5dump, "-A", snap], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    txt = p.stdout.decode(errors="replace")
    chk.check(p.returncode == 0, f"h5dump -A {os.path.basename(snap)} exits 0 (got {p.returncode}: {p.stderr.decode()[-300:]})")
    for a in ATTRS:
        chk.check(re.search(r'ATTRIBUTE "%s"' % a, txt) is not None, f"h5dump -A shows attribute '{a}'")

    def attr_block(name):
        m = re.search(r'ATTRIBUTE "%s" \{(.*?)\n   \}' % name, txt, re.S)
        return m.group(1) if m else ""
    opts = attr_block("options")
    chk.check("attn_beta" in opts and "0.75" in opts and "4242" in opts,
              f"'options' attribute contains the options passed (-attn_beta 0.75, -seed 4242): {opts.strip()[:300]!r}")
    chk.check(re.search(r"\(0\): 2\b", attr_block("ranks")) is not None, f"'ranks' shows 2: {attr_block('ranks').strip()[:120]!r}")
    chk.check(re.search(r"\(0\): 4242\b", attr_block("seed")) is not None, f"'seed' shows 4242: {attr_block('seed').strip()[:120]!r}")
    gr = attr_block("git_revision")
    chk.check(re.search(r'"[^"]+"', gr) is not None, f"'git_revision' is a non-empty string: {gr.strip()[:120]!r}")
    chk.check(re.search(r"\(0\): 0\.25\b", attr_block("time")) is not None, f"'time' of snapshot 1 shows 0.25: {attr_block('time').strip()[:120]!r}")

    a = snaps[1]["attrs"]
    chk.check(a.get("ranks") == 2 and a.get("seed") == 4242 and a.get("n") == n and a.get("d") == d and a.get("heads") == 2,
              f"h5py: ranks=2 seed=4242 n={n} d={d} heads=2 (got {[a.get(k) for k in ('ranks', 'seed', 'n', 'd', 'heads')]})")
    chk.check(a.get("mask") == "causal" and a.get("geometry") == "euclidean" and a.get("norm") == "softmax" and a.get("beta") == 0.75,
              f"h5py: mask/geometry/norm/beta attributes (got {[a.get(k) for k in ('mask', 'geometry', 'norm', 'beta')]})")
    # round trip of the initial data, layout by global index
    s0 = snaps[0]
    chk.check(s0["x"].shape == (n, d) and s0["x"].dtype == np.float64, f"/particles/x is {n}x{d} float64 (got {s0['x'].shape} {s0['x'].dtype})")
    chk.check(np.array_equal(s0["x"], X0), f"snapshot 0 /particles/x bitwise equals the init file (max diff {float(np.max(np.abs(s0['x'] - X0))) if s0['x'].shape == X0.shape else 'shape'})")
    chk.check(s0["s"] is not None and np.allclose(np.ravel(s0["s"]), (np.arange(n) + 1) / n, rtol=0, atol=1e-15), f"/particles/s = (i+1)/n")
    chk.check(s0["index"] is not None and np.array_equal(np.ravel(s0["index"]), np.arange(n)), f"/particles/index = 0..n-1")
    chk.check(s0["speed"] is not None and np.ravel(s0["speed"]).shape == (n,) and np.all(np.ravel(s0["speed"]) >= 0), "/particles/speed has n non-negative entries")
    for m, shp in (("Q", (2, d, d)), ("K", (2, d, d)), ("V", (2, d, d))):
        chk.check(s0[m] is not None and s0[m].shape == shp, f"/model/{m} has shape {shp} (got {None if s0[m] is None else s0[m].shape})")
    # diagnostics table
    with h5py.File(os.path.join(out, "diagnostics.h5"), "r") as f:
        lens = {k: (f[k].shape if k in f else None) for k in DIAG}
    ok = all(v is not None and len(v) == 1 for v in lens.values()) and len(set(lens.values())) == 1
    chk.check(ok and list(lens.values())[0][0] >= 2, f"diagnostics.h5 has 1-D datasets {DIAG} of equal length >= 2 (got {lens})")


if __name__ == "__main__":
    L.main_guard("provenance_h5dump", body)
