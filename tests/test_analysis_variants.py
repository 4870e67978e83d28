#!/usr/bin/python3
"""The attention-variant study end to end: jobs/run_variant_study.sh (--no-build, every
jobs/variant_*.opts, n = 12, T = 2, snapshots every 0.5, 2 ranks, Lipschitz at every 2nd
snapshot) and analysis/plot_variants.py, whose JSON it saves.

Independent truths:
- every variant starts from the same tokens (snapshot 0 bitwise equal) and ran with the model
  its options file names (kernel, layer norm, geometry, heads in the snapshot's options);
- cluster counts == connected components by breadth-first search on each snapshot (a
  different algorithm from the script's label propagation);
- Lipschitz values == /lipschitz/snapshot/estimate of the lipschitz.h5 at that snapshot (read
  here with h5py; that file names the snapshot and the variant's kernel), null where the study
  made no estimate;
- each estimate == the largest singular value of a dense Jacobian built here: central finite
  differences (h = 1e-6) of a numpy evaluation of the variant's map written from the formulas
  of MODEL.md §4 / the README (softmax, unnormalised, sigmoid with b = -log n, relu, linear,
  hyla; post-LN P_x f, pre-LN f(X/|X|), nGPT alpha P_x(f/|f|)). Tolerance: Lanczos stops at a
  relative eigen-residual 1e-6 of Df^T Df, so sigma is within 5e-7 relative of a singular
  value; the difference quotient adds ~1e-9; 1e-5 is allowed. For relu and hyla no ReLU
  argument may change sign inside the difference stencil (else a quotient would straddle a
  kink): checked for every column;
- the PNG is non-empty and not one colour.
Bad input: unknown variant, existing --out folder (left untouched), a run mfsa refuses (its
message shown), a study folder without runs, a lipschitz.h5 of another snapshot -> exit != 0
with a message naming the item."""
import json
import os
import shutil
import subprocess

import h5py
import numpy as np

import mfsa_testlib as L
import test_analysis_common as A

N, T, OUT_DT, LIP_EVERY = 12, 2.0, 0.5, 2
# what each options file says (independently of the files: the runs' options are checked
# against it): kernel, row factor (count: 1/n, none: 1), layer norm, geometry, heads
VARIANTS = {
    "softmax": ("softmax", None, "post", "sphere", 1),
    "unnormalized": ("unnormalized", None, "post", "sphere", 1),
    "sigmoid": ("sigmoid", "none", "post", "sphere", 1),
    "relu": ("relu", "count", "post", "sphere", 1),
    "linear": ("linear", "count", "post", "sphere", 1),
    "hyla": ("hyla", "count", "post", "sphere", 2),
    "preln": ("softmax", None, "pre", "euclidean", 1),
    "ngpt": ("softmax", None, "ngpt", "sphere", 1),
}
BETA, HYLA_EPS, NGPT_ALPHA, FD_H = 1.0, 1e-6, 1.0, 1e-6


def attention(X, Q, K, V, kernel, rownorm):
    """f(X) (n x d), unmasked, dense, from MODEL.md §4; also the signs of the ReLU arguments."""
    n, d = X.shape
    H = V.shape[0]
    f = np.zeros((n, d))
    signs = np.zeros(0, bool)
    if kernel == "hyla":
        a = np.stack([BETA / np.sqrt(d) * X @ (Q[h].T @ K[h]) @ X.T for h in range(H)])  # H x n x n
        at = a / np.sqrt(np.mean(a * a, axis=0) + HYLA_EPS)
        vx = np.einsum("hab,jb->hja", V, X)                 # V_h x_j
        arg = np.einsum("hij,hja->ija", at, vx)             # sum_h at_h V_h x_j
        signs = arg.ravel() > 0
        f = np.einsum("ij,ija->ia", at.sum(axis=0), np.maximum(arg, 0))
    else:
        for h in range(H):
            s = BETA * X @ (Q[h].T @ K[h]) @ X.T
            if kernel == "softmax":
                w = np.exp(s - s.max(axis=1, keepdims=True))
                w /= w.sum(axis=1, keepdims=True)
            elif kernel == "unnormalized":
                w = np.exp(s) / n
            elif kernel == "sigmoid":
                w = 1 / (1 + np.exp(-(s - np.log(n))))
            elif kernel == "relu":
                w, signs = np.maximum(s, 0), np.concatenate([signs, s.ravel() > 0])
            else:
                w = s
            f += (w @ X) @ V[h].T
    return f / n if rownorm == "count" else f, signs


