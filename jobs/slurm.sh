#!/usr/bin/env bash
# Slurm batch job: hybrid MPI + OpenMP PageRank.
#
#   sbatch jobs/slurm.sh                       # runs configs/web-graph.toml
#   CONFIG=configs/kronecker-bench.toml sbatch --nodes=4 jobs/slurm.sh
#   sbatch jobs/slurm.sh pagerank -c configs/x.toml --output /scratch/r.h5
#
# Variables: CONFIG (config file, default configs/web-graph.toml), COMMAND (default pagerank),
# PERRON_BINARY (default build/bin/perron in the submit directory). One rank per socket or
# per node is usual; OpenMP threads fill the cores each rank is given.
#SBATCH --job-name=perron
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00
#SBATCH --output=perron-%j.out
set -euo pipefail
cd "${SLURM_SUBMIT_DIR:-$(pwd)}"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export OMP_PLACES=cores OMP_PROC_BIND=close OPENBLAS_NUM_THREADS=1
# Since Slurm 22.05 srun no longer inherits --cpus-per-task from sbatch: pass it again.
export SRUN_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK:-1}
binary=${PERRON_BINARY:-build/bin/perron}
if [ $# -gt 0 ]; then
  args=("$@")
else
  args=("${COMMAND:-pagerank}" -c "${CONFIG:-configs/web-graph.toml}")
fi
# Slurm sends SIGTERM before the time limit; perron then stops cleanly (no partial file).
# shellcheck source=jobs/lib.sh
source jobs/lib.sh
perron_launch srun --cpu-bind=cores --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" "$binary" "${args[@]}"
