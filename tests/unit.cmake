# C unit tests (linked against mfsa_core).
mfsa_c_test(test_rng 1)
mfsa_c_test(test_pair_kernel 1)
