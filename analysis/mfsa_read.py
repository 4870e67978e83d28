#!/usr/bin/python3
"""Reading mfsa output: the one place in analysis/ that knows the file layouts (it only reads).

    from mfsa_read import Run, XdmfIndex, Checkpoint, LipschitzSweeps, read_diagnostics
    run = Run("runs/default_study_...")      # an mfsa -out folder (particles or PDE)
    run.times, run.kind                      # snapshot times, "particles" or "pde"
    run.particles(k)["x"]                    # n x d, global token order (also s, index, speed)
    run.grid(k)["rho"]                       # S x M (also velocity, mass, s, theta)
    run.diagnostics(required=("order_parameter",))   # columns of diagnostics.h5
    run.index()                              # XdmfIndex of mfsa.xmf: entries, times, files
    Checkpoint(run.folder + "/checkpoint.h5")         # time, step, dt, output index, table
    LipschitzSweeps("lip_run")               # <folder>/lipschitz.h5 of mfsa-lipschitz

Layouts (format_version 1; every HDF5 file carries the provenance attributes format_version,
mfsa_version, git_revision, options, ranks, seed, solver, n, d, heads, k, beta, mask, norm,
geometry and, except lipschitz.h5, the /model group Q, K, V):
  snap_NNNNNN.h5   particles: /particles/{x (n x d), s, index, speed, xyz (d != 3)};
                   PDE: /pde/{rho (S x M), velocity (S x M), mass (S), s (S), theta (M)};
                   root attributes time, step
  mfsa.xmf         XDMF temporal collection, one Grid per snapshot (Time Value, HDF DataItems)
  diagnostics.h5   one 1-D dataset per column, one row per output time (time, step, ...)
  checkpoint.h5    /state (flat), attributes time, dt, step, state_size, state_checksum, naux,
                   aux_<i>, complete; /output: attributes nsnap_files, kind (1 particles,
                   2 grid), nsnap, diag_columns (newline-separated), diag_rows; datasets
                   snap_time (nsnap), snap_entry (nsnap x 6: kind, number, n, d, S, M),
                   diag_values (diag_rows x columns)
  lipschitz.h5     root attributes format_version, kind = "lipschitz"; one group per input
                   family /lipschitz/<family> with 1-D datasets n, estimate, iterations,
                   residual, upper_bound, radius, seconds (one row per estimate) and
                   attributes family, beta, norm_B, norm_V, crossover_n, radius, d, heads,
                   mask, norm, geometry, tol, max_it

Every reader refuses a file of an unknown format_version and a missing dataset with an
MfsaReadError (a ValueError) whose message names the file and the dataset.

Command line (JSON on stdout; exit 1 and a one-line message on unreadable input):
    mfsa_read.py summary FOLDER       sizes, times, first and last diagnostics of a run
    mfsa_read.py xdmf FILE.xmf        times and files the XDMF index references
    mfsa_read.py checkpoint FILE.h5   a checkpoint's metadata (and whether its checksum holds)
    mfsa_read.py lipschitz PATH       a Lipschitz sweep (folder or lipschitz.h5)
"""
import argparse
import glob
import json
import math
import os
import sys
import xml.etree.ElementTree as ET

import h5py
import numpy as np

SUPPORTED_FORMATS = {1}
PARTICLE_DATASETS = ("x", "s", "index")          # what every particle snapshot must hold
GRID_DATASETS = ("rho", "s", "theta")            # what every PDE snapshot must hold
LIPSCHITZ_FAMILIES = ("ball", "sphere", "adversarial", "init", "snapshot")
LIPSCHITZ_COLUMNS = ("n", "estimate", "iterations", "residual", "upper_bound", "radius", "seconds")


class MfsaReadError(ValueError):
    """A file this module cannot use; the message names the file (and the dataset)."""


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == (1,):
        v = v[0]
    if isinstance(v, np.bytes_):
        return v.decode()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _attrs(obj):
    return {k: _attr(obj.attrs[k]) for k in obj.attrs}


def _check_format(path, attrs):
    fmt = attrs.get("format_version")
    if fmt not in SUPPORTED_FORMATS:
        raise MfsaReadError(f"{path}: format_version {fmt!r} is not one this reader knows "
                            f"({sorted(SUPPORTED_FORMATS)}); use the analysis/ scripts of the mfsa that wrote it")


