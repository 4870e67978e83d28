#!/usr/bin/python3
"""The ring exchange (-particles_exchange ring) and -precision single through the real solver.

usage: test_ring_exchange.py causal|none|bad_input

causal / none: n = 61 tokens (not divisible by 2, 3 or 4), d = 3, 2 heads, random Q/K/V,
beta = 2, fixed-step RK4 (dt 0.01, T = 0.1), on the sphere and in R^d. Reference: the allgather
path on 1 rank (bitwise equal to allgather on any rank count, tests/test_rank_invariance.py).
  * ring on 1 rank is bitwise equal to the reference (one block = the allgather's keys; sphere);
  * ring on 2, 3, 4 ranks: the t = 0 speeds (one velocity evaluation of the same state) agree
    within a bound derived from double's unit roundoff u (below), the states at t = 0.05, 0.1
    within that bound carried by Gronwall (t tol e^{L (t + dt)}, L a Lipschitz bound), the
    diagnostics at t = 0: clustered fraction exact, energy within the log Z bound; the measured
    max differences are printed;
  * ring with 2 blocks in flight is bitwise equal to 1 block in flight (4 ranks; causal on the
    sphere, unmasked in R^d);
  * -precision single (ring, 2 ranks) against the double reference: t = 0 speeds within the
    single-precision bound (the same derivation with u_f = 2^-24, tests/test_ring_kernel.c).
bad_input: -precision half, -particles_exchange foo, -particles_ring_inflight 3 fail with a
message naming the option.

Velocity bound (first order; u = unit roundoff of the precision; X_c = max_j |x_jc|;
q' = log2(e) beta B_h^T x_i, S = max_i sum_c |q'_c| X_c): scores in log2 units carry
|du| <= (2.5 d + 4) u S (inputs rounded, at most 5d/4 + 1 FMA roundings), the weights
rho = ln2 |du| + 4u (the exp, measured <= 3u in test_ring_kernel), the sums of at most n terms
in any order (plus a few reduction and rescaling steps) gamma = (n + 10) u; the mean
|d mean_c| <= X_c (2 rho + 2 gamma (+ u single: the keys rounded)), the velocity
|dv| <= sum_h ||V_h||_F |d mean_h|. Two evaluations that each satisfy it differ by twice that.
"""
import math
import os
import sys
import numpy as np
import mfsa_testlib as L

N, D, H, DT = 61, 3, 2, 0.01
LOG2E = 1.4426950408889634


def base_args(mask, geometry, tmp):
    if geometry == "euclidean":  # tokens in the unit ball: keeps the Lipschitz bound below modest
        rng = np.random.default_rng(3)
        X = L.unit_rows(rng.standard_normal((N, D))) * rng.uniform(0, 1, (N, 1)) ** (1.0 / D)
        init = ["-init", "file", "-init_file", L.write_init(os.path.join(tmp, "ball.h5"), X)]
    else:
        init = ["-init", "uniform"]
    return ["-n", N, "-attn_dim", D, "-attn_heads", H, "-attn_qkv", "random", "-seed", 7,
            "-attn_beta", 2.0, "-attn_mask", mask, "-geometry", geometry] + init + [
            "-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none", "-ts_dt", DT,
            "-ts_max_time", 0.1, "-out_dt", 0.05]


def weight_errors(snap, beta, u):
    """Per head: rho = ln2 (2.5 d + 4) u S + 4 u, the relative error bound of every weight."""
    x = snap["x"]
    Q, K = snap["Q"], snap["K"]
    X = np.max(np.abs(x), axis=0)
    d = x.shape[1]
    out = []
    for h in range(Q.shape[0]):
        qp = LOG2E * beta * (x @ (Q[h].T @ K[h]))  # rows: log2(e) beta B^T x_i
        S = float(np.max(np.abs(qp) @ X))
        out.append(math.log(2) * (2.5 * d + 4) * u * S + 4 * u)
    return out


def velocity_bound(snap, beta, u, gamma, single):
    """Bound on |v_computed - v_exact| of one evaluation at this snapshot's state (see above)."""
    X = np.max(np.abs(snap["x"]), axis=0)
    total = 0.0
    for h, rho in enumerate(weight_errors(snap, beta, u)):
        dmean = X * (2 * rho / (1 - rho) + 2 * gamma + (u if single else 0.0))
        total += float(np.linalg.norm(snap["V"][h])) * float(np.linalg.norm(dmean))
    return total


def lipschitz(snaps, beta, sphere):
    """L = sum_h ||V_h|| (1 + 4 beta ||B_h|| R^2 (+ 2 R on the sphere)): bounds the field's
    Lipschitz constant in max_i |x_i| (d f_i/d x_j summed over j: the softmax weights give
    1 + 2 beta |B| R^2 off the diagonal, the query's own derivative 2 beta |B| R^2, the tangent
    projection 2 |f_i| <= 2 R |V|), R = max |x_i| over the run."""
    R = max(float(np.max(np.linalg.norm(s["x"], axis=1))) for s in snaps)
    Q, K, V = snaps[0]["Q"], snaps[0]["K"], snaps[0]["V"]
    return sum(float(np.linalg.norm(V[h], 2)) * (1 + 4 * beta * float(np.linalg.norm(Q[h].T @ K[h], 2)) * R * R + (2 * R if sphere else 0))
               for h in range(Q.shape[0]))


def max_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float))))


