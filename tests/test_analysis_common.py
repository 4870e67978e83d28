"""Helpers shared by the tests of analysis/ (tests/test_analysis_*.py; this file is imported,
not registered as a test). Runs are started through mfsa_testlib (run_ok); what is here is
only what those tests need beyond it: running several tiny runs at once (their wall time is
mostly mpiexec start-up), running an analysis script and parsing its one JSON object,
checking a PNG, the bad-input contract, and independent references (brute-force W1 on the
circle, connected components by breadth-first search)."""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

import mfsa_testlib as L

ANALYSIS = os.path.join(L.SOURCE_DIR, "analysis")
PYTHON = sys.executable


def run_all(jobs, workers=3):
    """Run [(nprocs, args, outdir), ...] with L.run_ok, a few at a time; raises the first failure."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for f in [pool.submit(L.run_ok, np_, args, out) for np_, args, out in jobs]:
            f.result()


class Script:
    """Result of one analysis script run: rc, stdout, stderr, js (the parsed JSON or None)."""

    def __init__(self, name, args, timeout=180):
        self.cmd = [PYTHON, os.path.join(ANALYSIS, name)] + [str(a) for a in args]
        env = dict(os.environ, MPLBACKEND="Agg")
        t0 = time.time()
        p = subprocess.run(self.cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=env)
        self.rc, self.stdout, self.stderr = p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        self.js = None
        if self.rc == 0:
            try:
                self.js = json.loads(self.stdout)
            except ValueError:
                self.js = None
        print(f"  $ {' '.join(os.path.basename(c) if i < 2 else c for i, c in enumerate(self.cmd))}  -> rc {self.rc} ({time.time() - t0:.1f} s)", flush=True)

    def ok(self, chk, what):
        good = self.rc == 0 and isinstance(self.js, dict) and len(self.stdout.strip().splitlines()) == 1
        return chk.check(good, f"{what}: exit 0 and exactly one JSON object on stdout"
                         + ("" if good else f" (rc {self.rc}; stdout {self.stdout[-300:]!r}; stderr {self.stderr[-800:]!r})"))


def check_png(chk, path, what, min_colours=2):
    """The PNG exists, is non-empty, and its pixels are not all one colour (matplotlib.image)."""
    if not chk.check(path is not None and os.path.isfile(path) and os.path.getsize(path) > 0,
                     f"{what}: PNG {path} exists and is non-empty"):
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    flat = img.reshape(-1, img.shape[-1]) if img.ndim == 3 else img.reshape(-1, 1)
    ncol = len(np.unique(np.round(flat * 255).astype(np.int32), axis=0))
    chk.check(ncol >= min_colours, f"{what}: PNG {img.shape[1]}x{img.shape[0]} has {ncol} distinct colours (>= {min_colours})")


def check_refusal(chk, res, what, must_name):
    """Bad input: exit != 0, ONE line on stderr naming every string of must_name, no traceback,
    nothing on stdout."""
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    named = all(s in res.stderr for s in must_name)
    chk.check(res.rc != 0 and len(lines) == 1 and named and "Traceback" not in res.stderr and not res.stdout.strip(),
              f"{what}: exit {res.rc} != 0, one-line message naming {must_name}: {res.stderr.strip()[:300]!r}")


def copy_run(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return dst


def components_bfs(x, threshold):
    """Number of connected components of the graph 'cos(x_i, x_j) > threshold', by
    breadth-first search over the full adjacency matrix (a different algorithm from the
    script's label propagation)."""
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    adj = (u @ u.T) > threshold
    n = len(x)
    seen = np.zeros(n, bool)
    count = 0
    for s in range(n):
        if seen[s]:
            continue
        count += 1
        seen[s] = True
        queue = [s]
        while queue:
            i = queue.pop()
            for j in np.nonzero(adj[i] & ~seen)[0]:
                seen[j] = True
                queue.append(j)
    return count


def diag_at(diag, t, column):
    """Value of a diagnostics column at the row whose time is t (exactly one such row)."""
    rows = np.nonzero(np.asarray(diag["time"]) == t)[0]
    if len(rows) != 1:
        raise L.RunFailed(f"diagnostics: {len(rows)} rows at t = {t!r}")
    return float(diag[column][rows[0]])
