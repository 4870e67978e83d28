#!/usr/bin/python3
"""Phase diagram of clustering over a beta sweep: the fraction of clustered pairs (pairs with
cos(x_i, x_j) > 0.999, mfsa's diagnostics column clustered_fraction) as a heat map over
(beta, t), and at one time T against beta, with the theory curve t*(beta) where it applies.

    plot_phase_diagram.py SWEEP_FOLDER|RUN... [--T 30] [--out phase.png]

Input: run folders, or folders holding them (searched 3 levels deep for snap_*.h5), e.g. the
output root of a sweep (jobs/slurm_sweep.sh writes <root>/n<n>/; a beta sweep written as
<root>/beta<b>/ works the same way). beta, n, d, mask, ... are read from each run's files,
never from folder names. Runs are grouped by (n, d, mask, norm, geometry); one heat-map
panel per group. --T: the time of the bottom panel (default: the largest snapshot time that
every run has); every run must have a diagnostics row at T.

Theory (MODEL.md §1, generalising §6 item 4 from 2 to n tokens): for Q = K = V = I, softmax,
no mask, on the sphere, n tokens whose pairwise inner products are all equal to c stay
equiangular, and c obeys

    c' = 2 (1 - c) (1 + (n - 1) c) / (e^{beta (1 - c)} + n - 1),

so the time for all pairs to become clustered (c = 0.999) from orthogonal tokens (c = 0) is

    t*(beta) = int_0^0.999 (e^{beta (1 - c)} + n - 1) / (2 (1 - c) (1 + (n - 1) c)) dc

(quadrature in u = -log(1 - c), Simpson's rule). Random tokens in S^{d-1} are nearly
orthogonal when d >= n, so the curve is drawn for such groups only (the reason is printed
otherwise); beta* solves t*(beta*) = T (clustered at T for beta < beta*).

Prints one JSON object: png, T, threshold 0.999, groups: [{n, d, mask, norm, geometry, runs,
beta, time_used, fraction_at_T, theory_applies, theory_why, t_star (per run, or null),
beta_star}]. Exit 1 with a one-line message on unreadable input.
"""
import argparse
import glob
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_plot as mp  # noqa: E402
from mfsa_read import MfsaReadError, Run  # noqa: E402

C_CLUSTER = 0.999   # mfsa's clustered-pair threshold (src/diagnostics.c)


def t_star(beta, n, c0=0.0, c1=C_CLUSTER, intervals=4000):
    """Time for an equiangular configuration of n tokens to go from <x_i, x_j> = c0 to c1."""
    u0, u1 = -math.log1p(-c0), -math.log1p(-c1)
    u = np.linspace(u0, u1, intervals + 1)
    c = -np.expm1(-u)                                    # 1 - e^{-u}
    g = (np.exp(beta * (1.0 - c)) + n - 1) / (2.0 * (1.0 + (n - 1) * c))   # dt/du
    w = np.ones(intervals + 1)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return float((u1 - u0) / intervals / 3.0 * np.sum(w * g))


def beta_star(T, n):
    """beta with t*(beta) = T (t* increases with beta), or None when T < t*(0)."""
    lo, hi = 0.0, 1.0
    if t_star(lo, n) > T:
        return None
    while t_star(hi, n) < T:
        hi *= 2
        if hi > 1e3:
            return None
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t_star(mid, n) < T else (lo, mid)
    return 0.5 * (lo + hi)


def find_runs(paths):
    out = []
    for p in paths:
        p = os.path.abspath(p)
        if not os.path.isdir(p):
            raise MfsaReadError(f"{p}: no such folder")
        if glob.glob(os.path.join(p, "snap_*.h5")):
            out.append(p)
            continue
        found = []
        for root, dirs, files in os.walk(p):
            dirs.sort()
            if root[len(p):].count(os.sep) >= 3:
                dirs[:] = []
            if any(f.startswith("snap_") and f.endswith(".h5") for f in files):
                found.append(root)
                dirs[:] = []
        if not found:
            raise MfsaReadError(f"{p}: no mfsa run folders (snap_*.h5) in it or below it")
        out += sorted(found)
    return out


def theory_applies(run, n, d):
    m = run.model
    why = []
    if m.get("geometry") != "sphere":
        why.append("not on the sphere")
    if m.get("mask") != "none":
        why.append(f"mask {m.get('mask')}")
    if m.get("norm") != "softmax":
        why.append(f"norm {m.get('norm')}")
    Q, K, V = run.model_matrices()
    eye = np.eye(d)
    if Q.shape[0] != 1 or any(a.shape != (1, d, d) or not np.array_equal(a[0], eye) for a in (Q, K, V)):
        why.append("Q, K, V are not one head of identities")
    if d < n:
        why.append(f"d = {d} < n = {n}: random tokens are not nearly orthogonal")
    return not why, "; ".join(why) if why else "Q = K = V = I, softmax, unmasked sphere, d >= n"