def bitwise_runs(chk, name, ra, rb):
    ok = len(ra) == len(rb) and all(L.bitwise_equal(a["x"], b["x"]) and L.bitwise_equal(a["speed"], b["speed"]) for a, b in zip(ra, rb))
    worst = max((max_diff(a["x"], b["x"]) for a, b in zip(ra, rb)), default=float("inf"))
    chk.check(ok, f"{name}: bitwise equal over {len(ra)} snapshots (x, speed)" + ("" if ok else f": max |dx| = {worst:.3e}"))


def body(chk, mask):
    tmp = L.test_dir(f"ring_exchange_{mask}")
    beta, u = 2.0, 2.0 ** -53
    gamma = (N + 10) * u
    for geometry in ("sphere", "euclidean"):
        chk.prefix = f"{mask}/{geometry}: "
        args = base_args(mask, geometry, tmp)
        sphere = geometry == "sphere"
        runs = {}

        def run(tag, p, extra):
            out = os.path.join(tmp, f"{geometry}_{tag}")
            L.run_ok(p, args + extra, out)
            runs[tag] = (L.read_snapshots(out), L.read_diagnostics(out))
            return runs[tag][0]

        ref = run("allgather_np1", 1, [])
        moved = max_diff(ref[-1]["x"], ref[0]["x"])
        chk.check(moved > 1e-3, f"tokens moved (max |dx| = {moved:.3f})")
        if sphere:
            bitwise_runs(chk, "ring on 1 rank vs allgather on 1 rank", ref, run("ring_np1", 1, ["-particles_exchange", "ring"]))

        # every RHS evaluation of either run is within tol_v/2 of the exact field at its state
        # (the bound at t = 0, with R and S from the reference's snapshots grown by 10 %)
        tol_v = 2 * 1.1 * max(velocity_bound(s, beta, u, gamma, False) for s in ref)
        Lc = lipschitz(ref, beta, sphere)
        for p in (2, 3, 4):
            ring = run(f"ring_np{p}", p, ["-particles_exchange", "ring"])
            if not chk.check(len(ring) == len(ref), f"ring on {p} ranks wrote {len(ring)} snapshots (reference {len(ref)})"):
                continue
            chk.close(f"ring on {p} ranks: t = 0 speeds vs allgather (derived bound)", max_diff(ring[0]["speed"], ref[0]["speed"]), tol_v)
            for a, b in zip(ref[1:], ring[1:]):
                t = a["time"]
                # discrete Gronwall for RK4 (stage errors <= tol_v, step map Lipschitz <= e^{L dt};
                # the sphere's retraction is 1-Lipschitz at |x| >= 1): t tol_v e^{L (t + dt)}
                chk.close(f"ring on {p} ranks: x at t = {t:g} vs allgather (Gronwall, L = {Lc:.1f})", max_diff(b["x"], a["x"]), t * tol_v * math.exp(Lc * (t + DT)))
            da, db = runs["allgather_np1"][1], runs[f"ring_np{p}"][1]
            chk.check(float(da["clustered_fraction"][0]) == float(db["clustered_fraction"][0]),
                      f"ring on {p} ranks: clustered fraction at t = 0 identical ({float(db['clustered_fraction'][0])})")
            # log energy = logsumexp_i,h(log Z_ih) - const: off by at most the worst log Z error,
            # |d log Z| <= rho + gamma per evaluation (and the double rounding of a value ~ |log E|)
            tol_e = 2 * (max(weight_errors(ref[0], beta, u)) + gamma) + 4 * u * abs(float(da["log_energy"][0]))
            chk.close(f"ring on {p} ranks: log energy at t = 0 vs allgather", abs(float(db["log_energy"][0]) - float(da["log_energy"][0])), tol_e)
        if sphere == (mask == "causal"):
            bitwise_runs(chk, "ring on 4 ranks, 2 blocks in flight vs 1", runs["ring_np4"][0], run("ring_np4_inflight2", 4, ["-particles_exchange", "ring", "-particles_ring_inflight", 2]))
        if sphere:
            single = run("ring_single_np2", 2, ["-particles_exchange", "ring", "-precision", "single"])
            tol_s = velocity_bound(ref[0], beta, 2.0 ** -24, (N + 10) * 2.0 ** -24, True) + velocity_bound(ref[0], beta, u, gamma, False)
            chk.close("-precision single, ring on 2 ranks: t = 0 speeds vs double allgather (derived single bound)", max_diff(single[0]["speed"], ref[0]["speed"]), tol_s)
    chk.prefix = ""


def bad_input(chk):
    tmp = L.test_dir("ring_bad_input")
    args = ["-n", 8, "-attn_dim", 3, "-ts_dt", 0.01, "-ts_max_time", 0.02]
    for opt, val in (("-precision", "half"), ("-particles_exchange", "foo"), ("-particles_ring_inflight", 3)):
        out = os.path.join(tmp, opt.strip("-"))
        r = L.run_mfsa(1, args + [opt, val, "-out", out])
        msg = r.output
        chk.check(r.rc != 0 and not r.timed_out, f"{opt} {val}: exit code {r.rc} != 0")
        chk.check(opt in msg, f"{opt} {val}: the message names {opt}" + ("" if opt in msg else ":\n" + msg[-1500:]))
        chk.check(not L.snapshot_files(out) if os.path.isdir(out) else True, f"{opt} {val}: no snapshot written")
    # control: the good values run
    L.run_ok(1, args + ["-precision", "single", "-particles_exchange", "ring", "-particles_ring_inflight", 2], os.path.join(tmp, "control"))
    print("  control: -precision single -particles_exchange ring -particles_ring_inflight 2 run (run_ok checked exit code and files)")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "causal"
    if what == "bad_input":
        L.main_guard("ring_bad_input", bad_input)
    else:
        L.main_guard(f"ring_exchange_{what}", lambda chk: body(chk, what))
