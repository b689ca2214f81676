// Partition balance and the halo plan: each rank receives exactly the ghost values it reads.
#include <omp.h>

#include <functional>
#include <numeric>

#include "exchange.hpp"
#include "perron/graph/capacity.hpp"
#include "perron/graph/partition.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

// EdgeList holds (src, dst) by column and a weight column only once a weight other than 1
// appears; element access and iteration give the same edges as RawEdge records.
TEST(EdgeList, WeightsAppearOnlyWhenNeeded) {
  EdgeList edges{{1, 2, 1.0}, {2, 2, 1.0}};
  EXPECT_FALSE(edges.has_weights());
  edges.push_back({3, 1, 2.5});
  ASSERT_TRUE(edges.has_weights());
  EXPECT_EQ(edges.weights(), (Column<double>{1.0, 1.0, 2.5}));
  edges.set_weight(0, 0.5);
  std::vector<RawEdge> seen;
  for (const RawEdge& e : edges) seen.push_back(e);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].weight, 0.5);
  EXPECT_EQ(seen[2].src, 3u);
  EXPECT_EQ(edges.keep_if([](const RawEdge& e) { return e.src != e.dst; }), 1u);  // the self-loop 2 -> 2
  ASSERT_EQ(edges.size(), 2u);
  EXPECT_EQ(edges[1].src, 3u);
  EXPECT_EQ(edges[1].dst, 1u);
  EXPECT_EQ(edges[1].weight, 2.5);
  edges.clear_weights();
  EXPECT_EQ(edges[1].weight, 1.0);
  edges.resize(4);  // grows inside the capacity that held 3 -> 1: new edges are still (0, 0)
  EXPECT_EQ(edges[2].src, 0u);
  EXPECT_EQ(edges[2].dst, 0u);
  EXPECT_EQ(edges[3].src, 0u);
  EXPECT_EQ(edges.records().size(), 4u);
}

TEST(Partition, BalancesInDegreePlusVertexTerm) {
  const Comm comm = world();
  const std::uint64_t n = 10007;
  const Partition uniform = Partition::uniform(n, comm.size());
  auto degree = [](GlobalId v) -> std::uint64_t { return v < 100 ? 500 : v % 3; };  // a few hubs first
  std::vector<std::uint64_t> mine;
  for (GlobalId v = uniform.begin(comm.rank()); v < uniform.end(comm.rank()); ++v) mine.push_back(degree(v));
  const Partition p = balance_on_in_degree(uniform.begin(comm.rank()), mine, n, comm);
  ASSERT_EQ(p.ranks(), comm.size());
  EXPECT_EQ(p.n(), n);
  std::uint64_t total = 0;
  for (GlobalId v = 0; v < n; ++v) total += degree(v) + kVertexCostInEdges;
  for (int r = 0; r < comm.size(); ++r) {
    std::uint64_t w = 0;
    for (GlobalId v = p.begin(r); v < p.end(r); ++v) w += degree(v) + kVertexCostInEdges;
    EXPECT_LE(w, total / static_cast<std::uint64_t>(comm.size()) + 500 + kVertexCostInEdges) << "rank " << r;
    for (GlobalId v = p.begin(r); v < p.end(r); v += 97) EXPECT_EQ(p.owner(v), r);
  }
}

// Runs an exchange twice: its result holds the `expected` entries (sorted) in some order, and
// the same order the second time.
template <class Exchange>
void expect_every_entry_once(Exchange exchanged, const std::vector<std::uint64_t>& expected, bool room) {
  const std::vector<std::uint64_t> once = exchanged();
  std::vector<std::uint64_t> sorted = once;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, expected) << "room past the end: " << room;
  EXPECT_EQ(exchanged(), once) << "room past the end: " << room;
}

