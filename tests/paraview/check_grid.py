"""Run under pvbatch:  pvbatch check_grid.py ABS_XMF OUT_PNG

Opens an mfsa PDE XDMF index (3DCoRectMesh per time) with ParaView's Xdmf3 reader, prints one
JSON line  MFSA_PV_JSON {"timesteps": [...], "points": [...], "arrays": [...],
"samples": [[x, y, z, rho], ...]}  (every point of the last time step, so the caller can
check orientation and values against /pde/rho), and renders rho at the last time into OUT_PNG."""
import json
import sys

import paraview.simple as pvs
from paraview import servermanager
from vtkmodules.util.numpy_support import vtk_to_numpy

xmf, png = sys.argv[1], sys.argv[2]
reader = pvs.Xdmf3ReaderS(FileName=[xmf])
times = [float(t) for t in reader.TimestepValues] if reader.TimestepValues else []
points = []
for t in times:
    reader.UpdatePipeline(t)
    points.append(int(reader.GetDataInformation().GetNumberOfPoints()))
info = reader.GetDataInformation().GetPointDataInformation()
arrays = [info.GetArrayInformation(i).GetName() for i in range(info.GetNumberOfArrays())]
reader.UpdatePipeline(times[-1] if times else 0.0)
data = servermanager.Fetch(reader)
if data.IsA("vtkMultiBlockDataSet"):
    data = data.GetBlock(0)
npts = data.GetNumberOfPoints()
rho = vtk_to_numpy(data.GetPointData().GetArray("rho"))
samples = [list(data.GetPoint(i)) + [float(rho[i])] for i in range(npts)]

view = pvs.GetActiveViewOrCreate("RenderView")
view.ViewSize = [640, 320]
view.ViewTime = times[-1] if times else 0.0
disp = pvs.Show(reader, view)
pvs.ColorBy(disp, ("POINTS", "rho"))
disp.RescaleTransferFunctionToDataRange(True, False)
pvs.ResetCamera(view)
pvs.SaveScreenshot(png, view, ImageResolution=[640, 320])
print("MFSA_PV_JSON " + json.dumps({"timesteps": times, "points": points, "arrays": arrays, "samples": samples}))
sys.stdout.flush()
