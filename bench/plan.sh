#!/usr/bin/env bash
# Capacity plan against reality: `perron plan` on 1 rank for P = 1, 2, 4, 8 against real
# pagerank runs on P ranks, Kronecker scales 18-22 read as directed and as undirected: halo
# bytes per step must match exactly, the graph's bytes and the iterating and peak memory of
# the largest rank within 15% (bench/plan_bench.py; fails otherwise). Then the two-level halo
# exchange against direct on this node: 20 power steps at 4 and 8 ranks, Kronecker 20.
#
#   bench/plan.sh [SCALES] [RANKS]     (defaults 18,20,22 and 1,2,4,8)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
# shellcheck source=jobs/lib.sh
source "$root/jobs/lib.sh"
perron_install
perron_build -DPERRON_BUILD_TESTS=OFF >/dev/null
mkdir -p "$root/results"
exec /usr/bin/python3 "$here/plan_bench.py" --perron "$root/build/bin/perron" --scales "${1:-18,20,22}" --ranks "${2:-1,2,4,8}" \
  --json "$root/results/bench-plan.json"
