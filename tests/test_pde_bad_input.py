#!/usr/bin/python3
"""PDE solver, bad input: a clear error and nothing overwritten.

usage: test_pde_bad_input.py NPROCS

A sentinel output folder is prepared by a good PDE run plus a user file. Every bad case runs
with `-out SENTINEL_COPY -out_overwrite` (its own byte-for-byte copy, so cases run 4 at a
time); required for each case: exit code != 0 (no time-out), PETSc's error message (mfsa's text, without
the option table) names the offending option or file (a regex per case), the folder is
byte-identical afterwards (the run lock is gone again).
Control: the base options succeed into a fresh folder.
"""
import concurrent.futures
import os
import re
import shutil
import sys
import numpy as np
import h5py
import mfsa_testlib as L
import faults_lib as F

S, M = 4, 32
BASE = L.PDE_BASE + ["-pde_slices", S, "-pde_angles", M, "-ts_dt", 0.01, "-ts_max_time", 0.05]


def body(chk, nprocs):
    tmp = L.test_dir(f"pde_bad_input_np{nprocs}")
    sentinel = os.path.join(tmp, "sentinel")
    before = L.prepare_sentinel(chk, BASE, sentinel)

    L.run_ok(nprocs, BASE, os.path.join(tmp, "control_base"))
    print("  control: base options succeed into a fresh folder (run_ok checked exit code and files)")

    _, th = L.pde_grid(S, M)
    good = np.tile(L.vonmises_mixture(th, [1.0], [2.0], [1.0]), (S, 1))
    f_good = L.write_pde_rho(os.path.join(tmp, "good_rho.h5"), good)
    L.run_ok(nprocs, BASE + ["-pde_init", "file", "-pde_init_file", f_good], os.path.join(tmp, "control_file"))
    print("  control: -pde_init file with a good S x M density succeeds (run_ok checked it)")
    neg = good.copy()
    neg[2, 7] = -0.01
    f_neg = L.write_pde_rho(os.path.join(tmp, "negative_rho.h5"), neg)
    nan = good.copy()
    nan[1, 3] = np.nan
    f_nan = L.write_pde_rho(os.path.join(tmp, "nan_rho.h5"), nan)
    f_shape_m = L.write_pde_rho(os.path.join(tmp, "shape_m_rho.h5"), np.tile(good[:, :1], (1, M + 1)))
    f_shape_s = L.write_pde_rho(os.path.join(tmp, "shape_s_rho.h5"), np.tile(good[:1], (S + 1, 1)))
    f_1d = L.write_pde_rho(os.path.join(tmp, "flat_rho.h5"), good.ravel())
    f_nods = os.path.join(tmp, "no_rho_dataset.h5")
    with h5py.File(f_nods, "w") as f:
        f.create_dataset("/pde/other", data=good)
    f_missing = os.path.join(tmp, "does_not_exist_rho.h5")
    f_garbage = os.path.join(tmp, "garbage_rho.h5")
    with open(f_garbage, "w") as fh:
        fh.write("this is not an HDF5 file\n" * 20)
    f_p3 = L.write_init(os.path.join(tmp, "particles_n8_d3.h5"), L.random_sphere(8, 3, 1))
    f_p2 = L.write_init(os.path.join(tmp, "particles_n8_d2.h5"), L.random_sphere(8, 2, 1))

    Sx = "@SENTINEL@"
    OV = ["-out", Sx, "-out_overwrite"]
    esc = lambda p: re.escape(os.path.basename(p))  # noqa: E731
    cases = [
        ("-solver pde -attn_dim 3", ["-attn_dim", 3] + OV, r"-attn_dim"),
        ("-solver pde -geometry euclidean", ["-geometry", "euclidean"] + OV, r"-geometry"),
        ("-pde_angles 2", ["-pde_angles", 2] + OV, r"-pde_angles"),
        ("-pde_angles 0", ["-pde_angles", 0] + OV, r"-pde_angles"),
        ("-pde_slices 0", ["-pde_slices", 0] + OV, r"-pde_slices"),
        ("-pde_slices -3", ["-pde_slices", -3] + OV, r"-pde_slices"),
        ("-pde_init file: negative value", ["-pde_init", "file", "-pde_init_file", f_neg] + OV, esc(f_neg) + r"|-pde_init file"),
        ("-pde_init modes: negative density", ["-pde_init", "modes", "-pde_init_modes", "1", "-pde_init_amplitudes", "1.5"] + OV, r"-pde_init"),
        ("-pde_init particles: more slices than tokens", ["-pde_slices", 9, "-pde_init", "particles", "-pde_init_file", f_p2] + OV, esc(f_p2)),
        ("-pde_cfl 2", ["-pde_cfl", 2] + OV, r"-pde_cfl"),
        ("-pde_init file: NaN", ["-pde_init", "file", "-pde_init_file", f_nan] + OV, esc(f_nan)),
        ("-pde_init file: S x (M+1)", ["-pde_init", "file", "-pde_init_file", f_shape_m] + OV, esc(f_shape_m)),
        ("-pde_init file: (S+1) x M", ["-pde_init", "file", "-pde_init_file", f_shape_s] + OV, esc(f_shape_s)),
        ("-pde_init file: 1-D dataset", ["-pde_init", "file", "-pde_init_file", f_1d] + OV, esc(f_1d)),
        ("-pde_init file: no /pde/rho", ["-pde_init", "file", "-pde_init_file", f_nods] + OV, esc(f_nods) + "|/pde/rho"),
        ("-pde_init file: missing file", ["-pde_init", "file", "-pde_init_file", f_missing] + OV, esc(f_missing)),
        ("-pde_init file: not HDF5", ["-pde_init", "file", "-pde_init_file", f_garbage] + OV, esc(f_garbage)),
        ("-pde_init file without -pde_init_file", ["-pde_init", "file"] + OV, r"-pde_init_file"),
        ("-pde_init particles: n x 3 file", ["-pde_init", "particles", "-pde_init_file", f_p3] + OV, esc(f_p3)),
        ("-pde_init foo", ["-pde_init", "foo"] + OV, r"-pde_init\b"),
        ("-pde_limiter foo", ["-pde_limiter", "foo"] + OV, r"-pde_limiter"),
        ("-pde_cfl 0", ["-pde_cfl", 0] + OV, r"-pde_cfl"),
        ("-pde_cfl -0.5", ["-pde_cfl", -0.5] + OV, r"-pde_cfl"),
        ("-pde_cfl nan", ["-pde_cfl", "nan"] + OV, r"-pde_cfl"),
        ("-pde_init_modes 1,2 -pde_init_amplitudes 0.1", ["-pde_init", "modes", "-pde_init_modes", "1,2",
                                                          "-pde_init_amplitudes", "0.1"] + OV, r"-pde_init_(modes|amplitudes)"),
        ("-pde_init_phases of the wrong length", ["-pde_init", "modes", "-pde_init_modes", "1,2", "-pde_init_amplitudes", "0.1,0.1",
                                                  "-pde_init_phases", "0.1,0.2,0.3"] + OV, r"-pde_init_(phases|modes)"),
        ("vonmises centers/kappas length mismatch", ["-pde_init", "vonmises", "-pde_init_vonmises_centers", "1,2",
                                                     "-pde_init_vonmises_kappas", "3"] + OV, r"-pde_init_vonmises_(centers|kappas)"),
        ("unknown -pde_ option", ["-pde_angels", 64] + OV, r"pde_angels"),
    ]
    jobs = []
    for k, (name, extra, pattern) in enumerate(cases):
        mine = os.path.join(tmp, f"sentinel_case{k:02d}")
        shutil.copytree(sentinel, mine)
        jobs.append((name, [mine if a == Sx else a for a in extra], pattern, mine))

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: L.run_mfsa(nprocs, BASE + job[1], timeout=90), jobs))
    for (name, extra, pattern, mine), r in zip(jobs, results):
        diff = L.tree_diff(before, L.folder_tree(mine))
        msg = F.petsc_message(r.output)  # mfsa's text, not the option table that repeats every option
        msg_ok = re.search(pattern, msg) is not None
        lines = [l for l in msg.splitlines() if l.strip()]
        shown = next((l.strip() for l in lines if re.search(pattern, l)), lines[-1].strip() if lines else "(no PETSc message)")
        ok = (r.rc != 0 and not r.timed_out) and msg_ok and not diff
        detail = f"{r.wall:.1f} s, rc={r.rc}{' TIMEOUT' if r.timed_out else ''}, message {'names' if msg_ok else 'does NOT name'} /{pattern}/: {shown[:160]!r}"
        if diff:
            detail += f"; sentinel folder changed: {diff[:5]}"
        chk.check(ok, f"bad input [{name}]: {detail}")
        if not ok:
            print(r.describe(1500))


if __name__ == "__main__":
    nprocs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    L.main_guard(f"pde_bad_input_np{nprocs}", lambda chk: body(chk, nprocs))
