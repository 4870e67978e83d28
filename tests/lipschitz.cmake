# Lipschitz analysis (issue 4): JVP/VJP against finite differences, adjointness, dense SVD,
# the MODEL.md §5 bound; the mfsa-lipschitz program and its sweeps.
mfsa_c_test(test_lipschitz_jacobian 1)
add_test(NAME test_lipschitz_jacobian_np2 COMMAND ${MFSA_LAUNCH} 2 $<TARGET_FILE:test_lipschitz_jacobian>)
set_tests_properties(test_lipschitz_jacobian_np2 PROPERTIES ENVIRONMENT "${MFSA_TEST_ENV}" LABELS "mpi")

# Benchmark: (JVP + VJP) / forward at the same size (prints; smoke-run tiny so it cannot rot)
add_executable(bench_lipschitz bench/bench_lipschitz.c)
target_link_libraries(bench_lipschitz PRIVATE mfsa_core)
target_compile_options(bench_lipschitz PRIVATE ${MFSA_WARN})
add_test(NAME bench_lipschitz_smoke COMMAND ${MFSA_LAUNCH} 2 $<TARGET_FILE:bench_lipschitz> -bench_n 300 -bench_repeat 1 -attn_mask causal)
set_tests_properties(bench_lipschitz_smoke PROPERTIES ENVIRONMENT "${MFSA_TEST_ENV}" LABELS "mpi" PASS_REGULAR_EXPRESSION "JVP \\+ VJP")

# mfsa-lipschitz end to end: adversarial slope in [0.4, 0.7], random sweep flattening, bound,
# snapshot inputs, plot, bad input
mfsa_py_test(lipschitz_sweep test_lipschitz_sweep.py mpi)
set_tests_properties(lipschitz_sweep PROPERTIES TIMEOUT 600)
