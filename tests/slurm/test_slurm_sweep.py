#!/usr/bin/python3
"""jobs/slurm_sweep.sh and jobs/slurm_single.sh on a real (local, one-node) Slurm cluster.

1. The n-sweep as a job array: `sbatch --array=3-5 --ntasks=2 jobs/slurm_sweep.sh` with a tiny
   option set appended (T = 0.5, out_dt = 0.25), waited for by polling scontrol (`sbatch --wait`
   works too but sleeps up to 10 s between polls: 42 s instead of 10 s here); every task is
   COMPLETED with exit 0:0 in scontrol; every task's folder sweep_<jobid>/n<2^k> has the three
   snapshots t = 0, 0.25, 0.5 and an mfsa.xmf listing exactly them, and the snapshots say
   n = 2^k, ranks = 2 (srun --mpi=pmix started ONE 2-rank MPI job, not two 1-rank copies)
   and hold an n x 3 state; one log per task.
2. jobs/slurm_single.sh with MFSA_LAUNCH = the CMake launcher (mpiexec inside the allocation,
   the documented alternative to srun) on 2 ranks: exit 0, output folder complete, ranks = 2.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slurmlib as S  # noqa: E402
import mfsa_testlib as L  # noqa: E402

TINY = ["-ts_max_time", 0.5, "-out_dt", 0.25]
KS = [3, 4, 5]


def body(chk):
    with S.LocalSlurm("slurm_sweep", timeout=150) as cl:
        # slurm_single.sh with mpiexec inside the allocation (instead of srun); queued first, it
        # runs before/between the array tasks and is done when the array is
        env = {"MFSA_LAUNCH": f"{L.MPIEXEC} 2"}
        single, _ = cl.sbatch(["--ntasks=2", "--time=2", os.path.join(S.JOBS, "slurm_single.sh"),
                               "-ts_max_time", "1", "-out_dt", "0.5"], cwd=cl.work, env=env)

        jobid, tasks = cl.sbatch_wait([f"--array={KS[0]}-{KS[-1]}", "--ntasks=2", "--time=2",
                                       os.path.join(S.JOBS, "slurm_sweep.sh")] + [str(a) for a in TINY], cwd=cl.work)
        summary = sorted((t.get("ArrayTaskId"), t.get("JobState"), t.get("ExitCode")) for t in tasks)
        chk.check(len(tasks) == len(KS) and all(s == "COMPLETED" and e == "0:0" for _, s, e in summary),
                  f"array tasks (id, state, exit): {summary}")
        for k in KS:
            n = 2 ** k
            out = os.path.join(cl.work, f"sweep_{jobid}", f"n{n}")
            chk.prefix = f"task {k} (n = {n}): "
            snaps = S.check_run_folder(chk, out, "sweep")
            if snaps:
                ss = [L.read_snapshot(p) for p in snaps]
                chk.check([s["time"] for s in ss] == [0.0, 0.25, 0.5], f"snapshot times {[s['time'] for s in ss]}")
                a = ss[-1]["attrs"]
                chk.check(int(a.get("n", -1)) == n and ss[-1]["x"].shape == (n, 3),
                          f"snapshot n = {a.get('n')}, x shape {ss[-1]['x'].shape}")
                chk.check(int(a.get("ranks", -1)) == 2, f"snapshot ranks = {a.get('ranks')} (want 2: one MPI job)")
            log = os.path.join(cl.work, f"mfsa-sweep-{jobid}_{k}.log")
            chk.check(os.path.isfile(log) and f"n = {n}" in S.read_text(log), f"task log {os.path.basename(log)}")
        chk.prefix = ""

        j = cl.wait_done(single, timeout=60)[0]
        chk.check(j.get("JobState") == "COMPLETED" and j.get("ExitCode") == "0:0",
                  f"slurm_single.sh with MFSA_LAUNCH='{env['MFSA_LAUNCH']}': {j.get('JobState')} exit {j.get('ExitCode')}")
        out = os.path.join(cl.work, f"mfsa_{single}")
        snaps = S.check_run_folder(chk, out, "single")
        if snaps:
            s = L.read_snapshot(snaps[-1])
            chk.check(s["time"] == 1.0 and int(s["attrs"].get("ranks", -1)) == 2,
                      f"single: last snapshot t = {s['time']}, ranks = {s['attrs'].get('ranks')}")
        if chk.failures:
            print(cl.debug_dump())
            for f in sorted(os.listdir(cl.work)):
                if f.endswith(".log"):
                    print(f"--- {f} ---\n" + S.read_text(os.path.join(cl.work, f))[-2000:])


if __name__ == "__main__":
    L.main_guard("slurm_sweep", body)
