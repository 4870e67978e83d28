#!/usr/bin/python3
"""Numerical faults (issue 8): detected at the step they appear, reported with time, step and
where (token/component, slice/angle), exit code != 0, a fault report fault.h5, and the last good
checkpoint and snapshots untouched.

usage: test_faults_numeric.py CASE [NPROCS]
  particles  -debug_inject_nan_step K -debug_inject_index I on a causal particle run with
             checkpoints: the fault line names t_K, K, token I//d, component I%d; exit 72; fault.h5
             holds the faulty state (NaN at I only); every snapshot up to the fault is bitwise the
             clean reference run's, none after; the last checkpoint is valid and its /state is the
             reference snapshot at its time; then -restart auto (without the injection) completes
             bitwise equal to the uninterrupted reference run.
  pde        the density checks, each against what was injected: NaN -> "slice j, angle k is nan";
             -0.5 -> "negative beyond round-off" at (j, k) with the value; +0.3 -> the drift of slice
             j's mass, checked against dtheta * sum of fault.h5's row j over the initial mass from the
             t = 0 snapshot; control: -pde_limiter none (not positivity-preserving) goes negative
             and is not a fault.
  blowup     closed forms: (a) beta = 0, V = 2, d = 1, tokens x(0) = (1, 3, 2): x_i(t) = 2 e^{2t} +
             x_i(0) - 2, so token 1 leaves |x| <= B = 100 first, at t_B = ln(49.5)/2: the fault must be
             token 1 at the first step with t_k > t_B, |x| = 2 e^{2 t_k} + 1 (RK4 error ~1e-8);
             (b) one token, USA, beta = 1: x' = e^{x^2} x blows up at t* = E1(1)/2; adaptive 5dp
             (rtol = atol = 1e-10) must stop with a step-size collapse (exit 91, no endless loop)
             at |t - t*| <= 1e-7 t*; (c) the same with fixed-step RK4: a non-finite token at step
             K, and the run to step K-1 (-ts_max_time) completes with a finite state: the fault
             is reported at the first step that has it.
"""
import math
import os
import re
import sys
import numpy as np
import h5py
import mfsa_testlib as L
import faults_lib as F


def describe(chk, r):
    print(r.describe(2500))


def case_particles(chk, nprocs):
    tmp = L.test_dir(f"faults_numeric_particles_np{nprocs}")
    n, d, K, I = 40, 3, 23, 3 * 17 + 2
    args = ["-n", n, "-attn_dim", d, "-attn_qkv", "random", "-seed", 4, "-attn_beta", 2.0, "-attn_mask", "causal",
            "-geometry", "sphere", "-init", "uniform", "-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none",
            "-ts_dt", 0.01, "-ts_max_time", 0.5, "-out_dt", 0.05, "-checkpoint_dt", 0.1]
    ref = os.path.join(tmp, "ref")
    L.run_ok(nprocs, args, ref)
    out = os.path.join(tmp, "fault")
    r = L.run_mfsa(nprocs, args + ["-out", out, "-debug_inject_nan_step", K, "-debug_inject_index", I], timeout=120)
    fl = F.fault_line(r.stdout)
    ok = r.rc == F.PETSC_ERR_FP and fl is not None and abs(fl[0] - K * 0.01) < 1e-12 and fl[1] == K \
        and f"token {I // d}, component {I % d} is nan" in fl[2]
    if not chk.check(ok, f"injected NaN after step {K} (entry {I} = token {I // d}, component {I % d}): exit {r.rc} "
                     f"(expected {F.PETSC_ERR_FP}), fault line {fl}"):
        describe(chk, r)
    msg = F.petsc_message(r.output)
    chk.check("checkpoint (t = 0.2, step 20)" in msg and "fault.h5" in msg,
              f"the error message names the last good checkpoint (t = 0.2, step 20) and the fault report: {msg[:300]!r}")
    rep = F.read_fault_report(out)
    if chk.check(rep is not None, "fault.h5 written"):
        bad = np.flatnonzero(~np.isfinite(rep["state"]))
        chk.check(rep["step"] == K and abs(rep["time"] - K * 0.01) < 1e-12 and list(bad) == [I] and np.isnan(rep["state"][I])
                  and rep["state"].size == n * d and f"token {I // d}" in rep["message"],
                  f"fault.h5: step {rep['step']}, time {rep['time']!r}, non-finite entries {list(bad)} (expected [{I}]), "
                  f"message {rep['message'][:90]!r}")
    times = F.folder_state(chk, "after the fault", out)
    chk.check(np.allclose(times, [0.0, 0.05, 0.1, 0.15, 0.2], rtol=0, atol=1e-15), f"snapshots up to the last output time before the fault only: {times}")
    same = []
    for fn in sorted(os.listdir(out)):
        if fn.startswith("snap_"):
            with h5py.File(os.path.join(out, fn), "r") as a, h5py.File(os.path.join(ref, fn), "r") as b:
                same.append(L.bitwise_equal(a["/particles/x"][()], b["/particles/x"][()]) and a.attrs["time"] == b.attrs["time"])
    chk.check(len(same) == 5 and all(same), f"the {len(same)} snapshots before the fault are bitwise the clean reference run's")
    ok1, why, ck = L.checkpoint_check(os.path.join(out, "checkpoint.h5"))
    with h5py.File(os.path.join(ref, "snap_000004.h5"), "r") as f:
        x02 = f["/particles/x"][()]
    chk.check(ok1 and ck["time"] == 0.2 and ck["step"] == 20 and L.bitwise_equal(ck["state"], x02.ravel()),
              f"checkpoint.h5 (t = {ck.get('time')}, step {ck.get('step')}) valid and its /state is the reference snapshot at t = 0.2 {why}")
    r2 = L.run_mfsa(nprocs, args + ["-out", out, "-restart", "auto"], timeout=120)
    if chk.check(r2.rc == 0 and "restarted from" in r2.stdout, f"-restart auto from the last good checkpoint completes (exit {r2.rc})"):
        L.compare_runs(chk, "restarted after the fault", ref, out, datasets=("/particles/x", "/particles/speed"))
    else:
        describe(chk, r2)


