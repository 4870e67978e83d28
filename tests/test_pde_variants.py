#!/usr/bin/python3
"""PDE solver with the attention variants (issue 9; MODEL.md §4, src/circle_kernel.h).

usage: test_pde_variants.py velocity NPROCS | limit

velocity NPROCS  (a) the solver's /pde/velocity (cell centres, every snapshot of a short run)
  equals an independent numpy midpoint quadrature of the variant's formula on the same grid,
  from the snapshot's own /pde/rho and /model/Q,K,V:
      masked R_j = ds (sum_{i<j} rho_i + rho_j/2), unmasked R = ds sum_i rho_i,
      f(theta_k) = c sum_l g(theta_k, phi_l) R_l dphi,  c = 1/(sum_l R_l dphi) (count),
      pointwise w: g = sum_h w(beta x_k^T B_h x_l + b) V_h x_l   (relu, linear, sigmoid b fixed)
      hyla:        g = (sum_h at_h) ReLU(sum_h at_h V_h x_l), at_h = a_h / sqrt(mean a^2 + eps)
      post-LN: u = <f, x_perp>;  nGPT: u = alpha <f, x_perp> / |f|  (softmax: f = sum_h Num_h/Den_h)
  for general random Q, K, V (2 heads), a rough random density (every Fourier mode present),
  masked and unmasked. Tolerance 1e-12 relative to max|u| (post-LN) or, for nGPT, on
  |u - u_ref| |f| / (alpha max|f|) (the division by |f| amplifies f's round-off by max|f|/|f|):
  both sides sum the same M terms per point (round-off ~M eps ~1e-14; the FFT path of linear and
  sigmoid is exact to round-off by its truncation rule).
  (c) every run: mass of every slice conserved (diagnostics mass_drift <= 1e-13, summation
  round-off) and rho_min >= 0 (SSP RK3, mc limiter, CFL 0.4 < 1/2: positive by construction);
  the energy diagnostic is NaN for the non-exp kernels.
  NPROCS = 1 also: relu's midpoint quadrature is second order against the exact integral (numpy
  only: what the equality above means for accuracy); the variants without a mean-field limit fail
  with a message naming the options and without creating the -out folder.
  NPROCS = 2: the masked relu, sigmoid and hyla cases, and bitwise equality with 1 rank (relu).

limit  (b) particles -> PDE: unmasked, S = 1, Q = K = V = I, beta = 2, T = 1, for relu, linear,
  sigmoid (bias -0.5, count); rho0 the von Mises mixture below. PDE M = 512; particles n = 256,
  1024, 4096 at the quantiles F^{-1}((i + 1/2)/n) of rho0 (quasi-uniform: W1(t = 0) ~ pi/(2n),
  no sampling noise), RK4 dt = 0.25. The flow is Lipschitz, so W1 at T is O(1/n) too; expected
  ratios W1(n)/W1(4n) ~ 4 while far above the PDE's own error (W1 between M = 256 and 512
  solutions, printed). Required: each ratio >= 2.5 and W1(4096) >= 5 x the PDE error estimate.
  Controls (the comparison can fail): another kernel's particles (n = 4096) are > 10 x farther
  from this kernel's PDE, and the density moved (> 20 x W1). Mass and positivity of the PDE runs.
"""
import concurrent.futures
import os
import re
import sys
import numpy as np
import mfsa_testlib as L

sys.path.insert(0, os.path.join(L.SOURCE_DIR, "analysis"))

S, M, H, BETA = 8, 64, 2, 1.0
TOL = 1e-12
MASS_TOL = 1e-13
SIG_BIAS = -0.5
KDIM = 2  # rows of Q_h, K_h in the -attn_qkv_file: hyla's score scale is beta / sqrt(KDIM)


def weight(kernel, z):
    if kernel == "relu":
        return np.maximum(z, 0.0)
    if kernel == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if kernel == "linear":
        return z
    if kernel in ("softmax", "unnormalized"):
        return np.exp(z)
    raise ValueError(kernel)


