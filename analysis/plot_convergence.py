#!/usr/bin/python3
"""Convergence studies from several run folders, as log-log plots with a fitted slope.

    plot_convergence.py particles PDE_RUN PARTICLE_RUN... [--time T] [--out FILE.png]
        particles -> PDE as n grows: for every particle run, the mean over slices of the
        Wasserstein-1 distance on the circle to the PDE run (compare_particles_pde.py's
        distance) at time T (default: the last time common to all runs); runs with the same
        n (several seeds) are averaged; slope of log W1 against log n (i.i.d. samples: -1/2).
    plot_convergence.py timestep RUN... [--out FILE.png]
        time-step convergence: runs of one model that differ in the step. h = t_end / steps
        of each run's last snapshot (the mean step actually taken); error of each run against
        the one with the smallest h at the last common time: particles ||X - X_ref||_F / sqrt(n)
        (the W_2,c distance of MODEL.md §2 for equal positions), PDE int int |rho - rho_ref|
        ds dtheta (same grid). Slope of log error against log h (RK4: 4).
    plot_convergence.py grid RUN... [--out FILE.png]
        grid convergence of PDE runs that differ in S and/or M: the finest run (largest S*M)
        is averaged onto each coarser grid (its cell averages; S_ref/S and M_ref/M must be
        integers) and compared in int int |rho - R rho_ref| ds dtheta at the last common
        time; h = 2 pi / M (1 / S when only S varies). Slope of log error against log h.

Prints one JSON object: study, png, time, the x values (n or h), the errors (w1 or error),
slope, intercept (of the least-squares fit of log error on log x), runs. Exit 1 with a
one-line message on unreadable or inconsistent input.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_plot as mp  # noqa: E402
from compare_particles_pde import compare  # noqa: E402
from mfsa_read import MfsaReadError, Run  # noqa: E402


def last_common_time(runs, want=None, tol=1e-9):
    common = None
    for r in runs:
        ts = [float(t) for t in r.times]
        common = ts if common is None else [t for t in common if any(abs(t - u) <= tol * max(1.0, abs(t)) for u in ts)]
    if not common:
        raise MfsaReadError("the runs have no snapshot time in common: " + "; ".join(f"{r.folder}: {r.times}" for r in runs))
    if want is None:
        return common[-1]
    best = min(common, key=lambda t: abs(t - want))
    if abs(best - want) > tol * max(1.0, abs(want)):
        raise MfsaReadError(f"--time {want:g} is not a snapshot time of every run (common times: {common})")
    return best


def mean_step(run):
    k = len(run.files) - 1
    step = int(run.attrs[k].get("step", 0))
    if step <= 0:
        raise MfsaReadError(f"{run.files[k]}: step attribute {step}: cannot infer the time step of the run")
    return run.times[k] / step


def study_particles(args):
    pde = Run(args.pde_run)
    parts = [Run(p) for p in args.runs]
    t = last_common_time([pde] + parts, args.time)
    per_run = []
    for r in parts:
        res = compare(r.folder, pde.folder)
        k = int(np.argmin(np.abs(np.asarray(res["times"]) - t)))
        per_run.append({"run": r.folder, "n": res["n"], "w1": res["mean"][k]})
    ns = sorted({p["n"] for p in per_run})
    w1 = [float(np.mean([p["w1"] for p in per_run if p["n"] == n])) for n in ns]
    return {"study": "particles", "pde_run": pde.folder, "time": t, "n": ns, "w1": w1, "runs": per_run,
            "x": ns, "y": w1, "xlabel": "tokens n", "ylabel": f"mean over slices of W1(particles, PDE) at t = {t:g}",
            "ref": -0.5, "ref_label": "n^(-1/2)"}


def study_timestep(args):
    runs = [Run(p) for p in args.runs]
    kinds = {r.kind for r in runs}
    if len(kinds) != 1:
        raise MfsaReadError(f"timestep: runs of different kinds {sorted(kinds)}")
    t = last_common_time(runs)
    h = [mean_step(r) for r in runs]
    iref = int(np.argmin(h))
    if sum(1 for x in h if abs(x - h[iref]) <= 1e-12 * h[iref]) > 1:
        raise MfsaReadError(f"timestep: two runs share the smallest step h = {h[iref]:g}; give runs with different steps")

    def state(r):
        k = r.nearest(t)
        return r.particles(k)["x"] if r.kind == "particles" else r.grid(k)["rho"]
    ref = state(runs[iref])
    rows = []
    for i, r in enumerate(runs):
        if i == iref:
            continue
        x = state(r)
        if x.shape != ref.shape:
            raise MfsaReadError(f"timestep: {r.folder} has state shape {x.shape}, the reference {runs[iref].folder} {ref.shape}")
        if r.kind == "particles":
            err = float(np.linalg.norm(x - ref) / np.sqrt(len(x)))
        else:
            S, M = x.shape
            err = float(np.sum(np.abs(x - ref)) * (2 * np.pi / M) / S)
        rows.append({"run": r.folder, "h": h[i], "error": err})
    rows.sort(key=lambda p: p["h"])
    return {"study": "timestep", "kind": runs[0].kind, "time": t, "reference": runs[iref].folder, "h_reference": h[iref],
            "h": [p["h"] for p in rows], "error": [p["error"] for p in rows], "runs": rows,
            "x": [p["h"] for p in rows], "y": [p["error"] for p in rows], "xlabel": "time step h = t / steps",
            "ylabel": ("||X - X_ref||_F / sqrt(n)" if runs[0].kind == "particles" else "int int |rho - rho_ref|") + f" at t = {t:g}",
            "ref": 4.0, "ref_label": "h^4"}


def study_grid(args):
    runs = [Run(p) for p in args.runs]
    if any(r.kind != "pde" for r in runs):
        raise MfsaReadError("grid: every run must be a -solver pde run: " + ", ".join(f"{r.folder} ({r.kind})" for r in runs if r.kind != "pde"))
    t = last_common_time(runs)
    grids = [r.grid(r.nearest(t))["rho"] for r in runs]
    sizes = [g.shape for g in grids]
    iref = int(np.argmax([S * M for S, M in sizes]))
    Sr, Mr = sizes[iref]
    vary_S, vary_M = len({S for S, _ in sizes}) > 1, len({M for _, M in sizes}) > 1
    variable = "slices" if vary_S and not vary_M else "angles"
    rows = []
    for i, (r, g) in enumerate(zip(runs, grids)):
        if i == iref:
            continue
        S, M = g.shape
        if Sr % S or Mr % M or (S, M) == (Sr, Mr):
            raise MfsaReadError(f"grid: {r.folder} has S x M = {S} x {M}; the finest run {runs[iref].folder} ({Sr} x {Mr}) "
                                "must refine it by integer factors and differ from it")
        coarse = grids[iref].reshape(S, Sr // S, M, Mr // M).mean(axis=(1, 3))
        err = float(np.sum(np.abs(g - coarse)) * (2 * np.pi / M) / S)
        rows.append({"run": r.folder, "slices": S, "angles": M, "h": (1.0 / S) if variable == "slices" else 2 * np.pi / M, "error": err})
    rows.sort(key=lambda p: p["h"])
    return {"study": "grid", "variable": variable, "time": t, "reference": runs[iref].folder, "reference_grid": [Sr, Mr],
            "h": [p["h"] for p in rows], "error": [p["error"] for p in rows], "runs": rows,
            "x": [p["h"] for p in rows], "y": [p["error"] for p in rows],
            "xlabel": "h = 1 / S" if variable == "slices" else "h = 2 pi / M",
            "ylabel": f"int int |rho - R rho_ref| at t = {t:g}", "ref": 2.0, "ref_label": "h^2"}


def body(args):
    res = {"particles": study_particles, "timestep": study_timestep, "grid": study_grid}[args.study](args)
    plt = mp.pyplot()  # after the input is read: a refusal costs no matplotlib import
    x, y = np.asarray(res.pop("x"), float), np.asarray(res.pop("y"), float)
    if len(x) < 2:
        raise MfsaReadError(f"{args.study}: need at least 2 points to fit a slope (got {len(x)}); give more runs")
    slope, icpt = mp.fit_loglog(x, y)
    res["slope"], res["intercept"] = slope, icpt
    fig, ax = plt.subplots(figsize=(5.6, 4.2))
    ax.loglog(x, y, "o", color="C0", label="measured")
    xx = np.geomspace(x.min(), x.max(), 50)
    ax.loglog(xx, np.exp(icpt) * xx ** slope, "-", color="C0", linewidth=1, label=f"fit: slope {slope:.2f}")
    ref = res.pop("ref")
    ax.loglog(xx, y[np.argmax(x)] * (xx / x.max()) ** ref, "--", color="0.5", linewidth=1, label=res.pop("ref_label"))
    ax.set_xlabel(res.pop("xlabel"), fontsize=9)
    ax.set_ylabel(res.pop("ylabel"), fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=8)
    ax.set_title(f"{args.study} convergence: fitted slope {slope:.3f}", fontsize=10)
    fig.tight_layout()
    first = args.pde_run if args.study == "particles" else args.runs[0]
    res["png"] = mp.save(fig, args.out or mp.default_out(first, f"convergence_{args.study}.png"), dpi=args.dpi)
    return res


def parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="study", required=True)
    for name, hlp in (("particles", "W1 distance of particle runs to a PDE run vs n"),
                      ("timestep", "error vs time step (runs of one model)"), ("grid", "error vs grid (PDE runs)")):
        s = sub.add_parser(name, help=hlp, description=hlp)
        if name == "particles":
            s.add_argument("pde_run", help="mfsa -out folder of the PDE run")
            s.add_argument("runs", nargs="+", help="mfsa -out folders of particle runs (d = 2) with different n")
            s.add_argument("--time", type=float, help="time of the comparison (default: last common snapshot time)")
        else:
            s.add_argument("runs", nargs="+", help="mfsa -out folders")
        s.add_argument("--out", help="PNG to write (default FIRST_RUN/pictures/convergence_<study>.png)")
        mp.add_picture_args(s)
    return ap


if __name__ == "__main__":
    sys.exit(mp.main("plot_convergence", parser(), body))
