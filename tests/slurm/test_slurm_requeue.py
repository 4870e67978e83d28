#!/usr/bin/python3
"""jobs/slurm_long.sh on a real (local, one-node) Slurm cluster: checkpoint on SIGUSR1, requeue,
restart, until done; the result equals an uninterrupted run bitwise.

Run: default study (jobs/default_study.opts) with -n 1536 -ts_max_time 6 -out_dt 0.25 on 2 ranks
(srun --mpi=pmix): 600 fixed RK4 steps, ~8 s of computing here, 25 snapshots.

Mode `scancel` (the registered test): the test sends the signals itself with
`scancel --signal=USR1 --batch <job>`, which is exactly what `--signal=B:USR1@<s>` makes
slurmctld do at the time limit (SIGUSR1 to the batch shell only), at chosen points: in the
first allocation once snapshot 4 (t = 1) exists, in the second (scontrol Restarts = 1) once
snapshot 10 (t = 2.5) exists; the third allocation runs to the end. The ranks are up by then,
so MFSA_SIGNAL_GRACE=0 makes the script forward the signal to the step at once (by default it
relies on the stop file alone in the step's first 10 s). Why not the time limit
itself: Slurm's limits are in minutes and it checks them every ~30 s, so the signal lands
30-37 s after each start (measured with --time=2 --signal=B:USR1@60); two signalled
allocations plus a third that must finish before its own signal would need a run whose length
is tuned to the machine's speed, and ~2.5 min per test. Each requeue costs ~25 s (cred_expire=10
+ the scheduler's next pass).
Mode `timelimit` (manual: `tests/slurm/test_slurm_requeue.py timelimit`, 4-5 min): Slurm's own
time-limit signal, --time=2 --signal=B:USR1@60 (lands 30-60 s into each allocation), on a
longer run (-n 4096 -ts_max_time 14: ~100 s of computing on 2 ranks here). Allocation 1 is
ended by the time limit; in allocation 2 the test sends scancel --signal=USR1 --batch once it
has written one snapshot (so that >= 2 requeues do not depend on the machine's speed);
allocation 3 runs to the end or is ended by its time limit again (then Restarts > 2).

Checks: job COMPLETED 0:0 with scontrol Restarts = 2 (>= 2 for timelimit); the appended job log
shows one "allocation k" line per start, and per requeue one SIGUSR1 line, one "forwarded" line
(or, timelimit mode, "relying on the stop file" when the signal came in the step's first 10 s),
one "mfsa checkpointed (exit 3)", one "requeueing", and one "mfsa: restarted from
<out>/checkpoint.h5" from mfsa itself (so every later allocation continued from a checkpoint,
not from scratch), and the final "run finished after N requeue(s)"; against an uninterrupted run
of the same options started directly with the launcher on the same 2 ranks (while the job
waits for its first requeue): the same snapshot files, every snapshot's time and state bitwise
equal, the same XDMF time list, every diagnostics column except `wall` bitwise equal (the
reductions energy, order_parameter differ in the last bits between 1 and 2 ranks, even
without restarts, so the reference uses the job's rank count); checkpoint.h5 (t = T) and checkpoint.prev.h5
valid; no stop file left behind.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slurmlib as S  # noqa: E402
import mfsa_testlib as L  # noqa: E402

RANKS = 2  # of the job and of the reference: diagnostics (energy, order_parameter) are reductions
# whose last bits depend on the rank count; the state is bitwise rank-invariant
MODES = {
    "scancel": dict(args=["-n", "1536", "-ts_max_time", "6", "-out_dt", "0.25"], T=6.0,
                    sbatch=["--time=5", "--signal=B:USR1@60"], interrupts=[(0, 4), (1, 10)], timeout=200, restarts=(2, 2),
                    env={"MFSA_SIGNAL_GRACE": "0"}),
    "timelimit": dict(args=["-n", "4096", "-ts_max_time", "14", "-out_dt", "0.5"], T=14.0,
                      sbatch=["--time=2", "--signal=B:USR1@60"], interrupts=[(1, None)], timeout=540,
                      restarts=(2, 99)),
}


def count(text, s):
    return sum(1 for ln in text.splitlines() if s in ln)


def body(chk, mode):
    cfg = MODES[mode]
    with S.LocalSlurm(f"slurm_requeue_{mode}", timeout=cfg["timeout"]) as cl:
        opts = os.path.join(L.SOURCE_DIR, "jobs", "default_study.opts")
        ref = os.path.join(cl.base, "reference")
        ref_cmd = [L.MPIEXEC, str(RANKS), L.BIN, "-options_file", opts] + cfg["args"] + ["-out", ref]
        ref_log = os.path.join(cl.base, "reference.log")
        ref_proc = None

        jobid, _ = cl.sbatch([f"--ntasks={RANKS}"] + cfg["sbatch"] + [os.path.join(S.JOBS, "slurm_long.sh")]
                             + cfg["args"], env=cfg.get("env"))
        out = os.path.join(cl.work, f"long_{jobid}")
        log = os.path.join(cl.work, f"mfsa-long-{jobid}.log")
        t0 = time.time()
        for restarts, snap in cfg["interrupts"]:
            def running():
                j = cl.jobs(jobid)
                return j and j[0].get("JobState") == "RUNNING" and j[0].get("Restarts") == str(restarts)
            if snap is None:  # the next snapshot this allocation writes
                cl.wait_for(f"allocation {restarts + 1} of job {jobid}", running)
                snap = len(L.snapshot_files(out))
            path = os.path.join(out, f"snap_{snap:06d}.h5")
            cl.wait_for(f"allocation {restarts + 1} of job {jobid} to write {os.path.basename(path)}",
                        lambda: running() and os.path.isfile(path))
            r = cl.run(["scancel", "--signal=USR1", "--batch", jobid])
            print(f"  {time.time() - t0:5.1f} s: allocation {restarts + 1} wrote {os.path.basename(path)}: "
                  f"scancel --signal=USR1 --batch {jobid} (exit {r.rc})", flush=True)
            if ref_proc is None:  # the uninterrupted reference runs while the job waits to be requeued
                ref_proc = cl.popen(ref_cmd, ref_log)
        if ref_proc is None:
            ref_proc = cl.popen(ref_cmd, ref_log)
        job = cl.wait_done(jobid)[0]
        print(f"  {time.time() - t0:5.1f} s: job {jobid} {job.get('JobState')} exit {job.get('ExitCode')} "
              f"Restarts={job.get('Restarts')}", flush=True)
        try:
            ref_rc = ref_proc.wait(timeout=max(5.0, cl.remaining()))
        except subprocess.TimeoutExpired:
            ref_proc.kill()
            ref_rc = -9
        text = S.read_text(log) if os.path.isfile(log) else ""

        lo, hi = cfg["restarts"]
        restarts = int(job.get("Restarts", "-1"))
        chk.check(job.get("JobState") == "COMPLETED" and job.get("ExitCode") == "0:0" and lo <= restarts <= hi,
                  f"job {jobid}: {job.get('JobState')} exit {job.get('ExitCode')}, scontrol Restarts = {restarts} "
                  f"(want {lo if lo == hi else f'>= {lo}'})")
        n_alloc = count(text, "mfsa-long: job ")
        chk.check(n_alloc == restarts + 1, f"log: {n_alloc} 'allocation' lines (want Restarts + 1 = {restarts + 1})")
        for what in ("mfsa-long: SIGUSR1 at", "mfsa checkpointed (exit 3)", "mfsa-long: requeueing job",
                     "mfsa: restarted from"):
            c = count(text, what)
            chk.check(c == restarts, f"log: {c} lines with '{what}' (want {restarts})")
        fwd, early = count(text, "forwarded SIGUSR1 to the MPI step"), count(text, "relying on the stop file")
        chk.check(fwd + early == restarts and (mode != "scancel" or fwd == restarts),
                  f"log: signal forwarded to the step {fwd} times, stop file only (step younger than "
                  f"MFSA_SIGNAL_GRACE) {early} times (want {restarts} in all{', all forwarded' if mode == 'scancel' else ''})")
        chk.check(f"run finished" in text and f"after {restarts} requeue(s)" in text, "log: 'run finished after "
                  f"{restarts} requeue(s)'")

        # --- against the uninterrupted run ---------------------------------------------------
        ref_snaps = L.snapshot_files(ref)
        if not chk.check(ref_rc == 0 and len(ref_snaps) > 0, f"reference run: exit {ref_rc}, {len(ref_snaps)} snapshots"):
            print(S.read_text(ref_log)[-3000:])
        snaps = S.check_run_folder(chk, out, "requeued run")
        names = [os.path.basename(p) for p in snaps]
        chk.check(names == [os.path.basename(p) for p in ref_snaps],
                  f"requeued run has the reference's {len(ref_snaps)} snapshot files (has {len(names)})")
        bad = []
        for p in snaps:
            q = os.path.join(ref, os.path.basename(p))
            if not os.path.isfile(q):
                continue
            a, b = L.read_snapshot(p), L.read_snapshot(q)
            if not (a["time"] == b["time"] and L.bitwise_equal(a["x"], b["x"])):
                bad.append(f"{os.path.basename(p)} (t = {a['time']} vs {b['time']})")
        chk.check(snaps and not bad, f"every snapshot's time and /particles/x bitwise equal to the reference"
                  f"{': differ: ' + ', '.join(bad[:5]) if bad else ''}")
        if snaps:
            last = L.read_snapshot(snaps[-1])
            chk.check(last["time"] == cfg["T"], f"last snapshot at t = {last['time']} (T = {cfg['T']})")
        xa = os.path.join(out, "mfsa.xmf")
        xb = os.path.join(ref, "mfsa.xmf")
        if os.path.isfile(xa) and os.path.isfile(xb):
            ta, tb = L.read_xdmf_times(xa)[0], L.read_xdmf_times(xb)[0]
            chk.check(ta == tb, f"XDMF time list equals the reference's ({len(ta)} vs {len(tb)} times)")
        try:
            da, db = L.read_diagnostics(out), L.read_diagnostics(ref)
            cols = sorted(k for k in db if k != "wall")
            diff = [k for k in cols if k not in da or not L.bitwise_equal(da[k], db[k])]
            chk.check(not diff, f"diagnostics.h5 columns {cols} bitwise equal to the reference "
                      f"({len(db.get('time', []))} rows){': differ: ' + ', '.join(diff) if diff else ''}")
        except L.RunFailed as e:
            chk.fail(str(e))
        for name in ("checkpoint.h5", "checkpoint.prev.h5"):
            p = os.path.join(out, name)
            if hasattr(L, "checkpoint_check"):
                ok, why, info = L.checkpoint_check(p)
                chk.check(ok, f"{name} valid{': ' + why if why else ''} (t = {info.get('time')})")
                if name == "checkpoint.h5" and ok:
                    chk.check(info.get("time") == cfg["T"], f"checkpoint.h5 at t = {info.get('time')} (T)")
            else:
                chk.check(os.path.isfile(p), f"{name} exists")
        chk.check(not os.path.exists(os.path.join(out, "mfsa.stop")), "no stop file left in the output folder")
        if chk.failures:
            print(cl.debug_dump())
            print(f"--- {log} ---\n{text[-6000:]}")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "scancel"
    if mode not in MODES:
        print(f"usage: {sys.argv[0]} [{'|'.join(MODES)}]")
        sys.exit(2)
    L.main_guard(f"slurm_requeue_{mode}", lambda chk: body(chk, mode))
