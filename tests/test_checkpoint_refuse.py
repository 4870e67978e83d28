#!/usr/bin/python3
"""Checkpoint validation (issue 5, io/checkpoint.c): `-restart FILE` refuses, with exit code != 0
and a message naming the file, a checkpoint that is
  corrupt       bytes flipped in the middle of /state (HDF5 still opens it: only the checksum can tell),
  truncated     cut to half its size,
  not HDF5      a text file,
  incomplete    the `complete` attribute deleted (what a write killed before its end leaves),
  other format  `format_version` rewritten to another number,
  foreign       written by a run with another -attn_beta, -n, -seed (random Q/K/V), -attn_mask, -geometry,
  missing       no such file;
and leaves the output folder untouched when it refuses. `-restart auto` falls back to
checkpoint.prev.h5 when checkpoint.h5 is corrupt (or missing) and then ends bitwise equal to the
uninterrupted run; refuses when neither is valid (naming both); starts fresh in an empty folder;
refuses a folder holding another run's output without checkpoints (unless -out_overwrite).
Every checkpoint the runs leave is also validated independently here (h5py: complete == 1 and
the checksum of /state recomputed in numpy).

usage: test_checkpoint_refuse.py   (one rank)
"""
import hashlib
import os
import re
import shutil
import numpy as np
import h5py
import mfsa_testlib as L

BASE = ["-n", 40, "-attn_dim", 3, "-attn_qkv", "random", "-seed", 5, "-attn_beta", 2.0,
        "-attn_mask", "causal", "-geometry", "sphere", "-init", "uniform",
        "-ts_type", "rk", "-ts_rk_type", "4", "-ts_adapt_type", "none", "-ts_dt", 0.01,
        "-ts_max_time", 0.5, "-out_dt", 0.1, "-checkpoint_dt", 0.1]


def folder_digest(d):
    """{file: sha1} of every file in folder d."""
    out = {}
    for fn in sorted(os.listdir(d)):
        p = os.path.join(d, fn)
        if os.path.isfile(p):
            with open(p, "rb") as fh:
                out[fn] = hashlib.sha1(fh.read()).hexdigest()
    return out


def first_error_line(r):
    """The line of mfsa's message (PETSc prints it after 'PETSC ERROR:'), for the log."""
    lines = r.output.splitlines()
    for want in (lambda l: "PETSC ERROR" in l and ("checkpoint" in l or "-restart" in l),
                 lambda l: "checkpoint" in l or "-restart" in l):
        for line in lines:
            if want(line):
                return line.strip()[:400]
    return r.output.strip().splitlines()[-1][:400] if r.output.strip() else "(no output)"


