"""Helpers shared by the benchmark suite (suite.py) and its tests: locating the programs of a
build, which optional paths this mfsa has (read from `mfsa -help`, so the suite never guesses),
running mfsa_bench and collecting its "BENCH {json}" lines."""
import json
import os
import re
import subprocess


class BenchError(Exception):
    partial = []


class Build:
    """The programs of one CMake build folder."""

    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.mpiexec = os.path.join(self.dir, "mfsa-mpiexec")
        self.mfsa = os.path.join(self.dir, "mfsa")
        self.bench = os.path.join(self.dir, "tests", "mfsa_bench")
        missing = [p for p in (self.mpiexec, self.mfsa, self.bench) if not os.access(p, os.X_OK)]
        if missing:
            raise BenchError("not built: " + ", ".join(missing) + " (run jobs/build.sh " + self.dir + ")")
        self._help = None

    def help_text(self):
        if self._help is None:
            p = subprocess.run([self.mpiexec, "1", self.mfsa, "-help"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120)
            self._help = p.stdout.decode(errors="replace")
            if "-n <" not in self._help:
                raise BenchError("`mfsa -help` did not list the options:\n" + self._help[-2000:])
        return self._help

    def features(self):
        """Optional paths of this build: {"single": bool, "ring": bool} (issue 7 part A)."""
        h = self.help_text()
        return {"single": bool(re.search(r"^\s*-precision\b.*single", h, re.M)),
                "ring": bool(re.search(r"^\s*-particles_exchange\b.*ring", h, re.M))}

    def revision(self):
        m = re.search(r"^mfsa (\S+) \((\S+)\)", self.help_text(), re.M)
        return {"version": m.group(1), "git_revision": m.group(2)} if m else {}

    def run_bench(self, ranks, args, timeout=3600):
        """Run mfsa_bench -bench_json on `ranks` ranks; list of the parsed BENCH objects. On failure
        raises BenchError whose .partial holds the results printed before it failed."""
        cmd = [self.mpiexec, str(ranks), self.bench, "-bench_json"] + [str(a) for a in args]
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=timeout)
            out, rc = p.stdout.decode(errors="replace"), p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode(errors="replace"), f"timed out after {timeout} s"
        results = [json.loads(line[6:]) for line in out.splitlines() if line.startswith("BENCH {")]
        if rc != 0 or not results:
            # Open MPI exits 0 when it refuses to start: no result line is a failure too
            err = BenchError(f"failed (exit {rc}, {len(results)} results): {' '.join(cmd)}\n" +
                             "\n".join(line for line in out.splitlines()[-60:] if "Configure options" not in line))
            err.partial = results
            raise err
        return results
