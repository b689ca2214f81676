#include "perron/algo/top_k.hpp"

#include <algorithm>

namespace perron {

namespace {

// The order of the answer: higher score first, ties to the smaller id (a total order on distinct
// ids, so every rank count gives the same list).
bool better(const ScoredVertex& a, const ScoredVertex& b) { return a.score != b.score ? a.score > b.score : a.id < b.id; }

// The `k` best of the local entries (id_of(i), local[i]), best first: one pass that keeps them in
// a heap with the worst on top, O(n log k) with k entries of memory. A copy of all n entries and a
// partial sort had cost 16 bytes per vertex of fresh pages for every ranked vector (once per
// personalized vector in a batch).
template <class IdOf>
std::vector<ScoredVertex> local_best(std::span<const double> local, const IdOf& id_of, std::size_t k) {
  std::vector<ScoredVertex> kept;
  kept.reserve(std::min(k, local.size()));
  for (std::size_t i = 0; i < local.size(); ++i) {
    const ScoredVertex candidate{id_of(i), local[i]};
    if (kept.size() < k) {
      kept.push_back(candidate);
      std::push_heap(kept.begin(), kept.end(), better);
    } else if (k > 0 && better(candidate, kept.front())) {
      std::pop_heap(kept.begin(), kept.end(), better);
      kept.back() = candidate;
      std::push_heap(kept.begin(), kept.end(), better);
    }
  }
  std::sort_heap(kept.begin(), kept.end(), better);
  return kept;
}

// The global k best from every rank's local best.
std::vector<ScoredVertex> merge_ranks(const std::vector<ScoredVertex>& mine, std::size_t k, const Comm& comm) {
  std::vector<ScoredVertex> all = comm.allgatherv<ScoredVertex>(mine);
  const std::size_t keep = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<long>(keep), all.end(), better);
  all.resize(keep);
  return all;
}

}  // namespace

std::vector<ScoredVertex> top_k(std::span<const double> local, GlobalId first, std::size_t k, const Comm& comm) {
  return merge_ranks(local_best(
                         local, [first](std::size_t i) { return first + i; }, k),
                     k, comm);
}

std::vector<ScoredVertex> top_k(std::span<const double> local, std::span<const GlobalId> ids, std::size_t k, const Comm& comm) {
  return merge_ranks(local_best(
                         local, [ids](std::size_t i) { return ids[i]; }, k),
                     k, comm);
}

}  // namespace perron
