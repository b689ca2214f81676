#!/usr/bin/env bash
# Prepared graphs against edge lists: a directed Kronecker graph loaded from its binary edge
# list and from the prepared graph `perron convert --to graph` made of it, at 1 rank x 2
# threads and 2 x 1, interleaved and repeated (medians): load + partition seconds, peak RSS
# against the CSR the ranks hold, and the whole pagerank run to 1e-10.
#
#   bench/prepared.sh [SCALE] [REPETITIONS]      (defaults 22 and 5; needs a built perron)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
scale=${1:-22}
reps=${2:-5}
binary=${PERRON_BINARY:-$root/build/bin/perron}
[ -x "$binary" ] || { echo "build perron first (jobs/quickstart.sh)" >&2; exit 2; }
mkdir -p "$root/results"
# PERRON_BASELINE=/path/to/an/older/perron: its run of the binary edge list is timed too (the
# issue's "today's run"), and the whole runs are also given against it.
exec /usr/bin/python3 "$here/prepared_bench.py" --perron "$binary" --scale "$scale" --repetitions "$reps" \
  --json "$root/results/bench-prepared-scale$scale.json" ${PERRON_BASELINE:+--baseline "$PERRON_BASELINE"}
