#pragma once
// Graph500 Kronecker (R-MAT) generator: 2^scale vertices, edge_factor·2^scale edges, each
// edge drawn by descending `scale` levels of the 2×2 initiator [A B; C D] = [0.57 0.19;
// 0.19 0.05], then both endpoints relabelled by a seeded bijection of [0, 2^scale) so that
// vertex id carries no degree information (Graph500 spec, §3).
//
// Edge e's random numbers come from a counter-based stream keyed by (seed, e), so rank r of
// P generating edges [r·m/P, (r+1)·m/P) produces exactly the same graph for any P.
#include <cstdint>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"

namespace perron {

struct KroneckerParams {
  int scale = 16;
  int edge_factor = 16;
  std::uint64_t seed = 1;
};

std::uint64_t kronecker_vertices(const KroneckerParams& p);
std::uint64_t kronecker_edges(const KroneckerParams& p);

// Edges [first, last) of the graph, weight 1.
EdgeList kronecker_edges(const KroneckerParams& p, std::uint64_t first, std::uint64_t last);

// This rank's contiguous share of the graph's edges.
EdgeList kronecker_share(const KroneckerParams& p, const Comm& comm);

// Checks the parameters; throws a usage error naming the bad one.
void validate(const KroneckerParams& p);

}  // namespace perron
