#!/usr/bin/env bash
# Installs what is missing, builds (warnings as errors under CI), and runs every test with
# ctest: unit tests at 1, 2, 3 and 4 MPI ranks and the end-to-end command-line tests.
set -euo pipefail
# shellcheck source=jobs/lib.sh
source "$(dirname "$0")/lib.sh"
perron_install
[ "${CI:-}" = "true" ] && export PERRON_WERROR=ON
perron_build -DPERRON_BUILD_TESTS=ON
perron_mpi_env
cd "$PERRON_ROOT/build"
ctest --output-on-failure --timeout 900 </dev/null
