#!/usr/bin/python3
"""plot_phase_diagram.py on a real beta sweep (2-rank runs, n = 8 tokens in d = 16,
Q = K = V = I, unmasked sphere, T = 8), laid out like a sweep's output root
(sweep/beta<b>/), plus one causal run in a subfolder (another group, no theory curve).

Independent truths: the fraction of clustered pairs at T against each run's own
diagnostics.h5 row at T (exact); the theory time t*(beta) (the script: Simpson quadrature of
dt/dc in u = -log(1 - c)) against an RK4 solution here of the equiangular ODE
c' = 2 (1 - c)(1 + (n - 1) c) / (e^{beta (1 - c)} + n - 1) from c = 0, the crossing of
c = 0.999 located inside its last step by bisection on the step length (1e-6 relative; RK4
with h = 2e-3 is accurate to ~1e-10 here); beta* solves t*(beta*) = T (checked with the same
RK4). The sweep straddles beta*: clustered at T for the smallest beta, not for the largest.
Bad input: a folder without runs, a --T that is not an output time -> exit != 0."""
import math
import os


import mfsa_testlib as L
import test_analysis_common as A

N, D, T = 8, 16, 8.0
BETAS = [1.0, 5.0, 9.0]


def rk4_crossing(beta, n, c1=0.999, h=2e-3):
    """Time at which the equiangular inner product reaches c1 from 0 (RK4, then bisection on
    the length of the last step)."""
    def f(c):
        return 2 * (1 - c) * (1 + (n - 1) * c) / (math.exp(beta * (1 - c)) + n - 1)

    def step(c, dt):
        k1 = f(c)
        k2 = f(c + 0.5 * dt * k1)
        k3 = f(c + 0.5 * dt * k2)
        k4 = f(c + dt * k3)
        return c + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    t, c = 0.0, 0.0
    while True:
        c2 = step(c, h)
        if c2 >= c1:
            lo, hi = 0.0, h
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if step(c, mid) < c1 else (lo, mid)
            return t + 0.5 * (lo + hi)
        t, c = t + h, c2
        if t > 1e4:
            return float("inf")


def body(chk):
    tmp = L.test_dir("analysis_phase")
    sweep = os.path.join(tmp, "sweep")
    runs = [os.path.join(sweep, f"beta{b:g}") for b in BETAS]
    causal = os.path.join(sweep, "causal", "beta5")
    common = ["-n", N, "-attn_dim", D, "-seed", 21, "-ts_dt", 0.05, "-ts_max_time", 12, "-out_dt", 1]
    A.run_all([(2, common + ["-attn_beta", b], p) for b, p in zip(BETAS, runs)]
              + [(2, common + ["-attn_beta", 5, "-attn_mask", "causal"], causal)])

    r = A.Script("plot_phase_diagram.py", [sweep, "--T", T, "--out", os.path.join(tmp, "phase.png")])
    if not r.ok(chk, "plot_phase_diagram"):
        return
    js = r.js
    A.check_png(chk, js["png"], "plot_phase_diagram")
    groups = {(g["mask"]): g for g in js["groups"]}
    chk.check(js["T"] == T and js["threshold"] == 0.999 and sorted(groups) == ["causal", "none"],
              f"T = {js['T']}, threshold {js['threshold']}, groups found under the sweep root: {sorted(groups)}")
    g = groups["none"]
    chk.check(g["beta"] == BETAS and g["runs"] == [os.path.abspath(p) for p in runs] and (g["n"], g["d"]) == (N, D),
              f"unmasked group: beta {g['beta']} from the files, runs in beta order, n = {g['n']}, d = {g['d']}")
    mine = [A.diag_at(L.read_diagnostics(p), T, "clustered_fraction") for p in runs]
    chk.check(g["fraction_at_T"] == mine and g["time_used"] == [T] * len(BETAS),
              f"fraction of clustered pairs at T = {T:g}: {g['fraction_at_T']} == diagnostics.h5 rows {mine}")
    chk.check(mine[0] == 1.0 and mine[-1] < 0.5, f"the sweep straddles the transition (fractions {mine})")
    chk.check(g["theory_applies"], f"theory applies to the unmasked identity group ({g['theory_why']})")
    ref = [rk4_crossing(b, N) for b in BETAS]
    err = max(abs(a - b) / b for a, b in zip(g["t_star"], ref))
    chk.close(f"t*(beta) {['%.4f' % t for t in g['t_star']]} vs RK4 crossing times {['%.4f' % t for t in ref]} (relative)", err, 1e-6)
    bs = g["beta_star"]
    chk.check(bs is not None and BETAS[0] < bs < BETAS[-1], f"beta* = {bs} lies inside the sweep")
    if bs is not None:
        chk.close(f"RK4 crossing time at beta* = {bs:.6f} equals T = {T:g} (relative)", abs(rk4_crossing(bs, N) - T) / T, 1e-6)
    c = groups["causal"]
    chk.check(not c["theory_applies"] and "mask causal" in c["theory_why"] and c["t_star"] is None and c["beta"] == [5.0],
              f"causal group: no theory curve ({c['theory_why']!r})")
    chk.check(c["fraction_at_T"] == [A.diag_at(L.read_diagnostics(causal), T, "clustered_fraction")], "causal group: fraction at T == diagnostics.h5")

    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    A.check_refusal(chk, A.Script("plot_phase_diagram.py", [empty, "--out", os.path.join(tmp, "x.png")]), "a folder without runs",
                    ["empty", "snap_*.h5"])
    A.check_refusal(chk, A.Script("plot_phase_diagram.py", [sweep, "--T", 7.5, "--out", os.path.join(tmp, "x.png")]),
                    "--T 7.5 is not an output time", ["diagnostics.h5", "T = 7.5"])


if __name__ == "__main__":
    L.main_guard("analysis_phase", body)
