#!/usr/bin/python3
"""Issue 9, acceptance 2: linear attention in the mean-field Gaussian case follows its closed-form
Riccati solution.

Q = K = V = I, R^d (-geometry euclidean, no layer norm), -attn_kernel linear with count
normalisation, no mask: f_i = (1/n) sum_j beta <x_i, x_j> x_j = beta M x_i with the second moment
M = (1/n) sum_j x_j x_j^T, hence M' = 2 beta M^2 and, for t < t* = 1/(2 beta lambda_max(M0)),
    M(t) = M0 (I - 2 beta t M0)^{-1},      x_i(t) = (I - 2 beta t M0)^{-1/2} x_i(0)
(matrix functions of the symmetric M0; all of them commute).

(a) Every token against the closed form of its own sample (M0 = the empirical second moment of the
    -init file), n = 1024, d = 6, non-isotropic Gaussian with nonzero mean, T = 1/4 with
    2 beta T lambda_max(population M0) = 1/2, snapshots every 1/16. RK4 with h = 1/32 and 1/64:
    the error is RK4's truncation (order in [3.7, 4.3]; at h = 1/64 below 1e-7 relative: the
    local error ~ (h rate)^5 / 5! with rate = beta lambda / (1 - 2 beta t lambda) <= 4.2 and 16
    steps gives ~1e-9 .. 1e-8). The h = 1/64 run again on 2 ranks: bitwise identical snapshots.
(b) The mean-field statement: M_emp(T) = (1/n) sum_i x_i(T) x_i(T)^T from mfsa against the
    population closed form with M0 = Sigma0 + m0 m0^T at n = 128, 1024, 8192 (independent
    samples): relative Frobenius error E_n ~ n^{-1/2}. Least-squares slope of log E_n in
    [-0.85, -0.15]: over random seeds this slope has mean -0.51 and standard deviation 0.13 for
    d = 6 (simulated with the closed form, 1000 seeds: 1.4% fall outside this band; the fixed
    seeds here make it deterministic; it excludes p = 0, no convergence, and p = -1). Each E_n
    must also lie within [0.1, 3] x the RMS fluctuation predicted for that n (Monte Carlo of the
    closed form over 400 independent population samples). The runs at
    n = 128 and 8192 (on 2 ranks) take 2 RK4 steps; their integration error (checked against their
    own sample's closed form, < 5e-4; measured ~8e-5) is <= 5% of n^{-1/2}.
"""
import os
import numpy as np
import mfsa_testlib as L

D = 6
T = 0.25
OUT_DT = 1.0 / 16


def population():
    rng = np.random.default_rng(7)
    A = np.triu(0.3 * rng.standard_normal((D, D)), 1) + np.diag(np.linspace(1.0, 0.3, D))
    m0 = 0.3 * rng.standard_normal(D)
    M0 = A @ A.T + np.outer(m0, m0)
    beta = 0.5 / (2 * T * np.linalg.eigvalsh(M0).max())
    return A, m0, M0, float(beta)


def sample(A, m0, n, seed):
    return m0 + np.random.default_rng(seed).standard_normal((n, D)) @ A.T


def sym_fun(M, fun):
    w, U = np.linalg.eigh(M)
    return (U * fun(w)) @ U.T


def moment_T(M0, beta, t):
    return M0 @ np.linalg.inv(np.eye(D) - 2 * beta * t * M0)


def run(tmp, name, X0, beta, dt, out_dt, nprocs=1):
    init = L.write_init(os.path.join(tmp, name + "_init.h5"), X0)
    out = os.path.join(tmp, name)
    L.run_ok(nprocs, ["-n", X0.shape[0], "-attn_dim", D, "-attn_qkv", "identity", "-attn_beta", repr(beta),
                      "-attn_kernel", "linear", "-attn_kernel_norm", "count", "-attn_mask", "none",
                      "-geometry", "euclidean", "-init", "file", "-init_file", init,
                      "-ts_type", "rk", "-ts_rk_type", "4", "-ts_dt", repr(dt), "-ts_max_time", repr(T),
                      "-out_dt", repr(out_dt)], out)
    return out, L.read_snapshots(out)


def token_error(X0, beta, snaps):
    """max over snapshots and tokens of |x_i(t) - closed form| / max |x|, with the sample's M0."""
    n = X0.shape[0]
    M0 = X0.T @ X0 / n
    err = 0.0
    for s in snaps:
        ref = X0 @ sym_fun(M0, lambda w: (1 - 2 * beta * s["time"] * w) ** -0.5)
        err = max(err, float(np.max(np.abs(s["x"] - ref))) / float(np.max(np.abs(ref))))
    return err