// The build's edge exchange, in rounds of 8 entries: each rank ends with its own entries and
// exactly those the others sent it, whether more or fewer arrive than leave (every pair sends
// a different count, some none), with and without room past the list's end; and the same
// counts give the same order again.
TEST(EdgeExchange, ReceivesEverythingIntoTheEntriesSent) {
  const Comm comm = world();
  const auto P = static_cast<std::size_t>(comm.size()), self = static_cast<std::size_t>(comm.rank());
  auto count = [](std::size_t from, std::size_t to) { return static_cast<std::int64_t>((from * 7 + to * 13) % 11 * 37); };
  auto entry = [](std::size_t from, std::size_t to, std::int64_t i) {
    return std::uint64_t{from} << 48 | std::uint64_t{to} << 32 | static_cast<std::uint64_t>(i);
  };
  std::vector<std::uint64_t> list, expected;  // the list: the others' buckets in rank order, then this rank's
  std::vector<std::int64_t> send_counts(P, 0), recv_counts(P, 0);
  for (std::size_t r = 0; r < P; ++r) {
    if (r == self) continue;
    send_counts[r] = count(self, r), recv_counts[r] = count(r, self);
    for (std::int64_t i = 0; i < send_counts[r]; ++i) list.push_back(entry(self, r, i));
    for (std::int64_t i = 0; i < recv_counts[r]; ++i) expected.push_back(entry(r, self, i));
  }
  const std::size_t sent = list.size(), arriving = expected.size();
  for (std::int64_t i = 0; i < 50; ++i) list.push_back(entry(self, self, i)), expected.push_back(entry(self, self, i));
  std::sort(expected.begin(), expected.end());
  for (bool room : {false, true}) {
    auto exchanged = [&] {
      Column<std::uint64_t> column;
      column.reserve(room ? list.size() + arriving : list.size());
      column.assign(list.begin(), list.end());
      exchange_into_sent(column, sent, send_counts, recv_counts, arriving, comm, 8 * sizeof(std::uint64_t));
      return std::vector<std::uint64_t>(column.begin(), column.end());
    };
    expect_every_entry_once(exchanged, expected, room);
  }
}

// The exchange of a list as read, in rounds of 4 entries: each rank ends with exactly the
// entries that name it, each with its own weight, whether more or fewer arrive than leave
// (ranks own unequal shares), with and without room past the list's end; the same list gives
// the same order again.
TEST(EdgeExchange, SendsAnUnsortedListInPlace) {
  const Comm comm = world();
  const auto P = static_cast<std::uint64_t>(comm.size()), self = static_cast<std::uint64_t>(comm.rank());
  // Entry i of rank r's list: r << 32 | i. Rank r holds 40 + 30 r entries and owns about an
  // equal share of all (a hash of the key names the owner).
  auto owner = [P](std::uint64_t key) { return static_cast<int>((key * 0x9e3779b97f4a7c15u >> 33) % P); };
  auto list_of = [](std::uint64_t r) {
    std::vector<std::uint64_t> list;
    for (std::uint64_t i = 0; i < 40 + 30 * r; ++i) list.push_back(r << 32 | i);
    return list;
  };
  auto weight_of = [](std::uint64_t key) {
    return 0.5 + static_cast<double>(key % 1000003) + static_cast<double>(key >> 32) / 7;
  };
  std::vector<std::uint64_t> expected;
  for (std::uint64_t r = 0; r < P; ++r)
    for (std::uint64_t key : list_of(r))
      if (static_cast<std::uint64_t>(owner(key)) == self) expected.push_back(key);
  std::sort(expected.begin(), expected.end());
  for (bool room : {false, true}) {
    auto exchanged = [&] {
      const std::vector<std::uint64_t> list = list_of(self);
      Column<std::uint64_t> key;
      Column<double> weight;
      key.reserve(room ? 2 * list.size() + 200 : list.size());
      key.assign(list.begin(), list.end());
      for (std::uint64_t k : list) weight.push_back(weight_of(k));
      exchange_in_place(key, &weight, owner, comm, 4 * (sizeof(std::uint64_t) + sizeof(double)));
      EXPECT_EQ(key.size(), weight.size());
      for (std::size_t i = 0; i < key.size() && i < weight.size(); ++i) EXPECT_EQ(weight[i], weight_of(key[i])) << key[i];
      return std::vector<std::uint64_t>(key.begin(), key.end());
    };
    expect_every_entry_once(exchanged, expected, room);
  }
}

