#!/usr/bin/python3
"""Diagnostics table vs a brute-force numpy recomputation from the snapshots of the same run
(independent code: dense n x n score matrices): energy, log_energy, order parameter,
clustered-pair fraction, log Z range, sphere-norm drift. Both masks; 2 heads, random Q/K/V,
beta = 4 on the sphere so that tokens cluster and the clustered fraction is not trivially 0.
usage: test_diagnostics.py none|causal NPROCS"""
import sys
import h5py
import numpy as np
import mfsa_testlib as tl

mask, nprocs = sys.argv[1], int(sys.argv[2])
c = tl.Checker(f"diagnostics_{mask}_np{nprocs}")
out = tl.test_dir(f"diagnostics_{mask}_np{nprocs}") + "/run"
n, beta, heads = 40, 4.0, 2
tl.run_ok(nprocs, ["-n", n, "-attn_dim", 3, "-attn_heads", heads, "-attn_beta", beta, "-attn_qkv", "identity",
                   "-attn_mask", mask, "-geometry", "sphere", "-seed", 5, "-ts_dt", 0.05, "-ts_max_time", 8,
                   "-out_dt", 2], out)
snaps = tl.read_snapshots(out)
with h5py.File(out + "/diagnostics.h5", "r") as f:
    diag = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
c.check(np.array_equal(diag["time"], [s["time"] for s in snaps]), f"diagnostics times {diag['time']} = snapshot times")

max_fraction = 0.0
for k, s in enumerate(snaps):
    x, Q, K = s["x"], s["Q"], s["K"]
    allowed = np.tril(np.ones((n, n), bool)) if mask == "causal" else np.ones((n, n), bool)
    z = np.zeros((heads, n))
    for h in range(heads):
        S = beta * x @ (Q[h].T @ K[h]) @ x.T
        z[h] = np.log(np.where(allowed, np.exp(S), 0.0).sum(axis=1))
    energy = np.exp(z).sum() / (2 * beta * n * n)
    cos = (x @ x.T) / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(x, axis=1))
    iu = np.triu_indices(n, 1)
    frac = np.mean(cos[iu] > 0.999)
    max_fraction = max(max_fraction, frac)
    t = s["time"]
    c.close(f"t={t:g} energy {diag['energy'][k]:.12g} vs {energy:.12g}", abs(diag["energy"][k] - energy) / energy, 1e-12)
    c.close(f"t={t:g} log_energy", abs(diag["log_energy"][k] - np.log(energy)), 1e-12)
    c.close(f"t={t:g} order parameter", abs(diag["order_parameter"][k] - np.linalg.norm(x.mean(axis=0))), 1e-13)
    c.check(diag["clustered_fraction"][k] == frac, f"t={t:g} clustered fraction {diag['clustered_fraction'][k]} == {frac} (exact count)")
    c.close(f"t={t:g} logz_min", abs(diag["logz_min"][k] - z.min()), 1e-12)
    c.close(f"t={t:g} logz_max", abs(diag["logz_max"][k] - z.max()), 1e-12)
    c.close(f"t={t:g} norm drift", abs(diag["norm_drift"][k] - np.abs(np.linalg.norm(x, axis=1) - 1).max()), 1e-15)
c.check(max_fraction > 0.05, f"the run clusters (max clustered fraction {max_fraction:.3f} > 0.05), so the count is exercised")
c.finish()
