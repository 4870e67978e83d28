"""What every analysis/ plotting script shares (no file layouts here: those are mfsa_read.py's):
headless matplotlib (Agg), the command-line contract (argparse --help; the key numbers as ONE
JSON object on stdout; unreadable input -> a one-line message on stderr and exit 1, never a
traceback), PNG saving at a small size, and movie frames (+ MP4 when ffmpeg is on PATH).

    import mfsa_plot as mp
    plt = mp.pyplot()
    def body(args): ...; return {"slope": s}        # numbers plotted
    sys.exit(mp.main("plot_x", parser, body))
"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (headless: no display needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def jsonable(v):
    """numpy scalars/arrays -> Python; NaN and inf -> None (strict JSON has neither)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return jsonable(v.tolist())
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def main(name, parser, body, argv=None):
    """Parse argv, run body(args) -> dict, print it as one JSON line; exit code."""
    args = parser.parse_args(argv)
    try:
        res = body(args)
    except (OSError, ValueError, KeyError, IndexError) as e:  # MfsaReadError is a ValueError
        msg = " ".join(str(e).split()) or type(e).__name__
        print(f"{name}: {msg}", file=sys.stderr)
        return 1
    print(json.dumps(jsonable(res)))
    return 0


def add_picture_args(ap, movie=False):
    """The output options every script shares: --dpi, and with movie=True --frames and --mp4."""
    if movie:
        ap.add_argument("--frames", help="folder for one PNG per snapshot (movie frames)")
        ap.add_argument("--mp4", help="also assemble the frames into this MP4 (needs ffmpeg on PATH)")
    ap.add_argument("--dpi", type=int, default=80, help="PNG resolution (default 80)")
    return ap


def add_cluster_args(ap):
    """--threshold of the single-linkage cluster count (plot_timeseries.cluster_count)."""
    ap.add_argument("--threshold", type=float, default=0.999,
                    help="cosine above which two tokens are linked when counting clusters (default 0.999)")
    return ap


def default_out(run_folder, filename):
    """<run>/pictures/<filename> (the folder is created)."""
    d = os.path.join(os.path.abspath(run_folder), "pictures")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, filename)


def save(fig, path, dpi=80):
    """Save a figure as PNG (folders created), close it, return the absolute path."""
    path = os.path.abspath(path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=dpi)
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def pick(times, count=None, wanted=None):
    """Snapshot indices to show: the ones nearest to each of `wanted` times, else `count`
    evenly spread ones including the first and the last."""
    times = np.asarray(times, dtype=float)
    if wanted:
        idx = [int(np.argmin(np.abs(times - t))) for t in wanted]
    else:
        count = max(1, min(count or 6, len(times)))
        idx = [int(round(i)) for i in np.linspace(0, len(times) - 1, count)]
    out = []
    for i in idx:
        if i not in out:
            out.append(i)
    return out


def floats(text):
    """'0,1.5,3' -> [0.0, 1.5, 3.0] (argparse type)."""
    return [float(v) for v in text.split(",") if v.strip()]


def movie(frames, mp4, fps=8):
    """Assemble frame_%05d.png files of folder `frames` into `mp4` with ffmpeg when it is on
    PATH. Returns (path or None, why-not)."""
    ffmpeg = shutil.which("ffmpeg")
    if not mp4:
        return None, "no --mp4 asked for"
    if not ffmpeg:
        return None, "ffmpeg is not on PATH (PNG frames only)"
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-framerate", str(fps), "-i", os.path.join(frames, "frame_%05d.png"),
           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-pix_fmt", "yuv420p", os.path.abspath(mp4)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        return None, "ffmpeg failed: " + " ".join(p.stderr.decode(errors="replace").split())[:300]
    return os.path.abspath(mp4), ""


def fit_loglog(x, y):
    """Least-squares slope and intercept of log y against log x (positive finite points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 2:
        return float("nan"), float("nan")
    slope, icpt = np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)
    return float(slope), float(icpt)
