#!/usr/bin/python3
"""analysis/mfsa_read.py on a real run: the summary reports the sizes and output times that
were asked for, and a file with an unknown format_version is refused with a clear message."""
import json
import os
import shutil
import subprocess
import sys

import h5py
import mfsa_testlib as tl

c = tl.Checker("analysis_reader")
base = tl.test_dir("analysis_reader")
out = base + "/run"
tl.run_ok(1, ["-n", 12, "-attn_dim", 4, "-ts_dt", 0.05, "-ts_max_time", 0.5, "-out_dt", 0.25], out)
reader = os.path.join(os.environ["MFSA_SOURCE_DIR"], "analysis", "mfsa_read.py")
p = subprocess.run([sys.executable, reader, "summary", out], capture_output=True, text=True)
c.check(p.returncode == 0, f"summary exits 0 ({p.stderr.strip()[:200]})")
if p.returncode == 0:
    s = json.loads(p.stdout)
    c.check((s["n"], s["d"], s["snapshots"]) == (12, 4, 3), f"n, d, snapshots = {(s['n'], s['d'], s['snapshots'])} == (12, 4, 3)")
    c.check(s["times"] == [0.0, 0.25, 0.5], f"times {s['times']} == [0, 0.25, 0.5]")
    c.check(s["last_step"] == 10, f"last step {s['last_step']} == 10")
bad = base + "/bad"
shutil.copytree(out, bad)
with h5py.File(bad + "/snap_000001.h5", "r+") as f:
    f.attrs["format_version"] = 99
p = subprocess.run([sys.executable, reader, "summary", bad], capture_output=True, text=True)
c.check(p.returncode != 0 and "format_version 99" in p.stderr, f"unknown format refused: rc {p.returncode}, '{p.stderr.strip()[:160]}'")
c.finish()
