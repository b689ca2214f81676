#pragma once
// Named integer types used across perron. Global vertex ids are 64-bit (graphs beyond 2^32
// vertices, sparse user ids up to 2^64-1); indices local to one rank are 32-bit, which halves
// the bytes per edge that the PageRank kernel streams.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace perron {

using VertexId = std::uint64_t;   // a user's original vertex id, as read from a file
using GlobalId = std::uint64_t;   // dense id in [0, n) after remapping, ordered like VertexId
using LocalId = std::uint32_t;    // index into one rank's vertex or column arrays
using EdgeIndex = std::uint64_t;  // position in a CSR edge array (may exceed 2^32 per rank)
using Rank = int;                 // an MPI rank

// One directed edge as it leaves a reader: original ids and a weight (1 when unweighted).
// The graph build rewrites the ids to dense GlobalIds in place (one type, so that no second
// copy of the edges is needed).
struct RawEdge {
  VertexId src;
  VertexId dst;
  double weight;
};

// What one rank holds of a graph as it arrives from a reader or generator, before any
// redistribution: the io module fills it, the graph module builds a distributed CSR from it.
struct EdgeShare {
  std::vector<RawEdge> edges;                        // this rank's share, original ids
  std::vector<VertexId> declared;                    // ids a vertex file declares (this rank's share)
  bool endpoints_must_be_declared = false;           // an endpoint outside `declared` is an error
  std::string edge_source, vertex_source;            // file names for that error message
  std::optional<std::uint64_t> dense_vertex_count;   // ids already dense: [0, n) are the vertices
  bool directed = true;                              // false: every edge counts both ways
  bool weighted = false;                             // the weights were read from the input
};

}  // namespace perron
