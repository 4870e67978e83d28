#!/usr/bin/python3
"""Kill -9 and restart (issue 5 acceptance): an uninterrupted reference run (2 ranks, particles,
causal mask, random Q/K/V, fixed-step RK4, a snapshot every 5 steps and a checkpoint every 2
steps), then the same command with `-restart auto` in a fresh folder, killed with SIGKILL -- the
mfsa ranks and the launcher at once -- at 20 moments chosen by a seeded generator and restarted
each time with the same command:

  before_first   as soon as the first file of the run (the t = 0 checkpoint a restartable run
                 writes before anything else, or snap_000000.h5) exists: the same command must
                 then continue (README: "the same command serves the first submission and every
                 requeue"), and the folder must never hold output without a checkpoint;
  ckpt_write     the k-th time checkpoint.h5.tmp appears (inside a checkpoint write);
  snap_write     the k-th time a snap_*.h5.tmp, mfsa.xmf.tmp or diagnostics.h5.tmp appears;
  after_ckpt     0-5 ms after the k-th "checkpoint at" line reaches stdout;
  after_snap     0-5 ms after the k-th progress line (written at each snapshot);
  random         0-12 steps (wall time of the reference's steps) after the run's first line;
  startup        0.05-0.5 s after the launch (MPI start, validation, restoring the output).

After every kill: each checkpoint.h5 / checkpoint.prev.h5 present is valid (h5py: complete == 1,
checksum of /state recomputed here), at least one is once any checkpoint was written, and the
next run restarts from the newest valid one. Finally the run completes and every snapshot's
/particles/x, time and step, every diagnostics column but wall, the XDMF time list and the final
checkpoint equal the reference bitwise. Runtime ~25 s on 2 cores (reference 7.5 s).

usage: test_checkpoint_kill.py [KILLS] [SEED]
"""
import os
import re
import sys
import time
import numpy as np
import mfsa_testlib as L

ARGS = ["-n", 3000, "-attn_dim", 3, "-attn_qkv", "random", "-seed", 3, "-attn_beta", 2.0,
        "-attn_mask", "causal", "-geometry", "sphere", "-init", "uniform",
        "-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none", "-ts_dt", 0.01,
        "-ts_max_time", 2.0, "-out_dt", 0.05, "-checkpoint_dt", 0.02]
RANKS = 2
RESTART_RX = re.compile(r"restarted from (\S+) at t = (\S+), step (\d+)")
NO_CKPT = "no checkpoint to continue from"


def plan(kills, seed):
    """The kill moments: the first one before any checkpoint, the others a shuffled mix."""
    rng = np.random.default_rng(seed)
    mix = ["ckpt_write", "snap_write", "after_ckpt", "after_snap", "random", "startup"]
    kinds = (["ckpt_write"] * 4 + ["snap_write"] * 3 + ["after_ckpt"] * 3 + ["after_snap"] * 3 + ["random"] * 4 + ["startup"] * 2)
    while len(kinds) < kills - 1:
        kinds.append(mix[len(kinds) % len(mix)])
    kinds = ["before_first"] + [kinds[i] for i in rng.permutation(len(kinds))][: kills - 1]
    moments = []
    for kind in kinds:
        if kind in ("ckpt_write", "after_ckpt"):
            moments.append((kind, int(rng.integers(1, 5)), float(rng.uniform(0, 0.005))))
        elif kind in ("snap_write", "after_snap"):
            moments.append((kind, int(rng.integers(1, 3)), float(rng.uniform(0, 0.005))))
        elif kind == "random":  # a fraction of 12 steps, scaled by the measured step time later
            moments.append((kind, 0, float(rng.uniform(0, 1.0))))
        elif kind == "startup":
            moments.append((kind, 0, float(rng.uniform(0.05, 0.5))))
        else:
            moments.append((kind, 0, 0.0))
    return moments


def is_write_tmp(name, kind):
    if kind == "ckpt_write":
        return name == "checkpoint.h5.tmp"
    return (name.startswith("snap_") and name.endswith(".h5.tmp")) or name in ("mfsa.xmf.tmp", "diagnostics.h5.tmp")


def wait_tmp(proc, out, kind, k, timeout=60):
    """Poll the folder until a matching temporary file has appeared k times; True if so."""
    seen, present = 0, set()
    deadline = time.time() + timeout
    while time.time() < deadline and proc.running():
        try:
            now = {f for f in os.listdir(out) if is_write_tmp(f, kind)}
        except FileNotFoundError:
            now = set()
        seen += len(now - present)
        present = now
        if seen >= k:
            return True
        time.sleep(0.0002)
    return False


