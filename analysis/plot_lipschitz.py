#!/usr/bin/python3
"""Lipschitz constant of attention vs n (log-log) from an mfsa-lipschitz sweep.

    plot_lipschitz.py FOLDER_OR_lipschitz.h5 [--out lipschitz.png]

One line per input family (ball, sphere, adversarial, ...): the estimates ||Df(X)||_2, the
fitted slope of log Lip against log n (least squares over all rows), the sqrt(n) reference
through the family's first point, MODEL.md §5's upper bound where it applies, and a vertical
mark at the predicted mean-field crossover n_c = e^{2 beta |B| R^2} when it falls inside the
plotted range (otherwise the legend says where it is).

Prints one JSON object: path, png, and per family: n, estimate, slope (and slope_before /
slope_after around n_c when both sides hold >= 2 points), crossover_n, residual_max.
Exit 1 with a one-line message on unreadable input.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_plot as mp  # noqa: E402
from mfsa_read import LipschitzSweeps  # noqa: E402


def loglog_slope(n, y):
    n, y = np.asarray(n, float), np.asarray(y, float)
    if len(n) < 2:
        return float("nan")
    return float(np.polyfit(np.log(n), np.log(y), 1)[0])


def body(args):
    sw = LipschitzSweeps(args.path)
    plt = mp.pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    res = {"path": sw.path, "families": {}}
    nmin, nmax = np.inf, 0
    for fam in sw.names:
        cols, attrs = sw[fam]
        n, est = cols["n"], cols["estimate"]
        slope = loglog_slope(n, est)
        nc = float(attrs.get("crossover_n", float("nan")))
        entry = {"n": n, "estimate": est, "slope": slope, "crossover_n": nc, "residual_max": float(np.max(cols["residual"]))}
        before, after = n < nc, n >= nc
        if before.sum() >= 2 and after.sum() >= 2:
            entry["slope_before"] = loglog_slope(n[before], est[before])
            entry["slope_after"] = loglog_slope(n[after], est[after])
        res["families"][fam] = entry
        line, = ax.loglog(n, est, "o-", label=f"{fam}: slope {slope:.3f}")
        ax.loglog(n, est[0] * np.sqrt(n / n[0]), ":", color=line.get_color(), alpha=0.6)
        if np.all(np.isfinite(cols["upper_bound"])):
            ax.loglog(n, cols["upper_bound"], "--", color=line.get_color(), alpha=0.4, lw=1)
        nmin, nmax = min(nmin, n.min()), max(nmax, n.max())
        if np.isfinite(nc) and n.min() <= nc <= n.max():
            ax.axvline(nc, color=line.get_color(), ls="-.", lw=1)
            ax.text(nc, ax.get_ylim()[1], f" n_c({fam})", color=line.get_color(), va="top", fontsize=8)
        elif np.isfinite(nc):
            line.set_label(line.get_label() + f" (n_c = {nc:.2g})")
    a = next(iter(sw.families.values()))[1] if sw.families else {}
    ax.set_xlabel("n (tokens)")
    ax.set_ylabel("||Df(X)||_2")
    ax.set_title(f"Lipschitz constant, beta = {a.get('beta', '?')}, d = {a.get('d', '?')}, {a.get('mask', '?')} mask "
                 f"(dotted: sqrt n, dashed: bound)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    res["png"] = mp.save(fig, args.out or mp.default_out(os.path.dirname(sw.path), "lipschitz.png"))
    return res


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("path", help="mfsa-lipschitz output folder or its lipschitz.h5")
    p.add_argument("--out", help="PNG to write (default FOLDER/pictures/lipschitz.png)")
    return p


if __name__ == "__main__":
    sys.exit(mp.main("plot_lipschitz", parser(), body))
