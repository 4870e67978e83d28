# Attention variants (issue 9): sigmoid, relu, linear, hyla kernels; pre-LN and nGPT layer norms.
#   test_attention_variants: every variant's velocity through the particle solver's RHS (allgather
#     and ring) vs a dense long-double reference (tests/brute_variants.h), masked/unmasked, R^d and
#     sphere, 1-3 heads, d = 2, 3, 5; bitwise rank invariance of 5 RK4 steps (np2).
#   test_variants_relu_spline: ReLU attention is piecewise cubic (4th difference = round-off on a
#     segment without sign changes of the scores); softmax's is h^4 f'''' (seed paper's claim).
#   variants_riccati: linear attention, Q = K = V = I: closed-form Riccati solution per token (RK4
#     order 4) and the mean-field second moment (error ~ n^-1/2); 1 vs 2 ranks bitwise.
#   test_variants_sigmoid_usa: sigmoid with bias -log n -> unnormalised attention, gap ~ 1/n (in C:
#     the velocity is the solver RHS itself, and one process instead of six mfsa start-ups).
mfsa_c_test(test_attention_variants 1)
add_test(NAME test_attention_variants_np2 COMMAND ${MFSA_LAUNCH} 2 $<TARGET_FILE:test_attention_variants>)
set_tests_properties(test_attention_variants_np2 PROPERTIES ENVIRONMENT "${MFSA_TEST_ENV}" LABELS "mpi")
mfsa_c_test(test_variants_relu_spline 1)
mfsa_py_test(variants_riccati     test_variants_riccati.py     mpi)
mfsa_c_test(test_variants_sigmoid_usa 2) # 2 ranks (label mpi): 17 s on one rank under ASan
