#!/usr/bin/env bash
# The job scripts are valid (bash -n; shellcheck where installed) and the workstation
# launcher runs a small job.
source "$(dirname "$0")/common.sh"
for script in "$SOURCE_DIR"/jobs/*.sh "$SOURCE_DIR"/.ci/run "$SOURCE_DIR"/bench/*.sh; do
  if bash -n "$script" 2>"$WORK/out.log"; then echo "ok   bash -n $(basename "$script")"; else fail "bash -n $script"; fi
done
if command -v shellcheck >/dev/null; then
  if (cd "$SOURCE_DIR" && shellcheck -x jobs/*.sh .ci/run bench/*.sh) >"$WORK/out.log" 2>&1; then echo "ok   shellcheck"; else fail "shellcheck"; fi
else
  echo "SKIPPED LOUDLY: shellcheck not installed"
fi
printf '1 2\n2 3\n3 1\n' >"$WORK/g.txt"
if PERRON_BINARY=$PERRON bash "$SOURCE_DIR/jobs/mpirun-local.sh" -n 2 -t 1 pagerank --input "$WORK/g.txt" --output "$WORK/r.h5" \
  >"$WORK/out.log" 2>&1 && [ -f "$WORK/r.h5" ] && grep -q "2 ranks x 1 threads" "$WORK/out.log"; then
  echo "ok   jobs/mpirun-local.sh ran a job"
else
  fail "jobs/mpirun-local.sh"
fi
# Its threads come from the cores, which an exported OMP_NUM_THREADS must not shrink (GNU
# nproc answers OMP_NUM_THREADS when it is set).
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
if OMP_NUM_THREADS=1 PERRON_BINARY=$PERRON bash "$SOURCE_DIR/jobs/mpirun-local.sh" -n 1 --version >"$WORK/out.log" 2>&1 &&
  grep -q "1 ranks x $cores threads on $cores cores" "$WORK/out.log"; then
  echo "ok   jobs/mpirun-local.sh counts $cores cores with OMP_NUM_THREADS=1 exported"
else
  fail "jobs/mpirun-local.sh under OMP_NUM_THREADS=1: $(head -1 "$WORK/out.log")"
fi
finish
