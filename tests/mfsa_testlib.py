"""Shared helpers for the end-to-end tests of mfsa (Debian's /usr/bin/python3, numpy, h5py).

Every test drives the real `mfsa` binary through the MPI launcher that CMake configured
(MFSA_MPIEXEC adds Open MPI's root/oversubscribe flags), reads what it wrote, and compares
with an independent reference computed here. Open MPI exits 0 when it refuses to run as
root, so a run only counts as successful if it also produced its output files.
"""
import glob
import math
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import h5py

BIN = os.environ.get("MFSA_BIN", "")
MPIEXEC = os.environ.get("MFSA_MPIEXEC", "")
SOURCE_DIR = os.environ.get("MFSA_SOURCE_DIR", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("MFSA_BUILD_DIR", os.path.join(SOURCE_DIR, "build"))
SKIP = 77  # ctest SKIP_RETURN_CODE


def _require_env():
    missing = [k for k, v in (("MFSA_BIN", BIN), ("MFSA_MPIEXEC", MPIEXEC)) if not v]
    if missing:
        print("test harness error: environment variables not set: " + ", ".join(missing))
        sys.exit(2)
    if not os.path.isfile(BIN) or not os.access(BIN, os.X_OK):
        print(f"test harness error: MFSA_BIN={BIN} is not an executable file")
        sys.exit(2)


# ----------------------------------------------------------------------------------
# checks: collect every failure, print what was compared, exit non-zero at the end
# ----------------------------------------------------------------------------------
class Checker:
    def __init__(self, name):
        self.name = name
        self.failures = []
        self.count = 0
        self.prefix = ""  # prepended to every message (e.g. the case being checked)
        self.t0 = time.time()

    def check(self, ok, what):
        self.count += 1
        what = self.prefix + what
        tag = "ok  " if ok else "FAIL"
        print(f"[{tag}] {what}", flush=True)
        if not ok:
            self.failures.append(what)
        return ok

    def close(self, what, err, tol):
        """err <= tol, printed as 'what: error E <= tol T'."""
        ok = bool(np.isfinite(err)) and err <= tol
        return self.check(ok, f"{what}: error {err:.3e} {'<=' if ok else '>'} tol {tol:.1e}")

    def fail(self, what):
        return self.check(False, what)

    def finish(self):
        dt = time.time() - self.t0
        if self.failures:
            print(f"\n{self.name}: {len(self.failures)} of {self.count} checks FAILED ({dt:.1f} s):")
            for f in self.failures:
                print("  - " + f)
            sys.exit(1)
        print(f"\n{self.name}: all {self.count} checks passed ({dt:.1f} s)")
        sys.exit(0)


class RunFailed(Exception):
    pass


# ----------------------------------------------------------------------------------
# running mfsa
# ----------------------------------------------------------------------------------
def test_dir(testname):
    """A fresh, empty scratch folder $MFSA_BUILD_DIR/tests/tmp/<testname>."""
    d = os.path.join(BUILD_DIR, "tests", "tmp", testname)
    if os.path.lexists(d):
        # make everything writable again (a test may have removed permissions)
        for root, dirs, files in os.walk(d):
            for x in dirs:
                try:
                    os.chmod(os.path.join(root, x), 0o755)
                except OSError:
                    pass
        shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


class Result:
    def __init__(self, cmd, rc, stdout, stderr, wall, timed_out=False):
        self.cmd, self.rc, self.stdout, self.stderr, self.wall = cmd, rc, stdout, stderr, wall
        self.timed_out = timed_out

    @property
    def output(self):
        return self.stdout + "\n" + self.stderr

    def describe(self, tail=3000):
        s = f"command: {' '.join(self.cmd)}\nexit code: {self.rc}{' (TIMED OUT)' if self.timed_out else ''}\n"
        s += "--- stdout (tail) ---\n" + self.stdout[-tail:] + "\n--- stderr (tail) ---\n" + self.stderr[-tail:]
        return s


def run_mfsa(nprocs, args, cwd=None, timeout=180):
    """Run `MFSA_MPIEXEC nprocs MFSA_BIN args...`; never raises on failure."""
    _require_env()
    cmd = [MPIEXEC, str(nprocs), BIN] + [str(a) for a in args]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, stdin=subprocess.DEVNULL)
        return Result(cmd, p.returncode, p.stdout.decode(errors="replace"),
                      p.stderr.decode(errors="replace"), time.time() - t0)
    except subprocess.TimeoutExpired as e:
        out = (e.stdout or b"").decode(errors="replace")
        err = (e.stderr or b"").decode(errors="replace")
        return Result(cmd, -9, out, err, time.time() - t0, timed_out=True)


def snapshot_files(outdir):
    return sorted(glob.glob(os.path.join(outdir, "snap_*.h5")))