TEST(HaloPlan, DeliversExactlyTheGhostValues) {
  const Comm comm = world();
  const DistGraph g = build_graph(share_of(random_graph(31, 500, 3000, false), comm), {}, comm);
  auto value_of = [](GlobalId v) { return 1.0 + static_cast<double>(v) * 0.5; };
  std::vector<double> owned(g.rows()), ghosts(g.ghost_ids.size(), -1.0);
  for (LocalId i = 0; i < g.rows(); ++i) owned[i] = value_of(g.first + i);
  g.halo.exchange(owned, ghosts, comm);
  for (std::size_t i = 0; i < ghosts.size(); ++i) EXPECT_EQ(ghosts[i], value_of(g.ghost_ids[i]));
  // The plan sends what the others read, nothing more.
  EXPECT_EQ(comm.allreduce(g.halo.values_sent(), ReduceOp::sum), comm.allreduce(g.halo.values_received(), ReduceOp::sum));
  EXPECT_EQ(g.halo.values_received(), g.ghost_ids.size());
  if (comm.size() == 1) {
    EXPECT_EQ(g.ghost_ids.size(), 0u);
  }
  // Every CSR column index points at an owned vertex or a ghost.
  for (LocalId c : g.in.column) EXPECT_LT(c, g.in.columns);
}

// The two-level route delivers every ghost in the same place as the direct one, for one value
// per vertex and for a block of them, and so do the plans derived from it (a subset, then
// relabeled), which keep its routing; a rank meets at most C − 1 + R − 1 others.
TEST(HaloPlan, TwoLevelDeliversWhatDirectDoes) {
  const Comm comm = world();
  const DistGraph g = build_graph(share_of(random_graph(32, 600, 5000, false), comm), {}, comm);
  const HaloPlan two = g.halo.routed(HaloRouting::two_level, comm);
  ASSERT_EQ(two.routing(), HaloRouting::two_level);
  EXPECT_EQ(g.halo.routed(HaloRouting::automatic, comm).routing(), HaloRouting::direct);  // fewer than 64 ranks
  const HaloGrid grid = HaloGrid::of(static_cast<std::uint64_t>(comm.size()));
  EXPECT_EQ(grid.rows * grid.columns, static_cast<std::uint64_t>(comm.size()));
  EXPECT_LE(two.messages_sent(), grid.rows - 1 + grid.columns - 1);
  const std::size_t width = 3;
  auto value_of = [](GlobalId v, std::size_t k) { return 1.0 + static_cast<double>(v) * 0.5 + static_cast<double>(k) * 1e-3; };
  std::vector<double> owned(g.rows() * width), direct(g.ghost_ids.size() * width, -1.0), routed(direct.size(), -2.0);
  for (LocalId i = 0; i < g.rows(); ++i)
    for (std::size_t k = 0; k < width; ++k) owned[i * width + k] = value_of(g.first + i, k);
  g.halo.exchange_block(owned, direct, width, comm);
  two.exchange_block(owned, routed, width, comm);
  EXPECT_EQ(routed, direct);
  std::vector<double> one(g.rows()), ghosts(g.ghost_ids.size(), -1.0);
  for (LocalId i = 0; i < g.rows(); ++i) one[i] = value_of(g.first + i, 0);
  two.exchange(one, ghosts, comm);
  for (std::size_t i = 0; i < ghosts.size(); ++i) EXPECT_EQ(ghosts[i], value_of(g.ghost_ids[i], 0));
  // Odd vertices only, read in reverse: what a kernel's own order asks of the plan.
  std::vector<std::uint8_t> keep(g.rows()), keep_ghost(g.ghost_ids.size());
  for (LocalId i = 0; i < g.rows(); ++i) keep[i] = (g.first + i) % 2;
  for (std::size_t i = 0; i < keep_ghost.size(); ++i) keep_ghost[i] = g.ghost_ids[i] % 2;
  std::vector<LocalId> position(g.rows());
  for (LocalId i = 0; i < g.rows(); ++i) position[i] = g.rows() - 1 - i;
  std::vector<LocalId> ghost_position;
  const HaloPlan kept = g.halo.subset(keep, keep_ghost, comm);
  for (const std::int64_t c : kept.ghost_counts())
    for (std::int64_t k = 0; k < c; ++k) ghost_position.push_back(static_cast<LocalId>(ghost_position.size() + c - 1 - 2 * k));
  const HaloPlan a = kept.relabeled(position, ghost_position, comm);
  const HaloPlan b = two.subset(keep, keep_ghost, comm).relabeled(position, ghost_position, comm);
  EXPECT_EQ(a.routing(), HaloRouting::direct);
  EXPECT_EQ(b.routing(), HaloRouting::two_level);
  std::vector<double> reversed(g.rows());
  for (LocalId i = 0; i < g.rows(); ++i) reversed[position[i]] = one[i];
  std::vector<double> ga(ghost_position.size(), -1.0), gb(ghost_position.size(), -2.0);
  a.exchange(reversed, ga, comm);
  b.exchange(reversed, gb, comm);
  EXPECT_EQ(ga, gb);
}

