#pragma once
// Distributed remapping of sparse 64-bit vertex ids to dense ids in [0, n).
//
// The dense id of a vertex is the position of its original id in the sorted set of all ids,
// so the numbering does not depend on the number of ranks and keeps any locality the user's
// ids have (web crawls numbered by URL). The table is distributed by value range (a sample
// sort): rank r keeps the sorted ids between splitters r−1 and r, and no rank holds all n.
#include <cstdint>
#include <span>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"

namespace perron {

inline constexpr GlobalId kMissingId = ~GlobalId{0};

class IdMap {
 public:
  // Collective: the numbering of every id passed by any rank (duplicates allowed).
  static IdMap build(std::vector<VertexId> ids, const Comm& comm);
  // Collective: the numbering of ids already sorted and distinct across ranks, each rank
  // holding the consecutive run of dense ids block_begin(n, rank, P) .. (a prepared graph's
  // vertex_id): no sort and no exchange. Every run must be non-empty unless n < P.
  static IdMap from_sorted_runs(std::vector<VertexId> run, const Comm& comm);
  // Collective: ids are already dense; [0, n) maps to itself.
  static IdMap identity(std::uint64_t n, const Comm& comm);

  std::uint64_t size() const { return n_; }

  // Collective: dense ids of `ids` (any order, duplicates allowed); kMissingId where an id is
  // not in the map.
  std::vector<GlobalId> to_dense(std::span<const VertexId> ids, const Comm& comm) const;
  // Collective: original ids of dense ids (each must be < size()).
  std::vector<VertexId> to_original(std::span<const GlobalId> dense, const Comm& comm) const;

  // This rank's slice of the table: the original ids of dense ids [slice_begin, + its size).
  GlobalId slice_begin() const { return slice_begin_; }
  std::vector<VertexId> slice_ids() const;

  // Bytes this rank holds for the map.
  std::uint64_t bytes() const {
    return (splitters_.capacity() + owned_.capacity()) * sizeof(VertexId) + slice_bounds_.capacity() * sizeof(GlobalId);
  }

 private:
  int owner_of_id(VertexId id) const;
  int owner_of_dense(GlobalId d) const;

  bool identity_ = false;
  std::uint64_t n_ = 0;
  std::vector<VertexId> splitters_;     // P−1 values: ids ≤ splitters_[r] (and > [r−1]) live on r
  std::vector<GlobalId> slice_bounds_;  // P+1 dense offsets of every rank's slice
  std::vector<VertexId> owned_;         // sorted unique original ids of this rank's slice
  GlobalId slice_begin_ = 0;
  std::uint64_t identity_count_ = 0;  // identity maps: slice size
};

}  // namespace perron