def run_ok(nprocs, args, outdir, cwd=None, timeout=180):
    """Run mfsa writing to `outdir` and insist it succeeded: exit 0 AND snapshots AND the XDMF
    index exist (Open MPI exits 0 when it refuses to start as root). Raises RunFailed."""
    args = list(args) + ["-out", outdir]
    r = run_mfsa(nprocs, args, cwd=cwd, timeout=timeout)
    snaps = snapshot_files(outdir) if os.path.isdir(outdir) else []
    problems = []
    if r.rc != 0:
        problems.append(f"exit code {r.rc}")
    if not snaps:
        problems.append("no snap_*.h5 written")
    if not os.path.isfile(os.path.join(outdir, "mfsa.xmf")):
        problems.append("no mfsa.xmf written")
    if problems:
        raise RunFailed("mfsa run failed (" + ", ".join(problems) + ")\n" + r.describe())
    print(f"  ran ({r.wall:.1f} s, {len(snaps)} snapshots): {' '.join(r.cmd[1:2] + ['mfsa'] + r.cmd[3:])}", flush=True)
    return r


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


def read_snapshot(path):
    """Dict with time, step, attrs, and every dataset as numpy arrays (x, s, index, speed, Q, K, V)."""
    with h5py.File(path, "r") as f:
        snap = {"path": path, "attrs": {k: _attr(f.attrs[k]) for k in f.attrs}}
        for key, ds in (("x", "/particles/x"), ("s", "/particles/s"), ("index", "/particles/index"),
                        ("speed", "/particles/speed"), ("Q", "/model/Q"), ("K", "/model/K"), ("V", "/model/V")):
            snap[key] = f[ds][()] if ds in f else None
    snap["time"] = float(snap["attrs"]["time"]) if "time" in snap["attrs"] else float("nan")
    snap["step"] = int(snap["attrs"]["step"]) if "step" in snap["attrs"] else -1
    return snap


def read_snapshots(outdir):
    """All snapshots of a run in time order; raises RunFailed if file order != time order."""
    snaps = [read_snapshot(p) for p in snapshot_files(outdir)]
    times = [s["time"] for s in snaps]
    if any(not (b > a) for a, b in zip(times, times[1:])):
        raise RunFailed(f"snapshot files in {outdir} are not in strictly increasing time order: {times}")
    return snaps


def read_xdmf_times(xmf):
    """Time values of the temporal collection, as written (strings) and parsed."""
    import xml.etree.ElementTree as ET
    root = ET.parse(xmf).getroot()
    strings = []
    files = []
    for grid in root.iter("Grid"):
        if grid.get("GridType") == "Collection":
            continue
        t = grid.find("Time")
        if t is not None:
            strings.append(t.get("Value"))
        for di in grid.iter("DataItem"):
            txt = (di.text or "").strip()
            if ":" in txt:
                files.append(txt.split(":")[0])
    return strings, [float(s) for s in strings], files


def write_init(path, X, dataset="/particles/x"):
    X = np.ascontiguousarray(X, dtype=np.float64)
    with h5py.File(path, "w") as f:
        f.create_dataset(dataset, data=X)
    return path


def write_qkv(path, Q, K, V):
    with h5py.File(path, "w") as f:
        for name, a in (("Q", Q), ("K", K), ("V", V)):
            if a is not None:
                f.create_dataset("/model/" + name, data=np.asarray(a, dtype=np.float64))
    return path


def unit_rows(X):
    X = np.asarray(X, dtype=np.float64)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def random_sphere(n, d, seed):
    return unit_rows(np.random.default_rng(seed).standard_normal((n, d)))


def first_token_pair(theta0, d, n, seed):
    """n unit vectors on S^{d-1}: tokens 1 and 2 at angle theta0 (in a random plane), the rest random."""
    rng = np.random.default_rng(seed)
    X = unit_rows(rng.standard_normal((n, d)))
    e1 = X[0]
    v = rng.standard_normal(d)
    v -= (v @ e1) * e1
    e2 = v / np.linalg.norm(v)
    X[1] = math.cos(theta0) * e1 + math.sin(theta0) * e2
    return unit_rows(X)


