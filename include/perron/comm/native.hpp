#pragma once
// The MPI handle behind a Comm, for libraries that take one (parallel HDF5). Only .cpp
// files of the io module include this.
#include <mpi.h>

#include "perron/comm/comm.hpp"

namespace perron {

struct Comm::Handle {
  MPI_Comm comm = MPI_COMM_NULL;
  bool owned = false;
  ~Handle();
};

inline MPI_Comm native(const Comm& comm) { return comm.handle().comm; }

}  // namespace perron
