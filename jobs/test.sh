#!/usr/bin/env bash
# Installs what is missing, builds (warnings as errors under CI), and runs every test with
# ctest: unit tests at 1, 2, 3 and 4 MPI ranks, the end-to-end command-line tests and the fuzz
# corpus replay.
#
#   jobs/test.sh              the release build, in build/
#   jobs/test.sh --sanitize   the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer,
#                             in build-sanitize/ (any memory error or undefined behaviour fails it)
#   jobs/test.sh --fuzz       every fuzz target built with clang's libFuzzer + ASan + UBSan
#                             (build-fuzz/), each run for PERRON_FUZZ_SECONDS (default 10) from
#                             its corpus: fails on any crash, hang or memory blow-up, and on a
#                             source that only g++ compiles (bench/fuzz.sh runs it)
#   jobs/test.sh --all        all three, one after the other (what CI runs)
set -euo pipefail
# shellcheck source=jobs/lib.sh
source "$(dirname "$0")/lib.sh"
mode=${1:-release}
case $mode in
  release|--release) builds=(release) ;;
  --sanitize) builds=(sanitize) ;;
  --fuzz) builds=(fuzz) ;;
  --all) builds=(release sanitize fuzz) ;;
  *) echo "usage: $0 [--sanitize | --fuzz | --all]" >&2; exit 2 ;;
esac
perron_install
[ "${CI:-}" = "true" ] && export PERRON_WERROR=ON
perron_mpi_env
for build in "${builds[@]}"; do
  if [ "$build" = fuzz ]; then
    echo "perron: the fuzz targets under clang's libFuzzer + ASan + UBSan, ${PERRON_FUZZ_SECONDS:-10} s each (build-fuzz/)"
    bash "$PERRON_ROOT/bench/fuzz.sh" "${PERRON_FUZZ_SECONDS:-10}"
    continue
  fi
  if [ "$build" = sanitize ]; then
    echo "perron: the test suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-sanitize/)"
    PERRON_BUILD_DIR=$PERRON_ROOT/build-sanitize PERRON_BUILD_TYPE=RelWithDebInfo \
      perron_build -DPERRON_BUILD_TESTS=ON -DPERRON_SANITIZE=ON
    dir=$PERRON_ROOT/build-sanitize
  else
    perron_build -DPERRON_BUILD_TESTS=ON
    dir=$PERRON_ROOT/build
  fi
  (cd "$dir" && ctest --output-on-failure --timeout 1500 </dev/null)
done
