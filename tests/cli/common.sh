# shellcheck shell=bash
# Shared by the CLI tests: run perron under mpirun with the settings this machine needs, and
# check outcomes. Environment from ctest: PERRON, MPIEXEC, PYTHON, SOURCE_DIR.
set -u
: "${PERRON:?}" "${MPIEXEC:?}" "${PYTHON:?}" "${SOURCE_DIR:?}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export HDF5_USE_FILE_LOCKING=FALSE OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# After a rank exits ≠ 0, or mpirun gets SIGTERM, mpirun sends the ranks SIGTERM and waits this
# many seconds before SIGKILL (default 1), and a failed run of 1 rank takes 2.4 s instead of
# 0.4: most of the time of the error tests. 0 here; a test that stops a run with a signal to
# watch it write its checkpoint unsets it, as users run with the default grace.
export OMPI_MCA_odls_base_sigkill_timeout=${OMPI_MCA_odls_base_sigkill_timeout:-0}
# shellcheck disable=SC2034  # used by the scripts that source this file
DATA=${PERRON_SHARED_DATA:-$SOURCE_DIR/../shared/data}
WORK=$(mktemp -d /tmp/perron-cli.XXXXXX)
trap 'chmod -R u+rwx "$WORK" 2>/dev/null; rm -rf "$WORK"' EXIT
FAILURES=0

perron() {  # perron NP ARGS...: runs under mpirun, output in $WORK/out.log, returns the exit code
  local np=$1
  shift
  # shellcheck disable=SC2086  # PERRON_PREFIX is a command prefix, split on purpose
  timeout 120 ${PERRON_PREFIX:-} "$MPIEXEC" -np "$np" --oversubscribe --bind-to none "$PERRON" "$@" >"$WORK/out.log" 2>&1
}

fail() {
  echo "FAIL: $*"
  sed 's/^/    | /' "$WORK/out.log" | head -20
  FAILURES=$((FAILURES + 1))
}

# expect_ok NAME NP ARGS...
expect_ok() {
  local name=$1
  shift
  if perron "$@"; then echo "ok   $name"; else fail "$name: exit $?"; fi
}

# expect_error NAME NP 'REGEX' OUTPUT ARGS...: exit ≠ 0 (not a timeout), REGEX in the message,
# the message printed once, and no output file (nor its temporary) left behind.
expect_error() {
  local name=$1 np=$2 regex=$3 output=$4
  shift 4
  perron "$np" "$@"
  local rc=$?
  LAST_RC=$rc
  if [ "$rc" -eq 0 ]; then fail "$name: exit 0, expected an error"; return; fi
  if [ "$rc" -eq 124 ]; then fail "$name: timed out (a rank hung)"; return; fi
  if ! grep -Eq -- "$regex" "$WORK/out.log"; then fail "$name: message does not match /$regex/"; return; fi
  local count
  count=$(grep -c "perron: error" "$WORK/out.log")
  if [ "$count" -ne 1 ]; then fail "$name: error printed $count times"; return; fi
  if grep -q "MPI_ABORT\|Abort" "$WORK/out.log"; then fail "$name: the job aborted instead of exiting cleanly"; return; fi
  if [ -n "$output" ] && ls "$output"* >/dev/null 2>&1; then fail "$name: left $(ls "$output"*)"; return; fi
  echo "ok   $name (exit $rc): $(grep "perron: error" "$WORK/out.log")"
}

# expect_exit CODE NAME NP 'REGEX' OUTPUT ARGS...: expect_error, and the exit code is exactly
# CODE (2 usage, 3 input, 4 output, 143 SIGTERM, 130 SIGINT).
expect_exit() {
  local code=$1 before=$FAILURES
  shift
  expect_error "$@"
  [ "$FAILURES" -ne "$before" ] && return
  # The ranks exit with perron's code, and mpirun exits with it.
  [ "$LAST_RC" = "$code" ] || fail "${1}: exit code $LAST_RC, expected $code"
}

finish() {
  if [ "$FAILURES" -ne 0 ]; then
    echo "$FAILURES check(s) failed"
    exit 1
  fi
  echo "all checks passed"
}