TEST(DistGraph, StatisticsCountWhatTheInputHas) {
  const Comm comm = world();
  TestGraph t;
  // 1→2 twice (one duplicate), 2→2 self-loop, 3 dangling, 9 declared isolated.
  t.edges = {{1, 2, 1}, {1, 2, 1}, {2, 2, 1}, {2, 3, 1}};
  t.extra_vertices = {9};
  const DistGraph g = build_graph(share_of(t, comm), {}, comm);
  EXPECT_EQ(g.stats.n, 4u);
  EXPECT_EQ(g.stats.m, 3u);
  EXPECT_EQ(g.stats.duplicates, 1u);
  EXPECT_EQ(g.stats.self_loops, 1u);
  EXPECT_EQ(g.stats.dangling, 2u);  // 3 and 9
  const DistGraph dropped = build_graph(share_of(t, comm), GraphOptions{false, true}, comm);
  EXPECT_EQ(dropped.stats.m, 2u);
  const DistGraph und = build_graph(share_of(t, comm), GraphOptions{true, false}, comm);
  EXPECT_EQ(und.stats.m, 5u);         // 1-2, 2-1, 2-2, 2-3, 3-2
  EXPECT_EQ(und.stats.dangling, 1u);  // only 9
}

// Dense ids are the original ids' ranks in sorted order however the build finds them: ids
// spread wide (sorted and looked up), ids in a narrow range (a presence bitmap marked per
// thread, then ranked), and the same with more threads than the bitmap copies may take (atomic
// ORs on one bitmap). The three inputs are one graph with its ids renamed in order, so every
// rank must own the same rows with the same sources, and the declared isolated vertices (the
// lowest and highest ids here) must extend the range.
TEST(DistGraph, DenseIdsAreTheSortedOrderOnEveryPath) {
  const Comm comm = world();
  TestGraph t = random_graph(61, 3000, 30000, false);
  t.extra_vertices.push_back(0);              // below every endpoint (checked next)
  t.extra_vertices.push_back(2'000'000'000);  // above every one (ids are drawn below 10^9 + 7)
  for (const RawEdge& e : t.edges) ASSERT_TRUE(e.src != 0 && e.dst != 0);
  std::vector<VertexId> sorted;
  for (const RawEdge& e : t.edges) sorted.push_back(e.src), sorted.push_back(e.dst);
  sorted.insert(sorted.end(), t.extra_vertices.begin(), t.extra_vertices.end());
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  const auto rank_of = [&](VertexId v) {
    return static_cast<std::uint64_t>(std::lower_bound(sorted.begin(), sorted.end(), v) - sorted.begin());
  };
  // Each row as (its id's rank, its sources' ranks in order), rank by rank.
  const auto rows_by_rank = [&](const DistGraph& g, const std::function<std::uint64_t(VertexId)>& rank) {
    std::vector<GlobalId> dense(g.rows());
    std::iota(dense.begin(), dense.end(), g.first);
    const std::vector<VertexId> row_original = g.ids.to_original(dense, comm);
    const std::vector<VertexId> ghost_original = g.ids.to_original(g.ghost_ids, comm);
    std::vector<std::vector<std::uint64_t>> rows;
    for (LocalId r = 0; r < g.rows(); ++r) {
      EXPECT_EQ(rank(row_original[r]), g.first + r) << "vertex " << row_original[r];
      std::vector<std::uint64_t> row{rank(row_original[r])};
      for (EdgeIndex e = g.in.row_start[r]; e < g.in.row_start[r + 1]; ++e) {
        const LocalId c = g.in.column[e];
        row.push_back(rank(c < g.rows() ? row_original[c] : ghost_original[c - g.rows()]));
      }
      rows.push_back(std::move(row));
    }
    return rows;
  };
  const auto renamed = [&](std::uint64_t step) {
    TestGraph r = t;
    for (RawEdge& e : r.edges) e.src = 5 + step * rank_of(e.src), e.dst = 5 + step * rank_of(e.dst);
    for (VertexId& v : r.extra_vertices) v = 5 + step * rank_of(v);
    return r;
  };
  const DistGraph wide = build_graph(share_of(t, comm), {}, comm);
  EXPECT_EQ(wide.stats.n, sorted.size());
  const auto want = rows_by_rank(wide, rank_of);
  const DistGraph narrow = build_graph(share_of(renamed(3), comm), {}, comm);
  EXPECT_EQ(narrow.stats.n, sorted.size());
  EXPECT_EQ(rows_by_rank(narrow, [](VertexId v) { return (v - 5) / 3; }), want);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(16);  // 16 bitmaps over 750 000 ids would take more than the edges
  const DistGraph spread = build_graph(share_of(renamed(250), comm), {}, comm);
  omp_set_num_threads(saved);
  EXPECT_EQ(spread.stats.n, sorted.size());
  EXPECT_EQ(rows_by_rank(spread, [](VertexId v) { return (v - 5) / 250; }), want);
  // A vertex file that must declare every endpoint (here all of them, and the isolated ones):
  // the bitmap of the declared ids when they are narrow, the sort when wide.
  const auto declaring = [&](const TestGraph& g) {
    std::vector<VertexId> all = g.extra_vertices;
    for (const RawEdge& e : g.edges) all.push_back(e.src), all.push_back(e.dst);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    EdgeShare s = share_of(g, comm);
    s.declared.clear();
    for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < all.size(); i += static_cast<std::size_t>(comm.size()))
      s.declared.push_back(all[i]);
    s.endpoints_must_be_declared = true;
    return s;
  };
  EXPECT_EQ(rows_by_rank(build_graph(declaring(t), {}, comm), rank_of), want);
  EXPECT_EQ(rows_by_rank(build_graph(declaring(renamed(3)), {}, comm), [](VertexId v) { return (v - 5) / 3; }), want);
}

