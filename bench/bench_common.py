"""What every benchmark driver here shares: the environment perron needs under mpirun on this
kind of machine (root, more ranks than cores, no single-copy transfers in containers; BLAS on
one thread; no HDF5 file locks), and running a step that must succeed."""
import os
import subprocess
import sys

MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none", OMPI_MCA_rmaps_base_oversubscribe="1",
               OPENBLAS_NUM_THREADS="1", HDF5_USE_FILE_LOCKING="FALSE")


def run(cmd):
    """Runs cmd (a list) under MPI_ENV; exits with its output if it fails. Returns the result."""
    r = subprocess.run(cmd, env=MPI_ENV, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("step failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r
