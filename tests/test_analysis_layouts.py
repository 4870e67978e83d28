#!/usr/bin/python3
"""analysis/mfsa_read.py on layouts no tiny run here produces: the Lipschitz sweep file of
mfsa-lipschitz (<folder>/lipschitz.h5, written here by h5py following the documented layout:
root format_version 1, kind "lipschitz"; /lipschitz/<family>/{n, estimate, iterations,
residual, upper_bound, radius, seconds} + group attributes), read back value for value
(folder or file path, CLI and library); and the refusals: another format_version, another
kind, a missing column, columns of different lengths, no family group; an XDMF index that
is not XML, one without a temporal collection, one whose grid has no time, and a
reference to a file that is not there (reported, not fatal)."""
import json
import os
import subprocess
import sys

import h5py
import numpy as np

import mfsa_testlib as L
import test_analysis_common as A

sys.path.insert(0, A.ANALYSIS)
from mfsa_read import LipschitzSweeps, MfsaReadError, XdmfIndex  # noqa: E402

ATTRS = {"beta": 2.0, "norm_B": 1.0, "norm_V": 1.0, "crossover_n": 54.6, "radius": 1.0, "d": 3, "heads": 1,
         "mask": "none", "norm": "softmax", "geometry": "sphere", "tol": 1e-6, "max_it": 200}


def family_data(rng, rows):
    n = np.array([2 ** k for k in range(3, 3 + rows)], dtype=np.int64)
    est = np.sqrt(n) * rng.uniform(0.5, 1.0, rows)
    return {"n": n, "estimate": est, "iterations": rng.integers(5, 50, rows).astype(np.int64),
            "residual": rng.uniform(1e-9, 1e-6, rows), "upper_bound": est * 3, "radius": np.ones(rows),
            "seconds": rng.uniform(0.01, 1, rows)}


def write_sweep(path, families, fmt=1, kind="lipschitz", drop=None, short=None):
    rng = np.random.default_rng(1)
    data = {}
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = np.int32(fmt)
        f.attrs["kind"] = kind
        f.attrs["mfsa_version"] = "0.1.0"
        f.attrs["git_revision"] = "test"
        f.attrs["options"] = "-lip_beta 2"
        f.attrs["ranks"] = np.int32(2)
        for fam in families:
            cols = family_data(rng, 4)
            data[fam] = cols
            g = f.create_group(f"/lipschitz/{fam}")
            for c, v in cols.items():
                if (fam, c) == drop:
                    continue
                g.create_dataset(c, data=v[:-1] if (fam, c) == short else v)
            g.attrs["family"] = fam
            for k, v in ATTRS.items():
                g.attrs[k] = v
    return data


def body(chk):
    tmp = L.test_dir("analysis_layouts")
    folder = os.path.join(tmp, "lip")
    os.makedirs(folder)
    data = write_sweep(os.path.join(folder, "lipschitz.h5"), ["ball", "adversarial", "snapshot"])
    for where in (folder, os.path.join(folder, "lipschitz.h5")):
        sw = LipschitzSweeps(where)
        chk.check(sw.names == ["ball", "adversarial", "snapshot"] and sw.attrs["kind"] == "lipschitz" and sw.attrs["options"] == "-lip_beta 2",
                  f"LipschitzSweeps({os.path.basename(where)}): families {sw.names} in the documented order, root attributes read")
        same = True
        for fam, cols in data.items():
            got, attrs = sw[fam]
            same &= all(np.array_equal(got[c], cols[c]) and got[c].dtype == cols[c].dtype for c in cols)
            same &= attrs["family"] == fam and all(attrs[k] == v for k, v in ATTRS.items())
        chk.check(same, "every column (int64 n, iterations; float64 others) and every group attribute equals what was written")
    try:
        sw["sphere"]
        chk.fail("asking for an absent family raises")
    except MfsaReadError as e:
        chk.check("/lipschitz/sphere" in str(e), f"an absent family is named: {e}")
    p = subprocess.run([A.PYTHON, os.path.join(A.ANALYSIS, "mfsa_read.py"), "lipschitz", folder], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    js = json.loads(p.stdout) if p.returncode == 0 else {}
    chk.check(p.returncode == 0 and js["families"]["ball"]["n"] == data["ball"]["n"].tolist() and
              js["families"]["adversarial"]["estimate"] == data["adversarial"]["estimate"].tolist(),
              f"mfsa_read.py lipschitz FOLDER prints the families as JSON (rc {p.returncode})")

    cases = [("format_version 2", dict(fmt=2), ["lipschitz.h5", "format_version 2"]),
             ("kind 'snapshot'", dict(kind="snapshot"), ["lipschitz.h5", "kind"]),
             ("missing column", dict(drop=("adversarial", "upper_bound")), ["lipschitz.h5", "/lipschitz/adversarial/upper_bound"]),
             ("columns of different lengths", dict(short=("ball", "seconds")), ["lipschitz.h5", "/lipschitz/ball", "different lengths"]),
             ("no family", dict(), ["lipschitz.h5", "/lipschitz/<family>"])]
    for what, kw, names in cases:
        d = os.path.join(tmp, what.replace(" ", "_").replace("'", ""))
        os.makedirs(d)
        write_sweep(os.path.join(d, "lipschitz.h5"), [] if what == "no family" else ["ball", "adversarial"], **kw)
        p = subprocess.run([A.PYTHON, os.path.join(A.ANALYSIS, "mfsa_read.py"), "lipschitz", d], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        res = type("R", (), {"rc": p.returncode, "stdout": p.stdout.decode(), "stderr": p.stderr.decode()})
        A.check_refusal(chk, res, f"lipschitz.h5 with {what}", names)

    # XDMF index
    xmf = os.path.join(tmp, "a.xmf")
    with open(xmf, "w") as fh:
        fh.write('<?xml version="1.0" ?><Xdmf Version="3.0"><Domain><Grid Name="particles" GridType="Collection" '
                 'CollectionType="Temporal"><Grid Name="snap_000000"><Time Value="0"/><Geometry><DataItem Format="HDF">'
                 'snap_000000.h5:/particles/x</DataItem></Geometry></Grid><Grid Name="snap_000001"><Time Value="0.25"/>'
                 '<Geometry><DataItem Format="HDF">snap_000001.h5:/particles/x</DataItem></Geometry></Grid></Grid></Domain></Xdmf>')
    open(os.path.join(tmp, "snap_000000.h5"), "w").close()
    ix = XdmfIndex(xmf)
    chk.check(ix.times == [0.0, 0.25] and ix.files == ["snap_000000.h5", "snap_000001.h5"] and ix.missing() == ["snap_000001.h5"],
              f"XdmfIndex: times {ix.times}, files {ix.files}, missing {ix.missing()}")
    for what, text, must in (("not XML", "<Xdmf><Domain>", "not a readable XDMF"),
                             ("no temporal collection", '<Xdmf><Domain><Grid Name="g"/></Domain></Xdmf>', "no temporal collection"),
                             ("a grid without time", '<Xdmf><Domain><Grid GridType="Collection" CollectionType="Temporal"><Grid Name="g1"/></Grid></Domain></Xdmf>',
                              "'g1' has no <Time")):
        with open(xmf, "w") as fh:
            fh.write(text)
        try:
            XdmfIndex(xmf)
            chk.fail(f"XdmfIndex refuses {what}")
        except MfsaReadError as e:
            chk.check(must in str(e) and "a.xmf" in str(e), f"XdmfIndex refuses {what}: {e}")


if __name__ == "__main__":
    L.main_guard("analysis_layouts", body)
