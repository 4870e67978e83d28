# Slurm job recipes (jobs/slurm_*.sh, jobs/submit_convergence.sh) on a real one-node Slurm
# cluster that each test starts by hand under $MFSA_BUILD_DIR/tests/tmp/<test>/cluster
# (tests/slurm/local_slurm.sh: munged, slurmctld, slurmd -N localhost, random free ports, so
# the tests may run side by side) and tears down even when it fails. Label client (real
# external programs); exit 77 = SKIP only when slurmctld/slurmd/munged/sbatch are not
# installed (apt-get install slurm-wlm munge). ~110 s one after the other on 2 cores (87 s with
# ctest -j2), mostly waiting: the requeue test spends ~50 s in Slurm's requeue delay.
#   slurm_sweep       (~18 s) job array over n = 2^k + slurm_single.sh with mpiexec inside the allocation
#   slurm_dependency  (~16 s) particle array + PDE reference, post-processing with --dependency=afterok
#   slurm_requeue     (~70 s) slurm_long.sh: SIGUSR1 -> checkpoint (exit 3) -> requeue, twice; result
#                     bitwise equal to an uninterrupted run
# tests/slurm/test_slurm_requeue.py timelimit (not registered, 4-5 min): the same, the first requeue
# by Slurm's own time limit (--time=2 --signal=B:USR1@60), not by scancel --signal=USR1 --batch.
mfsa_py_test(slurm_sweep      slurm/test_slurm_sweep.py      client)
mfsa_py_test(slurm_dependency slurm/test_slurm_dependency.py client)
mfsa_py_test(slurm_requeue    slurm/test_slurm_requeue.py    client scancel)
set_tests_properties(slurm_sweep slurm_dependency slurm_requeue PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
set_tests_properties(slurm_requeue PROPERTIES PROCESSORS 2)