def variant_map(X, Q, K, V, spec):
    kernel, rownorm, ln = spec[0], spec[1], spec[2]
    if ln == "pre":
        return attention(X / np.linalg.norm(X, axis=1, keepdims=True), Q, K, V, kernel, rownorm)
    f, signs = attention(X, Q, K, V, kernel, rownorm)
    if ln == "ngpt":
        f = NGPT_ALPHA * f / np.linalg.norm(f, axis=1, keepdims=True)
    return f - np.sum(X * f, axis=1, keepdims=True) * X, signs


def dense_lipschitz(X, Q, K, V, spec):
    """Largest singular value of the central-difference Jacobian, and the number of ReLU
    arguments that change sign inside the stencil (0: every quotient is on one smooth piece)."""
    x0 = X.ravel()
    J = np.zeros((x0.size, x0.size))
    signs = variant_map(X, Q, K, V, spec)[1]
    flips = 0
    for c in range(x0.size):
        e = np.zeros_like(x0)
        e[c] = FD_H
        fp, sp = variant_map((x0 + e).reshape(X.shape), Q, K, V, spec)
        fm, sm = variant_map((x0 - e).reshape(X.shape), Q, K, V, spec)
        J[:, c] = (fp - fm).ravel() / (2 * FD_H)
        flips += int(np.sum(sp != signs) + np.sum(sm != signs))
    return float(np.linalg.svd(J, compute_uv=False)[0]), flips


