# End-to-end tests: Python (Debian's /usr/bin/python3 + numpy + h5py) driving the real `mfsa`
# through ${MFSA_LAUNCH}. Shared helpers: tests/mfsa_testlib.py. Each test prints what it
# compared (measured error vs tolerance) and takes seconds.
#   serial: one rank (also run under ASan+UBSan)   mpi: several ranks   client: h5dump, ParaView

# MODEL.md §6 reference results through the real solver
mfsa_py_test(ref_item2_token1        test_ref_token1.py        serial)
mfsa_py_test(ref_item3_causal_angle  test_ref_causal_angle.py  serial)
mfsa_py_test(ref_item4_two_tokens    test_ref_two_tokens.py    serial)
mfsa_py_test(ref_item5_beta0_mean    test_ref_beta0_mean.py    serial)
mfsa_py_test(ref_item9_sphere_norm   test_ref_sphere_norm.py   serial)

# bitwise equality of snapshots on 1, 2, 3, 4 ranks (fixed-step RK4)
mfsa_py_test(rank_invariance_causal  test_rank_invariance.py   mpi causal 1,2,3,4)
mfsa_py_test(rank_invariance_none    test_rank_invariance.py   mpi none   1,2,3,4)

# measured RK4 order in [3.8, 4.2]
mfsa_py_test(rk4_order_sphere        test_rk4_order.py         serial sphere)
mfsa_py_test(rk4_order_euclidean     test_rk4_order.py         serial euclidean)

# snapshots at exactly k*out_dt (and T), fixed steps not dividing out_dt and adaptive RK
mfsa_py_test(snapshot_times_fixed    test_snapshot_times.py    serial fixed)
mfsa_py_test(snapshot_times_adaptive test_snapshot_times.py    serial adaptive)

# bad input: non-zero exit, message naming the option/file, existing files untouched
mfsa_py_test(bad_input_np1           test_bad_input.py         serial 1)
mfsa_py_test(bad_input_np2           test_bad_input.py         mpi    2)

# the command-line contract: -help, defaults, -options_file
mfsa_py_test(cli_options             test_cli.py               serial)

# real clients: h5dump shows provenance; ParaView opens the XDMF of a 2-rank run
mfsa_py_test(provenance_h5dump       test_provenance.py        client)
mfsa_py_test(paraview_xdmf           test_paraview.py          client)
set_tests_properties(provenance_h5dump paraview_xdmf PROPERTIES SKIP_RETURN_CODE 77)
set_tests_properties(paraview_xdmf PROPERTIES TIMEOUT 300 RESOURCE_LOCK xvfb) # one xvfb-run at a time (analysis.cmake)
