#!/usr/bin/python3
"""Bad input: a clear error and nothing overwritten.

usage: test_bad_input.py NPROCS

A sentinel output folder is prepared first by a good run (its snapshots, XDMF and
diagnostics) plus a user file.  Every bad case runs with `-out SENTINEL -out_overwrite`
(so the only thing wrong is the bad input, and a run that deletes old output before it has
validated everything is caught), except the cases about the output folder itself.  Each case
works on its own copy of the sentinel so that the cases run 4 at a time.  For each
case we require:
  * exit code != 0 (and no time-out / hang),
  * stdout+stderr names the offending option or file (a regex per case),
  * the sentinel folder is byte-identical (same files, same contents) and has no new files.
Controls: the base options alone succeed into a fresh folder, and the same existing folder
WITH -out_overwrite succeeds (new snapshots replace the old ones; the user file stays).
"""
import os
import concurrent.futures
import re
import shutil
import sys
import numpy as np
import h5py
import mfsa_testlib as L

N, D = 8, 3
BASE = ["-n", N, "-attn_dim", D, "-ts_dt", 0.01, "-ts_max_time", 0.05]


def body(chk, nprocs):
    tmp = L.test_dir(f"bad_input_np{nprocs}")
    sentinel = os.path.join(tmp, "sentinel")
    before = L.prepare_sentinel(chk, BASE, sentinel)

    # control: the base options are good
    L.run_ok(nprocs, BASE, os.path.join(tmp, "control_base"))
    print("  control: base options succeed into a fresh folder (run_ok checked exit code and files)")

    # input files
    good = L.write_init(os.path.join(tmp, "good_init.h5"), L.random_sphere(N, D, 1))
    wrong_d = L.write_init(os.path.join(tmp, "wrong_d_init.h5"), L.random_sphere(N, D + 1, 1))
    wrong_n = L.write_init(os.path.join(tmp, "wrong_n_init.h5"), L.random_sphere(N - 3, D, 1))
    Xn = L.random_sphere(N, D, 1)
    Xn[5, 1] = np.nan
    nan_init = L.write_init(os.path.join(tmp, "nan_init.h5"), Xn)
    garbage = os.path.join(tmp, "garbage_init.h5")
    with open(garbage, "w") as fh:
        fh.write("this is not an HDF5 file\n" * 20)
    missing = os.path.join(tmp, "does_not_exist_init.h5")
    qkv_noV = L.write_qkv(os.path.join(tmp, "qkv_noV.h5"), np.eye(D)[None], np.eye(D)[None], None)
    typo_opts = os.path.join(tmp, "typo.opts")
    with open(typo_opts, "w") as fh:
        fh.write("# a misspelled option in an options file is an error too\n-attn_btea 2\n")
    regular = os.path.join(tmp, "a_regular_file")
    with open(regular, "w") as fh:
        fh.write("not a folder\n")
    regular_before = open(regular, "rb").read()

    S = "@SENTINEL@"  # replaced by each case's own copy of the sentinel folder
    OV = ["-out", S, "-out_overwrite"]
    cases = [
        # name, extra args, regex the message must match
        ("unknown option", ["-attn_btea", 1] + OV, r"attn_btea"),
        ("-n 0", ["-n", 0] + OV, r"(?<![\w-])-n\b"),
        ("-n -4", ["-n", -4] + OV, r"(?<![\w-])-n\b"),
        ("-attn_dim 0", ["-attn_dim", 0] + OV, r"-attn_dim"),
        ("-attn_beta -1", ["-attn_beta", -1] + OV, r"-attn_beta"),
        ("-attn_beta nan", ["-attn_beta", "nan"] + OV, r"-attn_beta"),
        ("-attn_dim 1 on the sphere", ["-attn_dim", 1, "-geometry", "sphere"] + OV, r"-attn_dim"),
        ("-ts_max_time 0", ["-ts_max_time", 0] + OV, r"-ts_max_time"),
        ("-seed -1", ["-seed", -1] + OV, r"-seed"),
        ("-ts_dt 0", ["-ts_dt", 0] + OV, r"-ts_dt"),
        ("-ts_dt -0.01", ["-ts_dt", -0.01] + OV, r"-ts_dt"),
        ("-attn_mask foo", ["-attn_mask", "foo"] + OV, r"-attn_mask"),
        ("-geometry cube", ["-geometry", "cube"] + OV, r"-geometry"),
        ("-attn_norm x", ["-attn_norm", "x"] + OV, r"-attn_norm"),
        ("-attn_heads 0", ["-attn_heads", 0] + OV, r"-attn_heads"),
        ("-attn_qkv foo", ["-attn_qkv", "foo"] + OV, r"-attn_qkv"),
        ("-init foo", ["-init", "foo"] + OV, r"-init\b"),
        ("-out_dt -1", ["-out_dt", -1] + OV, r"-out_dt"),
        ("-init file without -init_file", ["-init", "file"] + OV, r"-init_file"),
        ("init file does not exist", ["-init", "file", "-init_file", missing] + OV, re.escape(os.path.basename(missing))),
        ("init file is not HDF5", ["-init", "file", "-init_file", garbage] + OV, re.escape(os.path.basename(garbage))),
        ("init file with wrong d", ["-init", "file", "-init_file", wrong_d] + OV, re.escape(os.path.basename(wrong_d))),
        ("init file with wrong n", ["-init", "file", "-init_file", wrong_n] + OV, re.escape(os.path.basename(wrong_n))),
        ("init file with NaN", ["-init", "file", "-init_file", nan_init] + OV, re.escape(os.path.basename(nan_init))),
        ("init dataset missing", ["-init", "file", "-init_file", good, "-init_dataset", "/no/such"] + OV, r"/no/such"),
        ("-attn_qkv file without V", ["-attn_qkv", "file", "-attn_qkv_file", qkv_noV] + OV, re.escape(os.path.basename(qkv_noV))),
        ("-attn_qkv file without -attn_qkv_file", ["-attn_qkv", "file"] + OV, r"-attn_qkv_file"),
        ("typo inside an -options_file", ["-options_file", typo_opts] + OV, r"attn_btea"),
        ("-options_file does not exist", ["-options_file", os.path.join(tmp, "no_such.opts")] + OV, r"no_such\.opts"),
        ("output folder under a regular file", ["-out", os.path.join(regular, "sub")], re.escape(os.path.basename(regular))),
        ("existing output folder, no -out_overwrite", ["-out", S], r"-out_overwrite|" + S),
    ]
    # every case gets its own byte-for-byte copy of the sentinel folder, so the cases can run
    # concurrently (a failing mpirun spends ~1 s tearing down; 4 at a time keeps this short)
    jobs = []
    for k, (name, extra, pattern) in enumerate(cases):
        mine = os.path.join(tmp, f"sentinel_case{k:02d}")
        shutil.copytree(sentinel, mine)
        jobs.append((name, [mine if a == S else a for a in extra], pattern.replace(S, re.escape(mine)), mine))

    def run_case(job):
        return L.run_mfsa(nprocs, BASE + job[1], timeout=90)

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(run_case, jobs))
    for (name, extra, pattern, mine), r in zip(jobs, results):
        diff = L.tree_diff(before, L.folder_tree(mine))
        msg_ok = re.search(pattern, r.output) is not None
        # the line of the message that names the option/file, for the log
        lines = [l for l in r.output.splitlines() if l.strip() and "------" not in l]
        shown = next((l.strip() for l in lines if re.search(pattern, l)), lines[0].strip() if lines else "")
        ok = (r.rc != 0 and not r.timed_out) and msg_ok and not diff
        detail = f"{r.wall:.1f} s, rc={r.rc}{' TIMEOUT' if r.timed_out else ''}, message {'names' if msg_ok else 'does NOT name'} /{pattern}/: {shown[:160]!r}"
        if diff:
            detail += f"; sentinel folder changed: {diff[:5]}"
        chk.check(ok, f"bad input [{name}]: {detail}")
        if not ok:
            print(r.describe(1500))
    chk.check(open(regular, "rb").read() == regular_before and os.path.isfile(regular), "the regular file used as an -out parent is untouched")

    # positive control: same existing folder WITH -out_overwrite
    r = L.run_mfsa(nprocs, BASE + ["-n", 5, "-out", sentinel, "-out_overwrite"], timeout=60)
    snaps = L.snapshot_files(sentinel)
    ok = r.rc == 0 and len(snaps) == 2
    chk.check(ok, f"control: existing folder with -out_overwrite succeeds with the 2 new snapshots (rc={r.rc}, snapshots {[os.path.basename(s) for s in snaps]})")
    if not ok:
        print(r.describe(1500))
    if snaps:
        with h5py.File(snaps[-1], "r") as f:
            shape = f["/particles/x"].shape
        chk.check(shape == (5, D), f"control: overwritten snapshot holds the new run (n = 5): /particles/x {shape}")
    chk.check(os.path.isfile(os.path.join(sentinel, "notes.txt")), "control: -out_overwrite keeps the user's non-mfsa file")
    xs, xt, _ = L.read_xdmf_times(os.path.join(sentinel, "mfsa.xmf"))
    chk.check(xt == [0.0, 0.05], f"control: the rewritten XDMF lists only the new run's times [0, 0.05] (got {xt})")


if __name__ == "__main__":
    nprocs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    L.main_guard(f"bad_input_np{nprocs}", lambda chk: body(chk, nprocs))
