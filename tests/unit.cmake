# C unit tests (linked against mfsa_core).
mfsa_c_test(test_rng 1)
mfsa_c_test(test_pair_kernel 1)
mfsa_c_test(test_snapshot_roundtrip 1)
add_test(NAME test_snapshot_roundtrip_np2 COMMAND ${MFSA_LAUNCH} 2 $<TARGET_FILE:test_snapshot_roundtrip>)
add_test(NAME test_snapshot_roundtrip_np3 COMMAND ${MFSA_LAUNCH} 3 $<TARGET_FILE:test_snapshot_roundtrip>)
set_tests_properties(test_snapshot_roundtrip_np2 test_snapshot_roundtrip_np3 PROPERTIES ENVIRONMENT "${MFSA_TEST_ENV}" LABELS "mpi")
