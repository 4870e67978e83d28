# Tests of checkpoint/restart (issue 5): Python end-to-end tests (tests/test_checkpoint_*.py)
# driving the real `mfsa`; shared helpers (checkpoint validation with the checksum recomputed in
# numpy, background runs that are stopped or killed -9) at the end of mfsa_testlib.py.
# Times on 2 cores: refuse ~14 s, ranks ~25 s, ranks_adaptive ~15 s, kill ~25 s.

# -restart FILE refuses corrupt (checksum), truncated, not-HDF5, incomplete, other-format and
# foreign (beta, n, seed, mask, geometry) checkpoints, naming the file, folder untouched;
# -restart auto: fallback to checkpoint.prev.h5, fresh start in an empty folder, refusal over
# another run's output without checkpoints (unless -out_overwrite)
mfsa_py_test(checkpoint_refuse          test_checkpoint_refuse.py  serial)
set_tests_properties(checkpoint_refuse PROPERTIES PROCESSORS 2 TIMEOUT 900)
# stopped by the stop file / SIGUSR1 to the launcher / SIGTERM to the ranks, continued on
# 1 -> 2 -> 3 ranks: bitwise equal to the uninterrupted run (particles causal, particles unmasked,
# PDE with the CFL-limited step)
mfsa_py_test(checkpoint_ranks           test_checkpoint_ranks.py   mpi particles_causal particles_none pde_causal)
set_tests_properties(checkpoint_ranks PROPERTIES PROCESSORS 2 TIMEOUT 300)
# adaptive 5dp: restart on the same rank count (bitwise on the sphere) and on another one
# (observed difference printed; tolerance 1e-10 relative to the motion)
mfsa_py_test(checkpoint_ranks_adaptive  test_checkpoint_ranks.py   mpi adaptive)
set_tests_properties(checkpoint_ranks_adaptive PROPERTIES PROCESSORS 2 TIMEOUT 300)
# kill -9 at 20 seeded moments (inside checkpoint and snapshot writes, after progress lines,
# at start-up, before the first checkpoint), -restart auto each time: previous checkpoint
# always valid, final output bitwise equal to the uninterrupted run
mfsa_py_test(checkpoint_kill            test_checkpoint_kill.py    "mpi;slow")
set_tests_properties(checkpoint_kill PROPERTIES PROCESSORS 2 TIMEOUT 300)
