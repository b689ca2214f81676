#include "perron/graph/capacity.hpp"

#include <algorithm>
#include <bit>
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

// The bytes DistGraph::bytes() counts for a rank with these figures (vectors at their sizes):
// `route` is what a two-level plan adds (its indices and counts).
std::uint64_t graph_bytes_of(std::uint64_t rows, std::uint64_t edges, std::uint64_t ghosts, std::uint64_t sent, std::uint64_t P,
                             bool weighted, std::uint64_t id_bytes, std::uint64_t route) {
  return (rows + 1) * sizeof(EdgeIndex) + edges * sizeof(LocalId) + (weighted ? edges * sizeof(double) : 0) +
         ghosts * sizeof(GlobalId) + rows * sizeof(double) + rows * sizeof(std::uint64_t) + 2 * P * sizeof(std::int64_t) +
         sent * sizeof(LocalId) + id_bytes + route;
}

// A two-level exchange's figures per rank (HaloPlan::TwoLevel): values and messages on the
// wire, and the values of its three buffers (each phase's sends and phase 1's arrivals,
// counting what a rank sends itself).
struct TwoLevelFigures {
  std::vector<std::uint64_t> sent, messages, first, arrived, second;
  explicit TwoLevelFigures(std::size_t P) : sent(P, 0), messages(P, 0), first(P, 0), arrived(P, 0), second(P, 0) {}
};

// Phase 2 of reader d: its ghosts from the owners of grid row i come from the rank of row i in
// d's column. `from_row[i]` counts them; `touched` lists the rows counted, and both are reset.
void add_second_phase(std::uint64_t d, const HaloGrid& grid, std::vector<std::uint64_t>& from_row,
                      std::vector<std::uint64_t>& touched, TwoLevelFigures& t) {
  for (const std::uint64_t i : touched) {
    const std::uint64_t m = i * grid.columns + grid.column(d), count = from_row[i];
    t.second[m] += count;
    if (m != d) t.sent[m] += count, ++t.messages[m];
    from_row[i] = 0;
  }
  touched.clear();
}

// Phase 1, per grid column j: the set of sources that a reader in column j takes from another
// rank, as one bit per vertex over every real rank's edges (OR-reduced); owner s sends its
// part of the set once to the rank of column j in its row.
void add_first_phase(const DistGraph& g, const Partition& part, const HaloGrid& grid, TwoLevelFigures& t, const Comm& comm) {
  const LocalCsr& csr = g.in;
  const GlobalId mine_begin = g.first, mine_end = g.first + g.rows();
  const std::uint64_t P = grid.rows * grid.columns, n = g.stats.n;
  std::vector<std::uint64_t> bits((n + 63) / 64), per_owner(P, 0), owners;
  for (std::uint64_t j = 0; j < grid.columns; ++j) {
    std::fill(bits.begin(), bits.end(), 0);
    for (std::uint64_t i = 0; i < grid.rows; ++i) {
      const auto d = static_cast<int>(i * grid.columns + j);
      const GlobalId b = part.begin(d), e = part.end(d);
      const GlobalId lo = std::max(b, mine_begin), hi = std::min(e, mine_end);
      if (lo >= hi) continue;
      for (EdgeIndex at = csr.row_start[lo - g.first]; at < csr.row_start[hi - g.first]; ++at) {
        const GlobalId u = g.global_id(csr.column[at]);
        if (u < b || u >= e) bits[u / 64] |= std::uint64_t{1} << (u % 64);
      }
    }
    if (comm.size() > 1) comm.allreduce_inplace<std::uint64_t>(bits, ReduceOp::bit_or);
    if (!comm.is_root()) continue;  // the figures are summed over real ranks: count them once
    for (std::size_t w = 0; w < bits.size(); ++w)
      for (std::uint64_t word = bits[w]; word != 0; word &= word - 1) {
        const auto s = static_cast<std::size_t>(part.owner(w * 64 + static_cast<std::uint64_t>(std::countr_zero(word))));
        if (per_owner[s]++ == 0) owners.push_back(s);
      }
    for (const std::uint64_t s : owners) {
      const std::uint64_t m = grid.row(s) * grid.columns + j, count = per_owner[s];
      t.first[s] += count;
      t.arrived[m] += count;
      if (m != s) t.sent[s] += count, ++t.messages[s];
      per_owner[s] = 0;
    }
    owners.clear();
  }
}

}  // namespace

