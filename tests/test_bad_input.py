#!/usr/bin/python3
"""Bad input: a clear error and nothing overwritten (issue 8 acceptance: >= 30 bad inputs).

usage: test_bad_input.py NPROCS

A sentinel output folder is prepared first by a good run (its snapshots, XDMF, diagnostics and
checkpoint) plus a user file.  Every bad case runs with `-out SENTINEL -out_overwrite` (so the only
thing wrong is the bad input, and a run that deletes old output before it has validated everything
is caught), except the cases about the output folder itself.  Each case works on its own copy of
the sentinel (some cases change their copy first: no checkpoint, a lock of another host), so that
the cases run several at a time.  For each case we require:
  * exit code != 0 (and no time-out / hang),
  * PETSc's error message -- mfsa's own text, without the option table that repeats every option
    given -- names the offending option, file, dataset or restart file (a regex per case),
  * the case's folder is byte-identical afterwards (same files, same contents, no new file: the
    run lock mfsa.lock is gone again).
The table covers options (values, types, ranges, combinations), options files, HDF5 inputs (missing
file/dataset, not HDF5, wrong shape, wrong dtype, NaN/Inf, off-sphere norms, Q/K/V), restart files
(other format version, model mismatch, truncated, corrupt, missing; a refused restart with
-out_overwrite over output without a checkpoint) and the output folder (under a file, a file, not
creatable / not writable (/sys: even root cannot write there), holding output, locked). On 2 ranks
the cases whose verdict is taken on rank 0 and broadcast (files, folders, restarts) run again; the
pure option checks are the same code on every rank and run on 1 rank only.
Controls: the base options alone succeed into a fresh folder, and the same existing folder WITH
-out_overwrite succeeds (new snapshots replace the old ones; the user file stays).
"""
import os
import concurrent.futures
import re
import shutil
import sys
import numpy as np
import h5py
import mfsa_testlib as L
import faults_lib as F

N, D = 8, 3
BASE = ["-n", N, "-attn_dim", D, "-ts_dt", 0.01, "-ts_max_time", 0.05]


def drop_checkpoints(folder):
    for f in ("checkpoint.h5", "checkpoint.prev.h5"):
        if os.path.exists(os.path.join(folder, f)):
            os.remove(os.path.join(folder, f))


def foreign_lock(folder):
    with open(os.path.join(folder, "mfsa.lock"), "w") as fh:
        fh.write("host=another-node-42\npid=4242\nstarted=2026-01-01T00:00:00Z\nproc_start=1\nboot_id=x\nslurm_job=\nslurm_restart=0\n")


def probe_writable(folder):
    """Can this process create a file in folder? (root ignores permission bits; sysfs refuses.)"""
    p = os.path.join(folder, f".mfsa_probe_{os.getpid()}")
    try:
        with open(p, "w"):
            pass
    except OSError:
        return False
    os.remove(p)
    return True


