# Ring exchange and single precision of the pair kernel (issue 7, part A).
#   test_ring_kernel: key blocks in random order vs long-double brute force; float exp; single
#     precision within a bound derived from float epsilon; velocity single vs double table.
#   ring_exchange_*: the real solver, -particles_exchange ring vs allgather on 2, 3, 4 ranks
#     (causal/unmasked, sphere/R^d, several heads), independence of -particles_ring_inflight,
#     -precision single through the solver, bad option values.
mfsa_c_test(test_ring_kernel 1)
mfsa_py_test(ring_exchange_causal test_ring_exchange.py mpi causal)
mfsa_py_test(ring_exchange_none   test_ring_exchange.py mpi none)
mfsa_py_test(ring_bad_input       test_ring_exchange.py serial bad_input)

# The pair kernel alone against its exp-only bound (double and single, same run): a figure, not a
# test of a time; the smoke run only checks the program still works.
add_executable(ring_kernel_bench ring_kernel_bench.c)
target_link_libraries(ring_kernel_bench PRIVATE mfsa_core)
target_compile_options(ring_kernel_bench PRIVATE ${MFSA_WARN})
add_test(NAME ring_kernel_bench_smoke COMMAND ${MFSA_LAUNCH} 1 $<TARGET_FILE:ring_kernel_bench> -n 300 -reps 1)
set_tests_properties(ring_kernel_bench_smoke PROPERTIES ENVIRONMENT "${MFSA_TEST_ENV}" LABELS "serial" PASS_REGULAR_EXPRESSION "pair kernel, causal")
