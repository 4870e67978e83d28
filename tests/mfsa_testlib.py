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
LIPSCHITZ_BIN = os.environ.get("MFSA_LIPSCHITZ_BIN", "")
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


def run_mfsa(nprocs, args, cwd=None, timeout=180, binary=None):
    """Run `MFSA_MPIEXEC nprocs MFSA_BIN args...` (or another program of the build, e.g.
    LIPSCHITZ_BIN); never raises on failure."""
    _require_env()
    cmd = [MPIEXEC, str(nprocs), binary or BIN] + [str(a) for a in args]
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


def with_opt(args, name, value):
    """args with option `name` set to `value` (replaced or appended)."""
    args = list(args)
    if name in args:
        args[args.index(name) + 1] = value
    else:
        args += [name, value]
    return args


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


def brute_w1(angles, rho_row, N=2 ** 20):
    """W1 on the circle between the empirical law of `angles` and the piecewise-constant
    density rho_row, by quadrature on N midpoints: int |F - G - median(F - G)| dtheta."""
    M = len(rho_row)
    h = 2 * np.pi / M
    t = (np.arange(N) + 0.5) * 2 * np.pi / N
    rn = np.asarray(rho_row, float) / (np.sum(rho_row) * h)
    cdf = np.concatenate([[0.0], np.cumsum(rn) * h])
    k = np.minimum((t / h).astype(int), M - 1)
    G = cdf[k] + (t - k * h) * rn[k]
    F = np.searchsorted(np.sort(angles), t, side="right") / len(angles)
    d = F - G
    return float(np.mean(np.abs(d - np.median(d)))) * 2 * np.pi


def require_pvbatch():
    """(pvbatch, xvfb-run) paths; exits with SKIP when either is missing (Debian: paraview, xvfb)."""
    pvbatch, xvfb = shutil.which("pvbatch"), shutil.which("xvfb-run")
    if not pvbatch or not xvfb:
        print(f"SKIP: needs pvbatch (Debian: paraview) and xvfb-run (Debian: xvfb); found pvbatch={pvbatch} xvfb-run={xvfb}")
        raise SystemExit(SKIP)
    return pvbatch, xvfb


