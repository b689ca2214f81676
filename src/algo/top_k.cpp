#include "perron/algo/top_k.hpp"

#include <algorithm>

namespace perron {

std::vector<ScoredVertex> top_k(std::span<const double> local, GlobalId first, std::size_t k, const Comm& comm) {
  std::vector<GlobalId> ids(local.size());
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = first + i;
  return top_k(local, ids, k, comm);
}

std::vector<ScoredVertex> top_k(std::span<const double> local, std::span<const GlobalId> ids, std::size_t k, const Comm& comm) {
  auto better = [](const ScoredVertex& a, const ScoredVertex& b) { return a.score != b.score ? a.score > b.score : a.id < b.id; };
  std::vector<ScoredVertex> mine(local.size());
  for (std::size_t i = 0; i < local.size(); ++i) mine[i] = {ids[i], local[i]};
  const std::size_t keep = std::min(k, mine.size());
  std::partial_sort(mine.begin(), mine.begin() + static_cast<long>(keep), mine.end(), better);
  mine.resize(keep);
  std::vector<ScoredVertex> all = comm.allgatherv<ScoredVertex>(mine);
  const std::size_t global_keep = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(global_keep), all.end(), better);
  all.resize(global_keep);
  return all;
}

}  // namespace perron
