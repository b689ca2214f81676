#!/usr/bin/env bash
# Runs perron on this workstation with MPI ranks × OpenMP threads.
#
#   jobs/mpirun-local.sh [-n RANKS] [-t THREADS] [--] SUBCOMMAND [ARGS...]
#   jobs/mpirun-local.sh -n 2 -t 1 pagerank -c configs/web-graph.toml
#
# RANKS (default 2) and THREADS (default: cores / RANKS) may also come from the environment
# as PERRON_RANKS and PERRON_THREADS. Ranks are not bound to cores (binding one rank to one
# core would leave its OpenMP threads a single core); threads stay close to their rank.
set -euo pipefail
# shellcheck source=jobs/lib.sh
source "$(dirname "$0")/lib.sh"
ranks=${PERRON_RANKS:-2}
threads=${PERRON_THREADS:-}
while [ $# -gt 0 ]; do
  case $1 in
    -n) ranks=$2; shift 2 ;;
    -t) threads=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: $0 [-n RANKS] [-t THREADS] SUBCOMMAND [ARGS...]" >&2; exit 2; }
cores=$(perron_cores)
[ -n "$threads" ] || threads=$(( cores / ranks > 0 ? cores / ranks : 1 ))
perron_mpi_env
export OMP_NUM_THREADS=$threads OMP_PROC_BIND=close OMP_PLACES=cores
binary=${PERRON_BINARY:-$PERRON_ROOT/build/bin/perron}
[ -x "$binary" ] || { echo "perron is not built: run jobs/quickstart.sh or jobs/test.sh first" >&2; exit 2; }
echo "perron: $ranks ranks x $threads threads on $cores cores" >&2
perron_launch mpirun -np "$ranks" --bind-to none "$binary" "$@"
