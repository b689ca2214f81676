#pragma once
// Binary edge lists: little-endian (src, dst) pairs of uint32 or uint64, no header. Rank r
// reads records [r·R/P, (r+1)·R/P) of the R records in the file.
#include <cstdint>
#include <string>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"

namespace perron {

std::vector<RawEdge> read_binary_edges(const std::string& path, int id_width, const Comm& comm);

// Writes every rank's edges, in rank order, as uint64 pairs (collective MPI-IO).
void write_binary_edges(const std::string& path, const std::vector<RawEdge>& edges, const Comm& comm);

}  // namespace perron
