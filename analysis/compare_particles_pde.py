#!/usr/bin/python3
"""Distance between a particle run and a PDE run of mfsa on the circle (d = 2), per slice.

    compare_particles_pde.py PARTICLE_RUN PDE_RUN [--out FILE.csv] [--out FILE.h5] [--out PREFIX]

PARTICLE_RUN: an mfsa -out folder of a particle run (snap_*.h5 with /particles/x, n x 2);
PDE_RUN: an mfsa -out folder of a `-solver pde` run (snap_*.h5 with /pde/rho, S x M).
At every time present in both runs (|t_p - t_q| <= --time-tol * max(1, |t|)), for every
slice j = 0..S-1 it computes the Wasserstein-1 distance on the circle (arc length, radians)

    W1(mu_j, nu_j) = min_c  int_0^{2 pi} |F(θ) - G(θ) - c| dθ

between the empirical law mu_j of the token angles atan2(y, x) mod 2 pi of the tokens of
slice j -- tokens i = 0..n-1 (global index order) with floor(i S / n) = j -- and the PDE
density nu_j of slice j (cell values rho_jk on cells [k, k+1) 2 pi / M, i.e. piecewise
constant, normalised to mass 1); F, G are their CDFs from θ = 0. The minimiser c is a median
of F - G under dθ; the integral is evaluated exactly (F - G is piecewise linear between the
merged breakpoints: cell faces and token angles), no sampling grid.

Output: JSON on stdout {particle_run, pde_run, n, slices, angles, times, w1 (per time: list
over slices), mean (per time: mean over slices), tokens_per_slice}; with --out, a CSV
(columns time, slice, s, tokens, w1) and/or an HDF5 file (/time, /s, /tokens_per_slice,
/w1 [times x slices], /w1_mean, attributes particle_run, pde_run, n, slices, angles).
--out PATH: suffix .csv -> CSV, .h5/.hdf5 -> HDF5, anything else -> both PATH.csv, PATH.h5.

This script only reads the runs (analysis/ never simulates); it writes only the --out files.
"""
import argparse
import csv
import json
import math
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mfsa_read import Run  # noqa: E402  (the one reader of the file layout)

TWO_PI = 2.0 * math.pi


def particle_angles(snap, path):
    """Token angles in [0, 2 pi), in global index order."""
    x, idx = snap["x"], snap.get("index")
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"{path}: /particles/x has shape {x.shape}; the circle needs n x 2")
    if idx is not None:
        x = x[np.argsort(np.asarray(idx).ravel(), kind="stable")]
    return np.mod(np.arctan2(x[:, 1], x[:, 0]), TWO_PI)


def slice_of_tokens(n, S):
    """Slice index floor(i S / n) of tokens i = 0..n-1 (exact integer arithmetic)."""
    return (np.arange(n, dtype=np.int64) * S) // n


def w1_circle(angles, rho_row):
    """W1 on the circle between the empirical law of `angles` (in [0, 2pi)) and the piecewise
    constant density with cell values rho_row on M equal cells of [0, 2pi) (normalised)."""
    M = len(rho_row)
    h = TWO_PI / M
    rho = np.asarray(rho_row, dtype=float)
    mass = float(np.sum(rho)) * h
    if not (mass > 0) or not np.all(np.isfinite(rho)):
        raise ValueError("PDE slice with non-positive or non-finite mass")
    a = np.sort(np.asarray(angles, dtype=float))
    n = len(a)
    if n == 0:
        return float("nan")
    faces = np.arange(M + 1) * h
    faces[-1] = TWO_PI
    cdf_faces = np.concatenate([[0.0], np.cumsum(rho) * h / mass])
    cdf_faces[-1] = 1.0
    b = np.union1d(faces, a)                            # sorted breakpoints, 0 .. 2pi
    left, right = b[:-1], b[1:]
    L = right - left
    keep = L > 0
    left, right, L = left[keep], right[keep], L[keep]

    def G(t):
        k = np.minimum((t / h).astype(np.int64), M - 1)
        return cdf_faces[k] + (t - k * h) * rho[k] / mass

    F = np.searchsorted(a, left, side="right") / n      # F is constant on (left, right)
    hl = F - G(left)
    hr = F - G(right)
    # h = F - G is linear and non-increasing on each segment, from hl to hr
    lo, hi = float(min(hl.min(), hr.min())), float(max(hl.max(), hr.max()))
    span = hl - hr
    flat = span <= 0

    def measure_below(c):  # |{θ : h(θ) <= c}|
        frac = np.where(flat, (hl <= c).astype(float), 1.0 - np.clip((hl - c) / np.where(flat, 1.0, span), 0.0, 1.0))
        return float(np.sum(L * frac))

    for _ in range(200):  # bisection for the median of h under dθ (measure_below is monotone)
        c = 0.5 * (lo + hi)
        if measure_below(c) < math.pi:
            lo = c
        else:
            hi = c
        if hi - lo <= 1e-16 * max(1.0, abs(c)):
            break
    c = 0.5 * (lo + hi)
    al, ar = hl - c, hr - c
    same = al * ar >= 0
    denom = np.abs(al) + np.abs(ar)
    cross = np.where(denom > 0, (al * al + ar * ar) / (2 * np.where(denom > 0, denom, 1.0)), 0.0)
    integral = np.where(same, 0.5 * np.abs(al + ar), cross) * L
    return float(np.sum(integral))


