#!/usr/bin/python3
"""Reading mfsa output (the one place in analysis/ that knows the file layout; it only reads).

    from mfsa_read import Run
    run = Run("runs/default_study_...")     # a folder written by mfsa
    run.times, run.snapshot(k)["x"], run.diagnostics()["order_parameter"]

Command line: `mfsa_read.py summary FOLDER` prints a JSON summary of a run (sizes, times,
first and last diagnostics). Files of an unknown format_version are refused with a message.
"""
import argparse
import glob
import json
import os
import sys

import h5py
import numpy as np

SUPPORTED_FORMATS = {1}


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == (1,):
        v = v[0]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _check_format(path, attrs):
    fmt = attrs.get("format_version")
    if fmt not in SUPPORTED_FORMATS:
        raise ValueError(f"{path}: format_version {fmt!r} is not one this reader knows "
                         f"({sorted(SUPPORTED_FORMATS)}); use the analysis/ scripts of the mfsa that wrote it")


class Run:
    """An mfsa output folder: snap_NNNNNN.h5 files, mfsa.xmf, diagnostics.h5. `kind` is
    "particles" (datasets x, s, index, speed) or "pde" (rho, velocity, mass, s, theta)."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        self.files = sorted(glob.glob(os.path.join(self.folder, "snap_*.h5")))
        if not self.files:
            raise FileNotFoundError(f"{self.folder}: no snap_*.h5 files (is this an mfsa -out folder?)")
        self.attrs, self.times = [], []
        for p in self.files:
            with h5py.File(p, "r") as f:
                a = {k: _attr(f.attrs[k]) for k in f.attrs}
                kind = "particles" if "particles" in f else "pde" if "pde" in f else None
            _check_format(p, a)
            if kind is None or "time" not in a:
                raise ValueError(f"{p}: neither /particles nor /pde, or no 'time' attribute: not an mfsa snapshot")
            self.attrs.append(a)
            self.times.append(float(a["time"]))
        self.kind = kind

    def snapshot(self, k):
        """Arrays of snapshot k (particles: x, s, index, speed; pde: rho, velocity, mass, s,
        theta) and its attributes."""
        with h5py.File(self.files[k], "r") as f:
            snap = {name: f[self.kind][name][()] for name in f[self.kind]}
        snap["attrs"] = self.attrs[k]
        return snap

    def diagnostics(self):
        """Columns of diagnostics.h5 as numpy arrays."""
        path = os.path.join(self.folder, "diagnostics.h5")
        with h5py.File(path, "r") as f:
            _check_format(path, {k: _attr(f.attrs[k]) for k in f.attrs})
            return {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}


def summary(folder):
    run = Run(folder)
    diag = run.diagnostics()
    first, last = run.attrs[0], run.attrs[-1]
    cols = ("energy", "order_parameter", "clustered_fraction", "logz_min", "logz_max", "norm_drift")
    return {
        "folder": run.folder,
        "n": first["n"], "d": first["d"], "heads": first["heads"], "beta": first["beta"],
        "mask": first["mask"], "geometry": first["geometry"], "ranks": first["ranks"],
        "snapshots": len(run.files), "times": run.times, "last_step": last["step"],
        "first": {c: float(diag[c][0]) for c in cols},
        "last": {c: float(diag[c][-1]) for c in cols},
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="JSON summary of a run folder")
    s.add_argument("folder")
    args = ap.parse_args(argv)
    try:
        print(json.dumps(summary(args.folder), indent=1))
    except (OSError, ValueError, KeyError) as e:
        print(f"mfsa_read: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
