"""Run under pvbatch (ParaView's Python):  pvbatch check_xdmf.py ABS_XMF OUT_PNG

Opens the mfsa XDMF index with ParaView's XDMF reader (Xdmf3ReaderS, else the XDMF2
XDMFReader), prints one JSON line  MFSA_PV_JSON {"reader":..., "timesteps":[...],
"points":[...per timestep...], "cells":[...], "arrays":[...]}  and renders the last time step as points
coloured by the position s into OUT_PNG."""
import json
import sys

from paraview.simple import (ColorBy, GetActiveViewOrCreate, GetAnimationScene, ResetCamera,
                             SaveScreenshot, Show, UpdatePipeline)
import paraview.simple as pvs

xmf, png = sys.argv[1], sys.argv[2]
reader = None
used = None
errors = []
for name in ("Xdmf3ReaderS", "XDMFReader"):
    ctor = getattr(pvs, name, None)
    if ctor is None:
        errors.append(name + ": not available")
        continue
    try:
        if name == "XDMFReader":
            reader = ctor(FileNames=[xmf])
        else:
            reader = ctor(FileName=[xmf])
        tv = list(reader.TimestepValues) if reader.TimestepValues else []
        if tv:
            reader.UpdatePipeline(tv[0])
        else:
            reader.UpdatePipeline()
        if reader.GetDataInformation().GetNumberOfPoints() > 0:
            used = name
            break
        errors.append(name + ": no points")
    except Exception as e:  # try the next reader
        errors.append("%s: %s" % (name, e))
        reader = None

if used is None:
    print("MFSA_PV_JSON " + json.dumps({"reader": None, "errors": errors}))
    sys.stdout.flush()
    sys.exit(3)

times = [float(t) for t in reader.TimestepValues] if reader.TimestepValues else []
points = []
cells = []
for t in times:
    reader.UpdatePipeline(t)
    points.append(int(reader.GetDataInformation().GetNumberOfPoints()))
    cells.append(int(reader.GetDataInformation().GetNumberOfCells()))
info = reader.GetDataInformation()
arrays = [info.GetPointDataInformation().GetArrayInformation(i).GetName()
          for i in range(info.GetPointDataInformation().GetNumberOfArrays())]

view = GetActiveViewOrCreate("RenderView")
view.ViewSize = [640, 480]
try:
    view.UseColorPaletteForBackground = 0  # ParaView >= 5.10 otherwise ignores Background
except Exception:
    pass
view.Background = [1.0, 1.0, 1.0]
try:
    view.OrientationAxesVisibility = 0
except Exception:
    pass
if times:
    scene = GetAnimationScene()
    scene.UpdateAnimationUsingDataTimeSteps()
    scene.AnimationTime = times[-1]
    view.ViewTime = times[-1]
disp = Show(reader, view)
# Point Gaussian draws every point, whether or not the reader made vertex cells
# (ParaView 5.11's Xdmf3 reader makes none for a Polyvertex topology; the XDMF2 one does).
disp.SetRepresentationType("Point Gaussian")
disp.GaussianRadius = 0.04
try:
    disp.ShaderPreset = "Sphere"
except Exception:
    pass
colored = None
for a in ("s", "index", "speed"):
    if a in arrays:
        ColorBy(disp, ("POINTS", a))
        disp.RescaleTransferFunctionToDataRange(True, False)
        colored = a
        break
pvs.Render(view)
ResetCamera(view)
pvs.Render(view)
SaveScreenshot(png, view, ImageResolution=[640, 480])
print("MFSA_PV_JSON " + json.dumps({"reader": used, "timesteps": times, "points": points, "cells": cells,
                                    "arrays": arrays, "colored_by": colored, "errors": errors}))
sys.stdout.flush()