def direct_field(rho, Q, K, V, beta, mask, kernel):
    """f (S x M x 2) at theta_k = (k + 1/2) dphi by the O(M^2) midpoint sums, and x, x_perp."""
    S_, M_ = rho.shape
    ds, dphi = 1.0 / S_, 2 * np.pi / M_
    _, th = L.pde_grid(S_, M_)
    X = np.stack([np.cos(th), np.sin(th)], axis=1)
    Xp = np.stack([-np.sin(th), np.cos(th)], axis=1)
    if mask == "causal":
        R = ds * (np.cumsum(rho, axis=0) - rho + 0.5 * rho)
    else:
        R = np.repeat(ds * rho.sum(axis=0, keepdims=True), S_, axis=0)
    mass = R.sum(axis=1) * dphi
    f = np.zeros((S_, M_, 2))
    Bs = [Q[h].T @ K[h] for h in range(Q.shape[0])]
    if kernel == "hyla":
        a = np.stack([beta / np.sqrt(KDIM) * (X @ B @ X.T) for B in Bs])            # h, k, l
        at = a / np.sqrt(np.mean(a * a, axis=0) + 1e-6)
        VX = np.stack([X @ V[h].T for h in range(len(Bs))])                          # h, l, c
        u = np.maximum(np.einsum("hkl,hlc->klc", at, VX), 0.0)
        g = at.sum(axis=0)[:, :, None] * u                                           # k, l, c
        f = np.einsum("klc,jl->jkc", g, R) * dphi / mass[:, None, None]
    else:
        for h, B in enumerate(Bs):
            Z = beta * (X @ B @ X.T) + (SIG_BIAS if kernel == "sigmoid" else 0.0)
            W = weight(kernel, Z)
            acc = np.einsum("kl,jl,lc->jkc", W, R, X) * dphi
            if kernel == "softmax":
                acc /= (R @ W.T * dphi)[:, :, None]
            else:
                acc /= mass[:, None, None]
            f += acc @ V[h].T
    return f, X, Xp


def direct_velocity(rho, Q, K, V, beta, mask, kernel, ln, alpha=1.0):
    f, X, Xp = direct_field(rho, Q, K, V, beta, mask, kernel)
    fperp = np.einsum("jkc,kc->jk", f, Xp)
    fnorm = np.sqrt(np.sum(f * f, axis=2))
    if ln == "ngpt":
        return alpha * fperp / fnorm, fnorm
    return fperp, fnorm


def kernel_args(kernel):
    if kernel == "sigmoid":
        return ["-attn_kernel", "sigmoid", "-attn_sigmoid_bias", SIG_BIAS, "-attn_kernel_norm", "count"]
    return ["-attn_kernel", kernel]


def check_mass_positivity(chk, name, kernel, out):
    diag = L.read_diagnostics(out)
    chk.close(f"{name}: max_t mass_drift", float(np.max(np.abs(diag["mass_drift"]))), MASS_TOL)
    rmin = float(np.min(diag["rho_min"]))
    chk.check(rmin >= 0.0, f"{name}: min_t rho_min = {rmin:.3e} >= 0")
    nan = np.isnan(diag["energy"])
    exp = kernel in ("softmax", "unnormalized")
    chk.check(bool(np.all(~nan)) if exp else bool(np.all(nan)), f"{name}: diagnostics energy is {'finite' if exp else 'NaN'} ({kernel})")


def relu_quadrature_order(chk):
    """What the direct quadrature's agreement above implies for relu: the midpoint rule is second
    order in dphi (kinks where the score changes sign), against the exact integral (Gauss-Legendre
    on the half circle where the score is positive: a smooth integrand there). Q = K = V = I,
    beta = 1, rho = von Mises mixture: u(theta) = int ReLU(cos(phi - theta)) sin(phi - theta) rho dphi."""
    gx, gw = np.polynomial.legendre.leggauss(60)
    rho = lambda p: L.vonmises_mixture(p, CENTERS, KAPPAS, WEIGHTS)  # noqa: E731
    errs, Ms = [], [64, 128, 256, 512]
    for Mq in Ms:
        th = (np.arange(Mq) + 0.5) * 2 * np.pi / Mq
        phi = th.copy()
        D = phi[None, :] - th[:, None]
        u_mid = (np.maximum(np.cos(D), 0) * np.sin(D)) @ rho(phi) * (2 * np.pi / Mq)
        P = th[:, None] + 0.5 * np.pi * gx[None, :]  # phi - theta in [-pi/2, pi/2]
        u_ex = (np.cos(P - th[:, None]) * np.sin(P - th[:, None]) * rho(P)) @ gw * 0.5 * np.pi
        errs.append(float(np.max(np.abs(u_mid - u_ex))))
    order = -L.fit_order(Ms, errs)
    print(f"  relu midpoint quadrature vs exact integral: M = {Ms}: max error {['%.2e' % e for e in errs]}, order {order:.2f}")
    chk.check(1.8 <= order <= 2.2, f"relu direct quadrature is second order in the grid: fitted order {order:.2f} in [1.8, 2.2]")


