#!/usr/bin/env bash
# TokenRank benchmark: (1) one power-iteration step against one forward attention pass on the
# same input (target <= 0.5x), interleaved and repeated, medians; (2) iterations to 1e-10 on
# random, sink and clusters inputs, power iteration and the exact causal sweep; (3) the longest
# sequence ranked within 60 s on this machine, with its peak RSS (memory O(N*d), never N^2);
# (4) batched personalized TokenRank: 16 query positions (--per-query) against one global
# TokenRank, causal and not, at N 8192, 4 heads, d 64 (bench/personalized_bench.py).
#
#   bench/tokenrank.sh [REPETITIONS] [BUDGET_SECONDS]     (defaults 5 and 60)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
[ -x "$root/build/bin/perron" ] || { echo "build perron first (jobs/quickstart.sh)" >&2; exit 2; }
mkdir -p "$root/results"
/usr/bin/python3 "$here/tokenrank_bench.py" --perron "$root/build/bin/perron" --repetitions "${1:-5}" \
  --budget "${2:-60}" --json "$root/results/bench-tokenrank.json"
exec /usr/bin/python3 "$here/personalized_bench.py" tokenrank --perron "$root/build/bin/perron" --repetitions "${1:-5}" \
  --json "$root/results/bench-tokenrank-batched.json"
