#!/usr/bin/python3
"""The convergence study on a real (local, one-node) Slurm cluster: jobs/submit_convergence.sh
submits the particle array and the PDE reference (jobs/slurm_convergence.sh) and the
post-processing (jobs/slurm_postprocess.sh) with --dependency=afterok on both.

Tiny study (MFSA_CONV_T = 0.5, out_dt 0.25, S = 2 slices, M = 64 angles, n = 8, 16, 32).
Checks:
- right after submission the post-processing job is PENDING with Reason=Dependency and its
  Dependency names afterok on both job ids;
- every particle task and the PDE run end COMPLETED 0:0 with complete output folders (snapshots,
  mfsa.xmf); the particle snapshots at t = 0 hold the n tokens the job sampled (init.h5, to 1e-15:
  mfsa renormalises them onto the circle);
- the post-processing job ends COMPLETED 0:0, its scontrol StartTime is not before the
  EndTime of any job it depends on, and (nanosecond file times) every file it wrote is newer
  than every file the runs wrote;
- its output: compare/n<n>.csv, .h5, .json for every task (JSON n and slices as run, W1 finite
  and in [0, pi]), compare/summary.txt with one row per snapshot time and the W1 slope line;
- afterok really gates: a post-processing job that depends on a failing job (the convergence
  script with a bad role exits 2) stays PENDING with Reason=DependencyNeverSatisfied and never
  starts (no log file); it is then cancelled.
"""
import glob
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slurmlib as S  # noqa: E402
import mfsa_testlib as L  # noqa: E402

KS = [3, 4, 5]
STUDY = {"MFSA_CONV_DIR": "study", "MFSA_CONV_T": "0.5", "MFSA_CONV_OUT_DT": "0.25",
         "MFSA_CONV_SLICES": "2", "MFSA_CONV_ANGLES": "64"}


def newest_mtime(paths):
    return max(os.stat(p).st_mtime_ns for p in paths)