def velocity_body(chk, nprocs):
    tmp = L.test_dir(f"pde_variants_velocity_np{nprocs}")
    rng = np.random.default_rng(909)
    Q, K, V, rho0, qkv, init = L.random_circle_problem(rng, tmp, H, S, M, BETA)
    base = L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-attn_heads", H, "-attn_qkv", "file", "-attn_qkv_file", qkv,
                         "-attn_beta", BETA, "-pde_init", "file", "-pde_init_file", init, "-mfsa_view",
                         "-ts_max_time", 0.2, "-out_dt", 0.1]
    # (kernel, mask, ln, path the solver must report)
    cases = [("relu", "causal", "post", "direct"), ("relu", "none", "post", "direct"),
             ("linear", "causal", "post", "double series"), ("linear", "none", "post", "double series"),
             ("sigmoid", "causal", "post", "double series"), ("sigmoid", "none", "post", "double series"),
             ("hyla", "causal", "post", "direct"),
             ("relu", "causal", "ngpt", "direct"), ("softmax", "none", "ngpt", "double series")]
    if nprocs > 1:  # the rank-sensitive part is the prefix over slices: the masked cases
        cases = [c for c in cases if c[1] == "causal" and c[0] in ("relu", "sigmoid", "hyla") and c[2] == "post"]
    jobs = []
    for kernel, mask, ln, path in cases:
        name = f"{kernel}_{mask}_{ln}"
        args = base + kernel_args(kernel) + ["-attn_mask", mask, "-attn_ln", ln]
        jobs.append((name, kernel, mask, ln, path, args, os.path.join(tmp, name)))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda j: L.run_ok(nprocs, j[5], j[6]), jobs))
    for (name, kernel, mask, ln, path, _, out), r in zip(jobs, results):
        chk.check(path in r.stdout and f"kernel {kernel}" in r.stdout, f"{name}: -mfsa_view reports 'kernel {kernel}' evaluated by '{path}'")
        snaps = L.read_pde_snapshots(out)
        chk.check(len(snaps) == 3, f"{name}: 3 snapshots (t = 0, 0.1, 0.2): got {[s['time'] for s in snaps]}")
        chk.close(f"{name}: t = 0 /pde/rho equals the -pde_init file", float(np.max(np.abs(snaps[0]["rho"] - rho0))), 1e-15)
        for snap in snaps:
            u_ref, fnorm = direct_velocity(snap["rho"], snap["Q"], snap["K"], snap["V"], BETA, mask, kernel, ln)
            u = snap["velocity"]
            if ln == "ngpt":
                err = float(np.max(np.abs(u - u_ref) * fnorm)) / float(np.max(fnorm))
                what = f"max |u - u_ref| |f| / max|f| (|f| in [{fnorm.min():.2e}, {fnorm.max():.2e}])"
            else:
                scale = float(np.max(np.abs(u_ref)))
                err = float(np.max(np.abs(u - u_ref))) / scale
                what = f"max|u - u_direct| / max|u| (max|u| = {scale:.3f})"
            chk.close(f"{name}: t = {snap['time']:g}: {what}", err, TOL)
        if mask == "causal":
            u_unm, _ = direct_velocity(snaps[0]["rho"], Q, K, V, BETA, "none", kernel, ln)
            diff = float(np.max(np.abs(snaps[0]["velocity"] - u_unm)))
            chk.check(diff > 1e-3, f"{name}: control: the masked velocity differs from the unmasked one (max diff {diff:.3e})")
        check_mass_positivity(chk, name, kernel, out)
    # control: the reference tells the kernels apart (a test that cannot fail would not)
    u_relu, _ = direct_velocity(rho0, Q, K, V, BETA, "none", "relu", "post")
    u_lin, _ = direct_velocity(rho0, Q, K, V, BETA, "none", "linear", "post")
    chk.check(float(np.max(np.abs(u_relu - u_lin))) > 1e-2, f"control: relu and linear velocities differ (max {float(np.max(np.abs(u_relu - u_lin))):.3e})")
    if nprocs == 1:
        relu_quadrature_order(chk)
        bad_input(chk, tmp, base)
    else:
        # fixed steps (dt 0.01, below the CFL bound): the 2-rank run is bitwise the 1-rank run
        # (slice-ordered prefix, per-slice sums in index order)
        name, kernel, mask, ln, path, args, out = jobs[0]
        one = os.path.join(tmp, name + "_np1")
        L.run_ok(1, args, one)
        a, b = L.read_pde_snapshots(one), L.read_pde_snapshots(out)
        same = len(a) == len(b) and all(L.bitwise_equal(x["rho"], y["rho"]) and L.bitwise_equal(x["velocity"], y["velocity"]) for x, y in zip(a, b))
        chk.check(same, f"{name}: the run on {nprocs} ranks is bitwise the 1-rank run ({len(a)} snapshots: rho and velocity)")


