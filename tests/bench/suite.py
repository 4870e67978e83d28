#!/usr/bin/python3
"""mfsa benchmark suite: every figure of issue 7 in one run, printed as a table and written as
JSON (machine, build, every figure, the projection) so that runs can be compared over time.
Run it through jobs/run_benchmarks.sh (builds first); --quick is the seconds-long CI smoke mode.

Measured (full mode; quick mode uses tiny sizes and single runs):
  exp      the kernel's own exp in double and float (the exp-only bound) and libmvec's, ns/exp/core
  kernel   ns/pair/core of one velocity evaluation on 1 rank, n = 16384, d in {2, 3, 16, 64},
           causal and unmasked, double and single; ratio to the exp-only bound of the same precision
           measured in the same run; ratio to the NumPy implementation (numpy_velocity.py, same n, d,
           mask; float64 / float32; single-threaded; timed on sampled row blocks and scaled by entries)
  scaling  seconds per causal RK4 step, n = 32768, d = 3, on 1, 2, 4, ... up to the core count,
           allgather and ring exchange
  steps    particle RK4 steps/s on all cores, causal, d = 3, n = 10^4 (best of 3 after a warm-up)
           and n = 10^5 (ONE step, no warm-up: a shortened run), double and single; time to T = 10
           with dt = 0.1 = 100 steps extrapolated from it
  pde      PDE right-hand sides per second, 1024 x 1024, on 1 rank and on all cores
  io       snapshot write MB/s (the real parallel-HDF5 path, 2^21 tokens ~ 100 MB) against dd of the
           same size, in the page cache and with fsync; checkpoint write MB/s against dd conv=fsync
           (tests/bench/checkpoint_bandwidth.sh)
  projection  the n reachable to T = 10 (RK4, dt = 0.1) in one hour on 2 cores (measured), 64 and
           1024 ranks (measured per-core rate + a stated communication model); memory per rank
Timing rule: every figure is the best of k runs (k in the JSON), never a mean: the machine may be
shared. Optional paths (single precision, ring exchange) are detected from `mfsa -help`; where this
build lacks them their rows say "not available". Nothing here asserts a time.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import benchlib  # noqa: E402

FULL = dict(kernel_n=16384, dims=[2, 3, 16, 64], min_time=1.0, reps=3,
            numpy_n=16384, numpy_block=256, numpy_samples=8, numpy_reps=3,
            scaling_n=32768, steps_n=[10000, 100000], steps_min_time=2.0,
            pde=(1024, 1024), snapshot_n=1 << 21, ckpt=(4096, 2048), io_reps=3)
QUICK = dict(kernel_n=512, dims=[2, 3, 16, 64], min_time=0.01, reps=1,
             numpy_n=512, numpy_block=64, numpy_samples=4, numpy_reps=1,
             scaling_n=1024, steps_n=[500, 2000], steps_min_time=0.01,
             pde=(16, 64), snapshot_n=4096, ckpt=(64, 64), io_reps=1)
MASKS = ["causal", "none"]

# Projection: the run a user wants, and the cluster the model assumes (stated in the output).
RUN = dict(T=10.0, dt=0.1, stages=4, d=3, budget_s=3600.0)
NET = dict(latency_s=2e-6, node_bandwidth_Bps=12.5e9, cores_per_node=64,
           note="InfiniBand-class cluster ASSUMED (not measured): MPI latency 2 us, 12.5 GB/s "
                "(100 Gb/s) per node shared by its 64 ranks (one rank per core); every transfer "
                "counted as inter-node (conservative); per-core compute rate = the one measured here")
# Memory per rank, as solvers/particles.c, particles_ring.c and PETSc's TSRK allocate it, in bytes
# per token per dimension: allgather keeps every token as gathered double rows plus double SoA keys
# (16), plus float SoA keys under -precision single (20); every rank keeps 12 double copies of its
# own block (state, 4 RK4 stage states, 4 stage RHS, queries, means, per-token scalars: 96); the ring
# keeps inflight + 1 = 2 key buffers (default -particles_ring_inflight 1) of 8 or 4 bytes per value,
# every buffer and every ring message sized to the LARGEST block. Under the causal mask the
# pair-balanced contiguous blocks (src/partition.c) make rank 0's block the largest: b tokens with
# b(b+1)/2 = n(n+1)/(2P), about n/sqrt(P), not n/P. (At output times the ring path also gathers all
# keys for the diagnostics, transiently: 16 n d bytes.)
MEM = dict(allgather_all_tokens={"double": 16, "single": 20}, own_block=96, ring_buffers=2,
           key_bytes={"double": 8, "single": 4})


NOT_SINGLE = "this mfsa has no -precision single (issue 7 part A)"
NOT_RING = "this mfsa has no -particles_exchange ring (issue 7 part A)"


class Suite:
    """Plans the mfsa_bench jobs, runs them batched in one launch per rank count (an MPI launch
    costs ~2.5 s here), and turns the results into the rows of the JSON."""

    def __init__(self, build, cfg, ranks, workdir, log):
        self.b, self.cfg, self.P, self.work, self.log = build, cfg, ranks, workdir, log
        self.features = build.features()
        self.errors = []
        self.t0 = time.time()
        self.jobs = {}  # ranks -> [(tag, job string)]
        self.results = {}  # tag -> [BENCH objects]

    def say(self, msg):
        print(f"[{time.time() - self.t0:6.0f} s] {msg}", file=self.log, flush=True)

    def timing(self, min_time=None, reps=None, warmup=0):
        return (f"-bench_min_time {self.cfg['min_time'] if min_time is None else min_time} "
                f"-bench_min_reps {self.cfg['reps'] if reps is None else reps} -bench_warmup {warmup}")

    def add(self, ranks, tag, job):
        self.jobs.setdefault(ranks, []).append((tag, job))

    def precisions(self):
        return ["double", "single"] if self.features["single"] else ["double"]

    def exchanges(self):
        return ["allgather", "ring"] if self.features["ring"] else ["allgather"]

    @staticmethod
    def precision_opt(p):
        return " -precision single" if p == "single" else ""

    def exchange_opt(self, ex):
        return f" -particles_exchange {ex}" if self.features["ring"] else ""

    def scaling_ranks(self):
        return sorted({1} | {2 ** k for k in range(1, 31) if 2 ** k <= self.P} | {self.P})

    # ---------------------------------------------------------------------------------------
    def plan(self):
        c = self.cfg
        self.add(1, "exp", "exp " + self.timing(reps=3))
        for prec in self.precisions():
            self.add(1, f"kernel/{prec}", f"kernel -bench_n {c['kernel_n']} -bench_dims {','.join(map(str, c['dims']))} "
                                          f"-bench_masks {','.join(MASKS)} " + self.timing() + self.precision_opt(prec))
        for P in self.scaling_ranks():
            for ex in self.exchanges():
                self.add(P, f"scaling/{ex}/{P}", f"step -bench_n {c['scaling_n']} -bench_d 3 -bench_mask causal "
                                                 + self.timing(min_time=0) + self.exchange_opt(ex))
        for n in c["steps_n"]:
            short = n == c["steps_n"][-1]
            for prec in self.precisions():
                timing = self.timing(min_time=0, reps=1, warmup=0) if short else self.timing(min_time=c["steps_min_time"], warmup=1)
                self.add(self.P, f"steps/{n}/{prec}", f"step -bench_n {n} -bench_d 3 -bench_mask causal " + timing + self.precision_opt(prec))
        S, M = c["pde"]
        for P in sorted({1, self.P}):
            self.add(P, f"pde/{P}", f"pde -bench_pde_slices {S} -bench_pde_angles {M} " + self.timing(warmup=1))
        self.snapshot_dir = os.path.join(self.work, "snapshots")
        self.add(self.P, "snapshot", f"snapshot -bench_snapshot_n {c['snapshot_n']} -bench_d 3 -out {self.snapshot_dir} -out_overwrite "
                 + self.timing(min_time=0, reps=c["io_reps"]))

    def run(self):
        for P in sorted(self.jobs):
            jobs = self.jobs[P]
            self.say(f"{P} rank{'s' if P > 1 else ''}: " + ", ".join(t for t, _ in jobs))
            arg = "; ".join(f"{job} -bench_tag {tag}" for tag, job in jobs)
            try:
                res = self.b.run_bench(P, ["-bench_jobs", arg])
            except benchlib.BenchError as e:
                res = e.partial
                self.errors.append(f"launch on {P} ranks: {e}")
                self.say(f"FAILED on {P} ranks: {str(e)[:3000]}")
            for r in res:
                self.results.setdefault(r["tag"], []).append(r)
        shutil.rmtree(self.snapshot_dir, ignore_errors=True)

    def got(self, tag):
        return self.results.get(tag, [])

    # ---------------------------------------------------------------------------------------
    def exp(self):
        r = self.got("exp")
        return r[0] if r else None

    def kernel(self, exp):
        c = self.cfg
        rows = []
        for prec in ["double", "single"]:
            if prec not in self.precisions():
                rows += [dict(d=d, mask=m, precision=prec, n=c["kernel_n"], available=False, reason=NOT_SINGLE)
                         for m in MASKS for d in c["dims"]]
                continue
            for r in self.got(f"kernel/{prec}"):
                bound = None
                if exp:
                    bound = exp["double_kernel_ns"] if prec == "double" else (exp.get("float_kernel_ns") or exp["float_libmvec_ns"])
                rows.append(dict(d=r["d"], mask=r["mask"], precision=prec, n=r["n"], available=True,
                                 ns_per_pair_core=r["ns_per_pair_core"], seconds=r["seconds"], reps=r["reps"],
                                 exp_bound_ns=bound, bound_fraction=(bound / r["ns_per_pair_core"]) if bound else None))
        return rows

    def numpy(self):
        c = self.cfg
        dtypes = ["float64", "float32"]
        self.say(f"NumPy baseline, n = {c['numpy_n']} ({len(dtypes) * len(MASKS) * len(c['dims'])} cases, sampled row blocks)")
        # MFSA_BENCH_PYTHON: another interpreter with NumPy (a machine whose python3 is elsewhere)
        cmd = [os.environ.get("MFSA_BENCH_PYTHON", "/usr/bin/python3"), os.path.join(HERE, "numpy_velocity.py"), "--n", str(c["numpy_n"]),
               "--d"] + [str(d) for d in c["dims"]] + ["--mask"] + MASKS + ["--dtype"] + dtypes + \
              ["--block", str(c["numpy_block"]), "--samples", str(c["numpy_samples"]), "--reps", str(c["numpy_reps"])]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=1800)
        out = p.stdout.decode(errors="replace")
        rows = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("NUMPY {")]
        if p.returncode != 0 or len(rows) != len(dtypes) * len(MASKS) * len(c["dims"]):
            self.errors.append(f"NumPy baseline failed (exit {p.returncode}): {out[-2000:]}")
        return rows

    def scaling(self):
        c = self.cfg
        rows = []
        for ex in ["allgather", "ring"]:
            for P in self.scaling_ranks():
                if ex not in self.exchanges():
                    rows.append(dict(exchange=ex, ranks=P, n=c["scaling_n"], available=False, reason=NOT_RING))
                for r in self.got(f"scaling/{ex}/{P}"):
                    rows.append(dict(exchange=ex, ranks=P, n=c["scaling_n"], available=True,
                                     seconds_per_step=r["seconds"], reps=r["reps"]))
        for r in rows:
            one = [q for q in rows if q["exchange"] == r["exchange"] and q["ranks"] == 1 and q["available"]]
            if r["available"] and one:
                r["speedup"] = one[0]["seconds_per_step"] / r["seconds_per_step"]
                r["efficiency"] = r["speedup"] / r["ranks"]
            ag = [q for q in rows if q["exchange"] == "allgather" and q["ranks"] == r["ranks"] and q["available"]]
            if r["available"] and ag:
                r["time_vs_allgather"] = r["seconds_per_step"] / ag[0]["seconds_per_step"]
        return rows

    def steps(self):
        rows = []
        steps_T = round(RUN["T"] / RUN["dt"])
        for n in self.cfg["steps_n"]:
            short = n == self.cfg["steps_n"][-1]
            for prec in ["double", "single"]:
                if prec not in self.precisions():
                    rows.append(dict(n=n, precision=prec, ranks=self.P, available=False, reason=NOT_SINGLE))
                for r in self.got(f"steps/{n}/{prec}"):
                    s = r["seconds"]
                    rows.append(dict(n=n, precision=prec, ranks=self.P, available=True, seconds_per_step=s,
                                     steps_per_s=1.0 / s, reps=r["reps"], warmup=r["warmup"],
                                     ns_per_pair_core=r["ns_per_pair_core"], shortened=short, seconds_to_T10=steps_T * s,
                                     note=("one RK4 step timed, no warm-up; T = 10 time = 100 x that step"
                                           if short else "best of repeated steps after a warm-up step")))
        return rows

    def pde(self):
        return [dict(ranks=r["ranks"], slices=r["slices"], angles=r["angles"], kernel=r["kernel"],
                     rhs_per_s=r["rhs_per_s"], reps=r["reps"]) for P in sorted({1, self.P}) for r in self.got(f"pde/{P}")]

    def dd(self, nbytes, fsync):
        """Best of io_reps dd runs writing nbytes (rounded up to MiB) to the work folder: MB/s."""
        count = max(1, (nbytes + (1 << 20) - 1) >> 20)
        best = None
        for _ in range(self.cfg["io_reps"]):
            path = os.path.join(self.work, "dd.bin")
            cmd = ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={count}"] + (["conv=fsync"] if fsync else [])
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            m = re.search(r"copied, ([0-9.e+-]+) s", p.stdout.decode(errors="replace"))
            os.remove(path)
            if p.returncode or not m:
                raise benchlib.BenchError("dd failed: " + p.stdout.decode(errors="replace"))
            s = float(m.group(1))
            best = s if best is None else min(best, s)
        return count * (1 << 20) / 1e6 / best

    def io(self):
        c = self.cfg
        out = {}
        try:
            for r in self.got("snapshot"):
                sn = dict(tokens=r["n"], bytes=r["bytes"], ranks=self.P, reps=r["reps"],
                          mb_per_s=r["mb_per_s"], mb_per_s_fsync=r["mb_per_s_fsync"],
                          dd_mb_per_s=self.dd(int(r["bytes"]), False), dd_mb_per_s_fsync=self.dd(int(r["bytes"]), True))
                sn["ratio"] = sn["mb_per_s"] / sn["dd_mb_per_s"]
                sn["ratio_fsync"] = sn["mb_per_s_fsync"] / sn["dd_mb_per_s_fsync"]
                out["snapshot"] = sn
            S, M = c["ckpt"]
            self.say(f"checkpoint write vs dd (checkpoint_bandwidth.sh, {S} x {M} PDE state, best of {c['io_reps']})")
            best = None
            for _ in range(c["io_reps"]):
                p = subprocess.run(["bash", os.path.join(HERE, "checkpoint_bandwidth.sh"), self.b.dir, str(self.P), str(S), str(M)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=900,
                                   env=dict(os.environ, TMPDIR=self.work))
                txt = p.stdout.decode(errors="replace")
                ck = re.search(r"checkpoint \(.*state ([0-9.]+) MB, file ([0-9.]+) MB\): ([0-9.]+) s, ([0-9.]+) MB/s", txt)
                dd = re.search(r"dd \(.*\): ([0-9.]+) s, ([0-9.]+) MB/s", txt)
                if p.returncode or not ck or not dd:
                    raise benchlib.BenchError("checkpoint_bandwidth.sh failed: " + txt[-2000:])
                if best is None:
                    best = dict(state_mb=float(ck.group(1)), file_mb=float(ck.group(2)), ranks=self.P, reps=c["io_reps"],
                                mb_per_s=0.0, dd_mb_per_s_fsync=0.0)
                best["mb_per_s"] = max(best["mb_per_s"], float(ck.group(4)))  # each the best of its own runs
                best["dd_mb_per_s_fsync"] = max(best["dd_mb_per_s_fsync"], float(dd.group(2)))
            best["ratio"] = best["mb_per_s"] / best["dd_mb_per_s_fsync"]
            out["checkpoint"] = best
        except (benchlib.BenchError, subprocess.TimeoutExpired) as e:
            self.errors.append(f"io: {e}")
        return out


# -------------------------------------------------------------------------------------------
# projection
# -------------------------------------------------------------------------------------------
def largest_block(n, P, causal=True):
    """Tokens of the largest rank block: the first causal block (pairs k(k+1)/2 = pairs(n)/P)."""
    if P <= 1:
        return float(n)
    if not causal:
        return math.ceil(n / P)
    return math.ceil(0.5 * (math.sqrt(1.0 + 8.0 * 0.5 * n * (n + 1.0) / P) - 1.0))


def run_seconds(n, P, c_ns, exchange, precision="double", d=RUN["d"], net=NET, model_comm=True):
    """Seconds to reach T with RK4 at dt on P ranks: steps x stages x (compute + communication).
    compute per stage = (n^2 / 2) pairs x c ns/pair/core / P (the causal work is pair-balanced);
    allgather, per stage, not overlapped: ceil(log2 P) latencies + 8 n d bytes (double rows) into
    every rank; ring, per stage: P - 1 neighbour messages of b d key_bytes (b = the largest block,
    as implemented) overlapped with compute (max of the two), plus the first, which cannot be."""
    stages = round(RUN["T"] / RUN["dt"]) * RUN["stages"]
    compute = 0.5 * n * n * c_ns * 1e-9 / P
    comm = 0.0
    if model_comm and P > 1:
        bw = net["node_bandwidth_Bps"] / min(P, net["cores_per_node"])
        if exchange == "allgather":
            comm = math.ceil(math.log2(P)) * net["latency_s"] + n * d * 8 / bw
        else:
            block = net["latency_s"] + largest_block(n, P) * d * MEM["key_bytes"][precision] / bw
            return stages * (max(compute, (P - 1) * block) + block)
    return stages * (compute + comm)


def reachable_n(P, c_ns, exchange, precision="double", model_comm=True, budget=RUN["budget_s"]):
    """Largest n (to 3 significant digits) whose run fits the budget: bisection on a monotone time."""
    def t(n):
        return run_seconds(n, P, c_ns, exchange, precision, model_comm=model_comm)
    lo, hi = 1.0, 1.0
    while t(hi) < budget:
        hi *= 2
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if t(mid) < budget else (lo, mid)
    return float(f"{lo:.3g}")


def memory_per_rank(n, P, exchange, precision="double", d=RUN["d"]):
    """Bytes on the rank with the largest block (rank 0 under the causal mask), between outputs."""
    b = largest_block(n, P)
    if exchange == "allgather":
        return d * (MEM["allgather_all_tokens"][precision] * n + MEM["own_block"] * b)
    return d * (MEM["own_block"] + MEM["ring_buffers"] * MEM["key_bytes"][precision]) * b


def projection(steps, P_here):
    """From the measured per-core rate of the largest causal step on this machine's cores."""
    out = dict(run=dict(RUN, pairs_per_stage="n^2/2", steps=round(RUN["T"] / RUN["dt"])), network=NET,
               memory_model=dict(MEM, bytes="rank with the largest block b (causal: b(b+1)/2 = n(n+1)/(2P), ~n/sqrt(P)): "
                                                "allgather d (16 n + 96 b) double, d (20 n + 96 b) single; ring d (96 + 2 x 8) b double, d (96 + 2 x 4) b single"),
               formula="T_run(n, P) = 100 steps x 4 stages x [ (n^2/2) c / P + t_comm(n, P) ], c = measured ns/pair/core; "
                       "allgather t_comm = ceil(log2 P) alpha + 8 n d / B_rank; ring: stage = max(compute, (P-1)(alpha + k b d / B_rank)) "
                       "+ alpha + k b d / B_rank with b the largest block, k = 8 (double) or 4 (single) bytes per key value; "
                       "B_rank = B_node / min(P, cores_per_node); n from T_run = 1 hour",
               rows=[])
    for prec in ["double", "single"]:
        meas = [s for s in steps if s.get("available") and s["precision"] == prec]
        if not meas:
            continue
        src = max(meas, key=lambda s: s["n"])
        c = src["ns_per_pair_core"]
        for P, exchange, kind in [(P_here, "allgather", "measured"), (64, "allgather", "model"), (64, "ring", "model"),
                                  (1024, "allgather", "model"), (1024, "ring", "model")]:
            n = reachable_n(P, c, exchange, prec, model_comm=(kind == "model"))
            out["rows"].append(dict(precision=prec, ranks=P, exchange=exchange, basis=kind, c_ns_per_pair_core=c,
                                    c_from=f"causal RK4 step, n = {src['n']}, {src['ranks']} ranks",
                                    n_reachable=n, memory_per_rank_bytes=memory_per_rank(n, P, exchange, prec),
                                    comm_fraction=(1 - run_seconds(n, P, c, exchange, prec, model_comm=False) /
                                                   run_seconds(n, P, c, exchange, prec)) if kind == "model" else None))
    return out