def _open(path):
    """h5py.File read-only; a missing or non-HDF5 file becomes an MfsaReadError naming it."""
    if not os.path.isfile(path):
        raise MfsaReadError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise MfsaReadError(f"{path}: cannot open it as HDF5 ({e})") from None


def _dataset(f, path, name):
    """The whole dataset `name` of the open file f (path: for the message)."""
    obj = f.get(name)
    if not isinstance(obj, h5py.Dataset):
        raise MfsaReadError(f"{path}: missing dataset {name}" + ("" if obj is None else " (it is a group)"))
    return obj[()]


def required_columns(table, path, names):
    """Raises MfsaReadError naming the file and the first of `names` not in `table`."""
    for c in names:
        if c not in table:
            raise MfsaReadError(f"{path}: missing dataset /{c} (columns present: {', '.join(sorted(table))})")


def read_diagnostics(path, required=()):
    """Columns of a diagnostics.h5 table as numpy arrays (format checked; `required` columns
    must be present)."""
    with _open(path) as f:
        _check_format(path, _attrs(f))
        table = {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}
    required_columns(table, path, ("time",) + tuple(required))
    return table


class XdmfIndex:
    """The XDMF index mfsa.xmf: `entries` (one dict per snapshot: name, time, time_str,
    topology, dimensions, files = the HDF5 files its DataItems reference), `times`, `files`
    (in order, each once) and `missing()` (referenced files that do not exist)."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.folder = os.path.dirname(self.path)
        if not os.path.isfile(self.path):
            raise MfsaReadError(f"{self.path}: no such file")
        try:
            root = ET.parse(self.path).getroot()
        except ET.ParseError as e:
            raise MfsaReadError(f"{self.path}: not a readable XDMF file ({e})") from None
        coll = [g for g in root.iter("Grid") if g.get("GridType") == "Collection" and g.get("CollectionType") == "Temporal"]
        if not coll:
            raise MfsaReadError(f"{self.path}: no temporal collection (Grid GridType=\"Collection\" CollectionType=\"Temporal\")")
        self.name = coll[0].get("Name")
        self.entries = []
        for g in coll[0].findall("Grid"):
            t = g.find("Time")
            if t is None or t.get("Value") is None:
                raise MfsaReadError(f"{self.path}: grid {g.get('Name')!r} has no <Time Value=...>")
            topo = g.find("Topology")
            files = []
            for di in g.iter("DataItem"):
                if di.get("Format") == "HDF":
                    ref = (di.text or "").strip()
                    if ":" not in ref:
                        raise MfsaReadError(f"{self.path}: grid {g.get('Name')!r}: HDF DataItem {ref!r} is not FILE:/DATASET")
                    fn = ref.split(":", 1)[0]
                    if fn not in files:
                        files.append(fn)
            self.entries.append({
                "name": g.get("Name"), "time_str": t.get("Value"), "time": float(t.get("Value")),
                "topology": None if topo is None else topo.get("TopologyType"),
                "dimensions": None if topo is None else (topo.get("Dimensions") or topo.get("NumberOfElements")),
                "files": files})
        self.times = [e["time"] for e in self.entries]
        self.files = []
        for e in self.entries:
            self.files += [f for f in e["files"] if f not in self.files]

    def missing(self):
        return [f for f in self.files if not os.path.isfile(os.path.join(self.folder, f))]

    def summary(self):
        return {"path": self.path, "collection": self.name, "grids": len(self.entries), "times": self.times,
                "files": self.files, "missing": self.missing(),
                "topology": sorted({str(e["topology"]) for e in self.entries})}


class Run:
    """An mfsa output folder: snap_NNNNNN.h5 files, mfsa.xmf, diagnostics.h5. `kind` is
    "particles" (datasets x, s, index, speed) or "pde" (rho, velocity, mass, s, theta)."""

    def __init__(self, folder):
        self.folder = os.path.abspath(folder)
        if not os.path.isdir(self.folder):
            raise MfsaReadError(f"{self.folder}: no such folder")
        self.files = sorted(glob.glob(os.path.join(self.folder, "snap_*.h5")))
        if not self.files:
            raise FileNotFoundError(f"{self.folder}: no snap_*.h5 files (is this an mfsa -out folder?)")
        self.attrs, self.times = [], []
        kinds = set()
        for p in self.files:
            with _open(p) as f:
                a = _attrs(f)
                kind = "particles" if "particles" in f else "pde" if "pde" in f else None
            _check_format(p, a)
            if kind is None or "time" not in a:
                raise MfsaReadError(f"{p}: neither /particles nor /pde, or no 'time' attribute: not an mfsa snapshot")
            kinds.add(kind)
            self.attrs.append(a)
            self.times.append(float(a["time"]))
        if len(kinds) != 1:
            raise MfsaReadError(f"{self.folder}: snapshots of both kinds ({sorted(kinds)}); one run writes one kind")
        self.kind = kind

    # -- snapshots --
    def snapshot(self, k, required=None):
        """Arrays of snapshot k (particles: x, s, index, speed; pde: rho, velocity, mass, s,
        theta) and its attributes. `required` (default: the datasets every snapshot of this
        kind has) must be present, else MfsaReadError naming the file and dataset."""
        path = self.files[k]
        need = (PARTICLE_DATASETS if self.kind == "particles" else GRID_DATASETS) if required is None else required
        with _open(path) as f:
            g = f[self.kind]
            snap = {name: g[name][()] for name in g if isinstance(g[name], h5py.Dataset)}
        for name in need:
            if name not in snap:
                raise MfsaReadError(f"{path}: missing dataset /{self.kind}/{name}")
        snap["attrs"] = self.attrs[k]
        return snap

    def particles(self, k):
        """Particle snapshot k with x (n x d), s, index (and speed) in global token order."""
        if self.kind != "particles":
            raise MfsaReadError(f"{self.folder}: a {self.kind} run, not a particle run")
        snap = self.snapshot(k)
        x = snap["x"]
        if x.ndim != 2:
            raise MfsaReadError(f"{self.files[k]}: /particles/x has shape {x.shape}; expected n x d")
        order = np.argsort(np.asarray(snap["index"]).ravel(), kind="stable")
        for key in ("x", "s", "index", "speed", "xyz"):
            if key in snap and np.ndim(snap[key]) >= 1 and len(snap[key]) == len(order):
                snap[key] = np.asarray(snap[key])[order]
        snap["time"] = self.times[k]
        return snap

    def grid(self, k):
        """PDE snapshot k: rho (S x M), s (S), theta (M), mass, velocity, time."""
        if self.kind != "pde":
            raise MfsaReadError(f"{self.folder}: a {self.kind} run, not a PDE run")
        snap = self.snapshot(k)
        rho = snap["rho"]
        if rho.ndim != 2 or rho.shape != (len(snap["s"]), len(snap["theta"])):
            raise MfsaReadError(f"{self.files[k]}: /pde/rho has shape {rho.shape}; expected S x M = "
                                f"{len(snap['s'])} x {len(snap['theta'])} (from /pde/s, /pde/theta)")
        snap["time"] = self.times[k]
        return snap

    def nearest(self, t):
        """Index of the snapshot whose time is closest to t."""
        return int(np.argmin(np.abs(np.asarray(self.times) - t)))

    # -- other files of the folder --
    def diagnostics(self, required=()):
        """Columns of diagnostics.h5 as numpy arrays (`required` columns must be present)."""
        return read_diagnostics(os.path.join(self.folder, "diagnostics.h5"), required)

    def index(self):
        return XdmfIndex(os.path.join(self.folder, "mfsa.xmf"))

    def checkpoint(self, name="checkpoint.h5"):
        return Checkpoint(os.path.join(self.folder, name))

    def model_matrices(self, k=0):
        """(Q, K, V) of the run (heads x k x d, heads x k x d, heads x d x d) from the /model
        group of snapshot k."""
        path = self.files[k]
        with _open(path) as f:
            return tuple(_dataset(f, path, "/model/" + m) for m in ("Q", "K", "V"))

    @property
    def model(self):
        """Provenance of the first snapshot (n, d, beta, mask, norm, geometry, options, ...)."""
        return self.attrs[0]

    def option(self, name, default=None):
        """Value of a PETSc option (e.g. "-ts_dt") in the run's resolved options string."""
        words = str(self.model.get("options", "")).split()
        for i, w in enumerate(words):
            if w == name:
                return words[i + 1] if i + 1 < len(words) and not _is_option(words[i + 1]) else ""
        return default


