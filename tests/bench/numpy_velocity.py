#!/usr/bin/python3
"""The attention velocity of mfsa written the way a researcher would in NumPy: the baseline of
the benchmark suite (tests/bench/suite.py) and, in tests/bench/test_numpy_velocity.py, checked
against mfsa's own velocity to round-off.

    x_i' = P_i  sum_h V_h sum_{j in N(i)} w_hij x_j,
    softmax: w_hij = e^{s_hij} / sum_{j in N(i)} e^{s_hij}     unnormalised: w_hij = e^{s_hij} / |N(i)|
    s_hij = beta <Q_h x_i, K_h x_j>,   N(i) = all j (mask none) or j <= i (causal),
    P_i = identity (euclidean) or I - x_i x_i^T (sphere).

Straightforward vectorised NumPy, not deliberately slow: the projections Q_h x, K_h x, V_h x
once per head, then row blocks of the score matrix (a full n x n matrix would need several
copies of 2 GB at n = 16384), each a matmul, the mask, a max-shifted exp, a row sum and a
matmul with the values. Under the causal mask a block of rows [r0, r1) only takes the keys
j < r1. Single-threaded unless the caller sets the BLAS thread variables (the suite compares
per core).

Usage (timing, prints JSON):  numpy_velocity.py --n 16384 --d 3 --mask causal --dtype float64
It times --samples row blocks spread evenly over the rows (each best of --reps) and scales their
time by the score entries the whole evaluation computes, plus the projections timed once:
    t_full = t_proj + (sum of sampled block times) * entries_total / (sum of sampled entries)
so a full evaluation (up to a minute at n = 16384, d = 64) is never run; ns/pair = t_full / pairs
with the pairs counted as the mask admits them (n^2, or n(n+1)/2 causal), as for mfsa's kernel.
(Per-entry cost varies with the block's position by up to ~30 %, hence several samples.)
"""
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, like the kernel's ns/pair/core

import argparse
import json
import time

import numpy as np


def project(x, Q, K, V, beta):
    """Per head: beta Q_h x_i (n x k), K_h x_j (n x k), V_h x_j (n x d). Q, K: (H, k, d); V: (H, d, d)."""
    return [(beta * (x @ Q[h].T), x @ K[h].T, x @ V[h].T) for h in range(Q.shape[0])]


def block_velocity(x, heads, r0, r1, mask="none", norm="softmax", geometry="sphere"):
    """Velocity of tokens r0..r1-1 (rows of x), from the projections of `project`."""
    n = x.shape[0]
    ncols = r1 if mask == "causal" else n
    v = np.zeros((r1 - r0, x.shape[1]), dtype=x.dtype)
    if mask == "causal":
        hidden = np.arange(ncols)[None, :] > np.arange(r0, r1)[:, None]
        count = np.arange(r0, r1, dtype=x.dtype) + 1
    else:
        count = np.full(r1 - r0, n, dtype=x.dtype)
    for q, k, vx in heads:
        s = q[r0:r1] @ k[:ncols].T
        if mask == "causal":
            s[hidden] = -np.inf
        m = s.max(axis=1, keepdims=True)
        e = np.exp(s - m)
        num = e @ vx[:ncols]
        if norm == "softmax":
            v += num / e.sum(axis=1, keepdims=True)
        else:
            v += np.exp(m) * num / count[:, None]
    if geometry == "sphere":
        xb = x[r0:r1]
        v -= np.sum(xb * v, axis=1, keepdims=True) * xb
    return v


def velocity(x, Q, K, V, beta=1.0, mask="none", norm="softmax", geometry="sphere", block=1024):
    """The whole velocity (n x d) in row blocks of `block` tokens."""
    heads = project(x, Q, K, V, beta)
    n = x.shape[0]
    return np.concatenate([block_velocity(x, heads, r0, min(n, r0 + block), mask, norm, geometry)
                           for r0 in range(0, n, block)])


def pairs(n, mask):
    return n * (n + 1) / 2 if mask == "causal" else float(n) * n


def block_entries(n, r0, r1, mask):
    """Score entries block_velocity computes for rows [r0, r1)."""
    return float(r1 - r0) * (r1 if mask == "causal" else n)


def time_velocity(n, d, mask="causal", dtype="float64", block=256, reps=3, samples=8, seed=1):
    """Estimated seconds of one full evaluation (see the module doc) and its parts."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x = x.astype(dtype)
    eye = np.eye(d, dtype=dtype)[None]
    block = min(block, n)
    starts = list(range(0, n, block))
    picked = sorted({starts[int((i + 0.5) * len(starts) / min(samples, len(starts)))] for i in range(min(samples, len(starts)))})
    t_proj = float("inf")
    t_block = {r0: float("inf") for r0 in picked}
    for _ in range(reps):
        t0 = time.perf_counter()
        heads = project(x, eye, eye, eye, np.asarray(1.0, dtype=dtype))
        t_proj = min(t_proj, time.perf_counter() - t0)
        for r0 in picked:
            t0 = time.perf_counter()
            block_velocity(x, heads, r0, min(n, r0 + block), mask, "softmax", "sphere")
            t_block[r0] = min(t_block[r0], time.perf_counter() - t0)
    total = sum(block_entries(n, r0, min(n, r0 + block), mask) for r0 in starts)
    sampled = sum(block_entries(n, r0, min(n, r0 + block), mask) for r0 in picked)
    t_full = t_proj + sum(t_block.values()) * total / sampled
    return {"n": n, "d": d, "mask": mask, "dtype": dtype, "block": block, "reps": reps,
            "blocks_sampled": len(picked), "blocks_total": len(starts),
            "seconds_projection": t_proj, "seconds_sampled_blocks": sum(t_block.values()),
            "entries_scale": total / sampled, "seconds_estimated": t_full,
            "ns_per_pair": 1e9 * t_full / pairs(n, mask),
            "numpy": np.__version__, "threads": os.environ.get("OMP_NUM_THREADS")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=16384)
    ap.add_argument("--d", type=int, nargs="+", default=[3])
    ap.add_argument("--mask", nargs="+", default=["causal"], choices=["none", "causal"])
    ap.add_argument("--dtype", nargs="+", default=["float64"], choices=["float64", "float32"])
    ap.add_argument("--block", type=int, default=256, help="rows per timed block")
    ap.add_argument("--reps", type=int, default=3, help="best of this many timings")
    ap.add_argument("--samples", type=int, default=8, help="row blocks timed, spread evenly")
    a = ap.parse_args()
    for dtype in a.dtype:
        for mask in a.mask:
            for d in a.d:
                print("NUMPY " + json.dumps(time_velocity(a.n, d, mask, dtype, a.block, a.reps, a.samples)), flush=True)


if __name__ == "__main__":
    main()