def wait_file(proc, path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline and proc.running():
        if os.path.exists(path):
            return True
        time.sleep(0.0002)
    return False


def newest_valid(out):
    """(path, info) of the checkpoint -restart auto must take, or (None, None)."""
    for name in ("checkpoint.h5", "checkpoint.prev.h5"):
        p = os.path.join(out, name)
        if os.path.exists(p):
            ok, _, info = L.checkpoint_check(p)
            if ok:
                return p, info
    return None, None


def body(chk, kills, seed):
    tmp = L.test_dir("checkpoint_kill")
    ref = os.path.join(tmp, "ref")
    r = L.run_ok(RANKS, ARGS, ref)
    walls = [(int(a), float(b)) for a, b in re.findall(r"^mfsa: step\s+(\d+)\s.*wall\s+(\S+) s", r.stdout, re.M)]
    step_time = (walls[-1][1] - walls[0][1]) / max(1, walls[-1][0] - walls[0][0]) if len(walls) > 1 else 0.04
    print(f"  reference run: {r.wall:.1f} s on {RANKS} ranks, {len(L.snapshot_files(ref))} snapshots, "
          f"{len(re.findall('checkpoint at', r.stdout))} checkpoints, {1e3 * step_time:.1f} ms per step")
    out = os.path.join(tmp, "killed")
    cmd = ARGS + ["-out", out, "-restart", "auto"]
    moments = plan(kills, seed)
    ever_written = False
    expected = None  # (path, time, step) the next run must restart from
    left = {"checkpoint.h5.tmp": 0, "snap tmp": 0}
    done = 0
    i = 0
    launches = 0
    t_start = time.time()
    while i < len(moments):
        kind, k, delay = moments[i]
        launches += 1
        if launches > 3 * kills:
            chk.fail(f"too many launches ({launches}) for {kills} kills")
            return
        proc = L.MfsaProcess(RANKS, cmd, os.path.join(tmp, f"run{launches:02d}.stderr"))
        pids = None
        if kind == "startup":
            time.sleep(delay)
            hit = proc.running()
        elif kind == "before_first":
            hit = wait_file(proc, os.path.join(out, "checkpoint.h5"))
        else:
            first = proc.wait_line(r"^mfsa: ", timeout=60)
            pids = L.process_tree(proc.p.pid) if first is not None else None
            if kind == "random":
                delay = delay * 12 * step_time
                time.sleep(delay)
                hit = first is not None and proc.running()
            elif kind in ("ckpt_write", "snap_write"):
                hit = first is not None and wait_tmp(proc, out, kind, k)
            elif kind == "after_ckpt":
                hit = proc.wait_line(r"checkpoint at t =", count=k) is not None
                time.sleep(delay)
            else:  # after_snap: progress lines come at the snapshot times
                hit = proc.wait_line(r"^mfsa: step ", count=k + 1) is not None
                time.sleep(delay)
        if not proc.running() or not hit:
            rc = proc.wait(timeout=120)
            text = proc.stdout + "\n" + proc.stderr
            if rc == 0:
                chk.fail(f"the run finished after {done} of {kills} kills (kill {i + 1}: {kind}, k={k}); make the run longer")
                break
            if NO_CKPT in text:
                chk.fail(f"after kill {done} (killed before its first checkpoint), the same command `mfsa {' '.join(map(str, cmd))}` "
                         f"refuses to continue (exit {rc}): {[l for l in text.splitlines() if NO_CKPT in l][0].strip()[:300]}; "
                         "expected a fresh start (README: the same command serves the first submission and every requeue); "
                         "emptying the folder to go on")
                for f in os.listdir(out):
                    os.remove(os.path.join(out, f))
                expected, ever_written = None, False
                continue  # relaunch for the same kill moment
            chk.fail(f"run {launches} ended by itself with exit {rc} before kill {i + 1} ({kind})\n{proc.describe()}")
            return
        before_kill = sorted(os.listdir(out)) if os.path.isdir(out) else []
        proc.kill9(pids)
        t_kill = time.time() - proc.t0
        i += 1
        done += 1
        stdout = proc.stdout
        # the restart this run made (if it got that far)
        m = RESTART_RX.search(stdout)
        if expected is not None and m is not None:
            ok = os.path.basename(m.group(1)) == os.path.basename(expected[0]) and float(m.group(2)) == expected[1] and int(m.group(3)) == expected[2]
            chk.check(ok, f"kill {done}: that run had restarted from the newest valid checkpoint {os.path.basename(expected[0])} "
                      f"(t = {expected[1]!r}, step {expected[2]}): '{m.group(0)}'")
        elif expected is None and m is not None:
            chk.fail(f"kill {done}: that run restarted ('{m.group(0)}') although no valid checkpoint existed")
        if "checkpoint at" in stdout:
            ever_written = True
        alive = [p for p in L.process_tree(proc.p.pid) if L.pid_alive(p)] if L.pid_alive(proc.p.pid) else []
        after = sorted(os.listdir(out)) if os.path.isdir(out) else []
        tmps = [f for f in after if f.endswith(".tmp")]
        if "checkpoint.h5.tmp" in tmps:
            left["checkpoint.h5.tmp"] += 1
        if any(f.startswith("snap_") or f in ("mfsa.xmf.tmp", "diagnostics.h5.tmp") for f in tmps):
            left["snap tmp"] += 1
        states = []
        bad = []
        for name in ("checkpoint.h5", "checkpoint.prev.h5"):
            p = os.path.join(out, name)
            if os.path.exists(p):
                ok, why, info = L.checkpoint_check(p)
                states.append(f"{name} t={info.get('time')}" + ("" if ok else " INVALID"))
                if not ok:
                    bad.append(why)
        npresent = len(states)
        desc = (f"kill {done:2d} ({kind}{' k=%d' % k if k else ''}{' +%.3fs' % delay if delay else ''}) at {t_kill:.2f} s "
                f"[{', '.join(states) or 'no checkpoint'}; tmp left: {tmps or 'none'}]")
        chk.check(not bad and not alive and (npresent > 0 or not ever_written),
                  desc + ("" if not bad else f": {bad}") + ("" if not alive else f": processes still alive {alive}")
                  + ("" if npresent > 0 or not ever_written else ": a checkpoint had been written but none is left"))
        if kind == "before_first":
            finished = [f for f in before_kill if not f.endswith(".tmp")]
            chk.check(not any(f.startswith("snap_") for f in finished) or any(f.startswith("checkpoint") for f in finished),
                      f"kill {done} at the start: output only next to a checkpoint (folder at the kill: {before_kill})")
        path, info = newest_valid(out)
        expected = (path, info["time"], info["step"]) if path else None
    print(f"  {done} kills in {time.time() - t_start:.1f} s ({launches} launches); kills that left checkpoint.h5.tmp: "
          f"{left['checkpoint.h5.tmp']}, a snapshot/XDMF/diagnostics tmp: {left['snap tmp']}")
    chk.check(done == kills, f"{done} of {kills} kills done")
    chk.check(left["checkpoint.h5.tmp"] >= 1, f"at least one kill interrupted a checkpoint write ({left['checkpoint.h5.tmp']} left checkpoint.h5.tmp)")
    chk.check(left["snap tmp"] >= 1, f"at least one kill interrupted a snapshot/XDMF/diagnostics write ({left['snap tmp']} left a tmp)")

    # let it finish
    proc = L.MfsaProcess(RANKS, cmd, os.path.join(tmp, "final.stderr"))
    rc = proc.wait(timeout=300)
    m = RESTART_RX.search(proc.stdout)
    if expected is not None:
        chk.check(m is not None and float(m.group(2)) == expected[1],
                  f"final run restarted from the newest valid checkpoint (t = {expected[1]!r}): '{m.group(0) if m else 'no restart line'}'")
    if not chk.check(rc == 0, f"final run completes (exit {rc})"):
        print(proc.describe())
        return
    L.compare_runs(chk, f"after {done} kills", ref, out, datasets=("/particles/x", "/particles/speed"))
    ok1, _, a = L.checkpoint_check(os.path.join(ref, "checkpoint.h5"))
    ok2, why, b = L.checkpoint_check(os.path.join(out, "checkpoint.h5"))
    chk.check(ok1 and ok2 and L.bitwise_equal(a["state"], b["state"]) and a["time"] == b["time"] and a["step"] == b["step"],
              f"final checkpoint /state, time, step bitwise equal to the reference's {why}")


if __name__ == "__main__":
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 20240605
    L.main_guard("checkpoint_kill", lambda chk: body(chk, kills, seed))
