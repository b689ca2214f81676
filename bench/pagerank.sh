#!/usr/bin/env bash
# PageRank benchmark: a generated Kronecker graph, perron at 1 rank x 2 threads and 2 ranks x
# 1 thread against scipy's CSR power iteration (float64, same graph and conventions) run in
# the same script, interleaved and repeated; reports medians, ratios and peak RSS.
#
#   bench/pagerank.sh [SCALE] [REPETITIONS]      (defaults 20 and 5; needs a built perron)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
scale=${1:-20}
reps=${2:-5}
binary=${PERRON_BINARY:-$root/build/bin/perron}
[ -x "$binary" ] || { echo "build perron first (jobs/quickstart.sh)" >&2; exit 2; }
mkdir -p "$root/results"
exec /usr/bin/python3 "$here/pagerank_bench.py" --perron "$binary" --scale "$scale" --repetitions "$reps" \
  --json "$root/results/bench-pagerank-scale$scale.json"
