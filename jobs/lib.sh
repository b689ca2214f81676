# shellcheck shell=bash
# Shared by the job scripts: install what is missing, build, and set up MPI for this machine.
# Source it; it defines functions and exports, and runs nothing by itself.

PERRON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PERRON_ROOT

# Debian 12 packages perron needs to build, test and post-process (../shared/docs/toolchain.md).
PERRON_PACKAGES=(g++ make cmake pkg-config git openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
  libboost-graph-dev libopenblas-dev libgtest-dev libcli11-dev libtomlplusplus-dev libfmt-dev zlib1g-dev
  python3-h5py python3-numpy python3-scipy python3-matplotlib python3-torch)

# Installs the missing packages with apt-get (no prompts); skips apt entirely when all are present.
perron_install() {
  local missing=()
  for p in "${PERRON_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "perron: all ${#PERRON_PACKAGES[@]} packages present"
    return 0
  fi
  echo "perron: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo -n"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -q </dev/null &&
    $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# The cores this process may run on. Not plain `nproc`: GNU nproc answers OMP_NUM_THREADS
# (or OMP_THREAD_LIMIT) when either is set, so a job that exported OMP_NUM_THREADS=1 would build
# on one core and size its ranks' threads for one.
perron_cores() {
  env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2
}

# Configures and builds into $PERRON_BUILD_DIR (default build/; Release unless
# PERRON_BUILD_TYPE says otherwise; only PERRON_BUILD_TARGETS if set). PERRON_WERROR=ON (CI) turns warnings into errors; extra
# arguments go to cmake (e.g. -DPERRON_BUILD_TESTS=OFF).
perron_build() {
  local jobs dir=${PERRON_BUILD_DIR:-$PERRON_ROOT/build}
  jobs=$(perron_cores)
  cmake -S "$PERRON_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE="${PERRON_BUILD_TYPE:-Release}" \
    -DPERRON_WERROR="${PERRON_WERROR:-OFF}" "$@" >"$dir-configure.log" 2>&1 ||
    { cat "$dir-configure.log"; return 1; }
  # shellcheck disable=SC2086  # PERRON_BUILD_TARGETS is a list of target names
  cmake --build "$dir" -j "$jobs" ${PERRON_BUILD_TARGETS:+--target $PERRON_BUILD_TARGETS}
}

# What Open MPI needs here: root is allowed, more ranks than cores allowed, shared-memory
# transfers that work in containers, one BLAS thread per rank (OpenMP owns the cores).
perron_mpi_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
  export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
  export OPENBLAS_NUM_THREADS=1 HDF5_USE_FILE_LOCKING=FALSE
}

# Runs a launcher (mpirun, srun) and reports a stop by signal the way a shell reports a killed
# program: exit 143 after SIGTERM, 130 after SIGINT. mpirun itself, signalled, exits 1: it
# waits odls_base_sigkill_timeout (1 s), sends the ranks SIGTERM, waits as long and kills them,
# which can cut a large checkpoint short (raising the timeout delays every failing job's end
# by twice as much, so it stays). Here the signal goes straight to the ranks this
# launcher started on this node, as SIGTERM (perron's ranks agree on it after the step under
# way, so the ranks on other nodes stop with them, save a checkpoint if one is due, and exit
# cleanly), or to the launcher itself when it has no such children (srun, whose tasks belong
# to slurmstepd, forwards it at once). The signal is named when the launcher has finished.
perron_launch() {
  local sig=0 rc=0 pid
  "$@" &
  pid=$!
  trap 'sig=15; pkill -TERM -P "$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null' TERM
  trap 'sig=2; pkill -TERM -P "$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null' INT
  # `wait` returns early when a trapped signal arrives: wait again until the launcher is gone.
  while :; do
    wait "$pid" && rc=0 || rc=$?
    kill -0 "$pid" 2>/dev/null || break
  done
  trap - TERM INT
  if [ "$sig" -ne 0 ]; then
    echo "perron: stopped by SIG$([ "$sig" -eq 2 ] && echo INT || echo TERM) (the ranks received SIGTERM; launcher exit $rc)" >&2
    return $((128 + sig))
  fi
  return "$rc"
}