// Ids that the input declares dense ([0, n): a generator, a binary list with its vertex
// count): the first edge outside is named, in this rank's edge order.
TEST(DistGraph, DenseIdsOutsideTheVertexCountNameTheFirstEdge) {
  const Comm comm = world();
  TestGraph g;
  for (std::uint64_t i = 0; i + 1 < 100; ++i) g.edges.push_back({i, i + 1, 1.0});
  g.edges[24].dst = 150;  // edges 24 and 36 go to one rank of share_of at 1-4 ranks
  g.edges[36].src = 120;
  EdgeShare s = share_of(g, comm);
  s.dense_vertex_count = 100;
  try {
    build_graph(std::move(s), {}, comm);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "edge 24 -> 150 lies outside the 100 declared vertices");
  }
}

// An endpoint that a vertex file which must declare every one does not: the error names the
// first in edge order (on the rank that holds both bad edges here), the same on the bitmap's
// path (narrow ids) and the sort's (wide), whether the id lies inside the declared range or
// below it.
TEST(DistGraph, UndeclaredEndpointIsTheFirstInEdgeOrder) {
  const Comm comm = world();
  for (const std::uint64_t step : {std::uint64_t{3}, std::uint64_t{1'000'000}}) {
    TestGraph g;
    for (std::uint64_t i = 0; i < 1000; ++i) g.extra_vertices.push_back(5 + step * i);
    for (std::uint64_t i = 0; i + 1 < 1000; ++i) g.edges.push_back({5 + step * i, 5 + step * (i + 1), 1.0});
    const VertexId inside = 5 + step * 500 + 1;
    g.edges[24].dst = inside;  // edges 24 and 36 go to one rank of share_of at 1-4 ranks
    g.edges[36].src = 4;       // below every declared id, and smaller than `inside`
    EdgeShare s = share_of(g, comm);
    s.endpoints_must_be_declared = true;
    try {
      build_graph(std::move(s), {}, comm);
      ADD_FAILURE() << "expected an error, step " << step;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()), "edge endpoint " + std::to_string(inside) + " is not declared in the vertex set")
          << "step " << step;
    }
  }
}