def body(chk, nprocs):
    tmp = L.test_dir(f"bad_input_np{nprocs}")
    sentinel = os.path.join(tmp, "sentinel")
    L.prepare_sentinel(chk, BASE, sentinel)

    # control: the base options are good
    L.run_ok(nprocs, BASE, os.path.join(tmp, "control_base"))
    print("  control: base options succeed into a fresh folder (run_ok checked exit code and files)")

    # input files
    good = L.write_init(os.path.join(tmp, "good_init.h5"), L.random_sphere(N, D, 1))
    wrong_d = L.write_init(os.path.join(tmp, "wrong_d_init.h5"), L.random_sphere(N, D + 1, 1))
    wrong_n = L.write_init(os.path.join(tmp, "wrong_n_init.h5"), L.random_sphere(N - 3, D, 1))
    flat = L.write_init(os.path.join(tmp, "flat_init.h5"), L.random_sphere(N, D, 1).ravel())
    Xn = L.random_sphere(N, D, 1)
    Xn[5, 1] = np.nan
    nan_init = L.write_init(os.path.join(tmp, "nan_init.h5"), Xn)
    Xi = L.random_sphere(N, D, 1)
    Xi[2, 0] = -np.inf
    inf_init = L.write_init(os.path.join(tmp, "inf_init.h5"), Xi)
    off = L.write_init(os.path.join(tmp, "off_sphere_init.h5"), 1.1 * L.random_sphere(N, D, 1))
    strings = os.path.join(tmp, "strings_init.h5")
    with h5py.File(strings, "w") as f:
        f.create_dataset("/particles/x", data=np.array([["a"] * D] * N, dtype="S4"))
    compound = os.path.join(tmp, "compound_init.h5")
    with h5py.File(compound, "w") as f:
        f.create_dataset("/particles/x", data=np.zeros((N, D), dtype=[("re", "f8"), ("im", "f8")]))
    garbage = os.path.join(tmp, "garbage_init.h5")
    with open(garbage, "w") as fh:
        fh.write("this is not an HDF5 file\n" * 20)
    missing = os.path.join(tmp, "does_not_exist_init.h5")
    I3 = np.eye(D)[None]
    qkv_noV = L.write_qkv(os.path.join(tmp, "qkv_noV.h5"), I3, I3, None)
    qkv_Vshape = L.write_qkv(os.path.join(tmp, "qkv_Vshape.h5"), I3, I3, np.eye(D - 1)[None])
    Qinf = I3.copy()
    Qinf[0, 1, 2] = np.inf
    qkv_Qinf = L.write_qkv(os.path.join(tmp, "qkv_Qinf.h5"), Qinf, I3, I3)
    # options files
    typo_opts = os.path.join(tmp, "typo.opts")
    with open(typo_opts, "w") as fh:
        fh.write("# a misspelled option in an options file is an error too\n-attn_btea 2\n")
    badval_opts = os.path.join(tmp, "badvalue.opts")
    with open(badval_opts, "w") as fh:
        fh.write("# a value out of range\n-attn_beta -2\n")
    badtype_opts = os.path.join(tmp, "badtype.opts")
    with open(badtype_opts, "w") as fh:
        fh.write("-n 12abc\n")
    # restart files, made from the sentinel's own (valid) checkpoint
    ckpt = os.path.join(sentinel, "checkpoint.h5")
    ok, why, _ = L.checkpoint_check(ckpt)
    chk.check(ok, f"the sentinel's checkpoint.h5 is valid (the source of the bad restart files) {why}")
    rs_version = os.path.join(tmp, "restart_other_version.h5")
    shutil.copy(ckpt, rs_version)
    with h5py.File(rs_version, "r+") as f:
        f.attrs.modify("format_version", np.asarray(f.attrs["format_version"]) + 1)
    rs_model = os.path.join(tmp, "restart_other_beta.h5")
    shutil.copy(ckpt, rs_model)
    with h5py.File(rs_model, "r+") as f:
        f.attrs.modify("beta", 2.5)
    rs_trunc = os.path.join(tmp, "restart_truncated.h5")
    with open(ckpt, "rb") as fh:
        data = fh.read()
    with open(rs_trunc, "wb") as fh:
        fh.write(data[: len(data) // 2])
    rs_corrupt = os.path.join(tmp, "restart_corrupt.h5")
    shutil.copy(ckpt, rs_corrupt)
    with h5py.File(rs_corrupt, "r") as f:
        pos = f["state"].id.get_offset() + 8
    with open(rs_corrupt, "r+b") as fh:
        fh.seek(pos)
        b = fh.read(8)
        fh.seek(pos)
        fh.write(bytes(x ^ 0x5A for x in b))
    rs_missing = os.path.join(tmp, "no_such_checkpoint.h5")
    # folders
    regular = os.path.join(tmp, "a_regular_file")
    with open(regular, "w") as fh:
        fh.write("not a folder\n")
    regular_before = open(regular, "rb").read()
    sysfs = os.path.isdir("/sys/kernel") and not probe_writable("/sys/kernel")

    S = "@SENTINEL@"  # replaced by each case's own copy of the sentinel folder
    OV = ["-out", S, "-out_overwrite"]
    esc = lambda p: re.escape(os.path.basename(p))  # noqa: E731
    # name, extra args, regex the message must match, prepare(copy) or None, also on 2 ranks
    cases = [
        # options: values, types, ranges, combinations
        ("unknown option", ["-attn_btea", 1] + OV, r"attn_btea", None, False),
        ("-n 0", ["-n", 0] + OV, r"(?<![\w-])-n must be >= 1", None, False),
        ("-n -4", ["-n", -4] + OV, r"(?<![\w-])-n must be >= 1", None, False),
        ("-n abc (not an integer)", ["-n", "abc"] + OV, r"Option -n: value 'abc' is not an integer", None, False),
        ("-attn_dim 0", ["-attn_dim", 0] + OV, r"-attn_dim", None, False),
        ("-attn_beta -1", ["-attn_beta", -1] + OV, r"-attn_beta", None, False),
        ("-attn_beta nan", ["-attn_beta", "nan"] + OV, r"-attn_beta", None, False),
        ("-attn_beta 1x (not a number)", ["-attn_beta", "1x"] + OV, r"Option -attn_beta: value '1x' is not a real number", None, False),
        ("-attn_dim 1 on the sphere", ["-attn_dim", 1, "-geometry", "sphere"] + OV, r"-attn_dim", None, False),
        ("-ts_max_time 0", ["-ts_max_time", 0] + OV, r"-ts_max_time", None, False),
        ("-seed -1", ["-seed", -1] + OV, r"-seed", None, False),
        ("-ts_dt 0", ["-ts_dt", 0] + OV, r"-ts_dt", None, False),
        ("-ts_dt -0.01", ["-ts_dt", -0.01] + OV, r"-ts_dt", None, False),
        ("-attn_mask foo", ["-attn_mask", "foo"] + OV, r"-attn_mask", None, False),
        ("-geometry cube", ["-geometry", "cube"] + OV, r"-geometry", None, False),
        ("-attn_norm x", ["-attn_norm", "x"] + OV, r"-attn_norm", None, False),
        ("-attn_heads 0", ["-attn_heads", 0] + OV, r"-attn_heads", None, False),
        ("-attn_qkv foo", ["-attn_qkv", "foo"] + OV, r"-attn_qkv", None, False),
        ("-init foo", ["-init", "foo"] + OV, r"-init\b", None, False),
        ("-solver foo", ["-solver", "foo"] + OV, r"-solver foo", None, False),
        ("-out_dt -1", ["-out_dt", -1] + OV, r"-out_dt", None, False),
        ("-out_overwrite maybe (not a boolean)", ["-out_overwrite", "maybe", "-out", S], r"Option -out_overwrite: value 'maybe' is not a boolean", None, False),
        ("-checkpoint_dt -1", ["-checkpoint_dt", -1] + OV, r"-checkpoint_dt", None, False),
        ("-fault_max_norm -1", ["-fault_max_norm", -1] + OV, r"-fault_max_norm", None, False),
        ("-debug_inject_nan_step -5", ["-debug_inject_nan_step", -5] + OV, r"-debug_inject_nan_step", None, False),
        ("PDE option with the particle solver", ["-pde_slices", 4] + OV, r"pde_slices", None, False),
        ("-init file without -init_file", ["-init", "file"] + OV, r"-init_file", None, False),
        ("-init_file without -init file", ["-init_file", good] + OV, r"-init_file is only used with -init file", None, False),
        ("-attn_qkv file without -attn_qkv_file", ["-attn_qkv", "file"] + OV, r"-attn_qkv_file", None, False),
        # attention variants (issue 9): unknown kernel, options of another kernel or layer norm,
        # geometry/layer-norm mismatches, single precision and the PDE solver's unsupported variants
        ("-attn_kernel softmaxx (unknown kernel)", ["-attn_kernel", "softmaxx"] + OV, r"Option -attn_kernel: value 'softmaxx' is not allowed; choose one of softmax\|unnormalized\|sigmoid\|relu\|linear\|hyla", None, False),
        ("-attn_kernel hyla with -attn_heads 1", ["-attn_kernel", "hyla", "-attn_heads", 1] + OV, r"-attn_kernel hyla normalises the scores over the heads and needs -attn_heads >= 2 \(got 1\)", None, False),
        ("-attn_kernel_norm with softmax", ["-attn_kernel", "softmax", "-attn_kernel_norm", "none"] + OV, r"-attn_kernel_norm is for sigmoid, relu, linear and hyla; -attn_kernel softmax fixes its own normalisation", None, False),
        ("-attn_sigmoid_bias with relu", ["-attn_kernel", "relu", "-attn_sigmoid_bias", 0.5] + OV, r"-attn_sigmoid_bias is only used by -attn_kernel sigmoid \(got -attn_kernel relu\)", None, False),
        ("-attn_hyla_eps with relu", ["-attn_kernel", "relu", "-attn_hyla_eps", 0.1] + OV, r"-attn_hyla_eps is only used by -attn_kernel hyla \(got -attn_kernel relu\)", None, False),
        ("-attn_hyla_eps -1", ["-attn_kernel", "hyla", "-attn_heads", 2, "-attn_hyla_eps", -1] + OV, r"-attn_hyla_eps must be a finite number > 0 \(got -1", None, False),
        ("-attn_ln pre with -geometry sphere", ["-attn_ln", "pre", "-geometry", "sphere"] + OV, r"-attn_ln pre keeps tokens in R\^d: use it with -geometry euclidean", None, False),
        ("-attn_ln ngpt with -geometry euclidean", ["-attn_ln", "ngpt", "-geometry", "euclidean"] + OV, r"-attn_ln ngpt keeps tokens on the unit sphere: use it with -geometry sphere", None, False),
        ("-attn_ngpt_alpha without -attn_ln ngpt", ["-attn_ngpt_alpha", 2] + OV, r"-attn_ngpt_alpha is only used with -attn_ln ngpt \(got -attn_ln", None, False),
        ("-attn_norm unnormalized with -attn_kernel relu", ["-attn_norm", "unnormalized", "-attn_kernel", "relu"] + OV, r"-attn_norm unnormalized contradicts -attn_kernel relu", None, False),
        ("-precision single with -attn_kernel sigmoid", ["-precision", "single", "-attn_kernel", "sigmoid"] + OV, r"-precision single is only available for -attn_kernel softmax and unnormalized \(got -attn_kernel sigmoid\)", None, False),
        ("-solver pde with sigmoid's default bias", ["-solver", "pde", "-attn_dim", 2, "-attn_kernel", "sigmoid"] + OV, r"-attn_kernel sigmoid with its default bias .*-solver pde.*give -attn_sigmoid_bias", None, False),
        ("-solver pde with -attn_kernel_norm none", ["-solver", "pde", "-attn_dim", 2, "-attn_kernel", "relu", "-attn_kernel_norm", "none"] + OV, r"-attn_kernel relu with -attn_kernel_norm none has no mean-field limit.*-solver pde", None, False),
        ("-solver pde with -attn_ln pre", ["-solver", "pde", "-attn_dim", 2, "-geometry", "euclidean", "-attn_ln", "pre"] + OV, r"-solver pde solves tokens on the circle: it needs -attn_dim 2 -geometry sphere \(got -attn_dim 2 -geometry euclidean\)", None, False),
        # options files
        ("typo inside an -options_file", ["-options_file", typo_opts] + OV, r"attn_btea", None, False),
        ("value out of range inside an -options_file", ["-options_file", badval_opts] + OV, r"-attn_beta must be >= 0", None, False),
        ("unparsable value inside an -options_file", ["-options_file", badtype_opts] + OV, r"Option -n: value '12abc'", None, False),
        ("-options_file does not exist", ["-options_file", os.path.join(tmp, "no_such.opts")] + OV, r"no_such\.opts", None, True),
        ("-options_file is a folder", ["-options_file", os.path.join(tmp, "control_base")] + OV, r"control_base is a directory", None, True),
        # HDF5 inputs
        ("init file does not exist", ["-init", "file", "-init_file", missing] + OV, esc(missing), None, True),
        ("init file is not HDF5", ["-init", "file", "-init_file", garbage] + OV, esc(garbage) + r": not an HDF5 file", None, True),
        ("init file with wrong d", ["-init", "file", "-init_file", wrong_d] + OV, esc(wrong_d) + r".*has shape 8 x 4", None, True),
        ("init file with wrong n", ["-init", "file", "-init_file", wrong_n] + OV, esc(wrong_n) + r".*has shape 5 x 3", None, True),
        ("init dataset 1-D", ["-init", "file", "-init_file", flat] + OV, esc(flat) + r".*has shape 24, expected", None, True),
        ("init dataset of strings (dtype)", ["-init", "file", "-init_file", strings] + OV, esc(strings) + r".*not numeric \(strings", None, True),
        ("init dataset of a compound type (dtype)", ["-init", "file", "-init_file", compound] + OV, esc(compound) + r".*not numeric \(a compound", None, True),
        ("init file with NaN", ["-init", "file", "-init_file", nan_init] + OV, esc(nan_init) + r".*non-finite.*row 5, column 1", None, True),
        ("init file with -Inf", ["-init", "file", "-init_file", inf_init] + OV, esc(inf_init) + r".*non-finite.*row 2, column 0", None, True),
        ("init rows off the sphere", ["-init", "file", "-init_file", off] + OV, esc(off) + r".*not a unit vector", None, True),
        ("init dataset missing", ["-init", "file", "-init_file", good, "-init_dataset", "/no/such"] + OV, r"no dataset /no/such", None, True),
        ("-attn_qkv file without V", ["-attn_qkv", "file", "-attn_qkv_file", qkv_noV] + OV, esc(qkv_noV) + r".*/model/V", None, True),
        ("-attn_qkv file: V of the wrong shape", ["-attn_qkv", "file", "-attn_qkv_file", qkv_Vshape] + OV, esc(qkv_Vshape) + r".*/model/V has shape 1 x 2 x 2", None, True),
        ("-attn_qkv file: Q with Inf", ["-attn_qkv", "file", "-attn_qkv_file", qkv_Qinf] + OV, esc(qkv_Qinf) + r".*/model/Q has a non-finite", None, True),
        # restart files
        ("restart file of another format version", ["-restart", rs_version] + OV, esc(rs_version) + r".*format version", None, True),
        ("restart file of another model (-attn_beta)", ["-restart", rs_model] + OV, esc(rs_model) + r".*another model", None, True),
        ("restart file truncated", ["-restart", rs_trunc] + OV, esc(rs_trunc) + r".*(truncated|corrupt)", None, True),
        ("restart file corrupt (checksum)", ["-restart", rs_corrupt] + OV, esc(rs_corrupt) + r".*checksum", None, True),
        ("restart file missing", ["-restart", rs_missing] + OV, esc(rs_missing) + r".*cannot read", None, True),
        ("refused restart with -out_overwrite over output without checkpoint", ["-restart", rs_trunc] + OV, esc(rs_trunc), drop_checkpoints, True),
        # the output folder
        ("output folder under a regular file", ["-out", os.path.join(regular, "sub")], esc(regular) + r" is not a folder", None, True),
        ("output folder is a regular file", ["-out", regular], esc(regular) + r" exists and is not a folder", None, True),
        ("existing output folder, no -out_overwrite", ["-out", S], r"already holds mfsa output.*-out_overwrite", None, True),
        ("output folder locked by a run on another host", OV, r"another-node-42.*pid 4242", foreign_lock, True),
    ]
    if sysfs:  # root may write anywhere but in sysfs: the only unwritable place a root test has without mounts
        cases += [("output folder cannot be created (/sys)", ["-out", "/sys/mfsa_bad_input_test/out"], r"cannot create folder /sys/mfsa_bad_input_test", None, True),
                  ("output folder not writable (/sys/kernel)", ["-out", "/sys/kernel"], r"-out /sys/kernel is not writable", None, True)]
    else:
        print("  /sys is not available: the not-creatable / not-writable folder cases are skipped")
    if nprocs > 1:
        cases = [c for c in cases if c[4]]
    chk.check(len(cases) >= (30 if nprocs == 1 else 20), f"{len(cases)} bad-input cases on {nprocs} rank(s)")
    # every case gets its own byte-for-byte copy of the sentinel folder (prepared as the case
    # says), so the cases can run concurrently (a failing mpirun spends seconds tearing down)
    jobs = []
    for k, (name, extra, pattern, prepare, _) in enumerate(cases):
        mine = os.path.join(tmp, f"sentinel_case{k:02d}")
        shutil.copytree(sentinel, mine)
        if prepare:
            prepare(mine)
        jobs.append((name, [mine if a == S else a for a in extra], pattern.replace(S, re.escape(mine)), mine, L.folder_tree(mine)))

    def run_case(job):
        return L.run_mfsa(nprocs, BASE + job[1], timeout=120)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(run_case, jobs))
    for (name, extra, pattern, mine, before), r in zip(jobs, results):
        diff = L.tree_diff(before, L.folder_tree(mine))
        msg = F.petsc_message(r.output)
        msg_ok = re.search(pattern, msg) is not None
        lines = [l for l in msg.splitlines() if l.strip()]
        shown = next((l.strip() for l in lines if re.search(pattern, l)), lines[-1].strip() if lines else "(no PETSc message)")
        ok = (r.rc != 0 and not r.timed_out) and msg_ok and not diff
        detail = f"{r.wall:.1f} s, rc={r.rc}{' TIMEOUT' if r.timed_out else ''}, message {'names' if msg_ok else 'does NOT name'} /{pattern}/: {shown[:170]!r}"
        if diff:
            detail += f"; folder changed: {diff[:5]}"
        chk.check(ok, f"bad input [{name}]: {detail}")
        if not ok:
            print(r.describe(1500))
    chk.check(open(regular, "rb").read() == regular_before and os.path.isfile(regular), "the regular file used as an -out (parent) is untouched")

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
    chk.check(not os.path.exists(os.path.join(sentinel, "mfsa.lock")), "control: the run lock is gone after the run")


if __name__ == "__main__":
    nprocs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    L.main_guard(f"bad_input_np{nprocs}", lambda chk: body(chk, nprocs))
