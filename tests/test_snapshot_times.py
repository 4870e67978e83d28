#!/usr/bin/python3
"""Snapshots land at exactly the requested times (DESIGN.md §4/§5).

usage: test_snapshot_times.py MODE   (MODE: fixed | adaptive)
-out_dt 0.25 with -ts_dt 0.1 (not a divisor of 0.25), or adaptive RK 5(4) Dormand-Prince.
For T = 1.1 (not a multiple of out_dt) and T = 1.0 (a multiple): snapshot `time` attributes
equal k*0.25 exactly (the double computed as k*0.25) plus the final time T, in file order, no
duplicates; the XDMF collection lists the same times (parsed from their %.17g text) and the
same files; diagnostics.h5 reaches T.  The *state* in each snapshot is also checked against
the closed form of MODEL.md §6 item 5 (beta = 0, R^d, no mask) at that time: a snapshot
taken at the neighbouring step instead would be off by |v| * 0.05 ~ 5e-2.
Tolerance on the state: fixed RK4 h = 0.1: ~T h^4 |V|^5|xbar|/5! ~ 1e-5, TOL 1e-4;
adaptive with PETSc default tolerances (1e-4): TOL 2e-3.
"""
import os
import sys
import numpy as np
import h5py
import mfsa_testlib as L

OUT_DT = 0.25


def expected_times(T):
    ts = []
    k = 0
    while k * OUT_DT < T:
        ts.append(k * OUT_DT)
        k += 1
    ts.append(T)
    return ts


def body(chk, mode):
    tmp = L.test_dir(f"snapshot_times_{mode}")
    ts_opts = (["-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none", "-ts_dt", "0.1"] if mode == "fixed"
               else ["-ts_type", "rk", "-ts_rk_type", "5dp", "-ts_adapt_type", "basic", "-ts_dt", "0.1"])
    tol = 1e-4 if mode == "fixed" else 2e-3
    rng = np.random.default_rng(71)
    n, d = 5, 3
    X0 = rng.standard_normal((n, d)) + np.array([2.0, -1.0, 1.0])
    init = L.write_init(os.path.join(tmp, "init.h5"), X0)
    for T in (1.1, 1.0):
        name = f"{mode}_T{T:g}"
        out = os.path.join(tmp, name)
        L.run_ok(1, ["-n", n, "-attn_dim", d, "-attn_qkv", "random", "-seed", 3, "-attn_beta", 0,
                     "-attn_mask", "none", "-geometry", "euclidean", "-init", "file", "-init_file", init,
                     "-ts_max_time", T, "-out_dt", OUT_DT] + ts_opts, out)
        files = L.snapshot_files(out)
        snaps = [L.read_snapshot(p) for p in files]
        times = [s["time"] for s in snaps]
        exp = expected_times(T)
        chk.check(times == exp, f"{name}: snapshot times in file order == {exp} (got {[repr(t) for t in times]})")
        chk.check(len(set(times)) == len(times), f"{name}: no duplicate snapshot times")
        names = [os.path.basename(p) for p in files]
        chk.check(names == [f"snap_{k:06d}.h5" for k in range(len(names))], f"{name}: files numbered snap_000000.. consecutively ({names})")
        steps = [s["step"] for s in snaps]
        chk.check(steps[0] == 0 and all(b > a for a, b in zip(steps, steps[1:])), f"{name}: step attributes start at 0 and increase ({steps})")
        if mode == "fixed":
            # 0.1-steps clipped at the output times: at least ceil(T/0.1) steps in total
            chk.check(steps[-1] >= int(np.ceil(T / 0.1 - 1e-9)), f"{name}: final step {steps[-1]} >= ceil(T/0.1)")
        # XDMF
        xs, xt, xfiles = L.read_xdmf_times(os.path.join(out, "mfsa.xmf"))
        chk.check(xt == exp, f"{name}: XDMF times parse to {exp} (text {xs})")
        chk.check(len(set(xs)) == len(xs), f"{name}: no duplicate times in the XDMF")
        ref_files = sorted(set(names))
        chk.check(sorted(set(os.path.basename(f) for f in xfiles)) == ref_files,
                  f"{name}: XDMF references exactly the snapshot files ({sorted(set(xfiles))})")
        # state at each snapshot time vs closed form (item 5)
        V = snaps[0]["V"].sum(axis=0)
        xbar = X0.mean(axis=0)
        err = max(float(np.max(np.abs(s["x"] - (X0 + (L.expm(s["time"] * V) - np.eye(d)) @ xbar)))) for s in snaps)
        chk.close(f"{name}: state at each snapshot time vs closed form (speed ~{np.linalg.norm(V @ xbar):.2f})", err, tol)
        with h5py.File(os.path.join(out, "diagnostics.h5"), "r") as f:
            dt_ = f["time"][()]
            chk.check(dt_.size >= 2 and dt_[-1] == T and np.all(np.diff(dt_) > 0),
                      f"{name}: diagnostics time strictly increasing up to T ({dt_.size} rows, last {dt_[-1] if dt_.size else None!r})")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "fixed"
    L.main_guard(f"snapshot_times_{mode}", lambda chk: body(chk, mode))
