#!/usr/bin/python3
"""analysis/paraview/ under a real ParaView (label client), headless with xvfb-run:

  render.sh on a 2-rank particle run on S^2 (unmasked: every token moves): the reader sees n
    points at every snapshot time; the trails hold one line per token with one point per
    snapshot (n lines, n * snapshots points);
  render.sh on a 2-rank PDE run: S*M grid points per time step; the cylinder built by the
    ProgrammableFilter has (M + 1) * S points (the seam column closes it) and M * (S - 1)
    quads, every point at radius 1 (to round-off), heights from s_0 to s_{S-1} (/pde/s) and
    the rho range of the last /pde/rho;
  the GUI macro path (no arguments, $MFSA_XMF) on a 2-rank circle run (d = 2, causal).
Every PNG exists and is not one colour. Skips (77) only if pvbatch or xvfb-run is missing."""
import json
import os
import subprocess


import mfsa_testlib as L
import test_analysis_common as A

PV = os.path.join(L.SOURCE_DIR, "analysis", "paraview")


def pv_json(text):
    lines = [l for l in text.splitlines() if l.startswith("MFSA_PV_JSON ")]
    return json.loads(lines[-1][len("MFSA_PV_JSON "):]) if lines else None


def render(run, png, *opts):
    p = subprocess.run(["bash", os.path.join(PV, "render.sh"), run, png] + list(opts), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    print(f"  $ render.sh {os.path.basename(run)} -> rc {p.returncode}")
    return p.returncode, pv_json(out), out + err


def body(chk):
    pvbatch, xvfb = L.require_pvbatch()
    tmp = L.test_dir("analysis_paraview")
    sph, pde, circ = (os.path.join(tmp, x) for x in ("sphere", "pde", "circle"))
    n, S, M = 24, 6, 48
    A.run_all([
        (2, ["-n", n, "-attn_dim", 3, "-attn_beta", 2, "-seed", 8, "-ts_dt", 0.05, "-ts_max_time", 2, "-out_dt", 0.5], sph),
        (2, L.PDE_BASE + ["-attn_mask", "causal", "-attn_beta", 2, "-pde_slices", S, "-pde_angles", M, "-pde_init", "vonmises",
                          "-pde_init_vonmises_centers", 1, "-pde_init_vonmises_kappas", 3, "-pde_init_vonmises_drift", 3,
                          "-ts_max_time", 1, "-out_dt", 0.5], pde),
        (2, ["-n", 20, "-attn_dim", 2, "-attn_beta", 4, "-attn_mask", "causal", "-seed", 9, "-ts_dt", 0.05, "-ts_max_time", 1,
             "-out_dt", 0.5], circ),
    ])

    times = [s["time"] for s in L.read_snapshots(sph)]
    png = os.path.join(tmp, "sphere.png")
    rc, js, log = render(sph, png, "--size", "480x360")
    if chk.check(rc == 0 and js is not None, f"render.sh sphere: exit 0 and a MFSA_PV_JSON line (rc {rc})") or print(log[-3000:]):
        chk.check(js["kind"] == "particles" and js["timesteps"] == times, f"sphere: particles, ParaView time steps {js['timesteps']} == snapshot times {times}")
        chk.check(js["points"] == [n] * len(times), f"sphere: {n} points read at each of the {len(times)} time steps (got {js['points']})")
        chk.check(all(a in js["arrays"] for a in ("s", "index", "speed")), f"sphere: arrays s, index, speed read ({js['arrays']})")
        chk.check(js["trail_lines"] == n and js["trail_points"] == n * len(times),
                  f"sphere: trails: {js['trail_lines']} lines == n, {js['trail_points']} points == n x snapshots = {n * len(times)}")
        A.check_png(chk, png, "sphere", min_colours=50)

    snaps = L.read_pde_snapshots(pde)
    png = os.path.join(tmp, "pde.png")
    rc, js, log = render(pde, png, "--size", "480x360")
    if chk.check(rc == 0 and js is not None, f"render.sh pde: exit 0 and a MFSA_PV_JSON line (rc {rc})") or print(log[-3000:]):
        chk.check(js["kind"] == "pde" and js["timesteps"] == [s["time"] for s in snaps] and js["points"] == [S * M] * len(snaps),
                  f"pde: {S * M} = S*M grid points read at each time step {js['timesteps']} (got {js['points']})")
        chk.check((js["output_points"], js["output_cells"]) == ((M + 1) * S, M * (S - 1)),
                  f"pde: cylinder of (M+1)*S = {(M + 1) * S} points and M*(S-1) = {M * (S - 1)} quads (got {js['output_points']}, {js['output_cells']})")
        chk.close("pde: every cylinder point at radius 1", js["geometry_error"], 1e-14)
        s = snaps[-1]["s"]
        b = js["bounds"]
        chk.check(b[4] == s[0] and b[5] == s[-1], f"pde: heights from s_0 = {s[0]} to s_(S-1) = {s[-1]} (bounds z {b[4]}, {b[5]})")
        rho = snaps[-1]["rho"]
        chk.check(js["rho_range"] == [float(rho.min()), float(rho.max())], f"pde: rho range {js['rho_range']} == last /pde/rho [{rho.min()}, {rho.max()}]")
        A.check_png(chk, png, "pde", min_colours=50)

    env = dict(os.environ, MFSA_XMF=os.path.join(circ, "mfsa.xmf"))
    rc, so, se = L.run_pvbatch(xvfb, pvbatch, [os.path.join(PV, "mfsa_view.py")], env=env, timeout=300)
    js = pv_json(so)
    if chk.check(rc == 0 and js is not None and js.get("macro"), f"the GUI macro path (no arguments, $MFSA_XMF) builds the view (rc {rc})") \
            or print(se[-3000:]):
        ctimes = [s["time"] for s in L.read_snapshots(circ)]
        chk.check(js["kind"] == "particles" and js["timesteps"] == ctimes and js["trail_lines"] >= 1,
                  f"macro on the circle run: particles, time steps {js['timesteps']}, {js['trail_lines']} trail lines")


if __name__ == "__main__":
    L.main_guard("analysis_paraview", body)
