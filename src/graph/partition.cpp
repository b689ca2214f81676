#include "perron/graph/partition.hpp"

#include <algorithm>

#include "perron/core/range.hpp"

namespace perron {

Partition Partition::uniform(std::uint64_t n, int ranks) {
  const auto P = static_cast<std::uint64_t>(ranks);
  std::vector<GlobalId> bounds(P + 1);
  for (std::uint64_t r = 0; r <= P; ++r) bounds[r] = block_begin(n, r, P);
  return Partition(std::move(bounds));
}

int Partition::search_owner(GlobalId v) const {
  return static_cast<int>(std::upper_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin()) - 1;
}

Partition balance_on_in_degree(GlobalId first, std::span<const std::uint64_t> in_degree, std::uint64_t n, const Comm& comm,
                               std::uint64_t ranks) {
  const auto P = ranks > 0 ? ranks : static_cast<std::uint64_t>(comm.size());
  std::uint64_t local = 0;
  for (std::uint64_t d : in_degree) local += d + kVertexCostInEdges;
  const std::uint64_t before = comm.exscan_sum(local);
  const std::uint64_t total = comm.allreduce(local, ReduceOp::sum);
  // Boundary k is the first vertex v whose preceding weight c(v) reaches k·total/P. Each
  // target lies in exactly one rank's interval (before, before + local], which finds it.
  std::vector<GlobalId> bounds(P + 1, 0);
  std::uint64_t c = before;
  std::size_t i = 0;
  for (std::uint64_t k = 1; k < P; ++k) {
    const std::uint64_t target = total / P * k + total % P * k / P;
    if (target <= before || target > before + local) continue;
    while (c < target) c += in_degree[i++] + kVertexCostInEdges;
    bounds[k] = first + i;
  }
  comm.allreduce_inplace<GlobalId>(bounds, ReduceOp::max);
  bounds[P] = n;
  for (std::uint64_t k = 1; k <= P; ++k) bounds[k] = std::max(bounds[k], bounds[k - 1]);
  return Partition(std::move(bounds));
}

}  // namespace perron
