#!/usr/bin/env bash
#SBATCH --job-name=mfsa-long
#SBATCH --ntasks=4
#SBATCH --time=04:00:00
#SBATCH --signal=B:USR1@600
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=mfsa-long-%j.log
#
# A long mfsa run that survives time limits: it checkpoints when Slurm signals the end of the
# allocation and requeues itself until the run is done. Output in long_<job id>/ (the job id
# stays the same across requeues), relative to the job's working directory.
# What it computes: the options file (default jobs/default_study.opts) plus any extra mfsa
# options given after the script name, e.g. a large n and a long T. Expected run time: whatever
# the run needs; each allocation lasts at most --time, then it is requeued (the gap between two
# allocations is the cluster's queue wait).
#
#   sbatch jobs/slurm_long.sh -n 16384 -ts_max_time 100
#   sbatch --time=01:00:00 --signal=B:USR1@300 -p PART -A ACCT jobs/slurm_long.sh -n 16384 -ts_max_time 100
#
# How: --signal=B:USR1@S sends SIGUSR1 to this batch shell S seconds before the time limit (up
# to a minute earlier: Slurm checks limits periodically; keep --time >= S + 90 s and S larger
# than one mfsa step plus the time to write a checkpoint). The trap (the first command below)
# forwards it to the MPI step (kill -USR1 on the srun/mpirun process, which passes it to the
# ranks) and creates the stop file <out>/mfsa.stop, which mfsa polls at every step boundary, so
# a signal that arrives before the ranks are up is not lost. In the first MFSA_SIGNAL_GRACE
# seconds (10) of the step only the stop file is used: a SIGUSR1 that reaches a rank before mfsa
# has installed its handler kills it (measured: within ~1 s of mpiexec, under load). mfsa writes a checkpoint at the next step
# boundary and exits 3; the script then runs `scontrol requeue $SLURM_JOB_ID`. Every start
# uses `-restart auto`: the newest valid checkpoint in the output folder, or a fresh start if
# there is none, so the same command line serves the first run and every requeue. The job
# ends (exit 0) when mfsa exits 0; any other exit code fails the job without requeueing.
# Also requeue by hand: `scancel --signal=USR1 --batch <jobid>` (same path as the time limit).
#
# Partition/account: sbatch -p/-A or SBATCH_PARTITION/SBATCH_ACCOUNT.
# Environment (exported to the job by sbatch's default --export=ALL):
#   MFSA_SOURCE  mfsa checkout holding jobs/ (default: $SLURM_SUBMIT_DIR)
#   MFSA_BUILD   folder with the mfsa executable (default: $MFSA_SOURCE/build)
#   MFSA_LAUNCH  MPI launcher prefix (default: srun --mpi=pmix; `mpirun` works too)
#   MFSA_OPTS    options file (default: $MFSA_SOURCE/jobs/default_study.opts)
#   MFSA_LONG_DIR  output folder (default: long_<job id>)
#   MFSA_CHECKPOINT_WALL  also checkpoint every this many wall minutes (default 30; 0 = off),
#                against node failures, which no signal announces
#   MFSA_MAX_REQUEUES  stop requeueing after this many restarts (default 100)
#   MFSA_SIGNAL_GRACE  seconds after the launch before SIGUSR1 is forwarded (default 10)
trap 'mfsa_long_usr1=1; declare -F on_usr1 >/dev/null && on_usr1' USR1
mfsa_long_usr1=0
step_pid=
stopfile=
step_t0=0
on_usr1() {
    echo "mfsa-long: SIGUSR1 at $(date -Is) (${SECONDS} s into this allocation)"
    [[ -n $stopfile ]] && : >"$stopfile" 2>/dev/null
    if [[ -n $step_pid ]] && kill -0 "$step_pid" 2>/dev/null; then
        if (( SECONDS - step_t0 >= ${MFSA_SIGNAL_GRACE:-10} )); then
            kill -USR1 "$step_pid" 2>/dev/null && echo "mfsa-long: forwarded SIGUSR1 to the MPI step (pid $step_pid)"
        else  # ranks still starting: a signal could kill them before mfsa's handler exists
            echo "mfsa-long: MPI step started $((SECONDS - step_t0)) s ago: relying on the stop file $stopfile"
        fi
    fi
}
set -uo pipefail

src=${MFSA_SOURCE:-${SLURM_SUBMIT_DIR:-$(pwd)}}
build=${MFSA_BUILD:-$src/build}
launch=${MFSA_LAUNCH:-srun --mpi=pmix}
opts=${MFSA_OPTS:-$src/jobs/default_study.opts}
out=${MFSA_LONG_DIR:-long_${SLURM_JOB_ID:-local}}
restarts=${SLURM_RESTART_COUNT:-0}
max_requeues=${MFSA_MAX_REQUEUES:-100}
wall=${MFSA_CHECKPOINT_WALL:-30}

echo "mfsa-long: job ${SLURM_JOB_ID:-?} allocation $((restarts + 1)) (SLURM_RESTART_COUNT=$restarts) at $(date -Is) on $(hostname): $out"
mkdir -p "$out" || exit 1
stopfile=$out/mfsa.stop
rm -f "$stopfile"
if (( mfsa_long_usr1 )); then : >"$stopfile"; fi  # signalled before the trap could see the folder

step_t0=$SECONDS
$launch "$build/mfsa" -options_file "$opts" -out "$out" -restart auto -checkpoint_wall "$wall" "$@" &
step_pid=$!

# `wait` returns early (status > 128) whenever the trap runs: wait again until the step is gone
while :; do
    wait "$step_pid"
    rc=$?
    if (( rc > 128 )) && kill -0 "$step_pid" 2>/dev/null; then continue; fi
    if (( rc > 128 )); then  # interrupted just as the step ended: collect its real status
        wait "$step_pid" 2>/dev/null
        rc2=$?
        (( rc2 != 127 )) && rc=$rc2
    fi
    break
done
step_pid=

case $rc in
    0)
        rm -f "$stopfile"
        echo "mfsa-long: run finished at $(date -Is) after $restarts requeue(s)"
        exit 0 ;;
    3)
        echo "mfsa-long: mfsa checkpointed (exit 3) at $(date -Is)"
        if (( restarts >= max_requeues )); then
            echo "mfsa-long: $restarts requeues reached MFSA_MAX_REQUEUES=$max_requeues; resubmit to go on" >&2
            exit 3
        fi
        if [[ -z ${SLURM_JOB_ID:-} ]]; then echo "mfsa-long: not under Slurm; run again to continue" >&2; exit 3; fi
        echo "mfsa-long: requeueing job $SLURM_JOB_ID"
        if scontrol requeue "$SLURM_JOB_ID"; then exit 0; fi
        echo "mfsa-long: scontrol requeue failed; resubmit the same command to continue (-restart auto)" >&2
        exit 3 ;;
    *)
        echo "mfsa-long: mfsa failed with exit code $rc; not requeueing" >&2
        exit "$rc" ;;
esac
