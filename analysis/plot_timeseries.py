#!/usr/bin/python3
"""Time series of a run's diagnostics (diagnostics.h5), one panel each.

    plot_timeseries.py RUN [--out timeseries.png] [--threshold 0.999]

Particle runs: interaction energy; order parameter |(1/n) sum_i x_i|; fraction of clustered
pairs (pairs with cos(x_i, x_j) > 0.999, as computed by mfsa); number of clusters, computed
here from every snapshot by single linkage: tokens i, j are linked when cos(x_i, x_j) >
--threshold (default 0.999, the clustered-pair threshold) and a cluster is a connected
component of that graph (a lone token is a cluster of one; skipped above --cluster-max-n
tokens, default 20000, as it costs O(n^2) per snapshot); the range [min_i log Z_i,
max_i log Z_i] of the log-partition functions; on the sphere the drift max_i | |x_i| - 1 |.
PDE runs: energy; order parameter; |Fourier modes 1..4| of the slice-averaged density; mass
drift per slice and min rho.

Prints one JSON object: run, png, kind, threshold, time and the plotted columns (full
series), cluster_times and cluster_count (particles; null when skipped), last (the last value of each
column). Exit 1 with a one-line message on unreadable input or a missing column.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_plot as mp  # noqa: E402
from mfsa_read import Run  # noqa: E402

PARTICLE_COLUMNS = ("energy", "order_parameter", "clustered_fraction", "logz_min", "logz_max")
PDE_COLUMNS = ("energy", "order_parameter", "mode1", "mode2", "mode3", "mode4", "mass_drift", "rho_min")


def linked_pairs(x, threshold, block=2048):
    """Index arrays (I, J), I < J, of the pairs with cos(x_i, x_j) > threshold (rows in blocks,
    so memory stays O(block * n))."""
    x = np.asarray(x, float)
    u = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-300)
    I, J = [], []
    for lo in range(0, len(u), block):
        c = u[lo:lo + block] @ u.T
        i, j = np.nonzero(c > threshold)
        keep = j > i + lo
        I.append(i[keep] + lo)
        J.append(j[keep])
    return np.concatenate(I) if I else np.zeros(0, int), np.concatenate(J) if J else np.zeros(0, int)


def cluster_count(x, threshold):
    """Connected components of the graph 'cos(x_i, x_j) > threshold' (single linkage), by
    min-label propagation with pointer jumping (union-find without a Python loop over pairs)."""
    n = len(x)
    I, J = linked_pairs(x, threshold)
    lab = np.arange(n)
    while True:
        new = lab.copy()
        np.minimum.at(new, I, lab[J])
        np.minimum.at(new, J, lab[I])
        new = new[new]
        if np.array_equal(new, lab):
            break
        lab = new
    return int(len(np.unique(lab)))


def body(args):
    run = Run(args.run)
    cols = PARTICLE_COLUMNS if run.kind == "particles" else PDE_COLUMNS
    diag = run.diagnostics(required=cols)
    t = np.asarray(diag["time"], float)
    res = {"run": run.folder, "kind": run.kind, "threshold": args.threshold if run.kind == "particles" else None,
           "time": t}
    for c in cols:
        res[c] = np.asarray(diag[c], float)
    m = run.model
    if run.kind == "particles":
        ct = [run.times[k] for k in range(len(run.files))]
        n = int(m.get("n", 0))
        if n <= args.cluster_max_n:
            cc = [cluster_count(run.particles(k)["x"], args.threshold) for k in range(len(run.files))]
        else:  # O(n^2) per snapshot: not by default for large runs
            cc = None
        res["cluster_times"], res["cluster_count"] = ct, cc
    plt = mp.pyplot()  # after the input is read: a refusal costs no matplotlib import
    fig, axes = plt.subplots(2, 3, figsize=(10.5, 5.6))
    axes = axes.ravel()
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.set_xlabel("t", fontsize=8)
    axes[0].plot(t, diag["energy"], color="C0")
    axes[0].set_title("interaction energy E", fontsize=9)
    axes[1].plot(t, diag["order_parameter"], color="C1")
    axes[1].set_title("order parameter |mean x|" if run.kind == "particles" else "order parameter |int rho e^{i theta}|", fontsize=9)
    if run.kind == "particles":
        axes[2].plot(t, diag["clustered_fraction"], color="C2")
        axes[2].set_ylim(-0.03, 1.03)
        axes[2].set_title("clustered pairs: cos(x_i, x_j) > 0.999", fontsize=9)
        if cc is not None:
            axes[3].step(ct, cc, where="post", color="C3")
            axes[3].plot(ct, cc, "o", color="C3", markersize=3)
            axes[3].set_ylim(0, max(cc) * 1.05 + 1)
        else:
            axes[3].text(0.5, 0.5, f"n = {n} > --cluster-max-n {args.cluster_max_n}:\nnot counted", ha="center",
                         va="center", transform=axes[3].transAxes, fontsize=8)
        axes[3].set_title(f"clusters (single linkage, cos > {args.threshold:g})", fontsize=9)
        axes[4].fill_between(t, diag["logz_min"], diag["logz_max"], color="C4", alpha=0.3)
        axes[4].plot(t, diag["logz_min"], color="C4", linewidth=0.8)
        axes[4].plot(t, diag["logz_max"], color="C4", linewidth=0.8)
        axes[4].set_title("log Z_i range (min..max over tokens)", fontsize=9)
        if "norm_drift" in diag and m.get("geometry") == "sphere":
            axes[5].semilogy(t, np.maximum(np.asarray(diag["norm_drift"], float), 1e-17), color="C5")
            axes[5].set_title("sphere drift max | |x_i| - 1 |", fontsize=9)
            res["norm_drift"] = np.asarray(diag["norm_drift"], float)
        else:
            axes[5].set_axis_off()
    else:
        for mm in range(1, 5):
            axes[2].semilogy(t, np.maximum(np.asarray(diag[f"mode{mm}"], float), 1e-300), label=f"m = {mm}")
        axes[2].legend(fontsize=7)
        axes[2].set_title("|mode m| of slice-averaged rho", fontsize=9)
        axes[3].semilogy(t, np.maximum(np.asarray(diag["mass_drift"], float), 1e-18), color="C3")
        axes[3].set_title("mass drift max_j |mass_j - mass_j(0)|", fontsize=9)
        axes[4].plot(t, diag["rho_min"], color="C4")
        axes[4].set_title("min rho (positivity)", fontsize=9)
        axes[5].set_axis_off()
    fig.suptitle(f"{run.kind} run {os.path.basename(run.folder)}: n = {m.get('n')}, d = {m.get('d')}, "
                 f"beta = {m.get('beta'):g}, mask {m.get('mask')}, {m.get('geometry')}", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    res["png"] = mp.save(fig, args.out or mp.default_out(run.folder, "timeseries.png"), dpi=args.dpi)
    res["last"] = {c: res[c][-1] for c in cols}
    if run.kind == "particles":
        res["last"]["cluster_count"] = res["cluster_count"][-1] if res["cluster_count"] else None
    return res


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="mfsa -out folder (particles or PDE)")
    ap.add_argument("--out", help="PNG to write (default RUN/pictures/timeseries.png)")
    mp.add_cluster_args(ap)
    ap.add_argument("--cluster-max-n", type=int, default=20000,
                    help="count clusters only up to this many tokens (O(n^2) per snapshot; default 20000)")
    mp.add_picture_args(ap)
    return ap


if __name__ == "__main__":
    sys.exit(mp.main("plot_timeseries", parser(), body))