def case_pde(chk, nprocs):
    tmp = L.test_dir(f"faults_numeric_pde_np{nprocs}")
    S, M, K = 4, 64, 5
    base = L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-attn_beta", 2.0, "-attn_mask", "causal",
                         "-pde_init", "vonmises", "-pde_init_vonmises_centers", "1.0", "-pde_init_vonmises_kappas", "3",
                         "-ts_dt", 0.01, "-ts_max_time", 0.2, "-out_dt", 0.1]
    dtheta = 2 * math.pi / M
    for name, value, index in (("nan", "nan", 2 * M + 7), ("negative", -0.5, 3 * M + 1), ("mass", 0.3, 1 * M + 10)):
        out = os.path.join(tmp, name)
        r = L.run_mfsa(nprocs, base + ["-out", out, "-debug_inject_nan_step", K, "-debug_inject_index", index,
                                       "-debug_inject_value", value], timeout=120)
        fl = F.fault_line(r.stdout)
        rep = F.read_fault_report(out)
        j, k = index // M, index % M
        if name == "nan":
            ok = fl is not None and f"slice {j}, angle {k} is nan" in fl[2]
        elif name == "negative":
            ok = fl is not None and re.search(rf"density at slice {j}, angle {k} is -0\.5 < \S+ = -fault_negative_tol", fl[2]) is not None
        else:
            m = re.search(rf"the mass of slice {j} drifted by (\S+) \(relative\)", fl[2]) if fl else None
            ok = m is not None and rep is not None
            if ok:
                with h5py.File(os.path.join(out, "snap_000000.h5"), "r") as f:
                    m0 = f["/pde/mass"][()][j]
                drift = (dtheta * float(np.sum(rep["state"].reshape(S, M)[j])) - m0) / m0
                ok = abs(float(m.group(1)) - drift) <= 1e-5 * abs(drift)
                print(f"  mass drift of slice {j}: reported {m.group(1)}, from fault.h5 and the t = 0 snapshot {drift:.6g}")
        ok = ok and r.rc == F.PETSC_ERR_FP and fl[1] == K and rep is not None and rep["step"] == K
        if not chk.check(ok, f"pde, injected {value} at entry {index} (slice {j}, angle {k}) after step {K}: exit {r.rc}, fault line {fl}"):
            describe(chk, r)
        F.folder_state(chk, f"pde {name}", out, checkpoints=False)
    # control: without a limiter the scheme is not positive; its undershoots are not a fault
    out = os.path.join(tmp, "limiter_none")
    r = L.run_mfsa(nprocs, L.PDE_BASE + ["-pde_slices", 1, "-pde_angles", 64, "-attn_beta", 4.0, "-pde_limiter", "none",
                                         "-pde_init", "vonmises", "-pde_init_vonmises_centers", "1.0", "-pde_init_vonmises_kappas", "200",
                                         "-ts_dt", 0.01, "-ts_max_time", 0.3, "-out_dt", 0.1, "-out", out], timeout=120)
    rmin = float(np.min(L.read_diagnostics(out)["rho_min"])) if r.rc == 0 else float("nan")
    if not chk.check(r.rc == 0 and rmin < 0, f"control: -pde_limiter none goes negative (min rho_min {rmin:.3e}) and completes (exit {r.rc}): "
                     "the positivity check applies to positivity-preserving schemes only"):
        describe(chk, r)


def e1(x):
    """Exponential integral E1(x) = -gamma - ln x - sum_k (-x)^k / (k k!) (x ~ 1: 40 terms are exact)."""
    s, term = 0.0, 1.0
    for k in range(1, 60):
        term *= -x / k
        s += term / k
    return -0.57721566490153286061 - math.log(x) - s


