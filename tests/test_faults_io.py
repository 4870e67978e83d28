#!/usr/bin/python3
"""I/O faults and the run lock (issue 8).

usage: test_faults_io.py CASE [NPROCS]
  lock     a run holds <out>/mfsa.lock (host = this host, pid = one of its ranks); a second run into
           the same folder (even with -out_overwrite) is refused with a message naming the folder, the
           host and that pid, and the first run goes on; the stop file ends the first run with exit 3
           and the lock is gone; -restart auto continues (lock gone again after exit 0). A lock whose
           holder is another host is refused naming that host (folder byte-identical); a lock of a
           pid that is alive but started at another time (a reused pid) is stale and taken over.
  ulimit   a file-size limit (ulimit -f, set in each rank's process; SIGXFSZ is ignored by mfsa)
           hit mid-write, once during a snapshot and once during a checkpoint: the first part of the
           run (-ts_max_time 0.375) completes normally; its continuation (-restart auto -ts_max_time
           0.625) under a limit of half the size of the file it writes first fails with exit 67 and
           a message naming the file and ulimit -f; afterwards the snapshots written before are
           byte-identical, the checkpoints valid (checksums recomputed), mfsa.xmf lists only
           complete readable files, no temporary and no lock are left; the continuation without the
           limit completes bitwise equal to an uninterrupted run.
  kill     kill -9 (ranks and launcher) while a snapshot is being written and while a checkpoint is
           being written: after each, the checkpoints are valid, mfsa.xmf lists only complete files,
           the dead run's lock is still there; -restart auto takes the stale lock over with a warning
           naming the dead pid; finally the run completes bitwise equal to an uninterrupted run.
  stale_sem  the named POSIX semaphore that Open MPI 4.1's OMPIO sharedfp/sm component keeps per open
           file ("OMPIO_<file name>") is left at 0 by a writer killed inside it (what made faults_io_kill
           hang now and then: the restarted run blocked in its next snapshot write until signalled);
           with such a semaphore planted for the run's first snapshot names, a 2-rank run completes
           within 60 s (mfsa switches that component off before MPI_Init unless OMPI_MCA_sharedfp is
           set; io/reliability.h).
Disk full (ENOSPC) is not provoked (that needs a small file system, i.e. a root-only mount); it
takes the same path as EFBIG (io/write_failure.c names the cause from statvfs). An unwritable folder
is tested with /sys (root cannot write there either) in test_bad_input.py.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import numpy as np
import h5py
import mfsa_testlib as L
import faults_lib as F

ARGS = ["-n", 2000, "-attn_dim", 6, "-attn_qkv", "random", "-seed", 8, "-attn_beta", 1.0, "-attn_mask", "none",
        "-geometry", "sphere", "-init", "uniform", "-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none",
        "-ts_dt", 0.015625, "-ts_max_time", 0.625, "-out_dt", 0.125]  # powers of two: every output time is exact


def read_lock(out):
    try:
        with open(os.path.join(out, "mfsa.lock")) as fh:
            return dict(l.strip().split("=", 1) for l in fh if "=" in l and not l.startswith("#"))
    except OSError:
        return None


def snapshot_bytes(out):
    return {f: open(os.path.join(out, f), "rb").read() for f in sorted(os.listdir(out)) if f.startswith("snap_") and f.endswith(".h5")}


def case_lock(chk, nprocs):
    tmp = L.test_dir(f"faults_io_lock_np{nprocs}")
    args = ["-n", 64, "-attn_dim", 3, "-ts_dt", 0.01, "-ts_max_time", 1000, "-out_dt", 0.5, "-checkpoint_dt", 0.5, "-progress_interval", 0]
    out = os.path.join(tmp, "run")
    stop = os.path.join(tmp, "stop")
    a = L.MfsaProcess(nprocs, args + ["-out", out, "-restart", "auto", "-checkpoint_stop_file", stop], os.path.join(tmp, "a.stderr"))
    if not chk.check(a.wait_line(r"^mfsa: step", timeout=120) is not None, "first run started"):
        print(a.describe())
        return
    ranks = [p for p in L.process_tree(a.p.pid) if p != a.p.pid]
    lock = read_lock(out) or {}
    chk.check(lock.get("host") == socket.gethostname() and int(lock.get("pid", -1)) in ranks,
              f"mfsa.lock names this host ({lock.get('host')}) and a rank of the run (pid {lock.get('pid')}, ranks {ranks}), started {lock.get('started')}")
    r = L.run_mfsa(nprocs, args + ["-out", out, "-out_overwrite"], timeout=120)
    msg = F.petsc_message(r.output)
    named = out in msg and f"pid {lock.get('pid')}" in msg and f"host {lock.get('host')}" in msg and "in use" in msg
    if not chk.check(r.rc != 0 and named, f"a second run into the same folder (with -out_overwrite) is refused: exit {r.rc}, "
                     f"message names folder, host and pid: {named}: {msg[:260]!r}"):
        print(r.describe(2000))
    chk.check(a.running() and read_lock(out) == lock, "the first run goes on and still holds its lock")
    with open(stop, "w") as fh:
        fh.write("stop\n")
    rc = a.wait(timeout=120)
    chk.check(rc == 3 and read_lock(out) is None, f"stop file: the first run exits with 3 after a checkpoint (exit {rc}) and its lock is gone "
              f"({'present' if read_lock(out) is not None else 'absent'})")
    ok, why, ck = L.checkpoint_check(os.path.join(out, "checkpoint.h5"))
    tend = round(ck.get("time", 0) + 0.1, 10)
    r = L.run_mfsa(nprocs, L.with_opt(args, "-ts_max_time", tend) + ["-out", out, "-restart", "auto"], timeout=120)
    chk.check(ok and r.rc == 0 and "restarted from" in r.stdout and read_lock(out) is None,
              f"-restart auto continues from t = {ck.get('time')} to {tend} (exit {r.rc}) and leaves no lock {why}")

    # a lock from another host: refused, nothing touched
    other = os.path.join(tmp, "other_host")
    shutil.copytree(out, other)
    with open(os.path.join(other, "mfsa.lock"), "w") as fh:
        fh.write("host=node-elsewhere-17\npid=4242\nstarted=2026-01-01T00:00:00Z\nproc_start=1\nboot_id=x\nslurm_job=\nslurm_restart=0\n")
    before = L.folder_tree(other)
    r = L.run_mfsa(nprocs, args + ["-out", other, "-restart", "auto"], timeout=120)
    msg = F.petsc_message(r.output)
    ok = r.rc != 0 and "node-elsewhere-17" in msg and "pid 4242" in msg and "another host" in msg and os.path.join(other, "mfsa.lock") in msg
    chk.check(ok, f"a lock held on another host is refused, naming host, pid and the lock file to remove: exit {r.rc}: {msg[:300]!r}")
    diff = L.tree_diff(before, L.folder_tree(other))
    chk.check(not diff, "the refused run left that folder byte-identical" + ("" if not diff else f": {diff}"))

    # a reused pid: this test's own (alive) pid, but another process start time
    reused = os.path.join(tmp, "reused_pid")
    shutil.copytree(out, reused)
    with open(os.path.join(reused, "mfsa.lock"), "w") as fh:
        fh.write(f"host={socket.gethostname()}\npid={os.getpid()}\nstarted=2026-01-01T00:00:00Z\nproc_start=1\nboot_id=\nslurm_job=\nslurm_restart=0\n")
    r = L.run_mfsa(nprocs, L.with_opt(args, "-ts_max_time", tend) + ["-out", reused, "-restart", "auto"], timeout=120)
    ok = r.rc == 0 and re.search(rf"taking over the lock of a run that is gone \(host \S+, pid {os.getpid()},", r.stderr) is not None
    chk.check(ok and read_lock(reused) is None, f"a lock whose pid is alive but started at another time (pid {os.getpid()} reused) is stale: "
              f"taken over with a warning, run completes (exit {r.rc}), lock removed")
    if not ok:
        print(r.describe(2000))


def case_ulimit(chk, nprocs):
    tmp = L.test_dir(f"faults_io_ulimit_np{nprocs}")
    args = L.with_opt(L.with_opt(ARGS, "-n", 256), "-attn_dim", 48)  # ~100 KB files, little compute
    ref = os.path.join(tmp, "ref")
    L.run_ok(nprocs, args, ref)
    first = os.path.join(tmp, "first_part")
    r = L.run_mfsa(nprocs, L.with_opt(args, "-ts_max_time", 0.375) + ["-checkpoint_dt", 0.0625, "-restart", "auto", "-out", first], timeout=180)
    if not chk.check(r.rc == 0, f"first part to t = 0.375 with checkpoints (exit {r.rc})"):
        print(r.describe())
        return
    # during a snapshot: with -checkpoint_dt 0.3125 the next write after t = 0.375 is the snapshot at
    # 0.5 (next checkpoint at 0.625); during a checkpoint: with 0.0625 the checkpoint at t = 0.4375
    # comes before the snapshot at 0.5
    for kind, ckdt, failing in (("snapshot", 0.3125, "snap_000004.h5"), ("checkpoint", 0.0625, "checkpoint.h5.tmp")):
        out = os.path.join(tmp, kind)
        shutil.copytree(first, out)
        cont = args + ["-checkpoint_dt", ckdt, "-restart", "auto", "-out", out]
        size = os.path.getsize(os.path.join(out, "snap_000003.h5" if kind == "snapshot" else "checkpoint.h5"))
        small = max(os.path.getsize(os.path.join(out, f)) for f in ("mfsa.xmf", "diagnostics.h5"))
        kib = size // 2048
        before = snapshot_bytes(out)
        chk.check(small < kib * 1024, f"{kind}: limit {kib} KiB = half the {kind} ({size} bytes), above the index and table ({small} bytes) rewritten at the restart")
        r = F.run_limited(nprocs, cont, kib)
        msg = F.petsc_message(r.output)
        ok = r.rc == F.PETSC_ERR_FILE_WRITE and not r.timed_out and failing in msg and "ulimit -f" in msg and "File size limit exceeded" not in r.output
        if not chk.check(ok, f"{kind}: the restart under ulimit -f {kib} fails cleanly while writing {failing} (exit {r.rc}, expected "
                         f"{F.PETSC_ERR_FILE_WRITE}): {msg[:330]!r}"):
            print(r.describe(2500))
        after = snapshot_bytes(out)
        chk.check(all(after.get(k) == v for k, v in before.items()) and set(after) == set(before),
                  f"{kind}: the {len(before)} snapshots written before are byte-identical and no new one appeared ({sorted(set(after) - set(before))})")
        F.folder_state(chk, f"{kind} after the failed write", out)
        r = L.run_mfsa(nprocs, cont, timeout=180)
        if chk.check(r.rc == 0 and "restarted from" in r.stdout, f"{kind}: -restart auto without the limit completes (exit {r.rc})"):
            L.compare_runs(chk, f"{kind}: continued after the failed write", ref, out, datasets=("/particles/x", "/particles/speed"))
        else:
            print(r.describe())


def wait_tmp(proc, out, names, timeout=120):
    """Poll until one of `names` (a predicate on file names) appears in out; True if so."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.running():
        try:
            if any(names(f) for f in os.listdir(out)):
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.0002)
    return False


