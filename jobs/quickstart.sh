#!/usr/bin/env bash
# One command from a fresh Debian 12 machine to a result: installs what is missing, builds,
# and runs PageRank of a generated Kronecker graph (scale 16) on 2 MPI ranks, writing
# results/quickstart.h5 and printing the top 10 vertices.
set -euo pipefail
# shellcheck source=jobs/lib.sh
source "$(dirname "$0")/lib.sh"
# PERRON_BINARY names a binary already built (the README test runs the job with it); without
# it the script installs and builds first.
if [ -z "${PERRON_BINARY:-}" ]; then
  perron_install
  perron_build -DPERRON_BUILD_TESTS=OFF
fi
binary=${PERRON_BINARY:-build/bin/perron}
perron_mpi_env
cd "$PERRON_ROOT"
ranks=${PERRON_RANKS:-2}
mpirun -np "$ranks" --bind-to none "$binary" pagerank -c configs/quickstart.toml --quiet </dev/null
echo
echo "Read it in Python:  /usr/bin/python3 -c \"import h5py; f = h5py.File('results/quickstart.h5'); print(f['pagerank/top_vertex_id'][:10])\""