def angle(a, b):
    """Angle between two vectors, accurate also near 0 and pi."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    c = float(a @ b)
    sn = float(np.linalg.norm(b - c * a))
    return math.atan2(sn, c)


# ----------------------------------------------------------------------------------
# numerical references
# ----------------------------------------------------------------------------------
def expm(A):
    """Matrix exponential by scaling and squaring with a Taylor series (double precision)."""
    A = np.asarray(A, dtype=np.float64)
    nrm = np.linalg.norm(A, 1)
    s = max(0, int(math.ceil(math.log2(nrm / 0.25))) if nrm > 0.25 else 0)
    B = A / (2.0 ** s)
    E = np.eye(A.shape[0])
    term = np.eye(A.shape[0])
    for k in range(1, 30):
        term = term @ B / k
        E = E + term
        if np.linalg.norm(term, 1) < 1e-18 * np.linalg.norm(E, 1):
            break
    for _ in range(s):
        E = E @ E
    return E


def rk4_scalar(f, y0, times, h_max):
    """Classical RK4 for a scalar ODE y' = f(y), returning y at each of the (increasing, >= 0)
    `times`; every interval between consecutive output times is split into equal steps <= h_max,
    so no output time is approximated by a neighbouring step."""
    out = []
    y = float(y0)
    t = 0.0
    for T in times:
        span = T - t
        if span > 0:
            m = max(1, int(math.ceil(span / h_max)))
            h = span / m
            for _ in range(m):
                k1 = f(y)
                k2 = f(y + 0.5 * h * k1)
                k3 = f(y + 0.5 * h * k2)
                k4 = f(y + h * k3)
                y += h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        t = T
        out.append(y)
    return np.array(out)


def fit_order(hs, errs):
    """Least-squares slope of log(err) against log(h)."""
    lh = np.log(np.asarray(hs, dtype=float))
    le = np.log(np.asarray(errs, dtype=float))
    A = np.vstack([lh, np.ones_like(lh)]).T
    slope, _ = np.linalg.lstsq(A, le, rcond=None)[0]
    return float(slope)


def main_guard(name, body):
    """Run body(checker); a RunFailed or unexpected exception is a test failure with details."""
    chk = Checker(name)
    try:
        body(chk)
    except RunFailed as e:
        chk.fail(str(e))
    except Exception as e:  # noqa: BLE001 -- report, do not hide
        import traceback
        traceback.print_exc()
        chk.fail(f"unexpected {type(e).__name__}: {e}")
    chk.finish()


# ----------------------------------------------------------------------------------
# PDE solver (-solver pde, tokens on the circle): files, grids and references
# ----------------------------------------------------------------------------------
PDE_BASE = ["-solver", "pde", "-attn_dim", 2, "-geometry", "sphere"]


def pde_grid(S, M):
    """Cell centres s_j = (j+1/2)/S and theta_k = (k+1/2) 2 pi / M."""
    return (np.arange(S) + 0.5) / S, (np.arange(M) + 0.5) * (2 * np.pi / M)


def read_pde_snapshot(path):
    """Dict with rho, velocity (S x M), mass, s (S), theta (M), Q, K, V, attrs, time, step."""
    with h5py.File(path, "r") as f:
        snap = {"path": path, "attrs": {k: _attr(f.attrs[k]) for k in f.attrs}}
        for key, ds in (("rho", "/pde/rho"), ("velocity", "/pde/velocity"), ("mass", "/pde/mass"),
                        ("s", "/pde/s"), ("theta", "/pde/theta"),
                        ("Q", "/model/Q"), ("K", "/model/K"), ("V", "/model/V")):
            snap[key] = f[ds][()] if ds in f else None
    snap["time"] = float(snap["attrs"]["time"]) if "time" in snap["attrs"] else float("nan")
    snap["step"] = int(snap["attrs"]["step"]) if "step" in snap["attrs"] else -1
    if snap["rho"] is None:
        raise RunFailed(f"{path}: no /pde/rho dataset")
    return snap


def read_pde_snapshots(outdir):
    """All PDE snapshots of a run in time order; raises RunFailed if file order != time order."""
    snaps = [read_pde_snapshot(p) for p in snapshot_files(outdir)]
    times = [s["time"] for s in snaps]
    if any(not (b > a) for a, b in zip(times, times[1:])):
        raise RunFailed(f"snapshot files in {outdir} are not in strictly increasing time order: {times}")
    return snaps


def read_diagnostics(outdir):
    """Columns of <outdir>/diagnostics.h5 as numpy arrays (raises RunFailed when missing)."""
    path = os.path.join(outdir, "diagnostics.h5")
    if not os.path.isfile(path):
        raise RunFailed(f"{path} was not written")
    with h5py.File(path, "r") as f:
        return {k: f[k][()] for k in f.keys() if isinstance(f[k], h5py.Dataset)}


def write_pde_rho(path, rho, dataset="/pde/rho"):
    """An -pde_init file: a 2-D float64 dataset (S x M)."""
    with h5py.File(path, "w") as f:
        f.create_dataset(dataset, data=np.ascontiguousarray(rho, dtype=np.float64))
    return path


def rotation(a):
    """R_a, the 2x2 rotation by angle a."""
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def bessel_i(m, x):
    """Modified Bessel function I_m(x), integer m >= 0, x >= 0, by its power series
    sum_k (x/2)^(2k+m) / (k! (k+m)!) (all terms positive: relative accuracy ~1e-16 for x <~ 50)."""
    m = abs(int(m))
    term = (x / 2.0) ** m / math.factorial(m)
    total = term
    k = 0
    while True:
        k += 1
        term *= (x / 2.0) ** 2 / (k * (k + m))
        total += term
        if term < 1e-18 * total:
            return total


def vonmises_mixture(theta, centers, kappas, weights):
    """Sum_k w_k e^{kappa_k cos(theta - c_k)} / (2 pi I_0(kappa_k)), weights normalised to sum 1."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    out = np.zeros_like(np.asarray(theta, dtype=float))
    for c, k, wk in zip(centers, kappas, w):
        out += wk * np.exp(k * np.cos(theta - c)) / (2 * np.pi * bessel_i(0, k))
    return out


def csv_floats(values):
    """'1,2.5,3' for a PETSc array option (full precision)."""
    return ",".join(repr(float(v)) for v in values)


def bitwise_equal(a, b):
    a = np.asarray(a)
    b = np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()
