#!/usr/bin/env bash
# PBS Pro / Torque batch job: hybrid MPI + OpenMP PageRank.
#
#   qsub jobs/pbs.sh                                  # runs configs/web-graph.toml
#   qsub -v CONFIG=configs/kronecker-bench.toml jobs/pbs.sh
#
# Variables: CONFIG (default configs/web-graph.toml), COMMAND (default pagerank),
# RANKS_PER_NODE (default 2), PERRON_BINARY (default build/bin/perron).
#PBS -N perron
#PBS -l select=1:ncpus=2:mpiprocs=2:ompthreads=1
#PBS -l walltime=01:00:00
#PBS -j oe
set -euo pipefail
cd "${PBS_O_WORKDIR:-$(pwd)}"
ranks_per_node=${RANKS_PER_NODE:-2}
nodes=$( [ -n "${PBS_NODEFILE:-}" ] && sort -u "$PBS_NODEFILE" | wc -l || echo 1)
ranks=$(( nodes * ranks_per_node ))
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${NCPUS:-1}}
export OMP_PLACES=cores OMP_PROC_BIND=close OPENBLAS_NUM_THREADS=1
binary=${PERRON_BINARY:-build/bin/perron}
# shellcheck source=jobs/lib.sh
source "$(dirname "$0")/lib.sh" 2>/dev/null || source jobs/lib.sh
perron_launch mpirun -np "$ranks" --map-by "ppr:${ranks_per_node}:node:PE=${OMP_NUM_THREADS}" --bind-to core \
  -x OMP_NUM_THREADS -x OMP_PLACES -x OMP_PROC_BIND -x OPENBLAS_NUM_THREADS \
  "$binary" "${COMMAND:-pagerank}" -c "${CONFIG:-configs/web-graph.toml}"