def compare(particle_run, pde_run, time_tol=1e-9):
    ps, qs = Run(particle_run), Run(pde_run)
    if ps.kind != "particles" or qs.kind != "pde":
        raise ValueError(f"expected a particle run then a PDE run; got {ps.kind} ({particle_run}) and {qs.kind} ({pde_run})")
    for key in ("mask", "beta", "norm", "heads"):
        a, b = ps.attrs[0].get(key), qs.attrs[0].get(key)
        if a is not None and b is not None and a != b:
            print(f"compare_particles_pde: warning: runs differ in '{key}': particles {a!r}, pde {b!r}", file=sys.stderr)
    times, w1, n, S, M, counts = [], [], None, None, None, None
    for kp, tp in enumerate(ps.times):
        match = [kq for kq, tq in enumerate(qs.times) if abs(tq - tp) <= time_tol * max(1.0, abs(tp))]
        if not match:
            continue
        pp = ps.files[kp]
        ang = particle_angles(ps.snapshot(kp), pp)
        rho = qs.snapshot(match[0])["rho"]
        if rho.ndim != 2:
            raise ValueError(f"{qs.files[match[0]]}: /pde/rho has shape {rho.shape}; expected S x M")
        if n is None:
            n, (S, M) = len(ang), rho.shape
            if n < S:
                raise ValueError(f"{n} tokens cannot fill {S} slices")
            sl = slice_of_tokens(n, S)
            counts = np.bincount(sl, minlength=S)
        elif len(ang) != n or rho.shape != (S, M):
            raise ValueError(f"sizes change between snapshots ({pp}, {qs.files[match[0]]})")
        times.append(tp)
        w1.append([w1_circle(ang[sl == j], rho[j]) for j in range(S)])
    if not times:
        raise ValueError(f"no common snapshot times: particles {ps.times}, pde {qs.times}")
    w1 = np.array(w1)
    return {"particle_run": os.path.abspath(particle_run), "pde_run": os.path.abspath(pde_run),
            "n": int(n), "slices": int(S), "angles": int(M), "times": times,
            "w1": w1.tolist(), "mean": w1.mean(axis=1).tolist(), "tokens_per_slice": counts.tolist()}


def write_csv(path, res):
    S = res["slices"]
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["time", "slice", "s", "tokens", "w1"])
        for t, row in zip(res["times"], res["w1"]):
            for j in range(S):
                w.writerow([repr(float(t)), j, repr((j + 0.5) / S), res["tokens_per_slice"][j], repr(float(row[j]))])


def write_h5(path, res):
    S = res["slices"]
    with h5py.File(path, "w") as f:
        f.create_dataset("time", data=np.asarray(res["times"], dtype=float))
        f.create_dataset("s", data=(np.arange(S) + 0.5) / S)
        f.create_dataset("tokens_per_slice", data=np.asarray(res["tokens_per_slice"], dtype=np.int64))
        f.create_dataset("w1", data=np.asarray(res["w1"], dtype=float))
        f.create_dataset("w1_mean", data=np.asarray(res["mean"], dtype=float))
        for k in ("particle_run", "pde_run", "n", "slices", "angles"):
            f.attrs[k] = res[k]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("particle_run", help="mfsa -out folder of a particle run (d = 2)")
    ap.add_argument("pde_run", help="mfsa -out folder of a -solver pde run")
    ap.add_argument("--out", action="append", default=[], metavar="PATH",
                    help="write results: PATH.csv, PATH.h5 (by suffix) or both (no suffix); repeatable")
    ap.add_argument("--time-tol", type=float, default=1e-9, help="relative tolerance for matching times (default 1e-9)")
    args = ap.parse_args(argv)
    try:
        res = compare(args.particle_run, args.pde_run, args.time_tol)
        for path in args.out:
            ext = os.path.splitext(path)[1].lower()
            if ext == ".csv":
                write_csv(path, res)
            elif ext in (".h5", ".hdf5"):
                write_h5(path, res)
            else:
                write_csv(path + ".csv", res)
                write_h5(path + ".h5", res)
    except (OSError, ValueError, KeyError) as e:
        print(f"compare_particles_pde: {e}", file=sys.stderr)
        return 1
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
