#!/usr/bin/env bash
# Solver auto against power iteration and the Krylov solvers (bicgstab on directed graphs, cg on
# undirected ones): steps and plan + solve seconds to 1e-10 on the real directed graphs of
# ../shared/data/real and on Kronecker graphs read as directed and undirected, at 1 rank x 2
# threads and 2 x 1, interleaved and repeated (medians). Prepared graphs, so the build is not
# timed (bench/pagerank.sh has the end-to-end runs).
#
#   bench/solver_auto.sh [SCALES] [REPETITIONS]      (defaults 20,22 and 5; needs a built perron)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
binary=${PERRON_BINARY:-$root/build/bin/perron}
[ -x "$binary" ] || { echo "build perron first (jobs/quickstart.sh)" >&2; exit 2; }
mkdir -p "$root/results"
exec /usr/bin/python3 "$here/solver_auto.py" --perron "$binary" --scales "${1:-20,22}" --repetitions "${2:-5}" \
  --data "$root/../shared/data/real" --json "$root/results/bench-solver-auto.json"
