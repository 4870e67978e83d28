"""ParaView view of an mfsa run (its mfsa.xmf index): a pvbatch script AND a GUI macro.

Particle runs: tokens as sphere glyphs coloured by the position s, with trails (the path of
every token over all snapshots, ParaView's TemporalParticlesToPathlines keyed by the token
index, also coloured by s), on a translucent unit sphere (d = 3) or the unit circle (d = 2);
d > 3 shows the first three coordinates (/particles/xyz).
PDE runs: the density rho(s, theta) on a cylinder -- theta around, the position s as height
-- built from the 3DCoRectMesh (x = theta, y = s) by a ProgrammableFilter that moves every
grid point to (cos theta, sin theta, s) and closes the seam at theta = 2 pi; --shape ring puts s along the radius instead
((0.5 + s) cos theta, (0.5 + s) sin theta, 0).

Batch (headless, ParaView 5.11 on Debian needs an X server: xvfb-run; give ABSOLUTE paths):
    xvfb-run -a -s "-screen 0 1024x768x24" pvbatch analysis/paraview/mfsa_view.py \
        $PWD/RUN/mfsa.xmf $PWD/view.png [--time T] [--shape cylinder|ring] [--no-trails] [--size 800x600]
  (analysis/paraview/render.sh RUN [PNG] does exactly that.) It prints one line
    MFSA_PV_JSON {"kind", "reader", "timesteps", "points" and "cells" (read, per time step),
                  "arrays", "time" (rendered), PDE: "output_points", "output_cells", "bounds",
                  "rho_range", "geometry_error" (cylinder: max | |(x, y)| - 1 |; ring: max |z|),
                  particles: "trail_points",
                  "trail_lines" (particles), "png"}
GUI (ParaView 5.11):
  - Macro: Macros > Import new macro... > pick this file (once). Then File > Open an mfsa.xmf
    (Xdmf3 Reader (Top Level Partition)), Apply, keep it selected, and click "mfsa_view" in
    the Macros toolbar: the pipeline above appears in the active view at the last snapshot
    (move the time controls afterwards: glyphs follow; trails grow as time moves forward).
  - Or View > Python Shell > Run Script > this file, with the reader selected.
  - Or, without opening anything first: in the Python shell,
        import os; os.environ["MFSA_XMF"] = "/abs/path/RUN/mfsa.xmf"
    then Run Script (the macro opens that file itself).
"""
import builtins as B  # ParaView's ProgrammableFilter runs its script in __main__'s namespace and
import json            # rebinds max, min, abs, sum there to VTK array functions: use B.max etc.
import math
import os
import sys

import paraview.simple as pvs

PV_PREFIX = "MFSA_PV_JSON "


def open_reader(xmf):
    """The XDMF index with ParaView's Xdmf3 reader (falls back to the XDMF2 reader)."""
    errors = []
    for name in ("Xdmf3ReaderS", "XDMFReader"):
        ctor = getattr(pvs, name, None)
        if ctor is None:
            errors.append(name + ": not available")
            continue
        try:
            r = ctor(FileNames=[xmf]) if name == "XDMFReader" else ctor(FileName=[xmf])
            tv = list(r.TimestepValues) if r.TimestepValues else []
            r.UpdatePipeline(tv[0] if tv else 0.0)
            if r.GetDataInformation().GetNumberOfPoints() > 0:
                return r, name, errors
            errors.append(name + ": no points")
        except Exception as e:  # noqa: BLE001 -- try the next reader, report all
            errors.append("%s: %s" % (name, e))
    return None, None, errors


def times_of(src):
    tv = src.TimestepValues
    if tv is None:
        return []
    try:
        return [float(t) for t in tv]
    except TypeError:  # a single time step comes back as a float
        return [float(tv)]


def array_names(src):
    pdi = src.GetDataInformation().GetPointDataInformation()
    return [pdi.GetArrayInformation(i).GetName() for i in range(pdi.GetNumberOfArrays())]


def read_counts(reader, times):
    pts, cells = [], []
    for t in times or [0.0]:
        reader.UpdatePipeline(t)
        di = reader.GetDataInformation()
        pts.append(int(di.GetNumberOfPoints()))
        cells.append(int(di.GetNumberOfCells()))
    return pts, cells


