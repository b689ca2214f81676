#pragma once
// 1-D partition of dense vertex ids into P contiguous ranges. The balanced partition follows
// Gemini (Zhu et al., OSDI 2016): cut the vertex order so that every rank gets the same
// Σ (in-degree(v) + α) — edges dominate a pull step's cost, and α accounts for the per-vertex
// vector work, so ranks with many low-degree vertices are not overloaded.
#include <cstdint>
#include <span>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"

namespace perron {

class Partition {
 public:
  Partition() = default;
  explicit Partition(std::vector<GlobalId> bounds) : bounds_(std::move(bounds)) {}
  // Equal vertex counts (the first n mod P ranks get one more).
  static Partition uniform(std::uint64_t n, int ranks);

  int ranks() const { return static_cast<int>(bounds_.size()) - 1; }
  std::uint64_t n() const { return bounds_.back(); }
  GlobalId begin(int r) const { return bounds_[static_cast<std::size_t>(r)]; }
  GlobalId end(int r) const { return bounds_[static_cast<std::size_t>(r) + 1]; }
  std::uint64_t count(int r) const { return end(r) - begin(r); }
  // The rank that owns v < n. Few ranks count the bounds at or below v without a branch: a
  // binary search's branches mispredict on random ids, and the build asks for every edge's
  // owner (an out-of-line search was 14% of a 2-rank build at Kronecker 22).
  int owner(GlobalId v) const {
    const std::size_t P = bounds_.size() - 1;
    if (P > 16) return search_owner(v);
    int r = 0;
    for (std::size_t k = 1; k < P; ++k) r += v >= bounds_[k] ? 1 : 0;
    return r;
  }
  const std::vector<GlobalId>& bounds() const { return bounds_; }

 private:
  int search_owner(GlobalId v) const;
  std::vector<GlobalId> bounds_{0};  // P+1 increasing offsets
};

// The per-vertex term α of the balance, in units of one in-edge.
inline constexpr std::uint64_t kVertexCostInEdges = 4;

// Collective. Each rank passes the in-degrees of the vertices [first, first + size) that it
// holds under some current contiguous partition; returns bounds that give every rank an equal
// share of Σ (in-degree + kVertexCostInEdges). With `ranks` > 0, the partition for that many
// ranks instead of comm.size() (capacity planning: what a run on P ranks would own).
Partition balance_on_in_degree(GlobalId first, std::span<const std::uint64_t> in_degree, std::uint64_t n, const Comm& comm,
                               std::uint64_t ranks = 0);

}  // namespace perron