CapacityPlan plan_capacity(const DistGraph& g, std::uint64_t P, HaloRouting wanted, const Comm& comm) {
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
  // Two-level figures when the run might route so (HaloPlan::routed's rule); auto then picks.
  const bool two_level = may_route_two_level(wanted, P);
  const HaloGrid grid = HaloGrid::of(P);
  RankFigures& f = plan.per_rank;
  for (auto* v : {&f.rows, &f.in_edges, &f.ghosts, &f.values_sent, &f.messages}) v->assign(P, 0);
  TwoLevelFigures t(two_level ? P : 0);
  std::vector<std::uint64_t> from_row(two_level ? grid.rows : 0), touched;
  // stamp[u] = the last virtual rank that counted u as a ghost; seen[o] = the last one that
  // counted a message from o.
  constexpr std::uint32_t kNone = std::numeric_limits<std::uint32_t>::max();
  std::vector<std::uint32_t> stamp(g.stats.n, kNone), seen(P, kNone);
  const auto count_ghost = [&](std::uint64_t r, GlobalId u) {
    ++f.ghosts[r];
    const auto o = static_cast<std::size_t>(part.owner(u));
    ++f.values_sent[o];
    if (seen[o] != static_cast<std::uint32_t>(r)) seen[o] = static_cast<std::uint32_t>(r), ++f.messages[o];
    if (two_level && from_row[grid.row(o)]++ == 0) touched.push_back(grid.row(o));
  };
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
    for (EdgeIndex at = csr.row_start[lo - g.first]; at < csr.row_start[hi - g.first]; ++at) {
      const GlobalId u = g.global_id(csr.column[at]);
      if (u >= b && u < e) continue;
      if (!whole) {
        split.push_back({r, u});
      } else if (stamp[u] != static_cast<std::uint32_t>(r)) {
        stamp[u] = static_cast<std::uint32_t>(r);
        count_ghost(r, u);
      }
    }
    if (two_level) add_second_phase(r, grid, from_row, touched, t);
  }
  // Virtual ranks spread over several real ranks: their candidate ghosts meet on rank 0.
  std::vector<SplitGhost> all = comm.allgatherv<SplitGhost>(split);
  if (comm.is_root()) {
    std::sort(all.begin(), all.end(),
              [](const SplitGhost& a, const SplitGhost& b) { return a.rank != b.rank ? a.rank < b.rank : a.source < b.source; });
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (i == 0 || all[i].rank != all[i - 1].rank || all[i].source != all[i - 1].source) count_ghost(all[i].rank, all[i].source);
      const bool last_of_rank = i + 1 == all.size() || all[i + 1].rank != all[i].rank;
      if (two_level && last_of_rank) add_second_phase(all[i].rank, grid, from_row, touched, t);
    }
  }
  std::vector<SplitGhost>().swap(all);
  std::vector<std::uint32_t>().swap(stamp);
  if (two_level) add_first_phase(g, part, grid, t, comm);
  for (auto* v : {&f.rows, &f.in_edges, &f.ghosts, &f.values_sent, &f.messages})
    comm.allreduce_inplace<std::uint64_t>(*v, ReduceOp::sum);
  if (two_level)
    for (auto* v : {&t.sent, &t.messages, &t.first, &t.arrived, &t.second})
      comm.allreduce_inplace<std::uint64_t>(*v, ReduceOp::sum);
  const auto busiest = [P](const std::vector<std::uint64_t>& values, const std::vector<std::uint64_t>& messages) {
    double cost = 0.0;
    for (std::uint64_t r = 0; r < P; ++r) cost = std::max(cost, halo_cost(values[r], messages[r]));
    return cost;
  };
  plan.routing =
      two_level && (wanted == HaloRouting::two_level || busiest(t.sent, t.messages) < busiest(f.values_sent, f.messages))
          ? HaloRouting::two_level
          : HaloRouting::direct;
  // What a rank's plan indexes: the values it sends direct (a two-level plan keeps that index
  // beside its own two).
  const std::vector<std::uint64_t> direct_sent = f.values_sent;
  if (plan.routing == HaloRouting::two_level) {
    f.values_sent = std::move(t.sent);
    f.messages = std::move(t.messages);
  }
  // The id map's bytes spread evenly: every rank holds its slice of it.
  const std::uint64_t id_bytes = comm.allreduce(g.ids.bytes(), ReduceOp::sum) / P;
  f.graph_bytes.resize(P);
  f.buffer_values.resize(P);
  for (std::uint64_t r = 0; r < P; ++r) {
    const bool routed = plan.routing == HaloRouting::two_level;
    const std::uint64_t route =
        routed ? (t.first[r] + t.second[r]) * sizeof(LocalId) + 2 * (grid.rows + grid.columns) * sizeof(std::int64_t) : 0;
    f.graph_bytes[r] = graph_bytes_of(f.rows[r], f.in_edges[r], f.ghosts[r], direct_sent[r], P, g.weighted, id_bytes, route);
    f.buffer_values[r] = routed ? t.first[r] + t.arrived[r] + t.second[r] : f.values_sent[r];
    plan.halo_bytes_per_step += f.values_sent[r] * sizeof(double);
    plan.messages_per_step += f.messages[r];
  }
  return plan;
}

}  // namespace perron