def corrupt_state(path):
    """Flip bits of 8 bytes in the middle of the raw /state data (contiguous dataset), behind
    HDF5's back; returns the file offset."""
    with h5py.File(path, "r") as f:
        ds = f["state"]
        off = ds.id.get_offset()
        nbytes = ds.id.get_storage_size()
    if off is None:
        raise L.RunFailed(f"{path}: /state is not contiguous; cannot corrupt it in place")
    pos = off + (nbytes // 2 // 8) * 8
    with open(path, "r+b") as fh:
        fh.seek(pos)
        b = bytearray(fh.read(8))
        fh.seek(pos)
        fh.write(bytes(x ^ 0x5A for x in b))
    return pos


def stopped_args(tmp, name, args):
    """Args of a run with a stop file that exists from the start: one step, a checkpoint, exit 3."""
    out = os.path.join(tmp, name)
    stop = os.path.join(tmp, name + ".stop")
    with open(stop, "w") as fh:
        fh.write("stop\n")
    return list(args) + ["-out", out, "-checkpoint_stop_file", stop], os.path.join(out, "checkpoint.h5")


def check_stopped(chk, name, r, ck):
    ok, why, info = L.checkpoint_check(ck)
    if not chk.check(r.rc == 3 and ok and info.get("step") == 1,
                     f"{name}: a stop file present from the start stops after one step with a valid checkpoint and exit code 3 "
                     f"(exit {r.rc}, checkpoint t = {info.get('time')}, step {info.get('step')}{'' if ok else ', ' + why})"):
        print(r.describe())


class Refusal:
    """`-restart ckpt` into a copy of the reference folder: exit != 0, a message naming ckpt and
    matching keyword, and the folder's files unchanged. Prepared first, run later (in parallel:
    each refusal costs ~1.5 s of Open MPI abort, mostly waiting)."""

    def __init__(self, tmp, ref, name, ckpt, keyword):
        self.name, self.ckpt, self.keyword = name, ckpt, keyword
        self.out = os.path.join(tmp, "refuse_" + re.sub(r"[^A-Za-z0-9_.-]+", "_", name))
        shutil.copytree(ref, self.out)
        self.before = folder_digest(self.out)
        self.args = BASE + ["-out", self.out, "-restart", ckpt]

    def check(self, chk, r):
        named = self.ckpt in r.output
        kw = re.search(self.keyword, r.output) is not None
        chk.check(r.rc != 0 and named and kw,
                  f"-restart FILE refuses the {self.name} checkpoint: exit {r.rc}, message names the file: {named}, "
                  f"says /{self.keyword}/: {kw}  [{first_error_line(r)}]")
        if r.rc == 0:
            print(r.describe())
        after = folder_digest(self.out)
        changed = sorted(k for k in set(self.before) | set(after) if self.before.get(k) != after.get(k))
        chk.check(not changed, f"{self.name}: the refused restart left the -out folder untouched" + ("" if not changed else f": changed {changed}"))


def run_all(arglists, workers=4):
    """L.run_mfsa(1, args) for each args, concurrently; results in order."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(lambda a: L.run_mfsa(1, a), arglists))


def body(chk):
    tmp = L.test_dir("checkpoint_refuse")
    ref = os.path.join(tmp, "ref")
    L.run_ok(1, BASE, ref)
    okc, whyc, cur = L.checkpoint_check(os.path.join(ref, "checkpoint.h5"))
    okp, whyp, prev = L.checkpoint_check(os.path.join(ref, "checkpoint.prev.h5"))
    chk.check(okc and okp and cur.get("time") == 0.5 and abs(prev.get("time", 0) - 0.4) < 1e-12,
              f"reference run: checkpoint.h5 (t = {cur.get('time')}) and checkpoint.prev.h5 (t = {prev.get('time')}) valid "
              f"(complete == 1, checksum recomputed) {whyc} {whyp}")
    with h5py.File(os.path.join(ref, "snap_000005.h5"), "r") as f:
        xfinal = f["/particles/x"][()]
    chk.check(okc and L.bitwise_equal(cur["state"], xfinal.ravel()),
              "reference run: the final checkpoint's /state is the last snapshot's /particles/x (global order), bitwise")

    bad = os.path.join(tmp, "bad")
    os.makedirs(bad)
    src = os.path.join(ref, "checkpoint.h5")

    # corrupt: HDF5 opens it, only the checksum tells
    corrupt = os.path.join(bad, "corrupt.h5")
    shutil.copy(src, corrupt)
    pos = corrupt_state(corrupt)
    with h5py.File(corrupt, "r") as f:
        still = int(f.attrs["complete"]) == 1 and f["state"].shape == cur["state"].shape
    ok, why, _ = L.checkpoint_check(corrupt)
    chk.check(still and not ok and "checksum" in why,
              f"corrupt copy (8 bytes flipped at file offset {pos}): opens with h5py, complete == 1, checksum recomputed here differs")
    refusals = [Refusal(tmp, ref, "corrupt", corrupt, r"checksum|corrupt")]

    # truncated
    trunc = os.path.join(bad, "truncated.h5")
    with open(src, "rb") as fh:
        data = fh.read()
    with open(trunc, "wb") as fh:
        fh.write(data[: len(data) // 2])
    refusals.append(Refusal(tmp, ref, "truncated", trunc, r"truncated|corrupt"))

    # not HDF5
    text = os.path.join(bad, "text.h5")
    with open(text, "w") as fh:
        fh.write("this is not a checkpoint\n" * 100)
    refusals.append(Refusal(tmp, ref, "not-HDF5", text, r"not an HDF5"))

    # incomplete: no `complete` attribute
    inc = os.path.join(bad, "incomplete.h5")
    shutil.copy(src, inc)
    with h5py.File(inc, "r+") as f:
        del f.attrs["complete"]
    refusals.append(Refusal(tmp, ref, "incomplete", inc, r"incomplete"))

    # another format version (same type, value + 1)
    fmt = os.path.join(bad, "format.h5")
    shutil.copy(src, fmt)
    with h5py.File(fmt, "r+") as f:
        v = f.attrs["format_version"]
        f.attrs.modify("format_version", np.asarray(v) + 1)
        newv = int(L._attr(f.attrs["format_version"]))
    chk.check(newv == int(L._attr(v)) + 1, f"format_version rewritten {int(L._attr(v))} -> {newv}")
    refusals.append(Refusal(tmp, ref, "other-format_version", fmt, r"format version"))

    # foreign: checkpoints of other models (one step each, stopped by a stop file)
    foreign = []
    for name, opt, val, kw in (("beta", "-attn_beta", 3.0, r"another model"),
                               ("n", "-n", 41, r"another model"),
                               ("seed", "-seed", 6, r"another model.*(/model/Q|/model/K|/model/V)"),
                               ("mask", "-attn_mask", "none", r"another model"),
                               ("geometry", "-geometry", "euclidean", r"another model")):
        foreign.append((f"foreign ({opt} {val})", kw) + stopped_args(tmp, f"foreign_{name}", L.with_opt(BASE, opt, val)))
    for (name, kw, args, ck), r in zip(foreign, run_all([f[2] for f in foreign])):
        check_stopped(chk, name, r, ck)
        refusals.append(Refusal(tmp, ref, name, ck, kw))

    # missing file
    refusals.append(Refusal(tmp, ref, "missing", os.path.join(bad, "no_such_checkpoint.h5"), r"cannot read|No such file"))

    for rf, r in zip(refusals, run_all([rf.args for rf in refusals])):
        rf.check(chk, r)

    # -restart auto cases, prepared here and run together
    fb = os.path.join(tmp, "auto_fallback")  # corrupt newest -> the previous one
    shutil.copytree(ref, fb)
    corrupt_state(os.path.join(fb, "checkpoint.h5"))
    po = os.path.join(tmp, "auto_prev_only")  # only checkpoint.prev.h5 (killed between the two renames)
    shutil.copytree(ref, po)
    os.remove(os.path.join(po, "checkpoint.h5"))
    both = os.path.join(tmp, "auto_both_bad")  # both invalid
    shutil.copytree(ref, both)
    corrupt_state(os.path.join(both, "checkpoint.h5"))
    with h5py.File(os.path.join(both, "checkpoint.prev.h5"), "r+") as f:
        del f.attrs["complete"]
    both_before = folder_digest(both)
    fresh = os.path.join(tmp, "auto_fresh")  # a folder that does not exist yet
    other = os.path.join(tmp, "other_run")  # another run's output, no checkpoint
    L.run_ok(1, L.with_opt(L.with_opt(BASE, "-attn_beta", 1.0), "-checkpoint_dt", 0) + ["-checkpoint_final", "0"], other)
    chk.check(not any(f.startswith("checkpoint") for f in os.listdir(other)), "-checkpoint_dt 0 -checkpoint_final 0 writes no checkpoint")
    other_before = folder_digest(other)
    r_fb, r_po, r_both, r_fresh, r_other = run_all([BASE + ["-out", d, "-restart", "auto"] for d in (fb, po, both, fresh, other)])

    m = re.search(r"restarted from (\S+) at t = (\S+), step (\d+)", r_fb.stdout)
    chk.check(r_fb.rc == 0 and m is not None and m.group(1).endswith("checkpoint.prev.h5") and float(m.group(2)) == 0.4
              and "checkpoint.h5" in r_fb.stderr and re.search(r"previous", r_fb.stderr) is not None,
              f"-restart auto with a corrupt checkpoint.h5: says so and restarts from checkpoint.prev.h5 at t = 0.4 (exit {r_fb.rc}; "
              f"{m.group(0) if m else 'no restart line'}; stderr: {r_fb.stderr.strip().splitlines()[0][:300] if r_fb.stderr.strip() else ''})")
    if r_fb.rc != 0:
        print(r_fb.describe())
    else:
        L.compare_runs(chk, "auto fallback to checkpoint.prev.h5", ref, fb)
        okc, whyc, c2 = L.checkpoint_check(os.path.join(fb, "checkpoint.h5"))
        chk.check(okc and c2.get("time") == 0.5, f"after the fallback restart: checkpoint.h5 valid at t = 0.5 ({c2.get('time')}) {whyc}")
        okp, whyp, p2 = L.checkpoint_check(os.path.join(fb, "checkpoint.prev.h5"))
        chk.check(okp, "after the fallback restart and a new checkpoint: checkpoint.prev.h5 is valid (the corrupt file must not "
                  f"become the 'previous' checkpoint, or a kill during the next write leaves no valid one) {whyp}")

    m = re.search(r"restarted from (\S+) at t = (\S+)", r_po.stdout)
    chk.check(r_po.rc == 0 and m is not None and m.group(1).endswith("checkpoint.prev.h5"),
              f"-restart auto with checkpoint.prev.h5 only: restarts from it (exit {r_po.rc}; {m.group(0) if m else 'no restart line'})")
    if r_po.rc == 0:
        L.compare_runs(chk, "auto from checkpoint.prev.h5 only", ref, po)
    else:
        print(r_po.describe())

    chk.check(r_both.rc != 0 and "checkpoint.h5" in r_both.output and "checkpoint.prev.h5" in r_both.output,
              f"-restart auto with both checkpoints invalid: refuses naming both (exit {r_both.rc}) [{first_error_line(r_both)}]")
    after = folder_digest(both)
    changed = sorted(k for k in set(both_before) | set(after) if both_before.get(k) != after.get(k))
    chk.check(not changed, "both invalid: the folder is untouched" + ("" if not changed else f": changed {changed}"))

    nfresh = len(L.snapshot_files(fresh)) if os.path.isdir(fresh) else 0
    chk.check(r_fresh.rc == 0 and "restarted from" not in r_fresh.stdout and nfresh == 6,
              f"-restart auto in an empty (new) folder starts fresh (exit {r_fresh.rc}, {nfresh} snapshots)")
    if r_fresh.rc == 0:
        L.compare_runs(chk, "auto in an empty folder", ref, fresh)
    else:
        print(r_fresh.describe())

    chk.check(r_other.rc != 0 and "-out_overwrite" in r_other.output and other in r_other.output,
              f"-restart auto in a folder of another run without checkpoints: refuses, naming the folder and -out_overwrite "
              f"(exit {r_other.rc}) [{first_error_line(r_other)}]")
    chk.check(folder_digest(other) == other_before, "that refusal left the folder untouched")
    r = L.run_mfsa(1, BASE + ["-out", other, "-restart", "auto", "-out_overwrite"])
    chk.check(r.rc == 0 and "restarted from" not in r.stdout, f"... and with -out_overwrite starts fresh there (exit {r.rc})")
    if r.rc == 0:
        L.compare_runs(chk, "auto + -out_overwrite over another run", ref, other)
    else:
        print(r.describe())


if __name__ == "__main__":
    L.main_guard("checkpoint_refuse", body)