def body(args):
    folders = find_runs(args.paths)
    runs = []
    for f in folders:
        r = Run(f)
        if r.kind != "particles":
            raise MfsaReadError(f"{r.folder}: a {r.kind} run; the phase diagram needs particle runs")
        diag = r.diagnostics(required=("clustered_fraction",))
        runs.append((r, np.asarray(diag["time"], float), np.asarray(diag["clustered_fraction"], float)))
    if args.T is None:
        common = set(np.round(runs[0][1], 12))
        for _, t, _ in runs[1:]:
            common &= set(np.round(t, 12))
        if not common:
            raise MfsaReadError("the runs have no output time in common; give --T")
        T = float(max(common))
    else:
        T = args.T
    groups = {}
    for r, t, cf in runs:
        m = r.model
        key = (int(m["n"]), int(m["d"]), m.get("mask"), m.get("norm"), m.get("geometry"))
        k = int(np.argmin(np.abs(t - T)))
        if abs(t[k] - T) > 1e-9 * max(1.0, abs(T)):
            raise MfsaReadError(f"{r.folder}/diagnostics.h5: no row at T = {T:g} (nearest time {t[k]:g}); pick --T among its output times")
        groups.setdefault(key, []).append({"run": r, "beta": float(m["beta"]), "t": t, "cf": cf, "k": k})
    keys = sorted(groups)
    plt = mp.pyplot()  # after the input is read: a refusal costs no matplotlib import
    fig = plt.figure(figsize=(4.6 * len(keys) + 0.8, 7.0))
    gs = fig.add_gridspec(2, len(keys) + 1, width_ratios=[1] * len(keys) + [0.04], height_ratios=[1.5, 1])
    res_groups = []
    axb = fig.add_subplot(gs[1, :len(keys)])
    mesh = None
    tmax = max(float(t.max()) for _, t, _ in runs)
    for gi, key in enumerate(keys):
        n, d, mask, norm, geometry = key
        rows = sorted(groups[key], key=lambda e: e["beta"])
        betas = np.array([e["beta"] for e in rows])
        if len(set(betas)) != len(betas):
            raise MfsaReadError(f"two runs with the same beta in group n = {n}, d = {d}: "
                                + ", ".join(e["run"].folder for e in rows))
        edges = np.concatenate([[betas[0] - (0.5 * (betas[1] - betas[0]) if len(betas) > 1 else 0.5)],
                                0.5 * (betas[1:] + betas[:-1]),
                                [betas[-1] + (0.5 * (betas[-1] - betas[-2]) if len(betas) > 1 else 0.5)]])
        ax = fig.add_subplot(gs[0, gi])
        for i, e in enumerate(rows):
            t = e["t"]
            tedges = np.concatenate([[t[0]], 0.5 * (t[1:] + t[:-1]), [t[-1]]]) if len(t) > 1 else np.array([t[0], t[0] + 1])
            mesh = ax.pcolormesh([edges[i], edges[i + 1]], tedges, e["cf"][:, None], cmap="viridis", vmin=0, vmax=1, shading="flat")
        applies, why = theory_applies(rows[0]["run"], n, d)
        ts = [t_star(b, n) for b in betas] if applies else None
        bstar = beta_star(T, n) if applies else None
        if applies:
            bb = np.linspace(max(edges[0], 0.0), edges[-1], 200)
            tt = np.array([t_star(b, n) for b in bb])
            ax.plot(bb, np.where(tt <= tmax, tt, np.nan), color="C3", linewidth=1.8, label="theory t*(beta), equiangular start")
            ax.legend(fontsize=7, loc="upper left")
        else:
            ax.text(0.02, 0.98, "no theory curve: " + why, transform=ax.transAxes, fontsize=6.5, va="top", color="w", wrap=True)
        ax.axhline(T, color="w", linewidth=0.9, linestyle="--")
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylim(0, tmax)
        ax.set_xlabel("beta", fontsize=8)
        ax.set_ylabel("t", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(f"n = {n}, d = {d}, mask {mask}, {norm}, {geometry}", fontsize=8)
        frac = [float(e["cf"][e["k"]]) for e in rows]
        axb.plot(betas, frac, "o-", markersize=4, label=f"n = {n}, d = {d}")
        if bstar is not None:
            axb.axvline(bstar, color=f"C{gi}", linestyle=":", linewidth=1, label=f"theory beta* = {bstar:.2f} (t* = T)")
        res_groups.append({"n": n, "d": d, "mask": mask, "norm": norm, "geometry": geometry,
                           "runs": [e["run"].folder for e in rows], "beta": betas.tolist(),
                           "time_used": [float(e["t"][e["k"]]) for e in rows], "fraction_at_T": frac,
                           "theory_applies": applies, "theory_why": why, "t_star": ts, "beta_star": bstar})
    fig.colorbar(mesh, cax=fig.add_subplot(gs[0, len(keys)])).set_label("clustered pairs", fontsize=8)
    axb.set_ylim(-0.03, 1.03)
    axb.set_xlabel("beta", fontsize=8)
    axb.set_ylabel(f"fraction of clustered pairs at T = {T:g}", fontsize=8)
    axb.tick_params(labelsize=7)
    axb.legend(fontsize=7)
    fig.suptitle(f"clustering phase diagram: pairs with cos(x_i, x_j) > {C_CLUSTER} (white dashed: T = {T:g})", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    png = mp.save(fig, args.out or mp.default_out(os.path.commonpath(folders) if len(folders) > 1 else folders[0], "phase_diagram.png"), dpi=args.dpi)
    return {"png": png, "T": T, "threshold": C_CLUSTER, "groups": res_groups}


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths", nargs="+", help="run folders, or folders holding them (a sweep's output root)")
    ap.add_argument("--T", type=float, help="time of the fraction-vs-beta panel (default: largest common output time)")
    ap.add_argument("--out", help="PNG to write (default <common folder>/pictures/phase_diagram.png)")
    mp.add_picture_args(ap)
    return ap


if __name__ == "__main__":
    sys.exit(mp.main("plot_phase_diagram", parser(), body))
