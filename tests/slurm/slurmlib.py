"""Local Slurm cluster for the tests in tests/slurm/ (Debian's /usr/bin/python3).

    with LocalSlurm("slurm_sweep") as cl:          # exits 77 (ctest SKIP) if Slurm/munge are missing
        jobid, r = cl.sbatch(["--wait", "--array=3-5", script], cwd=cl.work)

Each test gets $MFSA_BUILD_DIR/tests/tmp/<name>/ (wiped first): the cluster (slurm.conf, state,
spool, logs; started and stopped by tests/slurm/local_slurm.sh) in cluster/, job files in work/.
The cluster is torn down in __exit__ even when the test fails, and on SIGTERM/SIGINT/SIGHUP;
a cluster left behind by a killed earlier run of the same test is stopped before the folder is
wiped. The jobs see MFSA_SOURCE (the checkout, for jobs/*.opts and analysis/), MFSA_BUILD (the
folder of MFSA_BIN) and MFSA_PYTHON=/usr/bin/python3; any SLURM_*/SBATCH_*/SRUN_* variables of
the calling environment (ctest itself inside a Slurm job) are removed so that they cannot leak
into the test cluster.
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mfsa_testlib as L  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LOCAL_SLURM = os.path.join(HERE, "local_slurm.sh")
JOBS = os.path.join(L.SOURCE_DIR, "jobs")
FINAL_STATES = {"COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY"}


def _which(prog):
    return shutil.which(prog) or next((p for p in (f"/usr/sbin/{prog}", f"/usr/bin/{prog}")
                                       if os.access(p, os.X_OK)), None)


def require_slurm():
    """Exit 77 (ctest SKIP) when Slurm or munge is not installed; anything else is a real failure."""
    missing = [p for p in ("slurmctld", "slurmd", "munged", "sbatch", "srun", "scontrol") if not _which(p)]
    if missing:
        print("SKIP: not installed: " + ", ".join(missing) + " (apt-get install slurm-wlm munge)")
        sys.exit(L.SKIP)


def _clean_env():
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_", "PMIX_")) or k in ("SQUEUE_FORMAT",))}
    path = env.get("PATH", "/usr/bin:/bin")
    for d in ("/usr/sbin", "/sbin"):
        if d not in path.split(":"):
            path += ":" + d
    env["PATH"] = path
    return env


class LocalSlurm:
    def __init__(self, name, timeout=240):
        require_slurm()
        L._require_env()
        self.name = name
        self.deadline = time.time() + timeout  # own deadline, shorter than ctest's TIMEOUT
        base = os.path.join(L.BUILD_DIR, "tests", "tmp", name)
        old = os.path.join(base, "cluster")
        if os.path.isfile(os.path.join(old, "slurm.conf")):  # a killed earlier run left daemons?
            subprocess.run(["bash", LOCAL_SLURM, "stop", old], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=60)
        self.base = L.test_dir(name)
        self.dir = os.path.join(self.base, "cluster")
        self.work = os.path.join(self.base, "work")
        os.makedirs(self.work)
        self.env = _clean_env()
        self.env.update({"MFSA_SOURCE": L.SOURCE_DIR,
                         "MFSA_BUILD": os.path.dirname(os.path.abspath(L.BIN)),
                         "MFSA_PYTHON": "/usr/bin/python3"})
        self.conf = None
        self._old_handlers = {}
        self._cleanups = []
        self._stopped = False

    # -- lifetime -------------------------------------------------------------------------
    def __enter__(self):
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self._old_handlers[s] = signal.signal(s, self._on_signal)
        t0 = time.time()
        p = subprocess.run(["bash", LOCAL_SLURM, "start", self.dir], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        out = p.stdout.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        conf = [ln.split("=", 1)[1] for ln in out.splitlines() if ln.startswith("SLURM_CONF=")]
        if p.returncode != 0 or not conf:
            self.stop()
            raise L.RunFailed(f"local Slurm did not start (exit {p.returncode})\n{out}\n{err}")
        self.conf = conf[0]
        self.env["SLURM_CONF"] = self.conf
        print(f"  local Slurm up in {time.time() - t0:.1f} s: SLURM_CONF={self.conf}", flush=True)
        return self

    def __exit__(self, *exc):
        self.stop()
        for s, h in self._old_handlers.items():
            signal.signal(s, h)
        return False

    def _on_signal(self, signum, frame):
        self.stop()
        raise SystemExit(f"terminated by signal {signum}")

    def add_cleanup(self, fn):
        """fn() runs before the cluster is stopped (e.g. to end a process the test started)."""
        self._cleanups.append(fn)

    def popen(self, cmd, log_path):
        """Start a process outside Slurm (stdout+stderr to log_path) that is ended with the cluster."""
        log = open(log_path, "w")
        p = subprocess.Popen([str(c) for c in cmd], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def end():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()
        self.add_cleanup(end)
        return p

    def stop(self):
        if self._stopped:
            return
        self._stopped = True
        for fn in self._cleanups:
            try:
                fn()
            except Exception as e:  # noqa: BLE001 -- keep tearing down
                print(f"cleanup failed: {e}", flush=True)
        t0 = time.time()
        p = subprocess.run(["bash", LOCAL_SLURM, "stop", self.dir], env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        if p.returncode != 0:
            print("local Slurm stop failed:\n" + p.stdout.decode(errors="replace"), flush=True)
        else:
            print(f"  local Slurm stopped in {time.time() - t0:.1f} s", flush=True)

    def remaining(self):
        return max(1.0, self.deadline - time.time())

    # -- clients --------------------------------------------------------------------------
    def run(self, cmd, cwd=None, timeout=60, env=None):
        e = dict(self.env)
        e.update(env or {})
        t0 = time.time()
        try:
            p = subprocess.run([str(c) for c in cmd], cwd=cwd or self.work, env=e, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=timeout)
            return L.Result([str(c) for c in cmd], p.returncode, p.stdout.decode(errors="replace"),
                            p.stderr.decode(errors="replace"), time.time() - t0)
        except subprocess.TimeoutExpired as ex:
            return L.Result([str(c) for c in cmd], -9, (ex.stdout or b"").decode(errors="replace"),
                            (ex.stderr or b"").decode(errors="replace"), time.time() - t0, timed_out=True)

    def sbatch(self, args, cwd=None, env=None, timeout=None):
        """sbatch --parsable ARGS; returns (job id, Result). With --wait in ARGS it blocks until
        the job (all array tasks, through requeues) ends and returns the job's exit code."""
        r = self.run(["sbatch", "--parsable"] + list(args), cwd=cwd, env=env,
                     timeout=timeout or self.remaining())
        first = r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""
        jobid = first.split(";")[0] if first.split(";")[0].isdigit() else None
        if jobid is None:
            raise L.RunFailed("sbatch printed no job id\n" + r.describe())
        print(f"  sbatch {' '.join(str(a) for a in args)} -> job {jobid} (exit {r.rc}, {r.wall:.1f} s)", flush=True)
        return jobid, r

    def sbatch_wait(self, args, cwd=None, env=None, timeout=None):
        """Submit and wait until every task has ended (polling scontrol every 0.2 s: `sbatch --wait`
        sleeps 2, 4, .. 10 s between its polls and returned 30 s after a 10 s array had ended).
        Returns (job id, list of per-task scontrol dicts)."""
        jobid, _ = self.sbatch(args, cwd=cwd, env=env)
        t0 = time.time()
        tasks = self.wait_done(jobid, timeout)
        print(f"  job {jobid} ended after {time.time() - t0:.1f} s: "
              + ", ".join(f"{t.get('ArrayJobId', t.get('JobId'))}{'_' + t['ArrayTaskId'] if 'ArrayTaskId' in t else ''} "
                          f"{t.get('JobState')} {t.get('ExitCode')}" for t in tasks), flush=True)
        return jobid, tasks

    def jobs(self, jobid):
        """`scontrol show job -o ID` as a list of dicts (one per array task); [] once purged."""
        r = self.run(["scontrol", "show", "job", "-o", jobid])
        out = []
        for line in r.stdout.splitlines():
            d = {}
            for tok in line.split():
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    d.setdefault(k, v)
            if d:
                out.append(d)
        return out

    def state(self, jobid):
        j = self.jobs(jobid)
        return j[0].get("JobState") if j else None

    def wait_for(self, what, pred, timeout=None, poll=0.2):
        """Poll pred() until true; raises RunFailed after timeout (default: the test's deadline)."""
        t_end = time.time() + (timeout if timeout is not None else self.remaining())
        while True:
            v = pred()
            if v:
                return v
            if time.time() > t_end:
                raise L.RunFailed(f"timed out waiting for {what}\n" + self.debug_dump())
            time.sleep(poll)

    def wait_done(self, jobid, timeout=None):
        """Wait until every task of the job is in a final state; returns the job dicts."""
        def done():
            j = self.jobs(jobid)
            return j if j and all(x.get("JobState") in FINAL_STATES for x in j) else None
        return self.wait_for(f"job {jobid} to end", done, timeout)

    def cancel(self, jobid):
        self.run(["scancel", jobid])

    def debug_dump(self):
        parts = []
        for cmd in (["squeue", "-a", "-t", "all", "-o", "%i %T %r %M %L"], ["sinfo", "-N", "-l"]):
            r = self.run(cmd, timeout=20)
            parts.append("$ " + " ".join(cmd) + "\n" + r.stdout + r.stderr)
        for f in ("slurmctld.log", "slurmd.log"):
            p = os.path.join(self.dir, "log", f)
            if os.path.isfile(p):
                with open(p, errors="replace") as fh:
                    parts.append(f"--- tail of {p} ---\n" + "".join(fh.readlines()[-25:]))
        return "\n".join(parts)


def read_text(path):
    with open(path, errors="replace") as f:
        return f.read()


def slurm_time(s):
    """Epoch seconds of a scontrol time (2026-11-23T01:17:53, local time); None for Unknown/None."""
    try:
        return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%S"))
    except (TypeError, ValueError):
        return None


def check_run_folder(chk, outdir, what):
    """A finished mfsa run folder: snapshots, XDMF index listing exactly those files, diagnostics."""
    snaps = L.snapshot_files(outdir) if os.path.isdir(outdir) else []
    chk.check(len(snaps) > 0, f"{what}: {len(snaps)} snap_*.h5 in {outdir}")
    xmf = os.path.join(outdir, "mfsa.xmf")
    if chk.check(os.path.isfile(xmf), f"{what}: mfsa.xmf exists"):
        _, times, files = L.read_xdmf_times(xmf)
        listed = sorted(set(os.path.basename(f) for f in files))
        chk.check(listed == [os.path.basename(s) for s in snaps],
                  f"{what}: mfsa.xmf lists exactly the {len(snaps)} snapshot files ({len(times)} times)")
    chk.check(os.path.isfile(os.path.join(outdir, "diagnostics.h5")), f"{what}: diagnostics.h5 exists")
    return snaps
