#!/usr/bin/env bash
# Ingest benchmark: a Kronecker graph as text, binary and HDF5 edge lists, loaded by perron at
# 1 and 2 ranks (interleaved, repeated; medians): read time, MB/s, peak RSS per edge; then the
# prepared graph against the binary edge list (bench/prepared.sh).
#
#   bench/ingest.sh [SCALE] [REPETITIONS]      (defaults 22 and 3; needs a built perron)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
scale=${1:-22}
reps=${2:-3}
binary=${PERRON_BINARY:-$root/build/bin/perron}
[ -x "$binary" ] || { echo "build perron first (jobs/quickstart.sh)" >&2; exit 2; }
mkdir -p "$root/results"
/usr/bin/python3 "$here/ingest_bench.py" --perron "$binary" --scale "$scale" --repetitions "$reps" \
  --json "$root/results/bench-ingest-scale$scale.json"
# Then the same graph prepared once (perron convert --to graph) against its binary edge list:
# load + partition, the load's memory, and the whole pagerank run to 1e-10 (bench/prepared.sh).
exec /usr/bin/python3 "$here/prepared_bench.py" --perron "$binary" --scale "$scale" --repetitions "$reps" \
  --json "$root/results/bench-prepared-scale$scale.json"
