#!/usr/bin/python3
"""Smoke test of the benchmark suite (suite.py --quick, seconds): it runs end to end on this
build and its JSON is complete and self-consistent. Times are never asserted (they are noise
here); what is checked:
  - machine/build provenance is there (CPU model, avx2/avx512 flags, cores, compiler, revision, date);
  - every row the issue asks for exists: kernel d in {2, 3, 16, 64} x {causal, none} x {double,
    single}, scaling 1 -> 2 ranks for allgather and ring, steps for both n, PDE, snapshot and
    checkpoint vs dd; rows of paths this mfsa lacks (single, ring: read from `mfsa -help`
    independently here) say "not available", all others carry positive finite figures;
  - derived columns equal their definitions recomputed here (bound/kernel, NumPy/mfsa, speedup,
    time to T = 10 = 100 x s/step, dd ratios);
  - the projection's measured-basis rows match the closed form n = sqrt(3600 P / (200 c)) (no
    communication term) to its 3 printed digits, model rows never exceed it, and the memory per
    rank matches the stated formula with the largest causal block found here by bisection.
"""
import json
import math
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import mfsa_testlib as L  # noqa: E402


def finite_pos(v):
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def rel(a, b):
    return abs(a - b) / max(abs(a), abs(b), 1e-300)


def body(chk):
    tmp = L.test_dir("bench_suite_quick")
    jpath = os.path.join(tmp, "quick.json")
    cmd = ["/usr/bin/python3", os.path.join(HERE, "suite.py"), "--quick", "--build", L.BUILD_DIR, "--json", jpath, "--work", tmp]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600)
    out = p.stdout.decode(errors="replace")
    print(out)
    if not chk.check(p.returncode == 0 and os.path.isfile(jpath), f"suite.py --quick exit {p.returncode} and wrote {jpath}"):
        return
    res = json.load(open(jpath))
    chk.check(res["errors"] == [], f"no measurement failed ({len(res['errors'])} errors)")

    m, b = res["machine"], res["build"]
    chk.check(m.get("cpu_model") not in (None, "", "unknown") and isinstance(m.get("avx2"), bool) and isinstance(m.get("avx512f"), bool)
              and m.get("cores_usable", 0) >= 1, f"machine: {m.get('cpu_model')}, avx2 {m.get('avx2')}, avx512f {m.get('avx512f')}, {m.get('cores_usable')} cores")
    chk.check(bool(b.get("compiler_version")) and bool(b.get("git_revision")) and bool(re.match(r"\d{4}-\d\d-\d\dT", res.get("date", ""))),
              f"build: {b.get('compiler_version')}, revision {b.get('git_revision')}, date {res.get('date')}")

    # optional paths, read here independently of the suite
    h = subprocess.run([L.MPIEXEC, "1", L.BIN, "-help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL).stdout.decode(errors="replace")
    have = {"single": bool(re.search(r"^\s*-precision\b.*single", h, re.M)), "ring": bool(re.search(r"^\s*-particles_exchange\b.*ring", h, re.M))}
    chk.check(res["features"] == have, f"features {res['features']} == mfsa -help's {have}")

    e = res["exp"]
    chk.check(e is not None and finite_pos(e["double_kernel_ns"]) and finite_pos(e["float_libmvec_ns"]), "exp-only bounds measured")
    cfg = res["config"]
    numpy = {(r["d"], r["mask"], r["dtype"]): r for r in res["numpy"]}
    for prec in ("double", "single"):
        for mask in ("causal", "none"):
            for d in (2, 3, 16, 64):
                rows = [r for r in res["kernel"] if r["d"] == d and r["mask"] == mask and r["precision"] == prec]
                name = f"kernel d = {d}, {mask}, {prec}"
                if not chk.check(len(rows) == 1, f"{name}: one row"):
                    continue
                r = rows[0]
                if prec == "single" and not have["single"]:
                    chk.check(r["available"] is False and "part A" in r["reason"], f"{name}: not available ({r['reason']})")
                    continue
                ok = r["available"] and finite_pos(r["ns_per_pair_core"])
                bound = e["double_kernel_ns"] if prec == "double" else (e["float_kernel_ns"] or e["float_libmvec_ns"])
                ok = ok and rel(r["bound_fraction"], bound / r["ns_per_pair_core"]) < 1e-12
                nr = numpy.get((d, mask, "float64" if prec == "double" else "float32"))
                ok = ok and nr is not None and nr["n"] == r["n"] and rel(r["numpy_over_mfsa"], nr["ns_per_pair"] / r["ns_per_pair_core"]) < 1e-12
                chk.check(ok, f"{name}: {r.get('ns_per_pair_core', 0):.3f} ns/pair/core, bound/kernel and NumPy/mfsa recomputed")

    sc = res["scaling"]
    for ex in ("allgather", "ring"):
        for P in sorted({1, min(2, res["ranks"])}):
            rows = [r for r in sc if r["exchange"] == ex and r["ranks"] == P]
            name = f"scaling {ex} {P} rank(s)"
            if not chk.check(len(rows) == 1, f"{name}: one row"):
                continue
            r = rows[0]
            if ex == "ring" and not have["ring"]:
                chk.check(r["available"] is False, f"{name}: not available")
                continue
            one = [q for q in sc if q["exchange"] == ex and q["ranks"] == 1][0]
            chk.check(r["available"] and finite_pos(r["seconds_per_step"]) and rel(r["speedup"], one["seconds_per_step"] / r["seconds_per_step"]) < 1e-12,
                      f"{name}: {r.get('seconds_per_step', 0):.4f} s/step, speedup recomputed")

    for n in cfg["steps_n"]:
        for prec in ("double", "single"):
            rows = [r for r in res["steps"] if r["n"] == n and r["precision"] == prec]
            name = f"steps n = {n}, {prec}"
            if not chk.check(len(rows) == 1, f"{name}: one row"):
                continue
            r = rows[0]
            if prec == "single" and not have["single"]:
                chk.check(r["available"] is False, f"{name}: not available")
                continue
            chk.check(r["available"] and finite_pos(r["seconds_per_step"]) and rel(r["seconds_to_T10"], 100 * r["seconds_per_step"]) < 1e-12
                      and r["shortened"] == (n == cfg["steps_n"][-1]), f"{name}: {r.get('steps_per_s', 0):.2f} steps/s, T = 10 time = 100 steps")

    chk.check(len(res["pde"]) == len({1, res["ranks"]}) and all(finite_pos(r["rhs_per_s"]) for r in res["pde"]), "PDE RHS/s on 1 rank and all cores")
    s, c = res["io"].get("snapshot"), res["io"].get("checkpoint")
    chk.check(s is not None and finite_pos(s["bytes"]) and rel(s["ratio"], s["mb_per_s"] / s["dd_mb_per_s"]) < 1e-12
              and rel(s["ratio_fsync"], s["mb_per_s_fsync"] / s["dd_mb_per_s_fsync"]) < 1e-12, "snapshot write vs dd (page cache and fsync)")
    chk.check(c is not None and finite_pos(c["dd_mb_per_s_fsync"]) and rel(c["ratio"], c["mb_per_s"] / c["dd_mb_per_s_fsync"]) < 1e-12, "checkpoint write vs dd conv=fsync")

    pr = res["projection"]
    chk.check(len(pr["rows"]) >= 5, f"projection rows: {len(pr['rows'])}")
    md = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "suite.py"), "--markdown", jpath], stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode()
    chk.check(md.count("\n| ") >= len(res["kernel"]) + len(pr["rows"]), "suite.py --markdown prints the README tables")
    for r in pr["rows"]:
        closed = math.sqrt(3600.0 * r["ranks"] / (200.0 * r["c_ns_per_pair_core"] * 1e-9))
        name = f"projection {r['precision']} {r['ranks']} ranks {r['exchange']} ({r['basis']})"
        if r["basis"] == "measured":
            chk.close(f"{name}: n {r['n_reachable']:.3g} vs closed form {closed:.4g}", rel(r["n_reachable"], closed), 5e-3)
        else:
            chk.check(r["n_reachable"] <= closed * 1.005 and 0 <= r["comm_fraction"] < 1, f"{name}: n {r['n_reachable']:.3g} <= no-communication {closed:.4g}")
        n, P = r["n_reachable"], r["ranks"]
        b = 0  # largest causal block (rank 0's): the smallest b with b(b+1)/2 >= n(n+1)/(2P), by bisection
        lo, hi = 0, int(n)
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if mid * (mid + 1) < n * (n + 1) / P else (lo, mid)
        b = lo
        single = r["precision"] == "single"
        mem = 3 * (((20 if single else 16) * n + 96 * b) if r["exchange"] == "allgather" else (96 + 2 * (4 if single else 8)) * b)
        chk.close(f"{name}: memory per rank {r['memory_per_rank_bytes'] / 1e6:.1f} MB = formula (largest block {b})", rel(r["memory_per_rank_bytes"], mem), 1e-5)


if __name__ == "__main__":
    L.main_guard("bench_suite_quick", body)