def case_kill(chk, nprocs):
    tmp = L.test_dir(f"faults_io_kill_np{nprocs}")
    ref = os.path.join(tmp, "ref")
    L.run_ok(nprocs, ARGS, ref)
    out = os.path.join(tmp, "run")
    args = ARGS + ["-checkpoint_dt", 0.0625, "-restart", "auto", "-out", out]
    killed = []
    for k, (kind, pred) in enumerate((("snapshot", lambda f: f.startswith("snap_") and f.endswith(".tmp") and f != "snap_000000.h5.tmp"),
                                      ("checkpoint", lambda f: f == "checkpoint.h5.tmp"))):
        proc = L.MfsaProcess(nprocs, args, os.path.join(tmp, f"run{k}.stderr"))
        first = proc.wait_line(r"^mfsa: ", timeout=120)
        pids = L.process_tree(proc.p.pid) if first else None
        lock = read_lock(out) or {}
        hit = first is not None and wait_tmp(proc, out, pred)
        inside = sorted(f for f in os.listdir(out) if f.endswith(".tmp")) if hit else []
        proc.kill9(pids)
        if not chk.check(hit, f"kill -9 during a {kind} write (temporaries at the kill: {inside})"):
            print(proc.describe())
            return
        killed.append(int(lock.get("pid", -1)))
        F.folder_state(chk, f"after kill -9 during a {kind} write", out, lock_expected=True, tmp_allowed=True)
        chk.check(read_lock(out) == lock, f"the killed run's lock (pid {lock.get('pid')}) is still there")
        if k == 1:
            break
        # the next launch takes the stale lock over (checked below for the final one)
    r = L.run_mfsa(nprocs, args, timeout=300)
    warn = re.search(rf"taking over the lock of a run that is gone \(host {re.escape(socket.gethostname())}, pid {killed[-1]},", r.stderr)
    chk.check(r.rc == 0 and warn is not None, f"-restart auto takes over the stale lock of the killed pid {killed[-1]} with a warning and completes "
              f"(exit {r.rc}): {warn.group(0) if warn else r.stderr[-300:]!r}")
    if r.rc == 0:
        L.compare_runs(chk, "after two kills -9", ref, out, datasets=("/particles/x", "/particles/speed"))
        chk.check(read_lock(out) is None, "no lock left after the completed run")
    else:
        print(r.describe())