// The build's rows against a direct merge of the input, on a weighted multigraph large enough
// that the build scatters its entries in several groups of buckets: each row lists its
// distinct sources in increasing dense order, with the largest weight of the repeated edges or,
// keeping duplicates, their sum (taken largest first); directed and undirected.
TEST(DistGraph, RowsMergeRepeatedEdgesAsTheOptionsSay) {
  const Comm comm = world();
  TestGraph t = random_graph(53, 2000, 20000, true);
  for (std::size_t e = 0; e < 20000; e += 7) t.edges.push_back({t.edges[e].src, t.edges[e].dst, 0.5 + t.edges[e].weight});
  for (const bool undirected : {false, true})
    for (const bool keep : {false, true}) {
      GraphOptions options;
      options.undirected = undirected;
      options.keep_duplicates = keep;
      const DistGraph g = build_graph(share_of(t, comm), options, comm);
      std::map<std::pair<VertexId, VertexId>, std::vector<double>> want;  // (dst, src) → weights
      for (const RawEdge& e : t.edges) {
        want[{e.dst, e.src}].push_back(e.weight);
        if (undirected && e.src != e.dst) want[{e.src, e.dst}].push_back(e.weight);
      }
      std::vector<GlobalId> row_ids(g.rows());
      std::iota(row_ids.begin(), row_ids.end(), g.first);
      const std::vector<VertexId> row_original = g.ids.to_original(row_ids, comm);
      const std::vector<VertexId> ghost_original = g.ids.to_original(g.ghost_ids, comm);
      std::uint64_t seen = 0;
      for (LocalId r = 0; r < g.rows(); ++r) {
        GlobalId previous = 0;
        for (EdgeIndex e = g.in.row_start[r]; e < g.in.row_start[r + 1]; ++e) {
          const LocalId c = g.in.column[e];
          const GlobalId dense = c < g.rows() ? g.first + c : g.ghost_ids[c - g.rows()];
          if (e > g.in.row_start[r]) {
            EXPECT_LT(previous, dense) << "row " << row_original[r];
          }
          previous = dense;
          const VertexId src = c < g.rows() ? row_original[c] : ghost_original[c - g.rows()];
          const auto it = want.find({row_original[r], src});
          ASSERT_NE(it, want.end()) << src << " -> " << row_original[r] << " is no input edge";
          std::vector<double> w = it->second;
          std::sort(w.begin(), w.end(), std::greater<>());
          double merged = w[0];
          if (keep)
            for (std::size_t k = 1; k < w.size(); ++k) merged += w[k];
          EXPECT_EQ(g.in.weight[e], merged) << src << " -> " << row_original[r] << (keep ? " (sum)" : " (largest)");
          ++seen;
        }
      }
      EXPECT_EQ(comm.allreduce(seen, ReduceOp::sum), want.size()) << (undirected ? "undirected" : "directed");
    }
}

