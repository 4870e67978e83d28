#!/usr/bin/python3
"""ParaView opens the XDMF of a 2-rank PDE run as a structured s x theta grid: S*M points at
every time, the snapshot times, arrays rho and velocity, and every point's rho equal to
/pde/rho[j, k] with theta_k along x and s_j along y (orientation, order and values); the PNG
it renders is not one colour. Skips (77) only if pvbatch or xvfb-run is missing."""
import json
import os

import numpy as np
import mfsa_testlib as L


def body(chk):
    pvbatch, xvfb = L.require_pvbatch()
    tmp = L.test_dir("paraview_pde")
    out = os.path.join(tmp, "run")
    S, M = 12, 64
    L.run_ok(2, ["-solver", "pde", "-attn_dim", 2, "-attn_mask", "causal", "-attn_beta", 2, "-pde_slices", S, "-pde_angles", M,
                 "-pde_init", "vonmises", "-pde_init_vonmises_centers", "1", "-pde_init_vonmises_kappas", "3",
                 "-pde_init_vonmises_drift", 3, "-ts_max_time", 1.0, "-out_dt", 0.5], out)
    snaps = L.read_snapshots(out)
    times = [s["time"] for s in snaps]
    import h5py
    with h5py.File(snaps[-1]["path"], "r") as f:
        rho = f["/pde/rho"][()]
    xmf = os.path.abspath(os.path.join(out, "mfsa.xmf"))
    png = os.path.join(tmp, "pde.png")
    rc, so, se = L.run_pvbatch(xvfb, pvbatch, [os.path.join(L.SOURCE_DIR, "tests", "paraview", "check_grid.py"), xmf, png], cwd=tmp)
    lines = [l for l in so.splitlines() if l.startswith("MFSA_PV_JSON ")]
    if not chk.check(rc == 0 and lines, f"pvbatch exits 0 and reports JSON (rc={rc})"):
        print(se[-3000:])
        return
    info = json.loads(lines[-1][len("MFSA_PV_JSON "):])
    chk.check(info["timesteps"] == times, f"ParaView time steps {info['timesteps']} == snapshot times {times}")
    chk.check(all(n == S * M for n in info["points"]), f"S*M = {S * M} points at every time (got {info['points']})")
    chk.check("rho" in info["arrays"] and "velocity" in info["arrays"], f"arrays rho, velocity (got {info['arrays']})")
    pts = np.array(info["samples"])
    k = np.rint((pts[:, 0] - np.pi / M) / (2 * np.pi / M)).astype(int)
    j = np.rint((pts[:, 1] - 0.5 / S) / (1.0 / S)).astype(int)
    inside = (k >= 0) & (k < M) & (j >= 0) & (j < S)
    chk.check(bool(inside.all()) and np.allclose(pts[:, 2], 0), "points lie on the s x theta grid (x = theta_k, y = s_j, z = 0)")
    if inside.all():
        err = float(np.max(np.abs(pts[:, 3] - rho[j, k])))
        chk.check(len(set(zip(j, k))) == S * M and err == 0.0, f"ParaView's rho at (theta_k, s_j) == /pde/rho[j, k] at every point (max diff {err:.1e})")
    if chk.check(os.path.isfile(png), f"PNG written: {png}"):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        img = plt.imread(png)
        ncol = len(np.unique(np.round(img.reshape(-1, img.shape[-1]) * 255).astype(np.int32), axis=0))
        chk.check(ncol > 10, f"PNG is not one colour ({ncol} distinct colours)")


if __name__ == "__main__":
    L.main_guard("paraview_pde", body)
