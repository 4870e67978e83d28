#!/usr/bin/python3
"""The NumPy baseline of the benchmark suite computes the same velocity as mfsa.

mfsa's velocity: mfsa_bench's velocity job evaluates the particle solver's real TS right-hand
side at the initial state (-init file, -attn_qkv file) on 2 ranks and writes x and x' = f(x)
(all cases in one launch); numpy_velocity.velocity (the code the suite times, row blocks smaller than n so the
blocking and the causal key truncation are exercised) computes x' from the same x, Q, K, V.
Cases: d = 2, 3, 4, 16, 64 (mfsa's specialised and general kernel paths), 1-3 heads, both masks,
softmax and unnormalised, sphere and R^d, beta up to 4. Where this mfsa has them, the ring
exchange (3 ranks) and single precision are checked the same way.

Tolerance (derived, not tuned): a first-order rounding bound with unit roundoff u (2^-53, or
2^-24 for -precision single). With R = max |x_i|, a = beta max_h |Q_h| |K_h| R^2 (bounds every
score), the two programs' scores differ by <= 4 d u a (mfsa forms B = Q^T K first, NumPy
(Q x).(K x)), which is also the relative error it causes in each weight, plus ~2u from the exp;
each of the normalising and weighted sums over <= n keys adds <= n u (recursive summation,
worst case); V and the projection add <= 4 d u. Per head the velocity is bounded by
s_h = |V_h| R (softmax) or |V_h| R e^(max admitted score) (unnormalised, whose factor
e^(log Z - log|N|) adds 2 a u):
    |x'_mfsa - x'_numpy| <= u (8 d a + 2 n + 4 d + 2 a + 4) sum_h s_h   (max over entries).
A wrong mask, key range, head sum or projection errs by O(1/n) or more, orders above it.
"""
import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
import mfsa_testlib as L  # noqa: E402
import numpy_velocity as NV  # noqa: E402
import benchlib  # noqa: E402

CASES = [  # n, d, heads, beta, mask, norm, geometry, Q/K/V
    (203, 3, 1, 1.0, "causal", "softmax", "sphere", "identity"),
    (150, 4, 2, 2.0, "none", "softmax", "euclidean", "random"),
    (97, 16, 1, 0.5, "causal", "unnormalized", "sphere", "random"),
    (64, 2, 3, 4.0, "none", "unnormalized", "sphere", "random"),
    (130, 64, 1, 1.0, "causal", "softmax", "sphere", "random"),
    (300, 3, 2, 1.5, "causal", "softmax", "euclidean", "random"),
]


def tolerance(u, x, Q, K, V, beta, norm, mask):
    n, d = x.shape
    R = float(np.max(np.linalg.norm(x, axis=1)))
    a = beta * max(np.linalg.norm(Q[h], 2) * np.linalg.norm(K[h], 2) for h in range(Q.shape[0])) * R * R
    scale = 0.0
    for h in range(V.shape[0]):
        grow = 1.0
        if norm == "unnormalized":  # the largest weight e^s_ij the mask admits
            S = beta * (x @ Q[h].T) @ (x @ K[h].T).T
            grow = float(np.exp(np.max(np.where(np.tril(np.ones((n, n), bool)) | (mask != "causal"), S, -np.inf))))
        scale += np.linalg.norm(V[h], 2) * R * grow
    return u * (8 * d * a + 2 * n + 4 * d + 2 * a + 4) * scale


def mfsa_velocities(build, ranks, jobs, extra):
    """One mfsa_bench launch (-bench_jobs) writing every case's x and x'; {name: (x, x')}."""
    spec = []
    for name, case, init, qkv, out in jobs:
        n, d, heads, beta, mask, norm, geometry = case[:7]
        if os.path.exists(out):
            os.remove(out)
        spec.append(f"velocity -bench_velocity_out {out} -n {n} -attn_dim {d} -attn_heads {heads} -attn_beta {beta} "
                    f"-attn_mask {mask} -attn_norm {norm} -geometry {geometry} -attn_qkv file -attn_qkv_file {qkv} "
                    f"-init file -init_file {init} {extra}")
    cmd = [build.mpiexec, str(ranks), build.bench, "-bench_jobs", "; ".join(spec)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=300)
    got = {}
    for name, case, init, qkv, out in jobs:
        n, d = case[0], case[1]
        if p.returncode != 0 or not os.path.isfile(out) or os.path.getsize(out) != 2 * n * d * 8:
            raise L.RunFailed(f"mfsa_bench velocity failed for {name} (exit {p.returncode}): {' '.join(cmd)[:3000]}\n"
                              f"{p.stdout.decode(errors='replace')[-3000:]}")
        raw = np.fromfile(out, dtype="<f8")
        got[name] = (raw[: n * d].reshape(n, d), raw[n * d:].reshape(n, d))
    return got


