# Lipschitz analysis (issues 4, 9): JVP/VJP of every attention kernel and layer norm against
# finite differences, adjointness, dense SVD, the MODEL.md §5 bound; the mfsa-lipschitz program
# and its sweeps.
mfsa_c_test(test_lipschitz_jacobian 1)
add_test(NAME test_lipschitz_jacobian_np2 COMMAND ${MFSA_LAUNCH} 2 $<TARGET_FILE:test_lipschitz_jacobian>)
add_test(NAME test_lipschitz_jacobian_np3 COMMAND ${MFSA_LAUNCH} 3 $<TARGET_FILE:test_lipschitz_jacobian>)
set_tests_properties(test_lipschitz_jacobian_np2 test_lipschitz_jacobian_np3 PROPERTIES ENVIRONMENT "${MFSA_TEST_ENV}" LABELS "mpi")

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

# mfsa-lipschitz with the attention variants (issue 9): the estimate runs end to end and reports
# no MODEL.md §5 bound (it is for unmasked softmax in R^d only) and no exp-kernel crossover
add_test(NAME lipschitz_variants_hyla_ngpt COMMAND ${MFSA_LAUNCH} 2 $<TARGET_FILE:mfsa-lipschitz> -attn_kernel hyla -attn_heads 2 -attn_qkv random -geometry sphere -attn_ln ngpt -attn_mask causal -lip_inputs uniform -lip_n 16,48 -out ${CMAKE_CURRENT_BINARY_DIR}/lipschitz_variants_hyla_ngpt -out_overwrite)
add_test(NAME lipschitz_variants_relu_pre COMMAND ${MFSA_LAUNCH} 2 $<TARGET_FILE:mfsa-lipschitz> -attn_kernel relu -attn_qkv random -geometry euclidean -attn_ln pre -lip_inputs ball -lip_n 16,48 -out ${CMAKE_CURRENT_BINARY_DIR}/lipschitz_variants_relu_pre -out_overwrite)
set_tests_properties(lipschitz_variants_hyla_ngpt lipschitz_variants_relu_pre PROPERTIES ENVIRONMENT "${MFSA_TEST_ENV}" LABELS "mpi" PASS_REGULAR_EXPRESSION "n =       48  Lip = [0-9.e+-]+  iterations +[0-9]+  residual [0-9.e+-]+  bound nan.*no exp-kernel crossover" FAIL_REGULAR_EXPRESSION "NOT converged|ERROR")
