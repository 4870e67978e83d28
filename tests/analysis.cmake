# Tests of analysis/ (issue 6): every plotting script on tiny real runs (2 ranks), its PNG
# (exists, not one colour) and the numbers it prints as JSON against the run's own
# diagnostics.h5 / snapshots recomputed independently in the test; bad input (another
# format_version, a missing dataset: exit != 0, one line naming file and dataset); the ParaView
# scripts under xvfb-run (label client). Shared helpers: test_analysis_common.py.

# plot_tokens (sphere, circle + movie frames, R^4 PCA/coords), plot_timeseries (cluster counts
# vs BFS), the XDMF and checkpoint readers, refusals
mfsa_py_test(analysis_particles   test_analysis_particles.py   mpi)
# plot_density, plot_particles_vs_pde (W1 vs brute force), plot_timeseries on a PDE run, refusals
mfsa_py_test(analysis_pde         test_analysis_pde.py         mpi)
# plot_convergence: particles -> PDE (W1 vs n), time step, grid; slopes recomputed with numpy
mfsa_py_test(analysis_convergence test_analysis_convergence.py mpi)
# plot_phase_diagram over a beta sweep: fractions vs diagnostics, t*(beta) vs an RK4 solution
mfsa_py_test(analysis_phase       test_analysis_phase.py       mpi)
# the reader's layouts without runs: Lipschitz sweeps (and refusals), XDMF index errors
mfsa_py_test(analysis_layouts     test_analysis_layouts.py     serial)
# jobs/run_variant_study.sh + plot_variants (issue 9): cluster counts vs BFS, Lipschitz values vs
# lipschitz.h5 and vs a dense finite-difference Jacobian of each variant's map, refusals
mfsa_py_test(analysis_variants    test_analysis_variants.py    mpi)
# ParaView: particles on the sphere/circle (glyphs + trails), PDE density on a cylinder, the GUI macro
mfsa_py_test(analysis_paraview    test_analysis_paraview.py    client)
# xvfb-run -a picks its display by looking for free lock files: two at once can pick the same one
set_tests_properties(analysis_paraview PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 400 RESOURCE_LOCK xvfb)
set_tests_properties(analysis_particles analysis_pde analysis_convergence analysis_phase analysis_variants PROPERTIES TIMEOUT 300)
