#!/usr/bin/python3
"""Tokens of a particle run over time, coloured by their position s = (i+1)/n (so the causal
structure is visible: under the causal mask a token only sees tokens of smaller s).

    plot_tokens.py RUN [--out tokens.png] [--panels 6 | --times 0,5,15] [--projection pca|coords]
                       [--frames DIR [--mp4 movie.mp4]]

Views, chosen from the run's geometry and dimension d:
  circle    (sphere, d = 2): tokens on the unit circle, plus every token's angle theta_i(t)
            over all snapshots (unwrapped in time), coloured by s;
  sphere    (sphere, d = 3): tokens on the unit sphere (3-D view, fixed camera);
  plane     (euclidean, d = 2): the coordinates themselves;
  pca       (otherwise, the default): projection on the first two principal axes of all
            snapshots pooled (centred at the pooled mean, one fixed basis for every time);
  coords    (--projection coords): the first two coordinates x_1, x_2.
Movie: --frames DIR writes one PNG per snapshot (frame_00000.png, ...); --mp4 FILE assembles
them with ffmpeg when ffmpeg is on PATH (otherwise the JSON says why there is no MP4).

Large runs: at most --max-tokens (default 5000) tokens are drawn, evenly spaced in s.

Prints one JSON object: run, png, view, n, d, geometry, mask, times (of the panels),
order_parameter (|mean_i x_i| over all tokens at those times, computed from the snapshots),
tokens_drawn,
explained_variance_ratio (pca only), frames, mp4. Exit 1 with a one-line message on
unreadable input (unknown format_version, missing dataset).
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_plot as mp  # noqa: E402
from mfsa_read import MfsaReadError, Run  # noqa: E402

CMAP = "viridis"


def choose_view(geometry, d, projection):
    if geometry == "sphere" and d == 2:
        return "circle"
    if geometry == "sphere" and d == 3:
        return "sphere"
    if geometry != "sphere" and d == 2:
        return "plane"
    return projection


def pca_basis(xs):
    """Mean and the first two principal axes (rows) of the pooled states; each axis's sign
    fixed so that its largest-magnitude component is positive (a deterministic picture)."""
    pooled = np.concatenate(xs, axis=0)
    mean = pooled.mean(axis=0)
    _, sv, vt = np.linalg.svd(pooled - mean, full_matrices=False)
    axes = vt[:2].copy()
    for a in axes:
        if a[np.argmax(np.abs(a))] < 0:
            a *= -1
    var = sv ** 2
    ratio = (var[:2] / var.sum()).tolist() if var.sum() > 0 else [0.0, 0.0]
    return mean, axes, ratio


def draw(ax, view, x, s, t, plt, proj=None, lim=None):
    """One panel: the tokens x (n x d) at time t, coloured by s."""
    kw = dict(c=s, cmap=CMAP, vmin=0.0, vmax=1.0, s=14, edgecolors="none")
    if view == "sphere":
        u, v = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
        ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", linewidth=0.4)
        sc = ax.scatter(x[:, 0], x[:, 1], x[:, 2], depthshade=True, **kw)
        ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
        ax.set_box_aspect((1, 1, 1), zoom=1.35)
        ax.view_init(elev=20, azim=35)
        ax.set_axis_off()
    else:
        if view == "circle":
            th = np.linspace(0, 2 * np.pi, 200)
            ax.plot(np.cos(th), np.sin(th), color="0.8", linewidth=0.8)
            p = x
            ax.set_xlim(-1.15, 1.15), ax.set_ylim(-1.15, 1.15)
        elif view == "pca":
            p = (x - proj[0]) @ proj[1].T
        else:  # plane, coords
            p = x[:, :2]
        if lim is not None and view != "circle":
            ax.set_xlim(lim[0], lim[1]), ax.set_ylim(lim[2], lim[3])
        sc = ax.scatter(p[:, 0], p[:, 1], **kw)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
    ax.set_title(f"t = {t:g}", fontsize=9)
    return sc


def axis_labels(view, ratio):
    if view == "pca":
        return f"PC1 ({100 * ratio[0]:.0f}% var.)", f"PC2 ({100 * ratio[1]:.0f}% var.)"
    if view in ("coords", "plane"):
        return "x_1", "x_2"
    return None, None


def body(args):
    run = Run(args.run)
    if run.kind != "particles":
        raise MfsaReadError(f"{run.folder}: a {run.kind} run; plot_tokens.py draws particle runs (plot_density.py draws PDE runs)")
    geometry, d, n = run.model.get("geometry"), int(run.model.get("d")), int(run.model.get("n"))
    view = choose_view(geometry, d, args.projection)
    snaps = [run.particles(k) for k in range(len(run.files))]
    xs = [sn["x"] for sn in snaps]
    s = snaps[0]["s"]
    proj, ratio, lim = None, None, None
    if view == "pca":
        mean, axes, ratio = pca_basis(xs)
        proj = (mean, axes)
    if view in ("pca", "coords", "plane"):
        pts = np.concatenate([((x - proj[0]) @ proj[1].T) if view == "pca" else x[:, :2] for x in xs])
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        pad = 0.05 * max(float(np.max(hi - lo)), 1e-12)
        lim = (lo[0] - pad, hi[0] + pad, lo[1] - pad, hi[1] + pad)
    idx = mp.pick(run.times, args.panels, args.times)
    order = [float(np.linalg.norm(xs[k].mean(axis=0))) for k in idx]   # of all tokens
    drawn = np.unique(np.linspace(0, n - 1, min(n, args.max_tokens)).round().astype(int))
    xs, s = [x[drawn] for x in xs], s[drawn]                             # what is drawn
    plt = mp.pyplot()  # after the input is read: a refusal costs no matplotlib import
    ncol = min(3, len(idx))
    nrow = (len(idx) + ncol - 1) // ncol + (1 if view == "circle" else 0)
    fig = plt.figure(figsize=(3.0 * ncol + 0.9, 2.9 * nrow))
    sub = {"projection": "3d"} if view == "sphere" else {}
    xl, yl = axis_labels(view, ratio)
    sc = None
    for p, k in enumerate(idx):
        ax = fig.add_subplot(nrow, ncol, p + 1, **sub)
        sc = draw(ax, view, xs[k], s, run.times[k], plt, proj, lim)
        if xl and p % ncol == 0:
            ax.set_ylabel(yl, fontsize=8)
        if xl and p >= len(idx) - ncol:
            ax.set_xlabel(xl, fontsize=8)
    if view == "circle":
        from matplotlib.collections import LineCollection
        ax = fig.add_subplot(nrow, 1, nrow)
        th = np.unwrap(np.array([np.arctan2(x[:, 1], x[:, 0]) for x in xs]), axis=0)  # time x n
        t = np.asarray(run.times)
        segs = [np.column_stack([t, th[:, i]]) for i in range(len(drawn))]
        lc = LineCollection(segs, cmap=CMAP, linewidths=0.7)
        lc.set_array(np.asarray(s, float))
        lc.set_clim(0.0, 1.0)
        ax.add_collection(lc)
        ax.set_xlim(t[0], t[-1] if t[-1] > t[0] else t[0] + 1)
        ax.set_ylim(float(th.min()) - 0.1, float(th.max()) + 0.1)
        ax.set_xlabel("t", fontsize=8)
        ax.set_ylabel("angle theta_i (unwrapped)", fontsize=8)
        ax.tick_params(labelsize=7)
    title = {"circle": "tokens on the circle", "sphere": "tokens on the sphere",
             "pca": "tokens in R^%d: PCA projection (pooled over all times)" % d if geometry != "sphere" else
             "tokens on S^%d: PCA projection (pooled over all times)" % (d - 1),
             "coords": "tokens: first two coordinates (x_1, x_2)", "plane": "tokens in the plane"}[view]
    m = run.model
    fig.suptitle(f"{title}; n = {n}, beta = {m.get('beta'):g}, mask {m.get('mask')}  (colour: position s)", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.92, 0.95))
    cax = fig.add_axes((0.93, 0.15, 0.015, 0.7))
    fig.colorbar(sc, cax=cax).set_label("position s", fontsize=8)
    png = mp.save(fig, args.out or mp.default_out(run.folder, "tokens.png"), dpi=args.dpi)

    frames, mp4, note = 0, None, "no --frames asked for"
    if args.frames:
        os.makedirs(args.frames, exist_ok=True)
        for k, x in enumerate(xs):
            f = plt.figure(figsize=(4.2, 3.8))
            ax = f.add_subplot(1, 1, 1, **sub)
            sc = draw(ax, view, x, s, run.times[k], plt, proj, lim)
            f.colorbar(sc, ax=ax, shrink=0.8).set_label("position s", fontsize=8)
            mp.save(f, os.path.join(args.frames, f"frame_{k:05d}.png"), dpi=args.dpi)
            frames += 1
        mp4, note = mp.movie(args.frames, args.mp4)
    return {"run": run.folder, "png": png, "view": view, "n": n, "d": d, "geometry": geometry, "mask": m.get("mask"),
            "times": [run.times[k] for k in idx], "snapshots": [int(k) for k in idx],
            "order_parameter": order, "tokens_drawn": int(len(drawn)),
            "explained_variance_ratio": ratio, "frames": frames,
            "frames_dir": os.path.abspath(args.frames) if args.frames else None, "mp4": mp4, "mp4_note": note}


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="mfsa -out folder of a particle run")
    ap.add_argument("--out", help="PNG to write (default RUN/pictures/tokens.png)")
    ap.add_argument("--panels", type=int, default=6, help="number of snapshots shown, evenly spread (default 6)")
    ap.add_argument("--times", type=mp.floats, help="comma-separated times to show (nearest snapshots) instead of --panels")
    ap.add_argument("--projection", choices=("pca", "coords"), default="pca",
                    help="2-D view of R^d / S^{d-1} when d does not allow a direct one (default pca)")
    ap.add_argument("--max-tokens", type=int, default=5000,
                    help="draw at most this many tokens, evenly spaced in s (default 5000; PCA and numbers use all)")
    mp.add_picture_args(ap, movie=True)
    return ap


if __name__ == "__main__":
    sys.exit(mp.main("plot_tokens", parser(), body))