def kind_of(arrays):
    if "rho" in arrays:
        return "pde"
    if "s" in arrays and "index" in arrays:
        return "particles"
    return None


def lut(array, preset, lo, hi):
    tf = pvs.GetColorTransferFunction(array)
    try:
        tf.ApplyPreset(preset, True)
    except Exception:  # noqa: BLE001 -- keep ParaView's default map
        pass
    try:
        tf.AutomaticRescaleRangeMode = "Never"  # keep [lo, hi] when colouring rescales
    except AttributeError:
        pass
    tf.RescaleTransferFunction(lo, hi)
    return tf


def scalar_bar(view, disp, array, title=None):
    bar = pvs.GetScalarBar(pvs.GetColorTransferFunction(array), view)
    bar.Title = title or array
    bar.ComponentTitle = ""
    bar.TitleColor = [0.1, 0.1, 0.1]
    bar.LabelColor = [0.1, 0.1, 0.1]
    disp.SetScalarBarVisibility(view, True)


def setup_view(size):
    try:
        pvs._DisableFirstRenderCameraReset()  # keep the cameras set below
    except AttributeError:
        pass
    view = pvs.GetActiveViewOrCreate("RenderView")
    view.ViewSize = list(size)
    try:
        view.UseColorPaletteForBackground = 0  # ParaView >= 5.10 otherwise ignores Background
    except AttributeError:
        pass
    view.Background = [1.0, 1.0, 1.0]
    try:
        view.OrientationAxesVisibility = 0
    except AttributeError:
        pass
    return view


def build_particles(reader, view, times, t_show, trails=True, d=3):
    """Glyphs coloured by s at t_show, trails over all times, the unit sphere / circle."""
    out = {}
    if d == 2:
        ref = pvs.Disk(InnerRadius=0.995, OuterRadius=1.005, CircumferentialResolution=180, RadialResolution=1)
    else:
        ref = pvs.Sphere(Radius=0.985, ThetaResolution=64, PhiResolution=32)
    rdisp = pvs.Show(ref, view)
    rdisp.DiffuseColor = [0.75, 0.75, 0.78]
    rdisp.AmbientColor = [0.75, 0.75, 0.78]
    if d != 2:
        rdisp.Opacity = 0.25
    glyph = pvs.Glyph(Input=reader, GlyphType="Sphere")
    glyph.ScaleArray = ["POINTS", "No scale array"]
    glyph.ScaleFactor = 0.05
    glyph.GlyphMode = "All Points"
    try:
        glyph.GlyphType.ThetaResolution = 12
        glyph.GlyphType.PhiResolution = 8
    except AttributeError:
        pass
    lut("s", "Viridis (matplotlib)", 0.0, 1.0)
    if trails and len(times) > 1:
        path = pvs.TemporalParticlesToPathlines(Input=reader, Selection=None)
        path.IdChannelArray = "index"
        path.MaskPoints = 1
        path.MaxTrackLength = len(times) + 1
        path.MaxStepDistance = [10.0, 10.0, 10.0]
        for t in times:  # the filter accumulates paths as time moves forward
            if t <= t_show + 1e-12:
                path.UpdatePipeline(t)
        tdisp = pvs.Show(pvs.OutputPort(path, 0), view)
        pvs.ColorBy(tdisp, ("POINTS", "s"))
        tdisp.LineWidth = 1.5
        tdi = path.GetDataInformation()
        out["trail_points"] = int(tdi.GetNumberOfPoints())
        out["trail_lines"] = int(tdi.GetNumberOfCells())
    glyph.UpdatePipeline(t_show)
    gdisp = pvs.Show(glyph, view)
    pvs.ColorBy(gdisp, ("POINTS", "s"))
    lut("s", "Viridis (matplotlib)", 0.0, 1.0)
    scalar_bar(view, gdisp, "s", "position s")
    cam = view.GetActiveCamera()
    if d == 2:
        cam.SetPosition(0, 0, 6)
        cam.SetViewUp(0, 1, 0)
    else:
        cam.SetPosition(3.2, 2.4, 2.0)
        cam.SetViewUp(0, 0, 1)
    cam.SetFocalPoint(0, 0, 0)
    view.ResetCamera()
    cam.Dolly(1.0 if d == 2 else 1.25)
    return out


