# Tests of the mean-field PDE solver (-solver pde, tokens on the circle; issue 3).
# Python end-to-end tests (tests/test_pde_*.py) driving the real `mfsa`; each prints what it
# compared (measured error vs tolerance, and why that tolerance). Shared helpers: mfsa_testlib.py.
# Labels: serial (one rank, seconds; also run under ASan), mpi (1-3 ranks), slow (one-rank
# studies of 10-25 s: grid convergence and the particle limit; not run under ASan).
# The whole set takes ~85 s one after the other on 2 cores (~50 s with ctest -j2).

# contract of the initial densities, file layout, t = 0 diagnostics
mfsa_py_test(pde_init                   test_pde_init.py             serial)
# FFT velocity == direct O(M^2) midpoint quadrature (general and rotation Q, K, V; masked/unmasked; SA/USA)
mfsa_py_test(pde_fft_vs_direct          test_pde_fft_vs_direct.py    serial)
# MODEL.md §6 item 6: uniform density stationary / rigidly rotating at omega
mfsa_py_test(pde_item6_uniform          test_pde_item6.py            serial)
# MODEL.md §6 item 7: growth rates lambda_m (m = 1..4, beta = 4) and lambda_m/(p+1) within 1e-3
mfsa_py_test(pde_item7_growth           test_pde_item7.py            serial)
# causal mask: causality (bitwise) and product preservation
mfsa_py_test(pde_causality              test_pde_causality.py        serial)
# bitwise equality on 1, 2, 3 ranks (fixed and CFL-limited steps)
mfsa_py_test(pde_rank_invariance_causal test_pde_rank_invariance.py  mpi causal 1,2,3)
mfsa_py_test(pde_rank_invariance_none   test_pde_rank_invariance.py  mpi none   1,2,3)
# grid convergence order in theta, mass conservation to 1e-13, positivity with the limiters
mfsa_py_test(pde_convergence            test_pde_convergence.py      slow)
# n -> infinity: particle runs vs the PDE, slope of W1 vs n (analysis/compare_particles_pde.py)
mfsa_py_test(pde_particles_limit        test_pde_particles_limit.py  slow)
set_tests_properties(pde_particles_limit PROPERTIES TIMEOUT 600 PROCESSORS 2)
# bad input: clear error naming the option/file, sentinel folder untouched
mfsa_py_test(pde_bad_input_np1          test_pde_bad_input.py        serial 1)
mfsa_py_test(pde_bad_input_np2          test_pde_bad_input.py        mpi    2)

# ParaView reads the PDE XDMF as a structured s x theta grid (values and orientation checked)
mfsa_py_test(paraview_pde test_paraview_pde.py client)
set_tests_properties(paraview_pde PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300 RESOURCE_LOCK xvfb)

# attention variants (issue 9): velocity == numpy midpoint quadrature for relu, linear,
# sigmoid (fixed bias), hyla, nGPT (masked/unmasked, 1 and 2 ranks); mass and positivity;
# unsupported combinations -> clear error (np1 ~25 s, np2 ~10 s). Particles -> PDE as n grows
# (quasi-uniform tokens; 15 runs, ~30 s: slow).
mfsa_py_test(pde_variants_np1   test_pde_variants.py serial velocity 1)
mfsa_py_test(pde_variants_np2   test_pde_variants.py mpi    velocity 2)
mfsa_py_test(pde_variants_limit test_pde_variants.py slow   limit)
set_tests_properties(pde_variants_limit PROPERTIES PROCESSORS 2)
