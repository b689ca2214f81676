#!/usr/bin/env bash
# Kernel auto against csr and blocked: plan + solve seconds to 1e-10 on Kronecker graphs read as
# directed and undirected, at 1 rank x 2 threads and 2 x 1, interleaved and repeated (medians);
# auto must land within 10% of the better of the two.
#
#   bench/kernel_auto.sh [SCALES] [REPETITIONS]      (defaults 18,20,22 and 3; needs a built perron)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
scales=${1:-18,20,22}
reps=${2:-3}
binary=${PERRON_BINARY:-$root/build/bin/perron}
[ -x "$binary" ] || { echo "build perron first (jobs/quickstart.sh)" >&2; exit 2; }
mkdir -p "$root/results"
exec /usr/bin/python3 "$here/kernel_auto.py" --perron "$binary" --scales "$scales" --repetitions "$reps" \
  --json "$root/results/bench-kernel-auto.json"