def run_pvbatch(xvfb, pvbatch, args, cwd=None, env=None, timeout=240, attempts=4):
    """pvbatch ARGS under xvfb-run; returns (rc, stdout, stderr) as text (rc "timeout" on a time-out).
    On a loaded machine Xvfb now and then refuses the first window (pvbatch aborts inside
    vtkXOpenGLRenderWindow::CreateAWindow before reading anything): that, and only that, is retried,
    after a pause and from another display number (xvfb-run -a probes upwards from -n; concurrent
    or just-exited servers at the same number are what it trips over)."""
    for attempt in range(attempts):
        cmd = [xvfb, "-a", "-n", str(100 + (os.getpid() * 7 + attempt * 53) % 800), "-s", "-screen 0 1024x768x24", pvbatch] + list(args)
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, cwd=cwd, env=env)
            rc, so, se = p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired as e:
            rc, so, se = "timeout", (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")
        if rc == 0 or "CreateAWindow" not in se:
            break
        print(f"pvbatch could not open an X window (attempt {attempt + 1}), retrying with a new Xvfb")
        time.sleep(2)
    print("pvbatch command: " + " ".join(cmd))
    return rc, so, se


def random_circle_problem(rng, tmp, H, S, M, beta):
    """A random general model on the circle (H heads of Gaussian 2x2 Q, K, V / sqrt(2), printed with
    beta ||B_h|| and ||V_h||) and a rough positive density, each slice normalised (all Fourier modes
    present), written to tmp/qkv.h5 and tmp/rho0.h5: returns (Q, K, V, rho0, qkv_path, rho_path)."""
    Q = rng.standard_normal((H, 2, 2)) / np.sqrt(2)
    K = rng.standard_normal((H, 2, 2)) / np.sqrt(2)
    V = rng.standard_normal((H, 2, 2)) / np.sqrt(2)
    for h in range(H):
        print(f"  head {h}: beta ||B_h||_2 = {beta * np.linalg.norm(Q[h].T @ K[h], 2):.3f}, ||V_h||_2 = {np.linalg.norm(V[h], 2):.3f}")
    qkv = write_qkv(os.path.join(tmp, "qkv.h5"), Q, K, V)
    rho0 = rng.uniform(0.2, 1.8, (S, M))
    rho0 /= rho0.sum(axis=1, keepdims=True) * (2 * np.pi / M)
    return Q, K, V, rho0, qkv, write_pde_rho(os.path.join(tmp, "rho0.h5"), rho0)


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


# ----------------------------------------------------------------------------------
# checkpoints (io/checkpoint.c): independent validation, and runs that are stopped/killed
# ----------------------------------------------------------------------------------
def _ckpt_mix(z):
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic), as io/checkpoint.c Mix()."""
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def checkpoint_checksum(state):
    """The order-independent checksum of a checkpoint's /state: sum_i Mix(bits(x_i) ^ Mix(i)) mod 2^64."""
    x = np.ascontiguousarray(np.asarray(state, dtype=np.float64).ravel()).astype("<f8", copy=False)
    bits = x.view(np.uint64)
    idx = np.arange(x.size, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int(np.sum(_ckpt_mix(bits ^ _ckpt_mix(idx)), dtype=np.uint64))


def checkpoint_check(path):
    """(ok, why, info): a checkpoint file is usable iff it opens with h5py, has complete == 1,
    a /state of state_size doubles whose checksum (recomputed here) matches state_checksum.
    info holds time, step, dt, format_version and the state (when readable)."""
    info = {}
    try:
        with h5py.File(path, "r") as f:
            a = {k: _attr(f.attrs[k]) for k in f.attrs}
            info.update({k: a.get(k) for k in ("time", "step", "dt", "format_version", "state_size", "complete")})
            if a.get("complete") != 1:
                return False, f"{path}: 'complete' attribute is {a.get('complete')!r}", info
            if "state" not in f:
                return False, f"{path}: no /state", info
            x = f["state"][()]
            info["state"] = x
            if x.size != a.get("state_size"):
                return False, f"{path}: /state has {x.size} values, state_size {a.get('state_size')}", info
            stored = int(a.get("state_checksum", 0)) & (2 ** 64 - 1)
            mine = checkpoint_checksum(x)
            if stored != mine:
                return False, f"{path}: checksum {stored:#x} != recomputed {mine:#x}", info
    except Exception as e:  # noqa: BLE001 -- any failure to read is "not usable"
        return False, f"{path}: cannot read it ({type(e).__name__}: {e})", info
    return True, "", info


def _proc_children():
    """{ppid: [pid, ...]} of every process now visible in /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                st = fh.read()
        except OSError:
            continue
        rest = st[st.rfind(")") + 2:].split()
        kids.setdefault(int(rest[1]), []).append(int(name))
    return kids


def process_tree(pid):
    """pid and all its descendants (the launcher and the ranks it started)."""
    kids = _proc_children()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            st = fh.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:].split()[0] != "Z"


class MfsaProcess:
    """An mfsa run in the background (its own session, so it can be killed as a whole): stdout
    lines are collected with their arrival times by a thread; stderr goes to a file."""

    def __init__(self, nprocs, args, stderr_path, cwd=None):
        import threading
        _require_env()
        self.cmd = [MPIEXEC, str(nprocs), BIN] + [str(a) for a in args]
        self.t0 = time.time()
        self.stderr_path = stderr_path
        self._err = open(stderr_path, "wb")
        self.p = subprocess.Popen(self.cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=self._err,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        self.lines = []  # (seconds since start, text)
        self.cond = threading.Condition()
        self.eof = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.p.stdout:
            with self.cond:
                self.lines.append((time.time() - self.t0, raw.decode(errors="replace").rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_until(self, fn, timeout=60):
        """Wait until fn(list of stdout lines) returns something other than None and return it;
        None when the process ended (stdout closed) or after timeout seconds."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                v = fn([l for _, l in self.lines])
                if v is not None:
                    return v
                if self.eof or time.time() > deadline:
                    return None
                self.cond.wait(timeout=0.02)

    def wait_line(self, pattern, count=1, timeout=60):
        """Wait until `count` stdout lines match the regex `pattern`; returns the last match's
        line or None (process ended or timeout)."""
        rx = re.compile(pattern)

        def fn(lines):
            hits = [l for l in lines if rx.search(l)]
            return hits[count - 1] if len(hits) >= count else None
        return self.wait_until(fn, timeout)

    def wait_time(self, t, timeout=60):
        """Wait for a progress line 'mfsa: step N  t = T' with T >= t; returns T or None."""
        rx = re.compile(r"^mfsa: step\s+\d+\s+t = (\S+)")

        def fn(lines):
            for l in lines:
                m = rx.search(l)
                if m and float(m.group(1)) >= t:
                    return float(m.group(1))
            return None
        return self.wait_until(fn, timeout)

    def running(self):
        return self.p.poll() is None

    def kill9(self, pids=None):
        """SIGKILL the ranks and the launcher at (nearly) the same moment (pids: the process tree,
        if already known, to save the /proc scan); wait until all are gone. Returns the pids."""
        import signal
        pids = list(pids) if pids else process_tree(self.p.pid)
        if self.p.pid not in pids:
            pids.insert(0, self.p.pid)
        for pid in reversed(pids):  # ranks first, launcher last
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.wait(timeout=30)
        deadline = time.time() + 30
        while any(pid_alive(p) for p in pids) and time.time() < deadline:
            time.sleep(0.01)
        return pids

    def signal_ranks(self, sig):
        """Send sig to every process of the run except the launcher (the mfsa ranks)."""
        pids = [p for p in process_tree(self.p.pid) if p != self.p.pid]
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        return pids

    def wait(self, timeout=180):
        """Exit code (None on timeout, after which the run is killed)."""
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            rc = None
        self.thread.join(timeout=10)
        self._err.close()
        return rc

    @property
    def stdout(self):
        with self.cond:
            return "\n".join(l for _, l in self.lines)

    @property
    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as fh:
                return fh.read()
        except OSError:
            return ""

    def describe(self, tail=3000):
        return (f"command: {' '.join(self.cmd)}\nexit code: {self.p.returncode}\n--- stdout (tail) ---\n"
                + self.stdout[-tail:] + "\n--- stderr (tail) ---\n" + self.stderr[-tail:])


def compare_runs(chk, name, ref_dir, other_dir, datasets=("/particles/x",), diag_rtol=0.0, diag_bitwise_until=None):
    """Bitwise: the same snapshot files with the same datasets, time and step; diagnostics
    time/step and every other column except wall (bitwise, or, with diag_rtol > 0 -- runs whose
    rows come from other rank counts, where the diagnostics' MPI sums round differently -- within
    diag_rtol relative, and bitwise for rows with time <= diag_bitwise_until); the XDMF time
    strings and file list; no *.tmp left."""
    ref = sorted(os.path.basename(p) for p in snapshot_files(ref_dir))
    oth = sorted(os.path.basename(p) for p in snapshot_files(other_dir))
    chk.check(ref == oth, f"{name}: same snapshot files ({len(oth)} vs {len(ref)} in the reference)"
              + ("" if ref == oth else f": extra {sorted(set(oth) - set(ref))[:5]}, missing {sorted(set(ref) - set(oth))[:5]}"))
    bad = []
    for fn in sorted(set(ref) & set(oth)):
        with h5py.File(os.path.join(ref_dir, fn), "r") as a, h5py.File(os.path.join(other_dir, fn), "r") as b:
            for ds in datasets:
                if ds not in a or ds not in b:
                    bad.append(f"{fn}:{ds} missing")
                elif not bitwise_equal(a[ds][()], b[ds][()]):
                    x, y = a[ds][()], b[ds][()]
                    diff = float(np.max(np.abs(x - y))) if x.shape == y.shape else float("inf")
                    bad.append(f"{fn}:{ds} differs (max |diff| {diff:.3e})")
            for at in ("time", "step"):
                va, vb = _attr(a.attrs.get(at)), _attr(b.attrs.get(at))
                if np.float64(va).tobytes() != np.float64(vb).tobytes():
                    bad.append(f"{fn}: {at} {vb!r} != {va!r}")
    chk.check(not bad, f"{name}: every snapshot's {', '.join(datasets)}, time, step bitwise equal to the uninterrupted run"
              + ("" if not bad else ": " + "; ".join(bad[:6]) + (f" (+{len(bad) - 6} more)" if len(bad) > 6 else "")))
    da, db = read_diagnostics(ref_dir), read_diagnostics(other_dir)
    ta, tb = da.get("time"), db.get("time")
    ok = ta is not None and tb is not None and bitwise_equal(ta, tb)
    chk.check(ok, f"{name}: diagnostics.h5 time column bitwise equal ({0 if tb is None else len(tb)} rows vs {0 if ta is None else len(ta)})"
              + ("" if ok else f": {list(tb)[:12] if tb is not None else None} vs {list(ta)[:12] if ta is not None else None}"))
    cols = sorted(set(da) | set(db))
    exact = ("step", "dt") if diag_rtol > 0 else ()
    badc = [c for c in cols if c not in ("wall", "time") and not (c in da and c in db and
                                                                    (bitwise_equal(da[c], db[c]) or (diag_rtol > 0 and c not in exact)))]
    chk.check(not badc, f"{name}: diagnostics.h5 columns {','.join(c for c in cols if c not in ('wall', 'time') and (diag_rtol == 0 or c in exact))} bitwise equal"
              + ("" if not badc else f": differ: {badc}"))
    if diag_rtol > 0 and ok:
        worst, early = 0.0, []
        for c in cols:
            if c in ("wall", "time") + exact or c not in da or c not in db or da[c].shape != db[c].shape:
                continue
            x, y = np.asarray(da[c], float), np.asarray(db[c], float)
            fin = np.isfinite(x) & np.isfinite(y)
            if np.any(np.isfinite(x) != np.isfinite(y)):
                worst = float("inf")
            if np.any(fin):
                worst = max(worst, float(np.max(np.abs(x[fin] - y[fin]) / np.maximum(np.abs(x[fin]), 1e-300))))
            if diag_bitwise_until is not None:
                rows = ta <= diag_bitwise_until
                if x[rows].tobytes() != y[rows].tobytes():
                    early.append(c)
        chk.close(f"{name}: other diagnostics columns (rows from other rank counts) max relative difference", worst, diag_rtol)
        if diag_bitwise_until is not None:
            chk.check(not early, f"{name}: diagnostics rows up to t = {diag_bitwise_until:g} (kept from before the first restart) bitwise equal"
                      + ("" if not early else f": differ in {early}"))
    sa, _, fa = read_xdmf_times(os.path.join(ref_dir, "mfsa.xmf"))
    sb, _, fb = read_xdmf_times(os.path.join(other_dir, "mfsa.xmf"))
    chk.check(sa == sb, f"{name}: mfsa.xmf lists exactly the reference times ({len(sb)} vs {len(sa)})"
              + ("" if sa == sb else f": {sb[:8]}... vs {sa[:8]}..."))
    missing = sorted({f for f in fb if not os.path.isfile(os.path.join(other_dir, f))})
    chk.check(sorted(set(fa)) == sorted(set(fb)) and not missing,
              f"{name}: mfsa.xmf references the same files, all present" + ("" if not missing else f": missing {missing[:5]}"))
    tmps = sorted(f for f in os.listdir(other_dir) if f.endswith(".tmp"))
    chk.check(not tmps, f"{name}: no temporary files left in the folder" + ("" if not tmps else f": {tmps}"))


# ----------------------------------------------------------------------------------
# folder snapshots (bad-input tests: "nothing overwritten or lost")
# ----------------------------------------------------------------------------------
def folder_tree(d):
    """{relative path: bytes} for every file under d (and '<dir>' for folders)."""
    out = {}
    for root, dirs, files in os.walk(d):
        for x in dirs:
            out[os.path.relpath(os.path.join(root, x), d)] = "<dir>"
        for x in files:
            p = os.path.join(root, x)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, d)] = fh.read()
    return out


def tree_diff(before, after):
    """What changed between two folder_tree() results, one message per path."""
    msgs = []
    for k in sorted(set(before) | set(after)):
        if k not in after:
            msgs.append(f"{k} deleted")
        elif k not in before:
            msgs.append(f"{k} created")
        elif before[k] != after[k]:
            msgs.append(f"{k} modified")
    return msgs


def prepare_sentinel(chk, args, sentinel):
    """The folder a previous good run left behind (snapshots at t = 0, 0.025, 0.05) plus a
    user's own file; returns its folder_tree() for the "nothing overwritten" checks."""
    run_ok(1, list(args) + ["-out_dt", 0.025], sentinel)
    with open(os.path.join(sentinel, "notes.txt"), "w") as fh:
        fh.write("user file: must survive\n")
    n_old = len(snapshot_files(sentinel))
    chk.check(n_old == 3, f"sentinel prepared with 3 snapshots (t = 0, 0.025, 0.05): got {n_old}")
    return folder_tree(sentinel)