def case_blowup(chk, nprocs):
    tmp = L.test_dir("faults_numeric_blowup")
    # (a) bound in R^d, closed form
    x0 = np.array([[1.0], [3.0], [2.0]])
    init = L.write_init(os.path.join(tmp, "x0.h5"), x0)
    qkv = L.write_qkv(os.path.join(tmp, "v2.h5"), np.ones((1, 1, 1)), np.ones((1, 1, 1)), 2.0 * np.ones((1, 1, 1)))
    B, dt = 100.0, 0.01
    tB = math.log((B - 1) / 2) / 2
    kB = math.floor(tB / dt) + 1
    xk = 2 * math.exp(2 * kB * dt) + 1
    margin = min(B - (2 * math.exp(2 * (kB - 1) * dt) + 1), xk - B) / B
    out = os.path.join(tmp, "bound")
    r = L.run_mfsa(nprocs, ["-n", 3, "-attn_dim", 1, "-geometry", "euclidean", "-attn_beta", 0, "-attn_qkv", "file", "-attn_qkv_file", qkv,
                            "-init", "file", "-init_file", init, "-ts_dt", dt, "-ts_max_time", 5, "-out_dt", 0.5,
                            "-fault_max_norm", B, "-out", out], timeout=120)
    fl = F.fault_line(r.stdout)
    m = re.search(r"token (\d+) has \|x\| = (\S+) > -fault_max_norm", fl[2]) if fl else None
    ok = r.rc == F.PETSC_ERR_FP and m is not None and fl[1] == kB and int(m.group(1)) == 1 and abs(float(m.group(2)) - xk) <= 1e-5 * xk
    if not chk.check(ok, f"|x| bound: token 1 crosses B = {B:g} at t_B = {tB:.6f}: expected step {kB} with |x| = {xk:.6g} "
                     f"(closed form; relative margin to B on either side {margin:.1e}); got exit {r.rc}, {fl}"):
        describe(chk, r)
    F.folder_state(chk, "bound", out, checkpoints=False)
    # (b) adaptive: step-size collapse at the blow-up time
    one = L.write_init(os.path.join(tmp, "x1.h5"), np.array([[1.0]]))
    usa = ["-n", 1, "-attn_dim", 1, "-geometry", "euclidean", "-attn_norm", "unnormalized", "-attn_beta", 1.0,
           "-init", "file", "-init_file", one, "-ts_max_time", 0.2, "-out_dt", 0.05]
    tstar = e1(1.0) / 2
    out = os.path.join(tmp, "adaptive")
    r = L.run_mfsa(nprocs, usa + ["-ts_rk_type", "5dp", "-ts_adapt_type", "basic", "-ts_rtol", 1e-10, "-ts_atol", 1e-10, "-out", out], timeout=120)
    rep = F.read_fault_report(out)
    tf = rep["time"] if rep else float("nan")
    ok = r.rc == F.PETSC_ERR_NOT_CONVERGED and not r.timed_out and "step-size collapse" in r.stdout and abs(tf - tstar) <= 1e-7 * tstar
    if not chk.check(ok, f"adaptive 5dp on x' = e^(x^2) x: step-size collapse reported (exit {r.rc}, expected {F.PETSC_ERR_NOT_CONVERGED}) "
                     f"at t = {tf!r}, blow-up time E1(1)/2 = {tstar!r}: |difference| {abs(tf - tstar):.2e} <= {1e-7 * tstar:.1e}"):
        describe(chk, r)
    # (c) fixed step: the first non-finite step
    out = os.path.join(tmp, "fixed")
    r = L.run_mfsa(nprocs, usa + ["-ts_dt", 0.01, "-out", out], timeout=120)
    fl = F.fault_line(r.stdout)
    if not chk.check(r.rc == F.PETSC_ERR_FP and fl is not None and "not finite" in fl[2],
                     f"fixed-step RK4 through the blow-up (t* = {tstar:.6f}): non-finite token reported: exit {r.rc}, {fl}"):
        describe(chk, r)
        return
    K = fl[1]
    out = os.path.join(tmp, "fixed_before")
    r = L.run_mfsa(nprocs, usa + ["-ts_dt", 0.01, "-ts_max_time", round((K - 1) * 0.01, 10), "-out", out], timeout=120)
    last = L.snapshot_files(out)[-1] if r.rc == 0 else None
    xlast = L.read_snapshot(last)["x"] if last else np.array([np.nan])
    chk.check(r.rc == 0 and np.all(np.isfinite(xlast)), f"the same run to step {K - 1} completes with a finite state (x = {xlast.ravel()}, "
              f"exit {r.rc}): the fault was reported at the first step that had it")


if __name__ == "__main__":
    case = sys.argv[1] if len(sys.argv) > 1 else "particles"
    nprocs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    fn = {"particles": case_particles, "pde": case_pde, "blowup": case_blowup}[case]
    L.main_guard(f"faults_numeric_{case}", lambda chk: fn(chk, nprocs))
