#!/usr/bin/python3
"""Density rho(s, theta) of a PDE run (-solver pde) as heat maps over time: theta across,
position s up, one panel per chosen snapshot on one shared colour scale (square root of rho
unless --linear: clusters grow by orders of magnitude), and below them the
slice-averaged density rho_bar(theta) = (1/S) sum_j rho(s_j, theta) at the same times.

    plot_density.py PDE_RUN [--out density.png] [--panels 6 | --times 0,5,20] [--linear]
                            [--frames DIR [--mp4 movie.mp4]]

--frames DIR writes one heat map per snapshot (frame_00000.png, ...); --mp4 FILE assembles
them with ffmpeg when it is on PATH.

Prints one JSON object: run, png, slices S, angles M, times (of the panels), rho_min,
rho_max, mass_min, mass_max (per shown time; mass_j = sum_k rho_jk dtheta per slice),
order_parameter (|sum_k rho_bar_k e^{i theta_k} dtheta|, as in diagnostics.h5), frames, mp4.
Exit 1 with a one-line message on unreadable input.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_plot as mp  # noqa: E402
from mfsa_read import MfsaReadError, Run  # noqa: E402

CMAP = "magma"


def heat(ax, g, vmax, linear=False):
    from matplotlib.colors import Normalize, PowerNorm
    norm = Normalize(0.0, vmax) if linear else PowerNorm(0.5, 0.0, vmax)
    im = ax.imshow(g["rho"], origin="lower", aspect="auto", extent=(0, 2 * np.pi, 0, 1), cmap=CMAP,
                   norm=norm, interpolation="nearest")
    ax.set_xticks([0, np.pi, 2 * np.pi], ["0", "pi", "2pi"])
    ax.tick_params(labelsize=7)
    ax.set_title(f"t = {g['time']:g}", fontsize=9)
    return im


def order_parameter(g):
    """|int rho_bar(theta) e^{i theta} dtheta| with the midpoint rule on the cell centres."""
    S, M = g["rho"].shape
    dth = 2 * np.pi / M
    total = g["rho"].mean(axis=0)
    th = (np.arange(M) + 0.5) * dth
    return float(abs(np.sum(total * np.exp(1j * th)) * dth))


def body(args):
    run = Run(args.run)
    if run.kind != "pde":
        raise MfsaReadError(f"{run.folder}: a {run.kind} run; plot_density.py draws PDE runs (plot_tokens.py draws particle runs)")
    idx = mp.pick(run.times, args.panels, args.times)
    grids = [run.grid(k) for k in idx]
    S, M = grids[0]["rho"].shape
    vmax = max(float(np.max(g["rho"])) for g in grids)
    plt = mp.pyplot()  # after the input is read: a refusal costs no matplotlib import
    ncol = min(3, len(idx))
    nrow = (len(idx) + ncol - 1) // ncol
    fig = plt.figure(figsize=(3.0 * ncol + 0.9, 2.5 * nrow + 2.3))
    gs = fig.add_gridspec(nrow + 1, ncol, height_ratios=[1] * nrow + [0.9])
    im = None
    for p, g in enumerate(grids):
        ax = fig.add_subplot(gs[p // ncol, p % ncol])
        im = heat(ax, g, vmax, args.linear)
        if p % ncol == 0:
            ax.set_ylabel("position s", fontsize=8)
    ax = fig.add_subplot(gs[nrow, :])
    th = (np.arange(M) + 0.5) * 2 * np.pi / M
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(grids)))
    for g, c in zip(grids, colours):
        ax.plot(th, g["rho"].mean(axis=0), color=c, linewidth=1.1, label=f"t = {g['time']:g}")
    ax.set_xlim(0, 2 * np.pi)
    ax.set_xlabel("theta", fontsize=8)
    ax.set_ylabel("slice-averaged rho", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False)
    m = run.model
    fig.suptitle(f"PDE density rho(s, theta): S = {S} slices x M = {M} angles, beta = {m.get('beta'):g}, mask {m.get('mask')}",
                 fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.92, 0.95))
    cax = fig.add_axes((0.93, 0.45, 0.015, 0.45))
    fig.colorbar(im, cax=cax).set_label("rho", fontsize=8)
    png = mp.save(fig, args.out or mp.default_out(run.folder, "density.png"), dpi=args.dpi)

    frames, mp4, note = 0, None, "no --frames asked for"
    if args.frames:
        os.makedirs(args.frames, exist_ok=True)
        allg = [run.grid(k) for k in range(len(run.files))]
        vall = max(float(np.max(g["rho"])) for g in allg)
        for k, g in enumerate(allg):
            f = plt.figure(figsize=(4.6, 3.4))
            ax = f.add_subplot(1, 1, 1)
            f.colorbar(heat(ax, g, vall, args.linear), ax=ax).set_label("rho", fontsize=8)
            ax.set_xlabel("theta", fontsize=8)
            ax.set_ylabel("position s", fontsize=8)
            mp.save(f, os.path.join(args.frames, f"frame_{k:05d}.png"), dpi=args.dpi)
            frames += 1
        mp4, note = mp.movie(args.frames, args.mp4)
    dth = 2 * np.pi / M
    return {"run": run.folder, "png": png, "slices": S, "angles": M, "times": [g["time"] for g in grids],
            "snapshots": [int(k) for k in idx],
            "rho_min": [float(g["rho"].min()) for g in grids], "rho_max": [float(g["rho"].max()) for g in grids],
            "mass_min": [float((g["rho"].sum(axis=1) * dth).min()) for g in grids],
            "mass_max": [float((g["rho"].sum(axis=1) * dth).max()) for g in grids],
            "order_parameter": [order_parameter(g) for g in grids],
            "frames": frames, "frames_dir": os.path.abspath(args.frames) if args.frames else None, "mp4": mp4, "mp4_note": note}


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="mfsa -out folder of a -solver pde run")
    ap.add_argument("--out", help="PNG to write (default RUN/pictures/density.png)")
    ap.add_argument("--panels", type=int, default=6, help="number of snapshots shown, evenly spread (default 6)")
    ap.add_argument("--times", type=mp.floats, help="comma-separated times to show (nearest snapshots) instead of --panels")
    ap.add_argument("--linear", action="store_true",
                    help="linear colour scale (default: square-root scale, so early perturbations stay visible next to late clusters)")
    mp.add_picture_args(ap, movie=True)
    return ap


if __name__ == "__main__":
    sys.exit(mp.main("plot_density", parser(), body))
