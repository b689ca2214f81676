#pragma once
// The k largest entries of a distributed vector: each rank offers its local top k, every rank
// gets the same global answer. Ties go to the smaller id, so the order is deterministic.
#include <cstdint>
#include <span>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"

namespace perron {

struct ScoredVertex {
  GlobalId id;
  double score;
};

// `local` holds the scores of dense ids [first, first + local.size()).
std::vector<ScoredVertex> top_k(std::span<const double> local, GlobalId first, std::size_t k, const Comm& comm);
// The same with the id of every local entry given (e.g. positions held in two runs).
std::vector<ScoredVertex> top_k(std::span<const double> local, std::span<const GlobalId> ids, std::size_t k, const Comm& comm);

}  // namespace perron
