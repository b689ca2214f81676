# shellcheck shell=bash
# Shared by the job scripts: install what is missing, build, and set up MPI for this machine.
# Source it; it defines functions and exports, and runs nothing by itself.

PERRON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PERRON_ROOT

# Debian 12 packages perron needs to build, test and post-process (../shared/docs/toolchain.md).
PERRON_PACKAGES=(g++ make cmake pkg-config git openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
  libboost-graph-dev libopenblas-dev libgtest-dev libcli11-dev libtomlplusplus-dev libfmt-dev zlib1g-dev
  python3-h5py python3-numpy python3-scipy python3-matplotlib)

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

# Configures and builds into build/ (Release). PERRON_WERROR=ON (CI) turns warnings into errors;
# extra arguments go to cmake (e.g. -DPERRON_BUILD_TESTS=OFF).
perron_build() {
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  cmake -S "$PERRON_ROOT" -B "$PERRON_ROOT/build" -DCMAKE_BUILD_TYPE=Release \
    -DPERRON_WERROR="${PERRON_WERROR:-OFF}" "$@" >"$PERRON_ROOT/build-configure.log" 2>&1 ||
    { cat "$PERRON_ROOT/build-configure.log"; return 1; }
  cmake --build "$PERRON_ROOT/build" -j "$jobs"
}

# What Open MPI needs here: root is allowed, more ranks than cores allowed, shared-memory
# transfers that work in containers, one BLAS thread per rank (OpenMP owns the cores).
perron_mpi_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
  export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
  export OPENBLAS_NUM_THREADS=1 HDF5_USE_FILE_LOCKING=FALSE
}