def _is_option(w):
    if not w.startswith("-"):
        return False
    try:
        float(w)
        return False
    except ValueError:
        return True


def _splitmix(z):
    """splitmix64 finaliser on uint64 (wrapping), as io/checkpoint.c Mix()."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class Checkpoint:
    """Metadata of a checkpoint.h5 (io/checkpoint.c): attrs (provenance, time, dt, step,
    state_size, complete, ...), complete (bool), solver, time, step, dt, aux (solver scalars),
    snapshots (the output index it restores: list of dicts time, kind, number, n, d, S, M),
    nsnap_files, diagnostics (the table rows it restores, as columns). state() reads /state;
    checksum_ok() recomputes the order-independent checksum."""

    KINDS = {0: "none", 1: "particles", 2: "grid"}

    def __init__(self, path):
        self.path = os.path.abspath(path)
        with _open(self.path) as f:
            self.attrs = _attrs(f)
            _check_format(self.path, self.attrs)
            for a in ("time", "step", "dt", "state_size", "state_checksum"):
                if a not in self.attrs:
                    raise MfsaReadError(f"{self.path}: missing attribute '{a}': not an mfsa checkpoint")
            if not isinstance(f.get("state"), h5py.Dataset):
                raise MfsaReadError(f"{self.path}: missing dataset /state")
            self.state_shape = f["state"].shape
            out = f.get("output")
            if not isinstance(out, h5py.Group):
                raise MfsaReadError(f"{self.path}: missing group /output (the output index a restart restores)")
            oa = _attrs(out)
            self.nsnap_files = int(oa.get("nsnap_files", 0))
            self.output_kind = self.KINDS.get(int(oa.get("kind", 0)), str(oa.get("kind")))
            nsnap = int(oa.get("nsnap", 0))
            self.snapshots = []
            if nsnap:
                times = _dataset(f, self.path, "/output/snap_time")
                ent = _dataset(f, self.path, "/output/snap_entry").reshape(-1, 6)
                for t, e in zip(times, ent):
                    self.snapshots.append({"time": float(t), "kind": self.KINDS.get(int(e[0]), int(e[0])), "number": int(e[1]),
                                           "n": int(e[2]), "d": int(e[3]), "S": int(e[4]), "M": int(e[5])})
            cols = [c for c in str(oa.get("diag_columns", "")).split("\n") if c]
            rows = int(oa.get("diag_rows", 0))
            self.diagnostics = {c: np.zeros(0) for c in cols}
            if rows and cols:
                vals = _dataset(f, self.path, "/output/diag_values").reshape(rows, len(cols))
                self.diagnostics = {c: vals[:, i] for i, c in enumerate(cols)}
        a = self.attrs
        self.complete = a.get("complete") == 1
        self.solver = a.get("solver")
        self.time, self.step, self.dt = float(a["time"]), int(a["step"]), float(a["dt"])
        self.aux = [float(a[f"aux_{i}"]) for i in range(int(a.get("naux", 0))) if f"aux_{i}" in a]

    def state(self):
        with _open(self.path) as f:
            return _dataset(f, self.path, "/state")

    def checksum_ok(self):
        x = np.ascontiguousarray(np.asarray(self.state(), dtype="<f8").ravel())
        if x.size != int(self.attrs["state_size"]):
            return False
        idx = np.arange(x.size, dtype=np.uint64)
        with np.errstate(over="ignore"):
            mine = int(np.sum(_splitmix(x.view(np.uint64) ^ _splitmix(idx)), dtype=np.uint64))
        return mine == (int(self.attrs["state_checksum"]) & (2 ** 64 - 1))

    def summary(self):
        return {"path": self.path, "complete": self.complete, "solver": self.solver, "time": self.time, "step": self.step,
                "dt": self.dt, "state_size": int(self.attrs["state_size"]), "checksum_ok": self.checksum_ok(),
                "aux": self.aux, "nsnap_files": self.nsnap_files, "output_kind": self.output_kind,
                "snapshot_times": [s["time"] for s in self.snapshots],
                "diagnostics_columns": list(self.diagnostics), "diagnostics_rows": len(next(iter(self.diagnostics.values()), [])),
                "n": self.attrs.get("n"), "d": self.attrs.get("d"), "beta": self.attrs.get("beta"), "ranks": self.attrs.get("ranks")}


class LipschitzSweeps:
    """A Lipschitz sweep written by mfsa-lipschitz: PATH is the folder or its lipschitz.h5.

        sw = LipschitzSweeps("lip_run")
        sw.attrs                          # root attributes (provenance, kind, format_version)
        sw.names                          # families present, e.g. ["ball", "adversarial"]
        cols, attrs = sw["ball"]          # dict of 1-D numpy arrays (n, estimate, iterations,
                                          # residual, upper_bound, radius, seconds) + group attrs
        sw.families                       # {family: (cols, attrs)}

    Refuses another format_version, a kind other than "lipschitz", a family group without one
    of the columns, and columns of different lengths (MfsaReadError naming file and dataset)."""

    def __init__(self, path):
        path = os.path.abspath(path)
        self.path = os.path.join(path, "lipschitz.h5") if os.path.isdir(path) else path
        with _open(self.path) as f:
            self.attrs = _attrs(f)
            _check_format(self.path, self.attrs)
            if self.attrs.get("kind") != "lipschitz":
                raise MfsaReadError(f"{self.path}: attribute kind = {self.attrs.get('kind')!r}, expected 'lipschitz'")
            top = f.get("lipschitz")
            if not isinstance(top, h5py.Group) or not len(top):
                raise MfsaReadError(f"{self.path}: missing group /lipschitz/<family> (families: {', '.join(LIPSCHITZ_FAMILIES)})")
            self.families = {}
            for fam in top:
                g = top[fam]
                if not isinstance(g, h5py.Group):
                    continue
                cols = {c: np.asarray(_dataset(g, self.path, f"/lipschitz/{fam}/{c}")) if c in g else None for c in LIPSCHITZ_COLUMNS}
                for c, v in cols.items():
                    if v is None:
                        raise MfsaReadError(f"{self.path}: missing dataset /lipschitz/{fam}/{c}")
                    if v.ndim != 1:
                        raise MfsaReadError(f"{self.path}: dataset /lipschitz/{fam}/{c} has shape {v.shape}; expected 1-D (one row per estimate)")
                lens = {c: len(v) for c, v in cols.items()}
                if len(set(lens.values())) != 1:
                    raise MfsaReadError(f"{self.path}: /lipschitz/{fam}: columns of different lengths {lens}")
                cols["n"] = cols["n"].astype(np.int64)
                cols["iterations"] = cols["iterations"].astype(np.int64)
                self.families[fam] = (cols, _attrs(g))
        self.names = [n for n in LIPSCHITZ_FAMILIES if n in self.families] + sorted(n for n in self.families if n not in LIPSCHITZ_FAMILIES)

    def __getitem__(self, family):
        if family not in self.families:
            raise MfsaReadError(f"{self.path}: missing group /lipschitz/{family} (present: {', '.join(self.names)})")
        return self.families[family]

    def summary(self):
        return {"path": self.path, "families": {
            f: {"rows": int(len(self.families[f][0]["n"])), "n": self.families[f][0]["n"].tolist(),
                "estimate": self.families[f][0]["estimate"].tolist(), "attrs": self.families[f][1]} for f in self.names}}


def summary(folder):
    run = Run(folder)
    diag = run.diagnostics()
    first, last = run.attrs[0], run.attrs[-1]
    cols = ("energy", "order_parameter", "clustered_fraction", "logz_min", "logz_max", "norm_drift")
    if run.kind == "pde":
        cols = ("energy", "order_parameter", "mass_min", "mass_max", "mass_drift", "rho_min")
    return {
        "folder": run.folder, "kind": run.kind,
        "n": first["n"], "d": first["d"], "heads": first["heads"], "beta": first["beta"],
        "mask": first["mask"], "geometry": first["geometry"], "ranks": first["ranks"],
        "snapshots": len(run.files), "times": run.times, "last_step": last["step"],
        "first": {c: _num(diag[c][0]) for c in cols if c in diag},
        "last": {c: _num(diag[c][-1]) for c in cols if c in diag},
    }


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("summary", help="JSON summary of a run folder")
    s.add_argument("folder")
    s = sub.add_parser("xdmf", help="times and files an XDMF index references")
    s.add_argument("path")
    s = sub.add_parser("checkpoint", help="metadata of a checkpoint.h5")
    s.add_argument("path")
    s = sub.add_parser("lipschitz", help="a Lipschitz sweep (folder or lipschitz.h5)")
    s.add_argument("path")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "summary":
            res = summary(args.folder)
        elif args.cmd == "xdmf":
            res = XdmfIndex(args.path).summary()
        elif args.cmd == "checkpoint":
            res = Checkpoint(args.path).summary()
        else:
            res = LipschitzSweeps(args.path).summary()
        print(json.dumps(res, indent=1))
    except (OSError, ValueError, KeyError) as e:
        print(f"mfsa_read: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
