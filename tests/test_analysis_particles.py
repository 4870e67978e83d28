#!/usr/bin/python3
"""analysis/ on real 2-rank particle runs: plot_tokens.py (sphere d = 3, circle d = 2 causal,
R^4 with PCA and with the first coordinates, movie frames), plot_timeseries.py, and the reader
(mfsa_read.py: XDMF index, checkpoint metadata); bad input (another format_version, a missing
dataset) -> exit != 0 and a one-line message naming the file and the dataset.

Independent truths: the order parameter each script computes from the snapshots against
mfsa's own diagnostics.h5 (written by the C code from the state in memory, MPI sums:
1e-12); PCA explained-variance ratios against an eigen-decomposition of the covariance
here (the script uses an SVD: 1e-10); cluster counts against a breadth-first search here
(the script uses label propagation: exact); the checkpoint's checksum, time, step and
restored table against mfsa_testlib's own checksum and the run's files (exact)."""
import json
import os
import shutil
import sys

import h5py
import numpy as np

import mfsa_testlib as L
import test_analysis_common as A


def body(chk):
    tmp = L.test_dir("analysis_particles")
    sph, circ, euc = (os.path.join(tmp, x) for x in ("sphere", "circle", "euclid"))
    A.run_all([
        (2, ["-n", 16, "-attn_dim", 3, "-attn_beta", 1, "-seed", 3, "-ts_dt", 0.05, "-ts_max_time", 10, "-out_dt", 1], sph),
        (2, ["-n", 30, "-attn_dim", 2, "-attn_beta", 4, "-attn_mask", "causal", "-seed", 4, "-ts_dt", 0.05,
             "-ts_max_time", 2, "-out_dt", 0.5], circ),
        (2, ["-n", 20, "-attn_dim", 4, "-geometry", "euclidean", "-init", "gaussian", "-attn_beta", 0.5, "-seed", 5,
             "-ts_dt", 0.05, "-ts_max_time", 1, "-out_dt", 0.25], euc),
    ])

    # ---- plot_tokens: every view; order parameter vs diagnostics.h5 ----
    for name, run, extra, view in (("sphere", sph, [], "sphere"), ("circle", circ, ["--frames", os.path.join(tmp, "frames"),
                                   "--mp4", os.path.join(tmp, "circle.mp4")], "circle"),
                                   ("R^4 pca", euc, [], "pca"), ("R^4 coords", euc, ["--projection", "coords"], "coords")):
        png = os.path.join(tmp, f"tokens_{name.replace(' ', '_').replace('^', '')}.png")
        r = A.Script("plot_tokens.py", [run, "--out", png] + extra)
        if not r.ok(chk, f"plot_tokens {name}"):
            continue
        js = r.js
        A.check_png(chk, js["png"], f"plot_tokens {name}")
        snaps = L.read_snapshots(run)
        diag = L.read_diagnostics(run)
        times = [s["time"] for s in snaps]
        chk.check(js["view"] == view and js["png"] == png, f"plot_tokens {name}: view {js['view']!r} == {view!r}")
        chk.check(len(js["times"]) >= 3 and set(js["times"]) <= set(times) and js["times"][0] == times[0] and js["times"][-1] == times[-1],
                  f"plot_tokens {name}: panels at snapshot times incl. first and last ({js['times']})")
        err = max(abs(op - A.diag_at(diag, t, "order_parameter")) for t, op in zip(js["times"], js["order_parameter"]))
        chk.close(f"plot_tokens {name}: order parameter at the {len(js['times'])} panel times vs diagnostics.h5", err, 1e-12)
        if view == "pca":
            X = np.concatenate([s["x"][np.argsort(s["index"])] for s in snaps])
            evals = np.linalg.eigvalsh(np.cov(X.T, bias=True))[::-1]
            ratio = evals[:2] / evals.sum()
            chk.close(f"plot_tokens {name}: explained variance ratios {js['explained_variance_ratio']} vs covariance eigenvalues {ratio.tolist()}",
                      float(np.max(np.abs(np.array(js["explained_variance_ratio"]) - ratio))), 1e-10)
        if name == "circle":
            frames = sorted(f for f in os.listdir(js["frames_dir"]) if f.startswith("frame_") and f.endswith(".png"))
            chk.check(js["frames"] == len(snaps) == len(frames), f"circle: one movie frame per snapshot ({js['frames']}, {len(frames)} files, {len(snaps)} snapshots)")
            A.check_png(chk, os.path.join(js["frames_dir"], frames[-1]), "circle: last movie frame")
            if shutil.which("ffmpeg"):
                chk.check(js["mp4"] and os.path.getsize(js["mp4"]) > 0, f"ffmpeg on PATH: MP4 written ({js['mp4']})")
            else:
                chk.check(js["mp4"] is None and "ffmpeg" in js["mp4_note"], f"no ffmpeg on PATH: no MP4, and the JSON says why ({js['mp4_note']!r})")

    # ---- plot_timeseries: series vs diagnostics.h5, cluster counts vs BFS ----
    r = A.Script("plot_timeseries.py", [sph, "--out", os.path.join(tmp, "timeseries.png")])
    if r.ok(chk, "plot_timeseries sphere"):
        js, diag = r.js, L.read_diagnostics(sph)
        A.check_png(chk, js["png"], "plot_timeseries sphere")
        same = all(np.array_equal(np.asarray(js[c], float), np.asarray(diag[c], float)) for c in
                   ("time", "energy", "order_parameter", "clustered_fraction", "logz_min", "logz_max"))
        chk.check(same, "plot_timeseries: plotted energy, order parameter, clustered fraction, log Z range == diagnostics.h5 columns")
        chk.check(js["last"]["order_parameter"] == float(diag["order_parameter"][-1]),
                  f"plot_timeseries: last order parameter {js['last']['order_parameter']} == diagnostics.h5 {float(diag['order_parameter'][-1])}")
        snaps = L.read_snapshots(sph)
        bfs = [A.components_bfs(s["x"], 0.999) for s in snaps]
        chk.check(js["threshold"] == 0.999 and js["cluster_times"] == [s["time"] for s in snaps] and js["cluster_count"] == bfs,
                  f"plot_timeseries: cluster counts (cos > 0.999) {js['cluster_count']} == BFS here {bfs}")
        chk.check(bfs[0] > bfs[-1] >= 1, f"the run does cluster (counts go from {bfs[0]} to {bfs[-1]}), so the comparison is not vacuous")
        pairs = []
        for s in snaps:
            u = s["x"] / np.linalg.norm(s["x"], axis=1, keepdims=True)
            c = u @ u.T
            pairs.append(float(np.sum(np.triu(c > 0.999, 1)) / (16 * 15 / 2)))
        chk.check(pairs == [float(v) for v in diag["clustered_fraction"]],
                  "diagnostics.h5 clustered_fraction == fraction of pairs with cos > 0.999 in the snapshots (so counts and fraction describe the same states)")
    r = A.Script("plot_timeseries.py", [sph, "--threshold", 0.9, "--out", os.path.join(tmp, "timeseries09.png")])
    if r.ok(chk, "plot_timeseries --threshold 0.9"):
        bfs = [A.components_bfs(s["x"], 0.9) for s in L.read_snapshots(sph)]
        chk.check(r.js["cluster_count"] == bfs, f"--threshold 0.9: cluster counts {r.js['cluster_count']} == BFS {bfs}")

    # ---- the reader: XDMF index and checkpoint metadata ----
    r = A.Script("mfsa_read.py", ["xdmf", os.path.join(sph, "mfsa.xmf")])
    snaps = L.read_snapshots(sph)
    if r.rc == 0:
        js = json.loads(r.stdout)
        xs, xt, xf = L.read_xdmf_times(os.path.join(sph, "mfsa.xmf"))
        chk.check(js["times"] == [s["time"] for s in snaps] == xt and js["missing"] == [] and
                  js["files"] == [os.path.basename(s["path"]) for s in snaps] and js["topology"] == ["Polyvertex"],
                  f"mfsa_read xdmf: {len(js['times'])} times == snapshot times, files == snap_*.h5, none missing, Polyvertex")
    else:
        chk.fail(f"mfsa_read xdmf: rc {r.rc}: {r.stderr[-300:]}")
    r = A.Script("mfsa_read.py", ["checkpoint", os.path.join(sph, "checkpoint.h5")])
    if r.rc == 0:
        js = json.loads(r.stdout)
        ok, why, info = L.checkpoint_check(os.path.join(sph, "checkpoint.h5"))
        diag = L.read_diagnostics(sph)
        chk.check(ok and js["complete"] and js["checksum_ok"], f"mfsa_read checkpoint: complete, checksum ok (mfsa_testlib agrees: {ok} {why})")
        chk.check(js["time"] == snaps[-1]["time"] and js["step"] == snaps[-1]["step"] and js["state_size"] == 16 * 3 and js["solver"] == "particles",
                  f"checkpoint: t {js['time']}, step {js['step']}, state size {js['state_size']} == last snapshot's t, step and n*d")
        chk.check(js["snapshot_times"] == [s["time"] for s in snaps] and js["nsnap_files"] == len(snaps) and js["output_kind"] == "particles",
                  "checkpoint: its output index lists every snapshot time")
        sys.path.insert(0, A.ANALYSIS)
        from mfsa_read import Checkpoint
        ck = Checkpoint(os.path.join(sph, "checkpoint.h5"))
        chk.check(set(ck.diagnostics) == set(diag) and all(np.array_equal(ck.diagnostics[c], np.asarray(diag[c], float)) for c in diag),
                  f"checkpoint: the diagnostics table it restores == diagnostics.h5 ({len(diag)} columns, {len(diag['time'])} rows)")
        chk.check(np.array_equal(ck.state().reshape(16, 3), snaps[-1]["x"][np.argsort(snaps[-1]["index"])]),
                  "checkpoint: /state == the last snapshot's /particles/x")
    else:
        chk.fail(f"mfsa_read checkpoint: rc {r.rc}: {r.stderr[-300:]}")

    # ---- bad input ----
    bad = A.copy_run(sph, os.path.join(tmp, "bad_format"))
    with h5py.File(os.path.join(bad, "snap_000003.h5"), "r+") as f:
        f.attrs["format_version"] = 7
    for script in ("plot_tokens.py", "plot_timeseries.py"):
        A.check_refusal(chk, A.Script(script, [bad, "--out", os.path.join(tmp, "x.png")]), f"{script}: snapshot of format_version 7",
                        ["snap_000003.h5", "format_version 7"])
    bad = A.copy_run(sph, os.path.join(tmp, "bad_missing"))
    with h5py.File(os.path.join(bad, "snap_000002.h5"), "r+") as f:
        del f["/particles/x"]
    A.check_refusal(chk, A.Script("plot_tokens.py", [bad, "--out", os.path.join(tmp, "x.png")]), "plot_tokens.py: /particles/x missing",
                    ["snap_000002.h5", "/particles/x"])
    bad = A.copy_run(sph, os.path.join(tmp, "bad_diag"))
    with h5py.File(os.path.join(bad, "diagnostics.h5"), "r+") as f:
        del f["order_parameter"]
    A.check_refusal(chk, A.Script("plot_timeseries.py", [bad, "--out", os.path.join(tmp, "x.png")]), "plot_timeseries.py: diagnostics column missing",
                    ["diagnostics.h5", "order_parameter"])
    with h5py.File(os.path.join(bad, "checkpoint.h5"), "r+") as f:
        f.attrs["format_version"] = 2
    A.check_refusal(chk, A.Script("mfsa_read.py", ["checkpoint", os.path.join(bad, "checkpoint.h5")]), "mfsa_read checkpoint: format_version 2",
                    ["checkpoint.h5", "format_version 2"])
    chk.check(not os.path.exists(os.path.join(tmp, "x.png")), "no PNG is written for refused input")
    h = A.Script("plot_tokens.py", ["--help"])
    chk.check(h.rc == 0 and "--projection" in h.stdout and "colour" in h.stdout.lower(), "plot_tokens.py --help describes the options")


if __name__ == "__main__":
    L.main_guard("analysis_particles", body)
