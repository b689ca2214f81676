#!/usr/bin/env bash
# Warm start against cold start after a graph changed: steps and seconds to 1e-10 from the
# uniform vector and from the old graph's result (pagerank --initial), on the real directed
# graphs of ../shared/data and a directed Kronecker graph, FRACTION of the edges rewired.
#
#   bench/warm_start.sh [FRACTION] [KRONECKER_SCALE]      (defaults 0.01 and 20; needs a built perron)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
binary=${PERRON_BINARY:-$root/build/bin/perron}
[ -x "$binary" ] || { echo "build perron first (jobs/quickstart.sh)" >&2; exit 2; }
mkdir -p "$root/results"
exec /usr/bin/python3 "$here/warm_start.py" --perron "$binary" --data "$root/../shared/data" --fraction "${1:-0.01}" \
  --scale "${2:-20}" --json "$root/results/bench-warm-start.json"