# ProgrammableFilter script: the (theta, s) image (x = theta_k fastest, y = s_j) -> polygonal
# data on the cylinder / ring, with one extra column theta_0 + 2 pi (a copy of the first) so
# that the surface closes; every point array (rho, velocity) is carried over.
SURFACE_SCRIPT = """
import numpy as np
from vtkmodules.util.numpy_support import numpy_to_vtk, numpy_to_vtkIdTypeArray, vtk_to_numpy
from vtkmodules.vtkCommonCore import vtkPoints
from vtkmodules.vtkCommonDataModel import vtkCellArray
img = self.GetInputDataObject(0, 0)
if img.IsA("vtkMultiBlockDataSet"):
    img = img.GetBlock(0)
out = self.GetOutputDataObject(0)
nx, ny, _ = img.GetDimensions()
ox, oy, _ = img.GetOrigin()
dx, dy, _ = img.GetSpacing()
T, S = np.meshgrid(ox + dx * np.arange(nx + 1), oy + dy * np.arange(ny))
if SHAPE == "ring":
    xyz = np.stack([(0.5 + S) * np.cos(T), (0.5 + S) * np.sin(T), 0 * T], axis=-1)
else:
    xyz = np.stack([np.cos(T), np.sin(T), S], axis=-1)
pts = vtkPoints()
pts.SetData(numpy_to_vtk(np.ascontiguousarray(xyz.reshape(-1, 3)), deep=1))
out.SetPoints(pts)
w = nx + 1
i, j = np.meshgrid(np.arange(nx), np.arange(ny - 1))
a = (j * w + i).ravel()
quads = np.stack([a, a + 1, a + 1 + w, a + w], axis=1).astype(np.int64)
cells = vtkCellArray()
cells.SetData(numpy_to_vtkIdTypeArray(np.arange(0, 4 * len(quads) + 1, 4, dtype=np.int64), deep=1),
              numpy_to_vtkIdTypeArray(quads.ravel(), deep=1))
out.SetPolys(cells)
pd = img.GetPointData()
for k in range(pd.GetNumberOfArrays()):
    v = vtk_to_numpy(pd.GetArray(k)).reshape(ny, nx)
    arr = numpy_to_vtk(np.ascontiguousarray(np.concatenate([v, v[:, :1]], axis=1).ravel()), deep=1)
    arr.SetName(pd.GetArray(k).GetName())
    out.GetPointData().AddArray(arr)
"""


def build_density(reader, view, t_show, shape="cylinder"):
    """rho on a cylinder (theta around, s = height) or a ring (s along the radius)."""
    surf = pvs.ProgrammableFilter(Input=reader)
    surf.OutputDataSetType = "vtkPolyData"
    surf.Script = "SHAPE = %r\n" % shape + SURFACE_SCRIPT
    surf.UpdatePipeline(t_show)
    disp = pvs.Show(surf, view)
    pvs.ColorBy(disp, ("POINTS", "rho"))
    rng = surf.GetDataInformation().GetPointDataInformation().GetArrayInformation("rho").GetComponentRange(0)
    lut("rho", "Inferno (matplotlib)", 0.0, B.max(rng[1], 1e-300))
    scalar_bar(view, disp, "rho")
    sdi = surf.GetDataInformation()
    out = {"output_points": int(sdi.GetNumberOfPoints()), "output_cells": int(sdi.GetNumberOfCells()),
           "bounds": [float(b) for b in sdi.GetBounds()], "shape": shape, "rho_range": [float(rng[0]), float(rng[1])]}
    from paraview import servermanager
    data = servermanager.Fetch(surf)
    if data.IsA("vtkMultiBlockDataSet"):
        data = data.GetBlock(0)
    err = 0.0
    for i in range(data.GetNumberOfPoints()):
        x, y, z = data.GetPoint(i)
        err = B.max(err, B.abs(math.hypot(x, y) - 1.0) if shape == "cylinder" else B.abs(z))
    out["geometry_error"] = err  # cylinder: max | |(x, y)| - 1 |; ring: max |z|
    cam = view.GetActiveCamera()
    if shape == "ring":
        cam.SetPosition(0, 0, 6)
        cam.SetViewUp(0, 1, 0)
        cam.SetFocalPoint(0, 0, 0)
    else:
        cam.SetPosition(3.0, -2.3, 2.4)
        cam.SetViewUp(0, 0, 1)
        cam.SetFocalPoint(0, 0, 0.5)
    view.ResetCamera()
    cam.Dolly(1.15)
    return out


