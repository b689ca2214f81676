#!/usr/bin/env bash
# Attention benchmark: GFLOP/s of perron attention for N in {4096, 8192, 16384}, d in {64, 128},
# causal and not, 1 and 2 threads, next to the sgemm ceiling measured in the same run.
#
#   bench/attention.sh [SEQS] [REPETITIONS]     (defaults 4096,8192,16384 and 3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
seqs=${1:-4096,8192,16384}
reps=${2:-3}
for b in perron perron_sgemm_ceiling; do
  [ -x "$root/build/bin/$b" ] || { echo "build perron first (jobs/quickstart.sh)" >&2; exit 2; }
done
mkdir -p "$root/results"
exec /usr/bin/python3 "$here/attention_bench.py" --perron "$root/build/bin/perron" --ceiling "$root/build/bin/perron_sgemm_ceiling" \
  --seqs "$seqs" --repetitions "$reps" --json "$root/results/bench-attention.json"
