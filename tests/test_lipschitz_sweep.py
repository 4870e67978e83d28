#!/usr/bin/python3
"""mfsa-lipschitz end to end (issue 4), on 2 ranks:
 - adversarial sweep at a fixed radius R = 6 (beta = 1, B = V = I, d = 3): the fitted slope of
   log Lip vs log n, recomputed here with numpy from lipschitz.h5, lies in [0.4, 0.7]
   (sqrt n up to a log factor) and equals the slope the program printed and stored;
 - random (ball) sweep at R = 6: n_c is far outside the sweep, the slopes of the lower/upper half
   are printed, and the upper half grows more slowly than the lower; sphere inputs of radius 1.86
   (n_c = 1012 inside n = 16..4096): the slope after n_c, refitted here, is flat (|.| <= 0.05);
 - every estimate <= MODEL.md §5's bound, every residual <= tol;
 - snapshot inputs: the Lipschitz constant of a t = 0 snapshot of `mfsa` (uniform init on the
   sphere) equals that of -lip_inputs uniform with the same seed (two input paths, one X);
   the same on 1 rank (rank-count independence to 1e-10);
 - analysis/plot_lipschitz.py draws it: non-empty, not one colour, JSON slopes equal ours;
 - bad input: each -> exit != 0, a message naming the option, the earlier lipschitz.h5 intact.
"""
import json
import os
import re
import subprocess
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mfsa_testlib as t  # noqa: E402

BASE = ["-attn_dim", 3, "-attn_beta", 1]


def lip(nprocs, args, timeout=300):
    return t.run_mfsa(nprocs, BASE + list(args), timeout=timeout, binary=t.LIPSCHITZ_BIN)


def table(folder, fam):
    with h5py.File(os.path.join(folder, "lipschitz.h5"), "r") as f:
        g = f["lipschitz"][fam]
        return {k: g[k][()] for k in g}, dict(g.attrs)


def slope(n, y):
    return float(np.polyfit(np.log(n), np.log(y), 1)[0])