def particle_dimension(reader):
    """d from the run's HDF5 provenance is not visible to ParaView; use the geometry: all z = 0
    means the circle (d = 2)."""
    b = reader.GetDataInformation().GetBounds()
    return 2 if B.abs(b[4]) < 1e-300 and B.abs(b[5]) < 1e-300 else 3


def show(reader, view, times, t_show, shape="cylinder", trails=True):
    arrays = array_names(reader)
    kind = kind_of(arrays)
    scene = pvs.GetAnimationScene()
    scene.UpdateAnimationUsingDataTimeSteps()
    scene.AnimationTime = t_show
    view.ViewTime = t_show
    if kind == "particles":
        extra = build_particles(reader, view, times, t_show, trails, particle_dimension(reader))
    elif kind == "pde":
        extra = build_density(reader, view, t_show, shape)
    else:
        raise RuntimeError("neither particle arrays (s, index) nor a PDE density (rho): arrays %s" % arrays)
    label = pvs.Text(Text="t = %g" % t_show)
    ldisp = pvs.Show(label, view)
    ldisp.Color = [0.1, 0.1, 0.1]
    ldisp.FontSize = 14
    ldisp.WindowLocation = "Upper Left Corner"
    pvs.Render(view)
    return kind, arrays, extra


def batch(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="pvbatch mfsa_view.py", description="Render an mfsa run's mfsa.xmf to PNG (see the file's docstring).")
    ap.add_argument("xmf", help="ABSOLUTE path of RUN/mfsa.xmf")
    ap.add_argument("png", help="PNG to write")
    ap.add_argument("--time", type=float, help="time to render (default: the last snapshot)")
    ap.add_argument("--shape", choices=("cylinder", "ring"), default="cylinder", help="PDE density geometry (default cylinder)")
    ap.add_argument("--no-trails", action="store_true", help="particles: glyphs only")
    ap.add_argument("--size", default="800x600", help="image size WxH (default 800x600)")
    args = ap.parse_args(argv)
    xmf = os.path.abspath(args.xmf)
    if not os.path.isfile(xmf):
        print(PV_PREFIX + json.dumps({"error": "no such file: " + xmf}))
        return 2
    reader, used, errors = open_reader(xmf)
    if reader is None:
        print(PV_PREFIX + json.dumps({"error": "no ParaView reader could read " + xmf, "reader": None, "errors": errors}))
        return 3
    times = times_of(reader)
    pts, cells = read_counts(reader, times)
    t_show = times[-1] if times else 0.0
    if args.time is not None and times:
        t_show = B.min(times, key=lambda t: B.abs(t - args.time))
    size = [int(v) for v in args.size.lower().split("x")]
    view = setup_view(size)
    kind, arrays, extra = show(reader, view, times, t_show, args.shape, not args.no_trails)
    png = os.path.abspath(args.png)
    pvs.SaveScreenshot(png, view, ImageResolution=size)
    res = {"kind": kind, "reader": used, "timesteps": times, "points": pts, "cells": cells, "arrays": arrays,
           "time": t_show, "png": png, "errors": errors}
    res.update(extra)
    print(PV_PREFIX + json.dumps(res))
    sys.stdout.flush()
    return 0


def macro():
    """GUI: build the view on the selected reader (or on $MFSA_XMF)."""
    src = pvs.GetActiveSource()
    if src is None and os.environ.get("MFSA_XMF"):
        src, _, _ = open_reader(os.path.abspath(os.environ["MFSA_XMF"]))
    if src is None:
        print("mfsa_view: open an mfsa.xmf (File > Open), Apply, select it, then run this macro again")
        return
    times = times_of(src)
    view = pvs.GetActiveViewOrCreate("RenderView")
    t_show = times[-1] if times else 0.0  # the final state, with trails over the whole run
    kind, arrays, extra = show(src, view, times, t_show)
    res = {"kind": kind, "macro": True, "timesteps": times, "time": t_show, "arrays": arrays}
    res.update(extra)
    print(PV_PREFIX + json.dumps(res))


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a]
    if args:
        rc = batch(args)
        if rc:  # on success let pvbatch end by itself (sys.exit(0) here upsets its GLX teardown)
            sys.exit(rc)
    else:
        macro()
