#!/usr/bin/env bash
# Long fuzzing runs of every parser entry point (tests/fuzz): builds the libFuzzer targets with
# clang + ASan + UBSan into build-fuzz/, runs each for SECONDS on a working copy of its corpus,
# and reports executions, coverage and findings. A finding (crash, sanitizer report, timeout,
# or perron's exit 1 "internal error") is copied to tests/fuzz/corpus/<target>/ as crash-*, so
# that ctest replays it from then on in every build; fix it, then commit it. Exits 1 when a
# target found anything or ran nothing (jobs/test.sh --fuzz, part of CI's --all, runs it).
#
#   bench/fuzz.sh SECONDS [TARGET ...]      e.g. bench/fuzz.sh 1800         (every target, 30 min each)
#                                                bench/fuzz.sh 600 text mm
# PARALLEL (default: the number of cores) targets run at once, one process each.
set -euo pipefail
# shellcheck source=jobs/lib.sh
source "$(dirname "$0")/../jobs/lib.sh"
seconds=${1:?usage: bench/fuzz.sh SECONDS [TARGET ...]}
shift
targets=("$@")
# By default every target: one corpus folder each (the folders the replay tests read too).
if [ ${#targets[@]} -eq 0 ]; then
  for dir in "$PERRON_ROOT"/tests/fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi
PERRON_PACKAGES+=(clang libclang-rt-14-dev libomp-14-dev)
perron_install
perron_mpi_env
out=$PERRON_ROOT/build-fuzz
CC=clang CXX=clang++ PERRON_BUILD_DIR=$out PERRON_BUILD_TYPE=RelWithDebInfo PERRON_BUILD_TARGETS="${targets[*]/#/perron_fuzz_}" \
  perron_build -DPERRON_FUZZ=ON -DPERRON_BUILD_TESTS=OFF >"$out-build.log" 2>&1 || { tail -40 "$out-build.log"; exit 1; }
export ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_NUM_THREADS=1
parallel=${PARALLEL:-$(perron_cores)}

run_target() {
  local t=$1 work=$out/corpus/$1 crashes=$out/crashes/$1
  rm -rf "$crashes"  # an earlier run's findings are in the corpus already: count this run's
  mkdir -p "$work" "$crashes"
  cp -n "$PERRON_ROOT/tests/fuzz/corpus/$t"/* "$work"/ 2>/dev/null || true
  # -close_fd_mask=3: perron's messages for bad inputs are the expected outcome, not output.
  "$out/bin/perron_fuzz_$t" "$work" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=6144 -close_fd_mask=3 \
    -print_final_stats=1 -artifact_prefix="$crashes/" >"$out/$t.log" 2>&1 || true
  for f in "$crashes"/*; do
    [ -f "$f" ] && cp -n "$f" "$PERRON_ROOT/tests/fuzz/corpus/$t/"
  done
  return 0
}

echo "perron fuzz: ${#targets[@]} targets x $seconds s, $parallel at a time (logs in $out/<target>.log)"
running=0
for t in "${targets[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then wait -n; running=$((running - 1)); fi
done
wait

printf '%-11s %10s %12s %8s %8s %7s %9s\n' target seconds executions exec/s coverage corpus findings
status=0
for t in "${targets[@]}"; do
  log=$out/$t.log
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  corpus=$(find "$out/corpus/$t" -type f | wc -l)
  found=$(find "$out/crashes/$t" -type f | wc -l)
  printf '%-11s %10s %12s %8s %8s %7s %9s\n' "$t" "$seconds" "${execs:-0}" "${rate:-0}" "${cov:-0}" "$corpus" "$found"
  if [ "$found" -gt 0 ]; then
    echo "perron fuzz: $t found $found input(s) that crash, hang or exhaust memory, copied to tests/fuzz/corpus/$t/ (log: $log)" >&2
    status=1
  elif [ "${execs:-0}" -eq 0 ]; then
    echo "perron fuzz: $t ran no input (log: $log)" >&2
    status=1
  fi
done
exit $status
