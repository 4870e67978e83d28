"""Helpers shared by the fault tests (tests/test_faults_*.py): the fault line mfsa prints, the fault
report fault.h5, the state of an output folder after a failure (XDMF lists only complete, readable
files; checkpoints valid; no temporaries; no lock left), and runs with a file-size limit.
Everything else comes from mfsa_testlib."""
import os
import re
import subprocess
import time

import numpy as np
import h5py

import mfsa_testlib as L

FAULT_RX = re.compile(r"^mfsa: numerical fault at t = (\S+), step (\d+): (.*)$", re.M)
PETSC_ERR_FP = 72            # numerical fault of the state
PETSC_ERR_NOT_CONVERGED = 91 # step-size collapse
PETSC_ERR_FILE_WRITE = 67    # a write failed (disk full, file-size limit)


def fault_line(output):
    """(t, step, what) of mfsa's fault line, or None."""
    m = FAULT_RX.search(output)
    return (float(m.group(1)), int(m.group(2)), m.group(3)) if m else None


def read_fault_report(out):
    """Attributes and /state of <out>/fault.h5 (None when missing)."""
    path = os.path.join(out, "fault.h5")
    if not os.path.isfile(path):
        return None
    with h5py.File(path, "r") as f:
        rep = {k: L._attr(f.attrs[k]) for k in f.attrs}
        rep["state"] = f["state"][()]
    return rep


def xdmf_entries(xmf):
    """(time strings, times, file) per grid of the XDMF temporal collection (the file of its
    first HDF DataItem)."""
    import xml.etree.ElementTree as ET
    strings, files = [], []
    for grid in ET.parse(xmf).getroot().iter("Grid"):
        if grid.get("GridType") == "Collection":
            continue
        strings.append(grid.find("Time").get("Value"))
        files.append(next(di.text.strip().split(":")[0] for di in grid.iter("DataItem") if ":" in (di.text or "")))
    return strings, [float(x) for x in strings], files


def folder_state(chk, name, out, lock_expected=False, checkpoints=True, tmp_allowed=False):
    """After a failure: every snapshot the XDMF index lists exists, opens with h5py and holds the
    listed time; no snapshot file outside the index; checkpoint.h5 / checkpoint.prev.h5 (when
    present) valid with their checksums recomputed; no *.tmp (unless a kill left it); the lock file gone
    (unless expected).
    Returns the listed times."""
    strings, times, files = xdmf_entries(os.path.join(out, "mfsa.xmf"))
    bad = []
    for t, fn in zip(times, files):
        p = os.path.join(out, fn)
        try:
            with h5py.File(p, "r") as f:
                ft = float(L._attr(f.attrs["time"]))
                data = f["/particles/x"][()] if "/particles/x" in f else f["/pde/rho"][()]
            if ft != t:
                bad.append(f"{fn}: time {ft!r} != listed {t!r}")
            if not np.all(np.isfinite(data)):
                bad.append(f"{fn}: non-finite values")
        except Exception as e:  # noqa: BLE001 -- any unreadable file is a failure
            bad.append(f"{fn}: unreadable ({type(e).__name__}: {e})")
    on_disk = sorted(f for f in os.listdir(out) if f.startswith("snap_") and f.endswith(".h5"))
    extra = sorted(set(on_disk) - set(files))
    chk.check(not bad and not extra, f"{name}: mfsa.xmf lists {len(files)} snapshots (t = {strings[:1]}..{strings[-1:]}), "
              f"each present, readable, finite and at its listed time; no unlisted snapshot file"
              + ("" if not bad else f": {bad[:4]}") + ("" if not extra else f"; unlisted: {extra}"))
    states = []
    for ck in ("checkpoint.h5", "checkpoint.prev.h5"):
        p = os.path.join(out, ck)
        if os.path.exists(p):
            ok, why, info = L.checkpoint_check(p)
            states.append((ck, ok, info.get("time"), why))
    if checkpoints or states:
        chk.check(bool(states) and all(s[1] for s in states), f"{name}: checkpoints valid (complete, checksum of /state recomputed): "
                  + (", ".join(f"{c} t = {t}" + ("" if ok else f" INVALID {why}") for c, ok, t, why in states) or "none found"))
    tmps = sorted(f for f in os.listdir(out) if f.endswith(".tmp"))
    if tmp_allowed:  # a kill -9 leaves its temporary; the restart removes it
        print(f"  {name}: temporaries left by the kill: {tmps}")
    else:
        chk.check(not tmps, f"{name}: no temporary file left" + ("" if not tmps else f": {tmps}"))
    lock = os.path.exists(os.path.join(out, "mfsa.lock"))
    chk.check(lock == lock_expected, f"{name}: lock file mfsa.lock {'present (holder killed)' if lock else 'removed'}"
              + ("" if lock == lock_expected else f" (expected {'present' if lock_expected else 'removed'})"))
    return times


def run_limited(nprocs, args, fsize_kib, timeout=120):
    """mfsa with `ulimit -f fsize_kib` (bash: 1024-byte blocks) set in each rank's own process:
    the launcher (Open MPI's PMIx store) must stay unlimited."""
    L._require_env()
    cmd = [L.MPIEXEC, str(nprocs), "/bin/bash", "-c", 'ulimit -f "$0" && exec "$@"', str(fsize_kib), L.BIN] + [str(a) for a in args]
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, stdin=subprocess.DEVNULL)
        return L.Result(cmd, p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), time.time() - t0)
    except subprocess.TimeoutExpired as e:
        return L.Result(cmd, -9, (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace"),
                        time.time() - t0, timed_out=True)


def petsc_message(output):
    """The text of PETSc's error message(s), where mfsa's own message is: without the traceback
    (#1 ...), the option table (which repeats every option given) and PETSc's boilerplate."""
    lines, in_table = [], False
    for line in output.splitlines():
        if "PETSC ERROR:" not in line:
            continue
        text = line.split("PETSC ERROR:", 1)[1].strip()
        if text.startswith("PETSc Option Table entries"):
            in_table = True
            continue
        if "End of Error Message" in text or text.startswith("----"):
            in_table = False
            continue
        if in_table or text.startswith(("#", "See https", "Petsc Release", "Configure options", "Option left:", "WARNING! There are option")) or re.match(r"^\S+ on a .*named ", text):
            continue
        lines.append(text)
    return "\n".join(lines)
