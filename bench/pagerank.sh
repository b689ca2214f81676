#!/usr/bin/env bash
# PageRank benchmark on a generated Kronecker graph: the textbook CSR pull loop (the baseline,
# bench/pagerank_peers.cpp), perron's kernel, SuiteSparse:GraphBLAS and scipy on the same graph
# at 2 threads; perron at 1 rank x 2 threads and 2 ranks x 1 thread; STREAM bandwidth; time to
# L1 < 1e-10 by solver, and against PETSc's CG (bench/petsc_pagerank.cpp) at 2 ranks. Interleaved and repeated; medians, ratios to the baseline, peak RSS;
# the table also goes to results/bench-pagerank-scaleS[-directed].json. Then end to end, from the
# binary edge list to the HDF5 result at 1e-10, with solver auto and power: load, partition,
# plan, solve and write seconds and the wall time per configuration (PERRON_BASELINE=binary
# adds an older perron's default run beside them). Mode `batched`: personalized PageRank,
# k = 1, 16 and 64 seed sets in one run (--seed-sets) against one vector (--seeds), with peak
# RSS (bench/personalized_bench.py; SCALE defaults to 20 there).
#
#   bench/pagerank.sh [SCALE] [REPETITIONS] [undirected|directed|batched]   (defaults 22, 5,
#                                                                            undirected; 20 for a quick run)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
scale=${1:-22}
reps=${2:-5}
mode=${3:-undirected}
case $mode in
  undirected) mode_flags=() suffix="" ;;
  directed) mode_flags=(--directed) suffix="-directed" ;;
  batched)
    # shellcheck source=jobs/lib.sh
    source "$root/jobs/lib.sh"
    perron_install
    perron_build -DPERRON_BUILD_TESTS=OFF >/dev/null
    mkdir -p "$root/results"
    exec /usr/bin/python3 "$here/personalized_bench.py" pagerank --perron "$root/build/bin/perron" --scale "${1:-20}" \
      --repetitions "$reps" --json "$root/results/bench-pagerank-batched-scale${1:-20}.json" ;;
  *) echo "mode must be undirected, directed or batched, got '$mode'" >&2; exit 2 ;;
esac
[ -n "${PERRON_BASELINE:-}" ] && mode_flags+=(--baseline-perron "$PERRON_BASELINE")
# shellcheck source=jobs/lib.sh
source "$root/jobs/lib.sh"
PERRON_PACKAGES+=(libgraphblas-dev libpetsc-real-dev)  # the GraphBLAS and PETSc peers; the build and the tests do not need them
perron_install
# -U: look for GraphBLAS again even if this build tree was configured before it was installed.
perron_build -UGRAPHBLAS_INCLUDE_DIR -UGRAPHBLAS_LIBRARY >/dev/null
mkdir -p "$root/results"
exec /usr/bin/python3 "$here/pagerank_bench.py" --perron "$root/build/bin/perron" --peers "$root/build/bin/perron_pagerank_peers" \
  --petsc "$root/build/bin/perron_petsc_pagerank" \
  --scale "$scale" --repetitions "$reps" --json "$root/results/bench-pagerank-scale$scale$suffix.json" "${mode_flags[@]}"
