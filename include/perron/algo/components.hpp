#pragma once
// Connected components of a DistGraph, for `perron info`.
//
// Weak components: min-label propagation (Shiloach–Vishkin without hooking): every vertex
// starts with its own dense id and repeatedly takes the smallest label among its neighbours in
// either direction, pulling over in-edges and sending the reverse direction back to the owners
// of ghost sources; rounds ≤ the diameter + 1.
//
// Strong components: the forward–backward coloring algorithm (Orzan 2004; Slota et al. 2014):
// trim vertices without active in- or out-neighbours (singleton components), then propagate
// the largest id forward so that color(v) = the largest id that reaches v; each root
// (color(r) = r) grows its component backwards inside its color; found components leave and
// the remaining vertices repeat.
#include <cstdint>

#include "perron/comm/comm.hpp"
#include "perron/graph/dist_graph.hpp"

namespace perron {

struct ComponentCounts {
  std::uint64_t weak = 0;
  std::uint64_t strong = 0;
  std::uint64_t largest_weak = 0;  // vertices in the largest weak component
  int weak_rounds = 0;
  int strong_rounds = 0;
};

// Collective.
ComponentCounts count_components(const DistGraph& graph, const Comm& comm);

}  // namespace perron
