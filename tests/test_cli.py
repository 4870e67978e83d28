#!/usr/bin/python3
"""The command-line contract (issue 2 "Interface"; DESIGN.md §6).

* `mfsa -help` exits 0, lists every option of the interface with its default, and writes no
  output folder.
* A run with no model options uses the documented defaults: n = 64, d = 3, H = 1, beta = 1,
  sphere, RK4 with dt = 0.01 to T = 1, only the first and the last state written.
* `-options_file` is equivalent to the same options on the command line (bitwise equal
  snapshots), and the file's options appear in the provenance attribute `options`.
"""
import os
import re
import numpy as np
import mfsa_testlib as L

OPTIONS = ["-n", "-attn_dim", "-attn_beta", "-attn_mask", "-attn_norm", "-attn_heads", "-attn_qkv",
           "-attn_kernel", "-attn_kernel_norm", "-attn_sigmoid_bias", "-attn_hyla_eps", "-attn_ln", "-attn_ngpt_alpha",
           "-attn_qkv_file", "-geometry", "-init", "-init_file", "-init_dataset", "-seed", "-out", "-out_dt",
           "-out_overwrite", "-ts_type", "-ts_rk_type", "-ts_dt", "-ts_max_time", "-ts_adapt_type"]
DEFAULTS = {"-n": "64", "-attn_dim": "3", "-attn_beta": "1", "-attn_heads": "1", "-geometry": "sphere",
            "-attn_kernel": "softmax", "-attn_hyla_eps": "1e-06", "-attn_ngpt_alpha": "1",
            "-ts_type": "rk", "-ts_rk_type": "4", "-ts_dt": "0.01", "-ts_max_time": "1"}


def body(chk):
    tmp = L.test_dir("cli_options")
    # -help
    r = L.run_mfsa(1, ["-help"], cwd=tmp, timeout=60)
    chk.check(r.rc == 0, f"mfsa -help exits 0 (rc={r.rc})")
    for o in OPTIONS:
        m = re.search(r"^\s*%s[\s:<]" % re.escape(o), r.stdout, re.M)
        chk.check(m is not None, f"-help lists {o}")
    for o, v in DEFAULTS.items():
        line = next((l for l in r.stdout.splitlines() if re.match(r"^\s*%s[\s:<]" % re.escape(o), l)), "")
        m = re.search(r"<(?:now )?([^ :>]+)", line)
        got = m.group(1).rstrip(".") if m else None
        chk.check(got == v, f"-help shows default {o} = {v} (line: {line.strip()[:100]!r})")
    chk.check(os.listdir(tmp) == [], f"-help writes nothing into the working folder (found {os.listdir(tmp)})")

    # defaults
    out = os.path.join(tmp, "defaults")
    L.run_ok(1, [], out, cwd=tmp)
    snaps = L.read_snapshots(out)
    a = snaps[-1]["attrs"]
    chk.check([s["time"] for s in snaps] == [0.0, 1.0], f"default run writes only t = 0 and t = T = 1 (got {[s['time'] for s in snaps]})")
    chk.check(snaps[-1]["step"] == 100, f"default run takes 100 steps of 0.01 (final step {snaps[-1]['step']})")
    got = {k: a.get(k) for k in ("n", "d", "heads", "beta", "geometry", "solver")}
    chk.check(got == {"n": 64, "d": 3, "heads": 1, "beta": 1.0, "geometry": "sphere", "solver": "particles"},
              f"default attributes n=64 d=3 heads=1 beta=1 geometry=sphere solver=particles (got {got})")
    x = snaps[0]["x"]
    chk.check(x.shape == (64, 3) and float(np.max(np.abs(np.linalg.norm(x, axis=1) - 1))) < 1e-14,
              f"default initial tokens: 64 x 3 on the unit sphere")
    chk.check(float(np.linalg.norm(x.mean(axis=0))) < 0.5 and float(np.min(x @ x.T + 2 * np.eye(64))) < -0.5,
              f"default initial tokens are spread over the sphere (|mean| = {np.linalg.norm(x.mean(axis=0)):.3f})")

    # -options_file == command line
    opts = ["-n", "13", "-attn_dim", "4", "-attn_heads", "2", "-attn_qkv", "random", "-seed", "99", "-attn_beta", "1.5",
            "-attn_mask", "causal", "-geometry", "sphere", "-ts_dt", "0.02", "-ts_max_time", "0.4", "-out_dt", "0.2"]
    optfile = os.path.join(tmp, "run.opts")
    with open(optfile, "w") as fh:
        fh.write("# mfsa options file\n")
        for k, v in zip(opts[0::2], opts[1::2]):
            fh.write(f"{k} {v}\n")
    L.run_ok(1, opts, os.path.join(tmp, "cmdline"))
    L.run_ok(1, ["-options_file", optfile], os.path.join(tmp, "optfile"))
    A = L.read_snapshots(os.path.join(tmp, "cmdline"))
    B = L.read_snapshots(os.path.join(tmp, "optfile"))
    same = len(A) == len(B) == 3 and all(a["x"].tobytes() == b["x"].tobytes() and a["time"] == b["time"] for a, b in zip(A, B))
    chk.check(same, f"-options_file run bitwise equal to the command-line run ({len(A)} vs {len(B)} snapshots)")
    o = str(B[-1]["attrs"].get("options", ""))
    chk.check("attn_beta" in o and "1.5" in o and "99" in o, f"options from the file recorded in the 'options' attribute: {o[:200]!r}")


if __name__ == "__main__":
    L.main_guard("cli_options", body)
