#!/usr/bin/python3
"""The attention-variant comparison study (jobs/run_variant_study.sh): cluster count and
Lipschitz estimate vs time, one line per variant.

    plot_variants.py STUDY [--out variants.png] [--threshold 0.999]

STUDY holds one mfsa run folder per variant (STUDY/<variant>/snap_*.h5) and, per snapshot
used, the mfsa-lipschitz estimate of that variant's map at the snapshot's tokens
(STUDY/<variant>/lipschitz/snap_NNNNNN/lipschitz.h5, family "snapshot"). Left panel: the
number of clusters at every snapshot (single linkage, tokens linked when cos(x_i, x_j) >
--threshold: plot_timeseries.cluster_count; pre-LN tokens in R^d are compared by direction).
Right panel: ||DF(X(t))||_2 at the snapshots that have an estimate (the others: none).

Prints one JSON object: study, png, threshold, order (variant names), variants: {name: {folder,
kernel, ln, n, times, cluster_count, lipschitz_times, lipschitz (null where no estimate),
lipschitz_iterations, lipschitz_residual, lipschitz_files}}. Exit 1 with a one-line message on
unreadable input (no variant folder; a lipschitz.h5 of another format, of another snapshot,
token count or kernel than its run).
"""
import argparse
import glob
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_plot as mp  # noqa: E402
from mfsa_read import LipschitzSweeps, MfsaReadError, Run  # noqa: E402
from plot_timeseries import cluster_count  # noqa: E402

# the study's variants in the order of jobs/run_variant_study.sh (others follow by name)
ORDER = ("softmax", "unnormalized", "sigmoid", "relu", "linear", "hyla", "preln", "ngpt")


def variant_folders(study):
    study = os.path.abspath(study)
    if not os.path.isdir(study):
        raise MfsaReadError(f"{study}: no such folder")
    names = [os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(study, "*", "snap_*.h5"))]
    names = sorted(set(names), key=lambda v: (ORDER.index(v) if v in ORDER else len(ORDER), v))
    if not names:
        raise MfsaReadError(f"{study}: no variant run folders (<variant>/snap_*.h5); run jobs/run_variant_study.sh")
    return study, names


def layer_norm(run):
    """-attn_ln of the run (resolved: post on the sphere, none in R^d when not given)."""
    ln = run.option("-attn_ln")
    if ln in (None, "", "default"):
        ln = "post" if run.model.get("geometry") == "sphere" else "none"
    return ln


def lipschitz_at(run, k, lipdir):
    """(estimate, iterations, residual, file) of snapshot k, or None when it has no estimate.
    The file must be the estimate at this snapshot: its -lip_snapshot, n and kernel are checked."""
    snap = run.files[k]
    path = os.path.join(lipdir, os.path.splitext(os.path.basename(snap))[0], "lipschitz.h5")
    if not os.path.exists(path):
        return None
    sw = LipschitzSweeps(path)
    cols, _ = sw["snapshot"]
    words = str(sw.attrs.get("options", "")).split()
    given = words[words.index("-lip_snapshot") + 1] if "-lip_snapshot" in words[:-1] else None
    tail = lambda q: os.path.normpath(q).split(os.sep)[-2:]  # <variant>/snap_NNNNNN.h5: survives moving the study
    if given is None or tail(given) != tail(snap):
        raise MfsaReadError(f"{path}: an estimate at -lip_snapshot {given}, not at {snap}")
    n = int(run.model.get("n", -1))
    if len(cols["n"]) != 1 or int(cols["n"][0]) != n:
        raise MfsaReadError(f"{path}: /lipschitz/snapshot/n = {cols['n'].tolist()}; expected one estimate at n = {n} (the run's)")
    kr, kl = run.model.get("kernel"), sw.attrs.get("kernel")
    if kr is not None and kl is not None and kr != kl:
        raise MfsaReadError(f"{path}: kernel attribute {kl!r}, but the run's is {kr!r}")
    return float(cols["estimate"][0]), int(cols["iterations"][0]), float(cols["residual"][0]), path


def body(args):
    study, names = variant_folders(args.study)
    res = {"study": study, "threshold": args.threshold, "order": names, "variants": {}}
    for v in names:
        run = Run(os.path.join(study, v))
        if run.kind != "particles":
            raise MfsaReadError(f"{run.folder}: a {run.kind} run; the variant study compares particle runs")
        times = np.asarray(run.times, float)
        cc = [cluster_count(run.particles(k)["x"], args.threshold) for k in range(len(run.files))]
        lips = [lipschitz_at(run, k, os.path.join(run.folder, "lipschitz")) for k in range(len(run.files))]
        have = [k for k, e in enumerate(lips) if e is not None]
        res["variants"][v] = {
            "folder": run.folder, "kernel": str(run.model.get("kernel", run.model.get("norm"))), "ln": layer_norm(run),
            "n": int(run.model.get("n", 0)), "heads": int(run.model.get("heads", 1)), "geometry": run.model.get("geometry"),
            "times": times, "cluster_count": cc,
            "lipschitz": [e[0] if e else None for e in lips],
            "lipschitz_times": [float(times[k]) for k in have],
            "lipschitz_iterations": [lips[k][1] for k in have],
            "lipschitz_residual": [lips[k][2] for k in have],
            "lipschitz_files": [lips[k][3] for k in have]}
    plt = mp.pyplot()  # after the input is read: a refusal costs no matplotlib import
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4.4))
    lipall = []
    for i, v in enumerate(names):
        e = res["variants"][v]
        style = dict(color=f"C{i % 10}", ls="-" if i < 10 else "--")
        label = f"{v} ({e['ln']})" if e["ln"] != "post" else v
        ax0.plot(e["times"], e["cluster_count"], marker="o", markersize=2.5, lw=1.2, label=label, **style)
        if e["lipschitz_times"]:
            y = [x for x in e["lipschitz"] if x is not None]
            lipall += y
            ax1.plot(e["lipschitz_times"], y, marker="o", markersize=3, lw=1.2, label=label, **style)
    n0 = res["variants"][names[0]]["n"]
    ax0.set_yscale("log")
    ax0.set_ylim(0.8, n0 * 1.25)
    ax0.set_xlabel("t")
    ax0.set_ylabel("clusters")
    ax0.set_title(f"cluster count (single linkage, cos > {args.threshold:g}), n = {n0}", fontsize=9)
    pos = [x for x in lipall if x > 0]
    if pos and max(pos) / min(pos) > 20:
        ax1.set_yscale("log")
    ax1.set_xlabel("t")
    ax1.set_ylabel("||DF(X(t))||_2")
    ax1.set_title("Lipschitz estimate of each variant's map at its tokens", fontsize=9)
    for ax in (ax0, ax1):
        ax.grid(True, which="both", alpha=0.3)
        ax.tick_params(labelsize=8)
    ax0.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    res["png"] = mp.save(fig, args.out or mp.default_out(study, "variants.png"), dpi=args.dpi)
    return res


def parser():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("study", help="output folder of jobs/run_variant_study.sh (one run folder per variant)")
    ap.add_argument("--out", help="PNG to write (default STUDY/pictures/variants.png)")
    mp.add_cluster_args(ap)
    mp.add_picture_args(ap)
    return ap


if __name__ == "__main__":
    sys.exit(mp.main("plot_variants", parser(), body))