def body(chk):
    root = t.test_dir("lipschitz_sweep")
    out = os.path.join(root, "sweep")
    r = lip(2, ["-lip_inputs", "adversarial,ball", "-lip_n_pow2", "5,11", "-lip_radius", 6, "-out", out])
    chk.check(r.rc == 0, f"sweep runs (rc {r.rc})" + ("" if r.rc == 0 else "\n" + r.describe()))
    print(r.stdout)
    cols, attrs = table(out, "adversarial")
    s = slope(cols["n"], cols["estimate"])
    chk.check(0.4 <= s <= 0.7, f"adversarial slope {s:.4f} (numpy fit of lipschitz.h5) in [0.4, 0.7]")
    chk.close("stored slope attribute vs numpy fit", abs(attrs["slope"] - s), 1e-10)
    m = re.search(r"adversarial slope of log Lip vs log n = ([0-9.eE+-]+)", r.stdout)
    chk.check(m is not None and abs(float(m.group(1)) - s) < 1e-4, "printed adversarial slope equals the fit")
    for fam in ("adversarial", "ball"):
        c, a = table(out, fam)
        chk.check(bool(np.all(c["estimate"] <= c["upper_bound"])), f"{fam}: every estimate <= MODEL.md 5 bound (max ratio {np.max(c['estimate'] / c['upper_bound']):.3f})")
        chk.check(bool(np.all(c["residual"] <= a["tol"])), f"{fam}: every residual <= tol {a['tol']:g} (max {np.max(c['residual']):.1e})")
    cb, _ = table(out, "ball")
    half = len(cb["n"]) // 2
    lo_s, hi_s = slope(cb["n"][:half + 1], cb["estimate"][:half + 1]), slope(cb["n"][half:], cb["estimate"][half:])
    chk.check(re.search(r"ball .*slope over the lower half n <= \d+ [0-9.-]+, upper half [0-9.-]+", r.stdout) is not None, "ball: slopes of the lower and upper half printed (n_c outside the sweep)")
    chk.check(hi_s < lo_s, f"ball: growth flattens: upper-half slope {hi_s:.3f} < lower-half slope {lo_s:.3f}")

    # crossover inside the sweep (R = 1.86: n_c = e^{2 beta R^2} = 1012): flat past it (theory:
    # bounded independently of n in the mean-field regime)
    out_nc = os.path.join(root, "crossover")
    r = lip(2, ["-lip_inputs", "sphere", "-lip_sphere_radius", 1.86, "-lip_n_pow2", "4,12", "-out", out_nc])
    chk.check(r.rc == 0, "crossover sweep runs" + ("" if r.rc == 0 else "\n" + r.describe()))
    m = re.search(r"sphere .*n_c = e\^\{2 beta \|B\| R\^2\} = ([0-9.e+]+); slope before n_c ([0-9.eE+-]+), after ([0-9.eE+-]+)", r.stdout)
    chk.check(m is not None, "sphere sweep prints the slopes before and after n_c")
    if m:
        cs, ca = table(out_nc, "sphere")
        after = cs["n"] >= ca["crossover_n"]
        s_after = slope(cs["n"][after], cs["estimate"][after])
        chk.close("printed slope after n_c vs numpy fit", abs(float(m.group(3)) - s_after), 1e-4)
        chk.check(abs(s_after) <= 0.05, f"flat past the crossover n_c = {ca['crossover_n']:.0f}: slope after {s_after:.4f} (|.| <= 0.05), before {float(m.group(2)):.4f}")

    # the plot reads it back
    png = os.path.join(root, "lip.png")
    p = subprocess.run(["/usr/bin/python3", os.path.join(t.SOURCE_DIR, "analysis", "plot_lipschitz.py"), out, "--out", png], capture_output=True, text=True)
    chk.check(p.returncode == 0, f"plot_lipschitz.py runs (rc {p.returncode}) {p.stderr.strip()}")
    if p.returncode == 0:
        res = json.loads(p.stdout)
        chk.close("plot JSON adversarial slope vs numpy fit", abs(res["families"]["adversarial"]["slope"] - s), 1e-10)
        import matplotlib.image as mpimg
        img = mpimg.imread(png)
        chk.check(os.path.getsize(png) > 0 and float(np.ptp(img)) > 0, f"PNG non-empty and not one colour ({os.path.getsize(png)} bytes)")

    # snapshot inputs == the same X generated directly; rank-count independence
    run = os.path.join(root, "run")
    r0 = t.run_mfsa(2, ["-n", 50, "-attn_dim", 3, "-init", "uniform", "-seed", 7, "-ts_max_time", 0.1, "-out", run])
    chk.check(r0.rc == 0, "mfsa writes a snapshot" + ("" if r0.rc == 0 else "\n" + r0.describe()))
    snap = t.snapshot_files(run)[0]
    est = {}
    for name, nprocs, extra in (("snapshot", 2, ["-lip_inputs", "snapshot", "-lip_snapshot", snap]),
                                ("uniform", 2, ["-lip_inputs", "uniform", "-lip_n", 50, "-seed", 7]),
                                ("uniform_np1", 1, ["-lip_inputs", "uniform", "-lip_n", 50, "-seed", 7])):
        o = os.path.join(root, name)
        rr = lip(nprocs, extra + ["-attn_mask", "causal", "-lip_tol", 1e-12, "-out", o])
        chk.check(rr.rc == 0, f"{name} runs" + ("" if rr.rc == 0 else "\n" + rr.describe()))
        est[name] = table(o, "snapshot" if name == "snapshot" else "uniform")[0]["estimate"][0]
    chk.close("snapshot input vs the same tokens from -lip_inputs uniform (relative)", abs(est["snapshot"] - est["uniform"]) / est["uniform"], 1e-10)
    chk.close("1 rank vs 2 ranks (relative)", abs(est["uniform_np1"] - est["uniform"]) / est["uniform"], 1e-10)

    # bad input: message names the option, exit != 0, earlier output untouched
    wrong_d = os.path.join(root, "run4")
    t.run_mfsa(1, ["-n", 8, "-attn_dim", 4, "-ts_max_time", 0.01, "-out", wrong_d])
    snap4 = t.snapshot_files(wrong_d)[0]
    cases = [
        (["-lip_n", ""], "-lip_n"),
        (["-lip_n", "1"], "-lip_n"),
        (["-lip_n", "8,8"], "-lip_n"),
        (["-lip_n", "8", "-lip_n_pow2", "3,4"], "-lip_n_pow2"),
        (["-lip_n_pow2", "5,3"], "-lip_n_pow2"),
        (["-lip_inputs", ""], "-lip_inputs"),
        (["-lip_inputs", "torus"], "-lip_inputs"),
        (["-lip_inputs", "snapshot"], "-lip_snapshot"),
        (["-lip_inputs", "snapshot", "-lip_snapshot", snap4], "-attn_dim"),
        (["-lip_inputs", "snapshot", "-lip_snapshot", os.path.join(root, "missing.h5")], "-lip_snapshot"),
        (["-lip_inputs", "ball", "-geometry", "sphere"], "-geometry sphere"),
        (["-lip_tol", "0"], "-lip_tol"),
        (["-lip_method", "arnoldi"], "-lip_method"),
        (["-lip_radius", "-1"], "-lip_radius"),
        ([], "-out_overwrite"),  # the sweep folder already holds lipschitz.h5
    ]
    before = open(os.path.join(out, "lipschitz.h5"), "rb").read()
    for args, needle in cases:
        rr = lip(1, args + ["-lip_n", "8"] * (not any(a.startswith("-lip_n") for a in args)) + ["-out", out])
        text = rr.stdout + rr.stderr
        chk.check(rr.rc != 0 and needle in text, f"bad input {' '.join(map(str, args)) or '(existing output)'}: exit {rr.rc}, message names {needle}" + ("" if rr.rc != 0 and needle in text else "\n" + rr.describe(800)))
    chk.check(open(os.path.join(out, "lipschitz.h5"), "rb").read() == before, "earlier lipschitz.h5 byte-identical after all bad inputs")


t.main_guard("lipschitz_sweep", body)
