# Reliability (issue 8): numerical faults, I/O faults, run lock, fuzzing. Python end-to-end tests
# (tests/test_faults_*.py, helpers in tests/faults_lib.py) driving the real `mfsa`; the bad-input
# tables are tests/test_bad_input.py and tests/test_pde_bad_input.py (system.cmake, pde.cmake).

# NaN injected mid-run (-debug_inject_nan_step): time/step/token, exit 72, fault.h5, snapshots and
# last checkpoint bitwise the clean run's, -restart auto completes bitwise (2 ranks)
mfsa_py_test(faults_numeric_particles test_faults_numeric.py mpi particles 2)
# PDE: NaN / negative / mass drift at the injected slice and angle; limiter none is no fault
mfsa_py_test(faults_numeric_pde       test_faults_numeric.py mpi pde 2)
# closed forms: |x| bound crossing step; adaptive step-size collapse at the blow-up time E1(1)/2
mfsa_py_test(faults_numeric_blowup    test_faults_numeric.py serial blowup 1)
set_tests_properties(faults_numeric_particles faults_numeric_pde PROPERTIES PROCESSORS 2)
# run lock: a second run into a busy folder is refused naming host and pid; exit 3 and errors
# release the lock; another host's lock is refused; a reused pid's lock is stale (2 ranks)
mfsa_py_test(faults_io_lock           test_faults_io.py mpi lock 2)
# ulimit -f hit mid-write during a snapshot and during a checkpoint: exit 67, clean message,
# earlier files intact (checksums, XDMF), continuation bitwise equal to an uninterrupted run
mfsa_py_test(faults_io_ulimit         test_faults_io.py mpi ulimit 2)
# kill -9 during a snapshot write and a checkpoint write: files intact, stale lock taken over,
# restart bitwise equal to an uninterrupted run
mfsa_py_test(faults_io_kill           test_faults_io.py mpi kill 2)
# Open MPI's OMPIO sharedfp/sm semaphore left at 0 by a killed writer must not hang the next run
mfsa_py_test(faults_io_stale_sem      test_faults_io.py mpi stale_sem 2)
set_tests_properties(faults_io_lock faults_io_ulimit faults_io_kill faults_io_stale_sem PROPERTIES PROCESSORS 2 TIMEOUT 600)

# Fuzzing (cmake -DCMAKE_C_COMPILER=clang -DMFSA_FUZZ=ON; jobs/run_tests.sh builds build-fuzz):
# libFuzzer + ASan + UBSan on mfsa's option parsing/validation and on the validation of HDF5
# inputs built as in-memory file images (tests/fuzz/*.c). Seeds in tests/fuzz/corpus/<harness>/
# (read only); new inputs go to the build folder. tests/fuzz/run_fuzz.sh fuzzes 30 s per harness,
# then replays the corpus under LeakSanitizer (PETSc's own error-path leaks and Open MPI's start-up
# allocations are suppressed: tests/fuzz/lsan.supp). Any crash, sanitizer report or leak fails.
if(MFSA_FUZZ)
  foreach(harness fuzz_options fuzz_h5_input)
    add_executable(${harness} fuzz/${harness}.c)
    target_link_libraries(${harness} PRIVATE mfsa_core)
    target_compile_options(${harness} PRIVATE ${MFSA_WARN})
    target_link_options(${harness} PRIVATE -fsanitize=fuzzer)
    add_test(NAME ${harness} COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run_fuzz.sh $<TARGET_FILE:${harness}> 30
             ${CMAKE_CURRENT_BINARY_DIR}/fuzz/corpus/${harness} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${harness})
    set_tests_properties(${harness} PROPERTIES LABELS "fuzz" TIMEOUT 300
      FAIL_REGULAR_EXPRESSION "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:")
  endforeach()
endif()