# -------------------------------------------------------------------------------------------
# machine, table, main
# -------------------------------------------------------------------------------------------
def machine_info(build):
    info = {"hostname": platform.node(), "platform": platform.platform(), "python": platform.python_version()}
    try:
        cpu = open("/proc/cpuinfo").read()
        m = re.search(r"^model name\s*:\s*(.*)$", cpu, re.M)
        flags = set((re.search(r"^flags\s*:\s*(.*)$", cpu, re.M) or re.search("()", "")).group(1).split())
        info.update(cpu_model=m.group(1).strip() if m else "unknown", avx2="avx2" in flags,
                    avx512f="avx512f" in flags, avx512=sorted(f for f in flags if f.startswith("avx512")),
                    fma="fma" in flags)
    except OSError:
        info["cpu_model"] = "unknown"
    info["cores_online"] = os.cpu_count()
    info["cores_usable"] = len(os.sched_getaffinity(0))
    try:
        info["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9, 1)
    except (ValueError, OSError):
        pass
    cache = {}
    try:
        for line in open(os.path.join(build.dir, "CMakeCache.txt")):
            m = re.match(r"^(CMAKE_C_COMPILER|CMAKE_BUILD_TYPE|MFSA_NATIVE|CMAKE_C_FLAGS_RELEASE|MFSA_WERROR)(?::\w+)?=(.*)$", line.strip())
            if m:
                cache[m.group(1)] = m.group(2)
    except OSError:
        pass
    compiler = cache.get("CMAKE_C_COMPILER", "cc")
    try:
        ver = subprocess.run([compiler, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().splitlines()[0]
    except (OSError, IndexError):
        ver = "unknown"
    build_info = dict(dir=build.dir, compiler=compiler, compiler_version=ver, build_type=cache.get("CMAKE_BUILD_TYPE"),
                      native=cache.get("MFSA_NATIVE"), c_flags_release=cache.get("CMAKE_C_FLAGS_RELEASE"), **build.revision())
    try:
        build_info["source_git_describe"] = subprocess.run(["git", "-C", SOURCE_DIR, "describe", "--always", "--dirty", "--abbrev=12"],
                                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode().strip()
    except OSError:
        pass
    try:
        mpi = subprocess.run(["mpiexec", "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout.decode().splitlines()
        build_info["mpi"] = mpi[0] if mpi else "unknown"
    except OSError:
        pass
    try:
        import numpy
        build_info["numpy"] = numpy.__version__
    except ImportError:
        pass
    return info, build_info


def fmt(v, spec=".3f", na="n/a"):
    return na if v is None else format(v, spec)


def human_n(n):
    return f"{n:.3g}" if n < 1e4 else f"{n / 10 ** int(math.log10(n)):.2f}e{int(math.log10(n))}"


def table(res):
    L = []
    m, b = res["machine"], res["build"]
    L.append(f"mfsa benchmark suite ({res['mode']}), {res['date']}, revision {b.get('git_revision')} (source {b.get('source_git_describe')})")
    L.append(f"machine: {m.get('cpu_model')}, {m.get('cores_usable')} cores, avx2 {'yes' if m.get('avx2') else 'no'}, "
             f"avx512f {'yes' if m.get('avx512f') else 'no'}; {b.get('compiler_version')}; load average {res['load_average_start']} -> {res['load_average_end']}")
    L.append("every figure: best of k runs (k in the JSON); optional paths: " +
             ", ".join(f"{k} {'yes' if v else 'NOT AVAILABLE'}" for k, v in res["features"].items()))
    e = res.get("exp")
    if e:
        L.append(f"\nexp-only bound, ns/exp/core: double {fmt(e['double_kernel_ns'])} (kernel's own; libmvec {fmt(e['double_libmvec_ns'])}), "
                 f"float {fmt(e.get('float_kernel_ns'))} (kernel's own; libmvec {fmt(e['float_libmvec_ns'])})")
    L.append("\nkernel: one velocity evaluation on 1 rank / pairs (n^2, causal n(n+1)/2); NumPy: numpy_velocity.py, 1 thread, "
             "sampled row blocks scaled by entries")
    L.append(f"{'n':>6} {'d':>3} {'mask':>7} {'prec':>7} {'ns/pair/core':>13} {'bound/kernel':>13} {'NumPy ns/pair':>14} {'NumPy/mfsa':>11}")
    for r in res["kernel"]:
        if not r["available"]:
            L.append(f"{r['n']:>6} {r['d']:>3} {r['mask']:>7} {r['precision']:>7}   not available ({r['reason']})")
            continue
        L.append(f"{r['n']:>6} {r['d']:>3} {r['mask']:>7} {r['precision']:>7} {r['ns_per_pair_core']:>13.3f} "
                 f"{fmt(r['bound_fraction'] and 100 * r['bound_fraction'], '.0f'):>12}% {fmt(r.get('numpy_ns_per_pair'), '.1f'):>14} "
                 f"{fmt(r.get('numpy_over_mfsa'), '.1f'):>10}x")
    L.append("\nstrong scaling: causal RK4 step, d = 3, double")
    L.append(f"{'exchange':>10} {'ranks':>5} {'n':>6} {'s/step':>9} {'speedup':>8} {'eff.':>6} {'vs allgather':>13}")
    for r in res["scaling"]:
        if not r["available"]:
            L.append(f"{r['exchange']:>10} {r['ranks']:>5} {r['n']:>6}   not available ({r['reason']})")
            continue
        L.append(f"{r['exchange']:>10} {r['ranks']:>5} {r['n']:>6} {r['seconds_per_step']:>9.4f} {fmt(r.get('speedup'), '.2f'):>7}x "
                 f"{fmt(r.get('efficiency') and 100 * r['efficiency'], '.0f'):>5}% {fmt(r.get('time_vs_allgather'), '.3f'):>13}")
    L.append(f"\nparticle steps: causal, d = 3, RK4, all {res['ranks']} cores; T = 10 at dt = 0.1 is 100 steps")
    L.append(f"{'n':>7} {'prec':>7} {'s/step':>9} {'steps/s':>9} {'ns/pair/core':>13} {'to T=10':>10}  how")
    for r in res["steps"]:
        if not r["available"]:
            L.append(f"{r['n']:>7} {r['precision']:>7}   not available ({r['reason']})")
            continue
        L.append(f"{r['n']:>7} {r['precision']:>7} {r['seconds_per_step']:>9.4f} {r['steps_per_s']:>9.3f} {r['ns_per_pair_core']:>13.3f} "
                 f"{r['seconds_to_T10'] / 60:>7.1f} min  {r['note']}")
    if res["pde"]:
        L.append("\nPDE RHS/s (causal, beta = 4, identity Q, K, V): " + ", ".join(
            f"{r['ranks']} rank{'s' if r['ranks'] > 1 else ''} {r['rhs_per_s']:.1f}/s ({r['slices']} x {r['angles']})" for r in res["pde"]))
    s, c = res["io"].get("snapshot"), res["io"].get("checkpoint")
    if s:
        L.append(f"\nsnapshot write ({s['tokens']} tokens, {s['bytes'] / 1e6:.1f} MB, {s['ranks']} ranks): {s['mb_per_s']:.0f} MB/s vs dd "
                 f"{s['dd_mb_per_s']:.0f} MB/s (page cache, ratio {s['ratio']:.2f}); with fsync {s['mb_per_s_fsync']:.0f} vs dd conv=fsync "
                 f"{s['dd_mb_per_s_fsync']:.0f} MB/s (ratio {s['ratio_fsync']:.2f})")
    if c:
        L.append(f"checkpoint write ({c['state_mb']:.1f} MB state, {c['ranks']} ranks, fsync): {c['mb_per_s']:.0f} MB/s vs dd conv=fsync "
                 f"{c['dd_mb_per_s_fsync']:.0f} MB/s (ratio {c['ratio']:.2f})")
    pr = res.get("projection")
    if pr and pr["rows"]:
        L.append(f"\nprojection: n reachable to T = 10 (RK4, dt = 0.1, n^2/2 pairs per stage) in one hour; {pr['network']['note']}")
        L.append(f"{'prec':>7} {'ranks':>5} {'exchange':>10} {'basis':>9} {'c ns/pair':>10} {'n':>9} {'mem/rank':>10} {'comm':>6}")
        for r in pr["rows"]:
            L.append(f"{r['precision']:>7} {r['ranks']:>5} {r['exchange']:>10} {r['basis']:>9} {r['c_ns_per_pair_core']:>10.3f} "
                     f"{human_n(r['n_reachable']):>9} {r['memory_per_rank_bytes'] / 1e6:>8.0f}MB "
                     f"{fmt(r['comm_fraction'] and 100 * r['comm_fraction'], '.1f', '-'):>5}%")
    if res["errors"]:
        L.append("\nERRORS:\n" + "\n".join("  " + x[:500] for x in res["errors"]))
    return "\n".join(L)


def markdown(res):
    """README-ready tables of a result file (python3 tests/bench/suite.py --markdown FILE)."""
    b, m = res["build"], res["machine"]
    L = [f"Measured {res['date'][:10]}, revision {b.get('git_revision')}, {m.get('cpu_model')} ({m.get('cores_usable')} cores, "
         f"avx2 {'yes' if m.get('avx2') else 'no'}, avx512f {'yes' if m.get('avx512f') else 'no'}), load average "
         f"{res['load_average_start'][0]} -> {res['load_average_end'][0]}; best of k runs per figure.", ""]
    e = res.get("exp") or {}
    L += ["| kernel, n = %d, 1 rank | double ns/pair/core | exp bound / kernel | NumPy / mfsa | single ns/pair/core | exp bound / kernel | NumPy / mfsa |"
          % res["config"]["kernel_n"], "|---|---|---|---|---|---|---|"]
    for mask in MASKS:
        for d in res["config"]["dims"]:
            cells = []
            for prec in ("double", "single"):
                r = [q for q in res["kernel"] if q["d"] == d and q["mask"] == mask and q["precision"] == prec]
                if r and r[0]["available"]:
                    r = r[0]
                    cells += [f"{r['ns_per_pair_core']:.3f}", f"{fmt(r['bound_fraction'] and 100 * r['bound_fraction'], '.0f')} %",
                              f"{fmt(r.get('numpy_over_mfsa'), '.1f')}x"]
                else:
                    cells += ["not available", "", ""]
            L.append(f"| d = {d}, {'causal' if mask == 'causal' else 'unmasked'} | " + " | ".join(cells) + " |")
    np_d3 = [q for q in res["numpy"] if q["d"] == 3 and q["mask"] == "causal"]
    L += ["", "NumPy (float64 / float32) at d = 3, causal: " + " / ".join(f"{q['ns_per_pair']:.1f}" for q in np_d3) + " ns/pair."]
    L[-1] += f" Exp-only bound: double {fmt(e.get('double_kernel_ns'))} ns/exp/core, float {fmt(e.get('float_kernel_ns'))} ns/exp/core (the kernel's own exp)."
    L += [""]
    L += ["| causal RK4 step, d = 3 | ranks | s/step | speedup | ring / allgather |", "|---|---|---|---|---|"]
    for r in res["scaling"]:
        L.append(f"| n = {r['n']}, {r['exchange']} | {r['ranks']} | " + (f"{r['seconds_per_step']:.3f} | {fmt(r.get('speedup'), '.2f')}x | {fmt(r.get('time_vs_allgather'), '.3f')} |"
                                                                         if r["available"] else "not available | | |"))
    L += ["", "| particle steps, causal, d = 3, %d ranks | s/step | steps/s | to T = 10 (100 steps) |" % res["ranks"], "|---|---|---|---|"]
    for r in res["steps"]:
        L.append(f"| n = {r['n']}, {r['precision']}{' (one step, extrapolated)' if r.get('shortened') else ''} | " +
                 (f"{r['seconds_per_step']:.3f} | {r['steps_per_s']:.3f} | {r['seconds_to_T10'] / 60:.1f} min |" if r["available"] else "not available | | |"))
    pde = res.get("pde") or []
    L += ["", "PDE right-hand sides (1024 x 1024, causal, beta = 4): " + ", ".join(f"{r['rhs_per_s']:.1f}/s on {r['ranks']} rank{'s' if r['ranks'] > 1 else ''}" for r in pde) + "."]
    sn, ck = res["io"].get("snapshot"), res["io"].get("checkpoint")
    if sn and ck:
        L += [f"Writes ({sn['ranks']} ranks): snapshot {sn['mb_per_s']:.0f} MB/s vs dd {sn['dd_mb_per_s']:.0f} MB/s into the page cache, "
              f"{sn['mb_per_s_fsync']:.0f} vs {sn['dd_mb_per_s_fsync']:.0f} MB/s with fsync ({sn['bytes'] / 1e6:.0f} MB); "
              f"checkpoint {ck['mb_per_s']:.0f} MB/s vs dd conv=fsync {ck['dd_mb_per_s_fsync']:.0f} MB/s ({ck['state_mb']:.0f} MB)."]
    pr = res.get("projection") or {"rows": []}
    L += ["", "| n to T = 10 in 1 hour | ranks | exchange | basis | c (ns/pair/core) | n | memory/rank | communication |", "|---|---|---|---|---|---|---|---|"]
    for r in pr["rows"]:
        L.append(f"| {r['precision']} | {r['ranks']} | {r['exchange']} | {r['basis']} | {r['c_ns_per_pair_core']:.3f} | {human_n(r['n_reachable'])} "
                 f"| {r['memory_per_rank_bytes'] / 1e6:.0f} MB | {fmt(r['comm_fraction'] and 100 * r['comm_fraction'], '.1f', '-')} % |")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description="mfsa benchmark suite (see the module doc)")
    ap.add_argument("--markdown", metavar="JSON", help="print README tables of an earlier result file and exit")
    ap.add_argument("--build", default=os.path.join(SOURCE_DIR, "build"), help="CMake build folder (built)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, single runs: seconds (CI smoke)")
    ap.add_argument("--ranks", type=int, default=len(os.sched_getaffinity(0)), help="ranks for the all-cores figures")
    ap.add_argument("--json", help="result file (default BUILD/bench_results/mfsa_bench_<UTC time>.json)")
    ap.add_argument("--work", help="folder for the scratch folder of written files (default BUILD; the file system measured)")
    a = ap.parse_args()
    if a.markdown:
        print(markdown(json.load(open(a.markdown))))
        return 0

    build = benchlib.Build(a.build)
    now = datetime.datetime.now(datetime.timezone.utc)
    jpath = a.json or os.path.join(build.dir, "bench_results", "mfsa_bench_" + now.strftime("%Y%m%dT%H%M%SZ") + ".json")
    work = os.path.join(a.work or build.dir, f"mfsa_bench_work.{os.getpid()}")  # removed at the end
    os.makedirs(work, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(jpath)), exist_ok=True)
    cfg = QUICK if a.quick else FULL
    suite = Suite(build, cfg, a.ranks, work, sys.stderr)
    machine, build_info = machine_info(build)
    res = dict(schema="mfsa-bench/1", mode="quick" if a.quick else "full", date=now.isoformat(timespec="seconds"),
               machine=machine, build=build_info, ranks=a.ranks, features=suite.features, config=cfg,
               timing_rule="best of k runs per figure (k in each row), each run timed between barriers (slowest rank); never a mean",
               load_average_start=[round(x, 2) for x in os.getloadavg()])
    suite.plan()
    suite.run()
    res["exp"] = suite.exp()
    res["kernel"] = suite.kernel(res["exp"])
    res["numpy"] = suite.numpy()
    for r in res["kernel"]:
        dtype = "float64" if r["precision"] == "double" else "float32"
        npr = [q for q in res["numpy"] if q["d"] == r["d"] and q["mask"] == r["mask"] and q["dtype"] == dtype and q["n"] == r["n"]]
        if npr and r["available"]:
            r["numpy_ns_per_pair"] = npr[0]["ns_per_pair"]
            r["numpy_dtype"] = dtype
            r["numpy_over_mfsa"] = npr[0]["ns_per_pair"] / r["ns_per_pair_core"]
    res["scaling"] = suite.scaling()
    res["steps"] = suite.steps()
    res["pde"] = suite.pde()
    res["io"] = suite.io()
    res["projection"] = projection(res["steps"], a.ranks)
    res["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    res["seconds"] = round(time.time() - suite.t0, 1)
    res["errors"] = suite.errors
    with open(jpath, "w") as f:
        json.dump(res, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)
    print(table(res))
    print(f"\n{res['seconds']:.0f} s; results: {jpath}")
    return 1 if suite.errors else 0


if __name__ == "__main__":
    sys.exit(main())