def bad_input(chk, tmp, base):
    """Each case into a folder that does not exist yet: it must fail before creating it."""
    import faults_lib as F
    cases = [
        ("sigmoid with its default bias", ["-attn_kernel", "sigmoid", "-attn_kernel_norm", "count"], r"-attn_sigmoid_bias.*-attn_kernel_norm count.*-attn_kernel unnormalized"),
        ("relu -attn_kernel_norm none", ["-attn_kernel", "relu", "-attn_kernel_norm", "none"], r"-attn_kernel relu with -attn_kernel_norm none.*-attn_kernel_norm count"),
        ("sigmoid at beta 200", ["-attn_kernel", "sigmoid", "-attn_sigmoid_bias", 0.0, "-attn_kernel_norm", "count", "-attn_beta", 200], r"-attn_kernel sigmoid at -attn_beta 200.*lower -attn_beta"),
    ]
    jobs = [(name, L.with_opt(base, "-ts_max_time", 0.05) + extra + ["-out", os.path.join(tmp, f"bad{k}")], pattern, os.path.join(tmp, f"bad{k}"))
            for k, (name, extra, pattern) in enumerate(cases)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda j: L.run_mfsa(1, j[1], timeout=90), jobs))
    for (name, _, pattern, out), r in zip(jobs, results):
        msg = F.petsc_message(r.output)
        found = re.search(pattern, " ".join(msg.split()), re.S) is not None
        line = next((l.strip() for l in msg.splitlines() if "-attn_" in l), "(no PETSc message naming -attn_*)")
        ok = r.rc != 0 and not r.timed_out and found and not os.path.exists(out)
        chk.check(ok, f"bad input [{name}]: rc {r.rc}, /{pattern}/ {'found' if found else 'NOT found'}, "
                      f"-out folder {'created' if os.path.exists(out) else 'not created'}: {line[:240]!r}")


# ---------------------------------------------------------------------------- (b)
CENTERS, KAPPAS, WEIGHTS = [1.0, 4.0], [2.0, 3.0], [0.6, 0.4]
NS = [256, 1024, 4096]
LIMIT_BETA, T = 2.0, 1.0


def quantile_tokens(n):
    th = np.linspace(0, 2 * np.pi, 200001)
    pdf = L.vonmises_mixture(th, CENTERS, KAPPAS, WEIGHTS)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (pdf[1:] + pdf[:-1]) * np.diff(th))])
    cdf /= cdf[-1]
    ang = np.interp((np.arange(n) + 0.5) / n, cdf, th)
    return np.stack([np.cos(ang), np.sin(ang)], axis=1)