def body(chk):
    tmp = L.test_dir("variants_riccati")
    A, m0, M0pop, beta = population()
    MTpop = moment_T(M0pop, beta, T)
    print(f"  population: lambda(M0) = {np.round(np.linalg.eigvalsh(M0pop), 3)}, beta = {beta:.6f}, "
          f"2 beta T lambda_max = {2 * beta * T * np.linalg.eigvalsh(M0pop).max():.3f}")

    # (a) per-token closed form, RK4 order, rank invariance
    X0 = sample(A, m0, 1024, 11)
    lam_emp = np.linalg.eigvalsh(X0.T @ X0 / len(X0)).max()
    chk.check(2 * beta * T * lam_emp < 0.7, f"(a) T = {T} is well before the sample's blow-up t* = {1 / (2 * beta * lam_emp):.3f}")
    errs = []
    for h in (1.0 / 32, 1.0 / 64):
        _, snaps = run(tmp, f"a_h{int(round(1 / h))}", X0, beta, h, OUT_DT)
        chk.check(len(snaps) == 5 and abs(snaps[-1]["time"] - T) < 1e-14, f"(a) h = 1/{int(round(1 / h))}: snapshots at t = {[s['time'] for s in snaps]}")
        errs.append(token_error(X0, beta, snaps))
        moved = float(np.max(np.abs(snaps[-1]["x"] - X0)))
        print(f"  (a) h = 1/{int(round(1 / h))}: max_t,i |x_i - (I - 2 beta t M0)^(-1/2) x_i(0)| / max|x| = {errs[-1]:.3e} (tokens moved up to {moved:.2f})")
    order = float(np.log2(errs[0] / errs[1]))
    chk.check(3.7 <= order <= 4.3, f"(a) RK4 order from h = 1/32, 1/64: {order:.3f} in [3.7, 4.3] (errors {errs[0]:.3e}, {errs[1]:.3e})")
    chk.close("(a) h = 1/64: every token against its closed-form Riccati solution", errs[1], 1e-7)
    out1 = os.path.join(tmp, "a_h64")
    out2, snaps2 = run(tmp, "a_h64_np2", X0, beta, 1.0 / 64, OUT_DT, nprocs=2)
    snaps1 = L.read_snapshots(out1)
    same = len(snaps1) == len(snaps2) and all(L.bitwise_equal(a["x"], b["x"]) for a, b in zip(snaps1, snaps2))
    chk.check(same, f"(a) 1 vs 2 ranks: all {len(snaps1)} snapshots bitwise identical (linear attention)")
    kern = snaps1[-1]["attrs"].get("kernel", "")
    chk.check("linear" in str(kern), f"(a) snapshots record the kernel in their provenance: kernel = {kern!r}")

    # (b) mean field: empirical M(T) against the population closed form at three n
    rng = np.random.default_rng(99)
    ns = (128, 1024, 8192)
    E = []
    for n in ns:
        if n == 1024:
            XT, Xs, integ = snaps1[-1]["x"], X0, errs[1]
        else:
            Xs = sample(A, m0, n, 20 + n)
            _, snaps = run(tmp, f"b_n{n}", Xs, beta, T / 2, 0, nprocs=2 if n > 1024 else 1)
            XT, integ = snaps[-1]["x"], token_error(Xs, beta, snaps)
            chk.check(integ < 5e-4, f"(b) n = {n}: 2 RK4 steps, integration error {integ:.2e} < 5e-4 (<= 5% of n^-1/2 = {n ** -0.5:.3f})")
        MT = XT.T @ XT / n
        E.append(float(np.linalg.norm(MT - MTpop) / np.linalg.norm(MTpop)))
        mc = [np.linalg.norm(moment_T(Y.T @ Y / n, beta, T) - MTpop) / np.linalg.norm(MTpop)
              for Y in (m0 + rng.standard_normal((n, D)) @ A.T for _ in range(400))]
        rms = float(np.sqrt(np.mean(np.square(mc))))
        ratio = E[-1] / rms
        chk.check(0.1 <= ratio <= 3.0, f"(b) n = {n}: |M_emp(T) - M_pop(T)|_F / |M_pop(T)|_F = {E[-1]:.4e}, "
                                       f"{ratio:.2f} x the predicted RMS {rms:.4e} (in [0.1, 3])")
    slope = L.fit_order(ns, E)
    chk.check(-0.85 <= slope <= -0.15, f"(b) mean-field error ~ n^p: fitted p = {slope:.3f} in [-0.85, -0.15] (expected -1/2)")


if __name__ == "__main__":
    L.main_guard("variants_riccati", body)