def body(chk):
    build = benchlib.Build(L.BUILD_DIR)
    feats = build.features()
    print(f"optional paths in this mfsa: {feats}")
    tmp = L.test_dir("bench_numpy_velocity")
    rng = np.random.default_rng(7)
    jobs, models = [], {}
    for i, case in enumerate(CASES):
        n, d, heads, beta, mask, norm, geometry, qkv_kind = case
        name = f"case{i}_n{n}_d{d}_h{heads}_{mask}_{norm}_{geometry}"
        x = L.unit_rows(rng.standard_normal((n, d))) if geometry == "sphere" else 0.8 * rng.standard_normal((n, d))
        if qkv_kind == "identity":
            Q = K = V = np.repeat(np.eye(d)[None], heads, axis=0)
        else:
            Q, K, V = (rng.standard_normal((heads, d, d)) / np.sqrt(d) for _ in range(3))
        init = L.write_init(os.path.join(tmp, name + "_init.h5"), x)
        qkv = L.write_qkv(os.path.join(tmp, name + "_qkv.h5"), Q, K, V)
        models[name] = (case, x, Q, K, V)
        jobs.append((name, case, init, qkv, os.path.join(tmp, name + ".bin")))

    variants = [("double, allgather", 2, "", 2.0 ** -53)]
    if feats["ring"]:
        variants.append(("double, ring", 3, "-particles_exchange ring", 2.0 ** -53))
    if feats["single"]:
        variants.append(("single", 2, "-precision single", 2.0 ** -24))
    for label, ranks, extra, u in variants:
        got = mfsa_velocities(build, ranks, jobs, extra)
        for name, (case, x, Q, K, V) in models.items():
            n, d, heads, beta, mask, norm, geometry = case[:7]
            xm, vm = got[name]
            # on the sphere mfsa re-normalises the rows it reads (1 ulp): the reference takes mfsa's x
            chk.close(f"{name} [{label}]: mfsa's state is the initial file's x", float(np.max(np.abs(xm - x))), 4 * 2.0 ** -53)
            ref = NV.velocity(xm, Q, K, V, beta, mask, norm, geometry, block=max(8, n // 3))
            err = float(np.max(np.abs(vm - ref)))
            tol = tolerance(u, xm, Q, K, V, beta, norm, mask)
            chk.close(f"{name} [{label}, {ranks} ranks]: max |x'_mfsa - x'_numpy| (|x'| max {np.max(np.abs(ref)):.2e})", err, tol)
    for name, (case, *_rest) in models.items():
        # the timing path (sampled blocks) runs the same block code: a smoke run at this case's size
        # (all blocks sampled: the entry scaling must be exactly 1; fewer: the entries they skip)
        n, mask = case[0], case[4]
        t = NV.time_velocity(n, case[1], mask, "float64", block=32, reps=1, samples=3)
        nb = -(-n // 32)
        starts = [32 * b for b in range(nb)]
        total = sum(min(32, n - r0) * (min(n, r0 + 32) if mask == "causal" else n) for r0 in starts)
        ok = t["seconds_estimated"] > 0 and t["blocks_total"] == nb and t["blocks_sampled"] == min(3, nb)
        ok = ok and (t["entries_scale"] == 1.0 if nb <= 3 else 1.0 < t["entries_scale"] < total)
        chk.check(ok, f"{name}: NumPy timing path ({t['blocks_sampled']} of {nb} blocks, entries x{t['entries_scale']:.2f}, {t['ns_per_pair']:.1f} ns/pair)")


if __name__ == "__main__":
    L.main_guard("bench_numpy_velocity", body)
