#pragma once
// Binary edge lists: little-endian records of (src, dst) as uint32 or uint64, optionally
// followed by a float32 or float64 weight; no header. Rank r reads records [r·R/P, (r+1)·R/P).
#include <cstdint>
#include <string>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"

namespace perron {

struct BinaryLayout {
  int id_width = 64;           // 32 or 64
  int weight_width = 0;        // 0 (no weight), 32 or 64
  std::uint64_t vertices = 0;  // > 0: ids must be < vertices
};

// Collective. Throws (on every rank) for a size that is not a whole number of records, ids
// out of range, or weights that are NaN, infinite or negative.
EdgeList read_binary_edges(const std::string& path, const BinaryLayout& layout, const Comm& comm);

// Writes every rank's edges, in rank order, as uint64 pairs (collective MPI-IO).
void write_binary_edges(const std::string& path, const EdgeList& edges, const Comm& comm);

}  // namespace perron