// The capacity plan for P = this run's ranks is this run, rank by rank, routed direct or two-
// level: its rows, in-edges, ghosts, values and messages sent, buffers, DistGraph::bytes; and
// the same plan comes out of a graph built on one rank alone.
TEST(CapacityPlan, PredictsTheRunOnThatManyRanks) {
  const Comm comm = world();
  for (const bool undirected : {false, true})
    for (const HaloRouting routing : {HaloRouting::direct, HaloRouting::two_level}) {
      const TestGraph tg = random_graph(41, 400, 3000, true);
      DistGraph g = build_graph(share_of(tg, comm), GraphOptions{undirected, false}, comm);
      g.halo = g.halo.routed(routing, comm);
      const auto P = static_cast<std::uint64_t>(comm.size());
      const CapacityPlan plan = plan_capacity(g, P, routing, comm);
      const auto r = static_cast<std::size_t>(comm.rank());
      const std::string what =
          std::string(undirected ? "undirected" : "directed") + (routing == HaloRouting::two_level ? ", two-level" : ", direct");
      EXPECT_EQ(plan.routing, routing);
      EXPECT_EQ(plan.per_rank.rows[r], g.rows());
      EXPECT_EQ(plan.per_rank.in_edges[r], g.in.edges());
      EXPECT_EQ(plan.per_rank.ghosts[r], g.ghost_ids.size());
      EXPECT_EQ(plan.per_rank.values_sent[r], g.halo.values_sent()) << what;
      EXPECT_EQ(plan.per_rank.messages[r], g.halo.messages_sent()) << what;
      EXPECT_EQ(plan.per_rank.buffer_values[r], g.halo.buffer_values()) << what;
      // Exact but for the id map, whose slices the plan spreads evenly (a few ids either way).
      EXPECT_NEAR(static_cast<double>(plan.per_rank.graph_bytes[r]), static_cast<double>(g.bytes()),
                  0.01 * static_cast<double>(g.bytes()))
          << what;
      EXPECT_EQ(plan.halo_bytes_per_step, comm.allreduce(g.halo.values_sent() * sizeof(double), ReduceOp::sum));
      EXPECT_EQ(plan.messages_per_step, comm.allreduce(g.halo.messages_sent(), ReduceOp::sum));
      const Comm self = comm.split(comm.rank(), 0);
      const DistGraph whole = build_graph(share_of(tg, self), GraphOptions{undirected, false}, self);
      const CapacityPlan alone = plan_capacity(whole, P, routing, self);
      EXPECT_EQ(alone.per_rank.ghosts, plan.per_rank.ghosts);
      EXPECT_EQ(alone.per_rank.values_sent, plan.per_rank.values_sent) << what;
      EXPECT_EQ(alone.per_rank.messages, plan.per_rank.messages) << what;
      EXPECT_EQ(alone.per_rank.buffer_values, plan.per_rank.buffer_values) << what;
      EXPECT_EQ(alone.messages_per_step, plan.messages_per_step);
    }
  // Planned from one rank for a grid of 4 x 3 (12 ranks), two-level sends fewer messages than
  // direct, and every rank meets at most 3 + 2 others.
  const Comm self = comm.split(comm.rank(), 0);
  const DistGraph whole = build_graph(share_of(random_graph(43, 2000, 40000, false), self), {}, self);
  const CapacityPlan direct = plan_capacity(whole, 12, HaloRouting::direct, self);
  const CapacityPlan two = plan_capacity(whole, 12, HaloRouting::two_level, self);
  EXPECT_EQ(direct.messages_per_step, 12u * 11u);
  EXPECT_LT(two.messages_per_step, direct.messages_per_step);
  for (const std::uint64_t m : two.per_rank.messages) EXPECT_LE(m, 5u);
  EXPECT_EQ(plan_capacity(whole, 12, HaloRouting::automatic, self).routing, HaloRouting::direct);  // fewer than 64 ranks
  EXPECT_EQ(plan_capacity(whole, 1024, HaloRouting::automatic, self).routing, HaloRouting::two_level);
  expect_error(
      [&] {
        plan_capacity(build_graph(share_of(random_graph(42, 20, 40, false), comm), {}, comm), 0, HaloRouting::direct, comm);
      },
      "rank count must be in [1, 2^20]");
}

}  // namespace
}  // namespace perron::test