def limit_body(chk):
    import compare_particles_pde as C
    tmp = L.test_dir("pde_variants_limit")
    common = ["-attn_dim", 2, "-geometry", "sphere", "-attn_qkv", "identity", "-attn_beta", LIMIT_BETA, "-attn_mask", "none"]
    pde_opts = L.PDE_BASE[:2] + ["-pde_slices", 1, "-pde_init", "vonmises", "-pde_init_vonmises_centers", L.csv_floats(CENTERS),
                                 "-pde_init_vonmises_kappas", L.csv_floats(KAPPAS), "-pde_init_vonmises_weights", L.csv_floats(WEIGHTS),
                                 "-ts_dt", 0.01, "-ts_max_time", T, "-out_dt", T]
    inits = {n: L.write_init(os.path.join(tmp, f"tokens_n{n}.h5"), quantile_tokens(n)) for n in NS}
    jobs = []
    for kernel in ("relu", "linear", "sigmoid"):
        for Mq in (256, 512):
            jobs.append((kernel, f"pde_M{Mq}", common + pde_opts + kernel_args(kernel) + ["-pde_angles", Mq]))
        for n in NS:
            jobs.append((kernel, f"particles_n{n}", common + kernel_args(kernel) + ["-n", n, "-init", "file", "-init_file", inits[n],
                                                                                  "-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none",
                                                                                  "-ts_dt", 0.25, "-ts_max_time", T]))
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda j: L.run_ok(1, j[2], os.path.join(tmp, f"{j[0]}_{j[1]}"), timeout=300), jobs))
    for kernel in ("relu", "linear", "sigmoid"):
        fine, coarse = os.path.join(tmp, f"{kernel}_pde_M512"), os.path.join(tmp, f"{kernel}_pde_M256")
        check_mass_positivity(chk, f"{kernel}_limit_pde", kernel, fine)
        q512, q256 = L.read_pde_snapshots(fine)[-1]["rho"][0], L.read_pde_snapshots(coarse)[-1]["rho"][0]
        d = np.cumsum(q512)[1::2] * (2 * np.pi / 512) - np.cumsum(q256) * (2 * np.pi / 256)  # CDFs at the coarse faces
        pde_err = float(np.mean(np.abs(d - np.median(d)))) * 2 * np.pi
        w = {}
        for n in NS:
            res = C.compare(os.path.join(tmp, f"{kernel}_particles_n{n}"), fine)
            chk.check(res["times"] == [0.0, T], f"{kernel} n = {n}: common times {res['times']}")
            w[n] = (res["w1"][0][0], res["w1"][-1][0])
        print(f"  {kernel}: W1 at t = 0: {['%.3e' % w[n][0] for n in NS]}; at T = {T:g}: {['%.3e' % w[n][1] for n in NS]}; "
              f"PDE W1(M = 256, 512) = {pde_err:.2e}")
        for a, b in zip(NS, NS[1:]):
            ratio = w[a][1] / w[b][1]
            chk.check(ratio >= 2.5, f"{kernel}: W1(T; n = {a}) / W1(T; n = {b}) = {ratio:.2f} >= 2.5 (O(1/n): 4)")
        chk.check(w[NS[-1]][1] >= 5 * pde_err, f"{kernel}: W1(T; n = {NS[-1]}) = {w[NS[-1]][1]:.2e} >= 5 x the PDE error estimate {pde_err:.2e}")
        other = {"relu": "linear", "linear": "sigmoid", "sigmoid": "relu"}[kernel]
        cross = C.compare(os.path.join(tmp, f"{other}_particles_n{NS[-1]}"), fine)["w1"][-1][0]
        chk.check(cross > 10 * w[NS[-1]][1], f"{kernel}: control: {other} particles (n = {NS[-1]}) are far from the {kernel} PDE at T (W1 {cross:.2e} > 10 x {w[NS[-1]][1]:.2e})")
        moved = C.w1_circle(np.mod(np.arctan2(*quantile_tokens(NS[-1])[:, ::-1].T), 2 * np.pi), q512)
        chk.check(moved > 20 * w[NS[-1]][1], f"{kernel}: control: the density moved (W1(initial tokens, PDE at T) = {moved:.2e} >> {w[NS[-1]][1]:.2e})")


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "velocity"
    if mode == "limit":
        L.main_guard("pde_variants_limit", limit_body)
    else:
        nprocs = int(sys.argv[2]) if len(sys.argv) > 2 else 1
        L.main_guard(f"pde_variants_velocity_np{nprocs}", lambda chk: velocity_body(chk, nprocs))
