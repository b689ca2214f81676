#include "perron/graph/capacity.hpp"

#include <algorithm>
#include <limits>

#include "perron/core/error.hpp"

namespace perron {

namespace {

// A ghost of virtual rank r that a real rank found but cannot count alone: r's vertex range
// spans several real ranks, whose edges may read the same source.
struct SplitGhost {
  std::uint64_t rank;
  GlobalId source;
};

// The bytes DistGraph::bytes() counts for a rank with these figures (vectors at their sizes).
std::uint64_t graph_bytes_of(std::uint64_t rows, std::uint64_t edges, std::uint64_t ghosts, std::uint64_t sent, std::uint64_t P,
                             bool weighted, std::uint64_t id_bytes) {
  return (rows + 1) * sizeof(EdgeIndex) + edges * sizeof(LocalId) + (weighted ? edges * sizeof(double) : 0) +
         ghosts * sizeof(GlobalId) + rows * sizeof(double) + rows * sizeof(std::uint64_t) + 2 * P * sizeof(std::int64_t) +
         sent * sizeof(LocalId) + id_bytes;
}

}  // namespace

CapacityPlan plan_capacity(const DistGraph& g, std::uint64_t P, const Comm& comm) {
  comm.agree([&] {
    if (P < 1 || P > (std::uint64_t{1} << 20)) throw_usage("plan: a rank count must be in [1, 2^20], got " + std::to_string(P));
  });
  const LocalId rows = g.rows();
  const LocalCsr& csr = g.in;
  std::vector<std::uint64_t> in_degree(rows);
  for (LocalId v = 0; v < rows; ++v) in_degree[v] = csr.row_start[v + 1] - csr.row_start[v];
  const Partition part = balance_on_in_degree(g.first, in_degree, g.stats.n, comm, P);
  CapacityPlan plan;
  plan.ranks = P;
  RankFigures& f = plan.per_rank;
  for (auto* v : {&f.rows, &f.in_edges, &f.ghosts, &f.values_sent, &f.messages}) v->assign(P, 0);
  // stamp[u] = the last virtual rank that counted u as a ghost; seen[o] = the last one that
  // counted a message from o.
  constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> stamp(g.stats.n, kNone), seen(P, kNone);
  std::vector<SplitGhost> split;
  const GlobalId mine_begin = g.first, mine_end = g.first + rows;
  // The virtual ranks whose ranges meet this rank's rows, from the one that owns the first.
  for (auto r = static_cast<std::uint64_t>(rows > 0 ? part.owner(mine_begin) : part.ranks()); r < P; ++r) {
    const GlobalId b = part.begin(static_cast<int>(r)), e = part.end(static_cast<int>(r));
    if (b >= mine_end) break;
    const GlobalId lo = std::max(b, mine_begin), hi = std::min(e, mine_end);
    if (lo >= hi) continue;
    const bool whole = b >= mine_begin && e <= mine_end;
    f.rows[r] += hi - lo;
    f.in_edges[r] += csr.row_start[hi - g.first] - csr.row_start[lo - g.first];
    const auto tag = static_cast<std::uint32_t>(r);
    for (EdgeIndex at = csr.row_start[lo - g.first]; at < csr.row_start[hi - g.first]; ++at) {
      const GlobalId u = g.global_id(csr.column[at]);
      if (u >= b && u < e) continue;
      if (!whole) {
        split.push_back({r, u});
      } else if (stamp[u] != tag) {
        stamp[u] = tag;
        ++f.ghosts[r];
        const auto o = static_cast<std::size_t>(part.owner(u));
        ++f.values_sent[o];
        if (seen[o] != tag) seen[o] = tag, ++f.messages[o];
      }
    }
  }
  // Virtual ranks spread over several real ranks: their candidate ghosts meet on rank 0.
  std::vector<SplitGhost> all = comm.allgatherv<SplitGhost>(split);
  if (comm.is_root()) {
    std::sort(all.begin(), all.end(),
              [](const SplitGhost& a, const SplitGhost& b) { return a.rank != b.rank ? a.rank < b.rank : a.source < b.source; });
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (i > 0 && all[i].rank == all[i - 1].rank && all[i].source == all[i - 1].source) continue;
      const auto tag = static_cast<std::uint32_t>(all[i].rank);
      ++f.ghosts[all[i].rank];
      const auto o = static_cast<std::size_t>(part.owner(all[i].source));
      ++f.values_sent[o];
      if (seen[o] != tag) seen[o] = tag, ++f.messages[o];
    }
  }
  std::vector<SplitGhost>().swap(all);
  for (auto* v : {&f.rows, &f.in_edges, &f.ghosts, &f.values_sent, &f.messages})
    comm.allreduce_inplace<std::uint64_t>(*v, ReduceOp::sum);
  // The id map's bytes spread evenly: every rank holds its slice of it.
  const std::uint64_t id_bytes = comm.allreduce(g.ids.bytes(), ReduceOp::sum) / P;
  f.graph_bytes.resize(P);
  for (std::uint64_t r = 0; r < P; ++r) {
    f.graph_bytes[r] = graph_bytes_of(f.rows[r], f.in_edges[r], f.ghosts[r], f.values_sent[r], P, g.weighted, id_bytes);
    plan.halo_bytes_per_step += f.ghosts[r] * sizeof(double);
    plan.messages_per_step += f.messages[r];
  }
  return plan;
}

}  // namespace perron
