#!/usr/bin/python3
"""A particle run next to a PDE run on the circle (d = 2), at one time: the tokens' histogram
rho_n(s, theta) (token i in slice floor(i S / n), the PDE's S slices; B angle bins; each
slice normalised to mass 1 like the PDE), the PDE density rho(s, theta) averaged onto the same
B bins, and the slice-averaged densities over theta on top of each other. The title gives the
mean over slices of the Wasserstein-1 distance on the circle (compare_particles_pde.py).

    plot_particles_vs_pde.py PARTICLE_RUN PDE_RUN [--time T] [--bins B] [--out FILE.png]

--time: a time present in both runs (default: the last common one); --bins: angle bins,
a divisor of the PDE's M (default: the largest divisor of M <= max(4, 2 sqrt(tokens per
slice)), so that a bin holds a few tokens).

Prints one JSON object: particle_run, pde_run, png, time, n, slices, angles, bins, w1 (per
slice), w1_mean, order_parameter_particles (|mean_i x_i|), order_parameter_pde
(|int rho_bar e^{i theta}|), hist_max, pde_max. Exit 1 with a one-line message on bad input.
"""
import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_plot as mp  # noqa: E402
from compare_particles_pde import particle_angles, slice_of_tokens, w1_circle  # noqa: E402
from mfsa_read import MfsaReadError, Run  # noqa: E402
from plot_density import order_parameter  # noqa: E402


def default_bins(M, per_slice):
    cap = max(4, int(2 * math.sqrt(per_slice)))
    return max(b for b in range(1, M + 1) if M % b == 0 and b <= cap)


def common_time(ps, qs, want, tol=1e-9):
    """(kp, kq) of the snapshots at the same time: `want` or the last common one."""
    pairs = [(kp, kq) for kp, tp in enumerate(ps.times) for kq, tq in enumerate(qs.times)
             if abs(tp - tq) <= tol * max(1.0, abs(tp))]
    if not pairs:
        raise MfsaReadError(f"no common snapshot times: particles {ps.times}, pde {qs.times}")
    if want is None:
        return pairs[-1]
    best = min(pairs, key=lambda p: abs(ps.times[p[0]] - want))
    if abs(ps.times[best[0]] - want) > 1e-9 * max(1.0, abs(want)):
        raise MfsaReadError(f"--time {want:g} is not a time of both runs (common times: {[ps.times[p[0]] for p in pairs]})")
    return best


def body(args):
    ps, qs = Run(args.particle_run), Run(args.pde_run)
    if ps.kind != "particles" or qs.kind != "pde":
        raise MfsaReadError(f"expected a particle run then a PDE run; got {ps.kind} ({ps.folder}) and {qs.kind} ({qs.folder})")
    kp, kq = common_time(ps, qs, args.time)
    snap = ps.particles(kp)
    ang = particle_angles(snap, ps.files[kp])
    g = qs.grid(kq)
    rho = g["rho"]
    S, M = rho.shape
    n = len(ang)
    if n < S:
        raise MfsaReadError(f"{ps.folder}: {n} tokens cannot fill the PDE's {S} slices")
    sl = slice_of_tokens(n, S)
    counts = np.bincount(sl, minlength=S)
    B = args.bins or default_bins(M, n / S)
    if M % B:
        raise MfsaReadError(f"--bins {B} does not divide the PDE's {M} angles")
    hb = 2 * np.pi / B
    hist = np.zeros((S, B))
    b = np.minimum((ang / hb).astype(int), B - 1)
    np.add.at(hist, (sl, b), 1.0)
    hist /= counts[:, None] * hb
    pde = rho.reshape(S, B, M // B).mean(axis=2)
    pde /= (pde.sum(axis=1, keepdims=True) * hb)            # mass 1 per slice, as the histogram
    w1 = [w1_circle(ang[sl == j], rho[j]) for j in range(S)]
    vmax = max(float(hist.max()), float(pde.max()))
    plt = mp.pyplot()  # after the input is read: a refusal costs no matplotlib import

    fig = plt.figure(figsize=(11.5, 3.6))
    gs = fig.add_gridspec(1, 4, width_ratios=[1, 1, 0.05, 1.25])
    kw = dict(origin="lower", aspect="auto", extent=(0, 2 * np.pi, 0, 1), cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
    for c, (data, title) in enumerate(((hist, f"particles: histogram, n = {n}"), (pde, f"PDE: S = {S}, M = {M} (on {B} bins)"))):
        ax = fig.add_subplot(gs[0, c])
        im = ax.imshow(data, **kw)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("theta", fontsize=8)
        ax.set_xticks([0, np.pi, 2 * np.pi], ["0", "pi", "2pi"])
        ax.tick_params(labelsize=7)
        if c == 0:
            ax.set_ylabel("position s", fontsize=8)
    fig.colorbar(im, cax=fig.add_subplot(gs[0, 2])).set_label("density", fontsize=8)
    ax = fig.add_subplot(gs[0, 3])
    edges = np.arange(B + 1) * hb
    ax.stairs(hist.mean(axis=0), edges, color="C0", label="particles (histogram)")
    th = (np.arange(M) + 0.5) * 2 * np.pi / M
    ax.plot(th, rho.mean(axis=0), color="C3", linewidth=1.2, label="PDE")
    ax.set_xlim(0, 2 * np.pi)
    ax.set_xlabel("theta", fontsize=8)
    ax.set_title("slice-averaged density", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    fig.suptitle(f"t = {ps.times[kp]:g}: mean over slices of W1(particles, PDE) = {np.mean(w1):.3g}", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    png = mp.save(fig, args.out or mp.default_out(ps.folder, "particles_vs_pde.png"), dpi=args.dpi)
    return {"particle_run": ps.folder, "pde_run": qs.folder, "png": png, "time": ps.times[kp], "n": n, "slices": S,
            "angles": M, "bins": B, "w1": w1, "w1_mean": float(np.mean(w1)),
            "order_parameter_particles": float(np.linalg.norm(snap["x"].mean(axis=0))),
            "order_parameter_pde": order_parameter(g), "hist_max": float(hist.max()), "pde_max": float(pde.max())}


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("particle_run", help="mfsa -out folder of a particle run (d = 2, sphere)")
    ap.add_argument("pde_run", help="mfsa -out folder of a -solver pde run")
    ap.add_argument("--time", type=float, help="time present in both runs (default: the last common one)")
    ap.add_argument("--bins", type=int, help="angle bins (a divisor of the PDE's angles)")
    ap.add_argument("--out", help="PNG to write (default PARTICLE_RUN/pictures/particles_vs_pde.png)")
    mp.add_picture_args(ap)
    return ap


if __name__ == "__main__":
    sys.exit(mp.main("plot_particles_vs_pde", parser(), body))