def study(args, env):
    cmd = ["bash", os.path.join(L.SOURCE_DIR, "jobs", "run_variant_study.sh"), "--no-build"] + [str(a) for a in args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=600)
    print(f"  $ {' '.join(cmd[1:])} -> rc {p.returncode}", flush=True)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def body(chk):
    tmp = L.test_dir("analysis_variants")
    env = dict(os.environ, MFSA_BUILD=L.BUILD_DIR, MPLBACKEND="Agg")
    out = os.path.join(tmp, "study")
    rc, so, se = study(["--out", out, "--n", N, "--T", T, "--out-dt", OUT_DT, "--ranks", 2, "--jobs", 2,
                        "--lip-every", LIP_EVERY], env)
    if not chk.check(rc == 0, f"run_variant_study.sh exit 0 (stderr {se[-1500:]!r}; stdout {so[-800:]!r})"):
        return
    table = [ln for ln in so.splitlines() if ln.split()[:1] and ln.split()[0] in VARIANTS]
    chk.check(len(table) == len(VARIANTS) and "variants.png" in so, f"the study prints one table row per variant and the picture: {len(table)} rows")
    js = json.load(open(os.path.join(out, "variants.json")))
    chk.check(js["order"] == list(VARIANTS), f"plot_variants found the variants in the study's order: {js['order']}")
    A.check_png(chk, js["png"], "plot_variants")

    x0 = None
    for v, spec in VARIANTS.items():
        chk.prefix = f"{v}: "
        e = js["variants"][v]
        snaps = L.read_snapshots(os.path.join(out, v))
        opts = snaps[0]["attrs"]["options"].split()
        want = {"-attn_kernel": spec[0], "-attn_ln": spec[2], "-geometry": spec[3], "-attn_heads": str(spec[4]), "-n": str(N)}
        if spec[1]:
            want["-attn_kernel_norm"] = spec[1]
        got = {k: opts[opts.index(k) + 1] if k in opts else None for k in want}
        chk.check(got == want, f"the run's options {got} == {want}")
        if x0 is None:
            x0 = snaps[0]["x"]
        chk.check(L.bitwise_equal(snaps[0]["x"], x0), "snapshot 0 holds the same tokens as the first variant's (same initial data)")
        times = [s["time"] for s in snaps]
        chk.check(np.allclose(times, np.arange(0, T + 1e-9, OUT_DT), rtol=0, atol=1e-12) and e["times"] == times,
                  f"snapshot times {times} (every {OUT_DT:g} up to {T:g}) == the JSON's")
        bfs = [A.components_bfs(s["x"], 0.999) for s in snaps]
        chk.check(e["cluster_count"] == bfs, f"cluster counts {e['cluster_count']} == BFS {bfs}")
        last = len(snaps) - 1
        errs, flips = [], 0
        for k, s in enumerate(snaps):
            name = os.path.splitext(os.path.basename(s["path"]))[0]
            lip = os.path.join(out, v, "lipschitz", name, "lipschitz.h5")
            expected = k % LIP_EVERY == 0 or k == last
            if not expected:
                chk.check(e["lipschitz"][k] is None and not os.path.exists(lip), f"t = {s['time']:g}: no estimate, null in the JSON")
                continue
            with h5py.File(lip, "r") as f:
                est = float(f["/lipschitz/snapshot/estimate"][0])
                lopts = L._attr(f.attrs["options"]).split()
            chk.check(e["lipschitz"][k] == est and lopts[lopts.index("-lip_snapshot") + 1] == s["path"]
                      and lopts[lopts.index("-attn_kernel") + 1] == spec[0],
                      f"t = {s['time']:g}: JSON {e['lipschitz'][k]} == lipschitz.h5 estimate {est} (at {name}, -attn_kernel {spec[0]})")
            ref, nflip = dense_lipschitz(s["x"], s["Q"], s["K"], s["V"], spec)
            errs.append(abs(est - ref) / ref)
            flips += nflip
            print(f"    t = {s['time']:g}: mfsa-lipschitz {est:.10f}, dense FD Jacobian {ref:.10f}", flush=True)
        if spec[0] in ("relu", "hyla"):
            chk.check(flips == 0, f"no ReLU argument changes sign inside the difference stencils ({flips} do): the quotients are valid")
        chk.close(f"Lipschitz estimates at t = {e['lipschitz_times']} vs sigma_max of the dense FD Jacobian (relative)", max(errs), 1e-5)
    chk.prefix = ""

    # bad input
    rc, so, se = study(["--out", os.path.join(tmp, "bad"), "--variants", "softmax,bogus"], env)
    chk.check(rc != 0 and "jobs/variant_bogus.opts" in se and "softmax,unnormalized" in se and not os.path.exists(os.path.join(tmp, "bad")),
              f"--variants bogus: exit {rc}, names the missing options file and the allowed ones, creates nothing: {se.strip()[:200]!r}")
    keep = os.path.join(tmp, "keep")
    os.makedirs(keep)
    open(os.path.join(keep, "mine.txt"), "w").write("precious")
    rc, so, se = study(["--out", keep, "--variants", "softmax"], env)
    chk.check(rc != 0 and keep in se and "exists" in se and os.listdir(keep) == ["mine.txt"] and open(os.path.join(keep, "mine.txt")).read() == "precious",
              f"--out an existing folder: exit {rc}, refused and left as it was: {se.strip()[:200]!r}")
    rc, so, se = study(["--out", os.path.join(tmp, "bad2"), "--n", 1], env)
    chk.check(rc != 0 and "--n" in se, f"--n 1: exit {rc}: {se.strip()[:200]!r}")
    rc, so, se = study(["--out", os.path.join(tmp, "fails"), "--variants", "softmax", "--n", 4, "--T", 0.1, "--beta", "1e400"], env)
    chk.check(rc == 1 and "FAILED (log" in se and "-attn_beta must be a finite number" in se and "Configure options" not in se,
              f"a run that mfsa refuses (--beta 1e400): exit {rc}, names the log and shows PETSc's message only: {se.strip()[:300]!r}")
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    A.check_refusal(chk, A.Script("plot_variants.py", [empty, "--out", os.path.join(tmp, "x.png")]), "a folder without variant runs",
                    ["empty", "snap_*.h5"])
    wrong = os.path.join(tmp, "wrong")
    A.copy_run(os.path.join(out, "softmax"), os.path.join(wrong, "softmax"))
    target = os.path.join(wrong, "softmax", "lipschitz", "snap_000002", "lipschitz.h5")
    shutil.copyfile(os.path.join(wrong, "softmax", "lipschitz", "snap_000000", "lipschitz.h5"), target)
    A.check_refusal(chk, A.Script("plot_variants.py", [wrong, "--out", os.path.join(tmp, "x.png")]),
                    "a lipschitz.h5 of another snapshot", [target, "-lip_snapshot", "snap_000000.h5"])


if __name__ == "__main__":
    L.main_guard("analysis_variants", body)