def case_stale_sem(chk, nprocs):
    import ctypes
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.sem_open.restype = ctypes.c_void_p
    tmp = L.test_dir(f"faults_io_stale_sem_np{nprocs}")
    out = os.path.join(tmp, "run")
    names = [f"/OMPIO_snap_{k:06d}.h5.tmp" for k in range(3)] + ["/OMPIO_checkpoint.h5.tmp"]
    planted = []
    for nm in names:  # value 0: as left by a writer killed between its sem_wait and sem_post
        h = libc.sem_open(nm.encode(), os.O_CREAT, 0o644, 0)
        if h not in (None, ctypes.c_void_p(-1).value):
            planted.append(nm)
    chk.check(len(planted) == len(names), f"planted stale OMPIO semaphores at 0: {planted}")
    try:
        r = L.run_mfsa(nprocs, ARGS + ["-out", out], timeout=60)
        chk.check(r.rc == 0, f"a run writing files of those names completes despite the stale semaphores (exit {r.rc}, {r.wall:.1f} s)")
        if r.rc != 0:
            print(r.describe())
    finally:
        for nm in planted:
            libc.sem_unlink(nm.encode())


if __name__ == "__main__":
    case = sys.argv[1] if len(sys.argv) > 1 else "lock"
    nprocs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    fn = {"lock": case_lock, "ulimit": case_ulimit, "kill": case_kill, "stale_sem": case_stale_sem}[case]
    L.main_guard(f"faults_io_{case}", lambda chk: fn(chk, nprocs))