def body(chk):
    with S.LocalSlurm("slurm_dependency", timeout=150) as cl:
        # --- the study -------------------------------------------------------------------
        r = cl.run(["bash", os.path.join(S.JOBS, "submit_convergence.sh"), f"--array={KS[0]}-{KS[-1]}",
                    "--ntasks=1", "--time=2"], env=STUDY)
        ids = dict(tok.split("=", 1) for tok in r.stdout.split() if "=" in tok and tok.split("=")[0] in
                   ("particles", "pde", "post"))
        if not chk.check(r.rc == 0 and set(ids) == {"particles", "pde", "post"},
                         f"submit_convergence.sh printed the job ids: {ids}"):
            raise L.RunFailed(r.describe())
        print("  " + r.stdout.strip().replace("\n", "\n  "), flush=True)
        post = cl.jobs(ids["post"])[0]
        dep = post.get("Dependency", "")
        chk.check(post.get("JobState") == "PENDING" and post.get("Reason") == "Dependency",
                  f"post-processing right after submission: {post.get('JobState')} (Reason={post.get('Reason')})")
        chk.check(f"afterok:{ids['particles']}" in dep and f"afterok:{ids['pde']}" in dep,
                  f"post-processing Dependency={dep}")

        # negative control, queued behind the study: afterok on a job that fails
        bad, _ = cl.sbatch(["--ntasks=1", "--time=2", os.path.join(S.JOBS, "slurm_convergence.sh"), "bogus"])
        blocked, _ = cl.sbatch(["--ntasks=1", "--time=2", f"--dependency=afterok:{bad}",
                                os.path.join(S.JOBS, "slurm_postprocess.sh")], env=STUDY)

        deps = {}
        for key in ("particles", "pde"):
            deps[key] = cl.wait_done(ids[key], timeout=90)
        post = cl.wait_done(ids["post"], timeout=90)[0]
        for key, tasks in deps.items():
            summary = sorted((t.get("ArrayTaskId", "-"), t.get("JobState"), t.get("ExitCode")) for t in tasks)
            chk.check(all(s == "COMPLETED" and e == "0:0" for _, s, e in summary),
                      f"{key} job {ids[key]}: (task, state, exit) {summary}")
        chk.check(post.get("JobState") == "COMPLETED" and post.get("ExitCode") == "0:0",
                  f"post-processing job {ids['post']}: {post.get('JobState')} exit {post.get('ExitCode')}")
        ends = [S.slurm_time(t.get("EndTime")) for ts in deps.values() for t in ts]
        start = S.slurm_time(post.get("StartTime"))
        chk.check(start is not None and all(e is not None for e in ends) and start >= max(ends),
                  f"post StartTime {post.get('StartTime')} >= last EndTime of its dependencies "
                  f"{max((t.get('EndTime') for ts in deps.values() for t in ts), default='?')}")

        # --- outputs ------------------------------------------------------------------------
        study = os.path.join(cl.work, "study")
        run_files = []
        for k in KS:
            n = 2 ** k
            out = os.path.join(study, "particles", f"n{n}")
            chk.prefix = f"particles n = {n}: "
            snaps = S.check_run_folder(chk, out, "run")
            if snaps:
                x0 = L.read_snapshot(snaps[0])["x"]
                with L.h5py.File(os.path.join(out, "init.h5"), "r") as f:
                    init = f["/particles/x"][()]
                err = float(L.np.max(L.np.abs(x0 - init))) if x0 is not None and x0.shape == init.shape == (n, 2) \
                    else float("inf")
                chk.close("t = 0 snapshot == the sampled init.h5 (n x 2; mfsa renormalises onto the circle)", err, 1e-15)
            run_files += glob.glob(os.path.join(out, "*"))
        chk.prefix = "pde: "
        pde = os.path.join(study, "pde")
        S.check_run_folder(chk, pde, "run")
        run_files += glob.glob(os.path.join(pde, "*"))
        chk.prefix = ""

        cmp = os.path.join(study, "compare")
        post_files = glob.glob(os.path.join(cmp, "*"))
        chk.check(bool(post_files) and bool(run_files) and
                  min(os.stat(p).st_mtime_ns for p in post_files) > newest_mtime(run_files),
                  f"all {len(post_files)} post-processing files are newer than all {len(run_files)} run files")
        for k in KS:
            n = 2 ** k
            files = [os.path.join(cmp, f"n{n}{ext}") for ext in (".csv", ".h5", ".json")]
            if chk.check(all(os.path.isfile(p) for p in files), f"compare/n{n}.csv, .h5, .json exist"):
                with open(files[2]) as f:
                    res = json.load(f)
                w1 = [v for row in res.get("w1", []) for v in row]
                chk.check(res.get("n") == n and res.get("slices") == 2 and len(res.get("times", [])) == 3
                          and w1 and all(math.isfinite(v) and 0 <= v <= math.pi for v in w1),
                          f"n{n}.json: n = {res.get('n')}, slices = {res.get('slices')}, times = {res.get('times')}, "
                          f"W1 in [{min(w1, default=float('nan')):.3g}, {max(w1, default=float('nan')):.3g}]")
        summ = os.path.join(cmp, "summary.txt")
        text = S.read_text(summ) if os.path.isfile(summ) else ""
        print(text, flush=True)
        rows = [ln for ln in text.splitlines() if ln.strip() and ln.split()[0] in ("0", "0.25", "0.5")]
        chk.check(len(rows) == 3 and "slope of log W1 vs log n" in text,
                  f"summary.txt: {len(rows)} time rows and the slope line")
        log = glob.glob(os.path.join(cl.work, f"mfsa-post-{ids['post']}.log"))
        chk.check(bool(log) and "mfsa-post: done" in S.read_text(log[0]), "post-processing log ends with 'done'")

        # --- negative control ---------------------------------------------------------------
        b = cl.wait_done(bad, timeout=60)[0]
        chk.check(b.get("JobState") == "FAILED", f"failing job {bad}: {b.get('JobState')} exit {b.get('ExitCode')}")
        j = cl.wait_for("the blocked job's reason", lambda: (lambda x: x if x and x[0].get("Reason") ==
                        "DependencyNeverSatisfied" else None)(cl.jobs(blocked)), timeout=30)[0]
        chk.check(j.get("JobState") == "PENDING",
                  f"post-processing after the failing job: {j.get('JobState')} Reason={j.get('Reason')}")
        chk.check(not glob.glob(os.path.join(cl.work, f"mfsa-post-{blocked}.log")),
                  "post-processing after the failing job never started (no log file)")
        cl.cancel(blocked)
        if chk.failures:
            print(cl.debug_dump())
            for f in sorted(glob.glob(os.path.join(cl.work, "*.log"))):
                print(f"--- {f} ---\n" + S.read_text(f)[-2000:])


if __name__ == "__main__":
    L.main_guard("slurm_dependency", body)
