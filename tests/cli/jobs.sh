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
finish
