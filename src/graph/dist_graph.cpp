#include "perron/graph/dist_graph.hpp"

#include <algorithm>
#include <atomic>
#include <limits>
#include <numeric>
#include <parallel/algorithm>
#include <string>

#include "perron/core/error.hpp"
#include "perron/core/range.hpp"

namespace perron {
namespace {

// An edge after remapping: src and dst are dense GlobalIds, rewritten in place over the ids
// read (VertexId and GlobalId are both 64-bit).
using Edge = RawEdge;

// Fixed chunks for the parallel passes of the build: the same split for any thread count,
// so every pass writes its output in the same order.
constexpr std::uint64_t kChunks = 256;

// Sends every edge to owner(edge), in the order held: a parallel stable counting sort into
// rank buckets (counts per chunk, then each chunk writes at its offsets), one Alltoallv. The
// input is freed before the exchange, so at most the bucketed copy and what arrives are held
// at once; on one rank the edges stay where they are.
template <class OwnerFn>
std::vector<Edge> redistribute(std::vector<Edge>& edges, OwnerFn owner, const Comm& comm) {
  if (comm.size() == 1) return std::move(edges);
  const auto P = static_cast<std::size_t>(comm.size());
  const std::uint64_t m = edges.size();
  std::vector<std::int64_t> at(kChunks * P, 0);  // per (chunk, rank): count, then offset
#pragma omp parallel for schedule(dynamic, 1)
  for (std::uint64_t c = 0; c < kChunks; ++c)
    for (std::uint64_t i = block_begin(m, c, kChunks); i < block_begin(m, c + 1, kChunks); ++i)
      ++at[c * P + static_cast<std::size_t>(owner(edges[i]))];
  std::vector<std::int64_t> counts(P, 0);
  std::int64_t offset = 0;
  for (std::size_t r = 0; r < P; ++r)
    for (std::uint64_t c = 0; c < kChunks; ++c) {
      const std::int64_t n = at[c * P + r];
      at[c * P + r] = offset;
      offset += n;
      counts[r] += n;
    }
  std::vector<Edge> send(m);
#pragma omp parallel for schedule(dynamic, 1)
  for (std::uint64_t c = 0; c < kChunks; ++c)
    for (std::uint64_t i = block_begin(m, c, kChunks); i < block_begin(m, c + 1, kChunks); ++i)
      send[static_cast<std::size_t>(at[c * P + static_cast<std::size_t>(owner(edges[i]))]++)] = edges[i];
  std::vector<Edge>().swap(edges);
  return comm.alltoallv<Edge>(send, counts);
}

// The ids of this rank's edge endpoints, sorted and distinct. Ids that span a range not much
// larger than the edge count (most inputs) are found with a presence table in O(m + span);
// others by sorting all 2m endpoints.
std::vector<VertexId> distinct_endpoints(const std::vector<RawEdge>& edges) {
  if (edges.empty()) return {};
  VertexId low = edges[0].src, high = edges[0].src;
#pragma omp parallel for schedule(static) reduction(min : low) reduction(max : high)
  for (std::size_t i = 0; i < edges.size(); ++i) {
    low = std::min({low, edges[i].src, edges[i].dst});
    high = std::max({high, edges[i].src, edges[i].dst});
  }
  std::vector<VertexId> ids;
  if (high - low < 8 * edges.size() + (std::uint64_t{1} << 20)) {
    std::vector<std::uint8_t> present(high - low + 1, 0);
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < edges.size(); ++i) {
      std::atomic_ref<std::uint8_t>(present[edges[i].src - low]).store(1, std::memory_order_relaxed);
      std::atomic_ref<std::uint8_t>(present[edges[i].dst - low]).store(1, std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < present.size(); ++i)
      if (present[i]) ids.push_back(low + i);
    return ids;
  }
  ids.reserve(2 * edges.size());
  for (const RawEdge& e : edges) {
    ids.push_back(e.src);
    ids.push_back(e.dst);
  }
  __gnu_parallel::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// Where the remapped edges of each fixed chunk of the input start when every non-loop edge
// also yields its reverse: kChunks + 1 offsets.
std::vector<std::uint64_t> doubled_chunk_starts(const std::vector<RawEdge>& edges) {
  std::vector<std::uint64_t> start(kChunks + 1, 0);
  const std::uint64_t m = edges.size();
#pragma omp parallel for schedule(static)
  for (std::uint64_t c = 0; c < kChunks; ++c) {
    std::uint64_t n = 0;
    for (std::uint64_t i = block_begin(m, c, kChunks); i < block_begin(m, c + 1, kChunks); ++i)
      n += edges[i].src != edges[i].dst ? 2 : 1;
    start[c + 1] = n;
  }
  std::partial_sum(start.begin(), start.end(), start.begin());
  return start;
}

// Every raw edge through `dense_of`. One direction: the ids are rewritten in place and the
// vector moves out, so no second copy of the edges exists. Both directions: a new vector in
// which every non-loop edge u → v is followed by v → u.
template <class DenseOf>
std::vector<Edge> remapped(std::vector<RawEdge>& raw, bool both_directions, DenseOf dense_of) {
  const std::uint64_t m = raw.size();
  if (!both_directions) {
#pragma omp parallel for schedule(static)
    for (std::uint64_t i = 0; i < m; ++i) {
      raw[i].src = dense_of(raw[i].src);
      raw[i].dst = dense_of(raw[i].dst);
    }
    return std::move(raw);
  }
  const std::vector<std::uint64_t> start = doubled_chunk_starts(raw);
  std::vector<Edge> out(start.back());
#pragma omp parallel for schedule(static)
  for (std::uint64_t c = 0; c < kChunks; ++c) {
    std::uint64_t o = start[c];
    for (std::uint64_t i = block_begin(m, c, kChunks); i < block_begin(m, c + 1, kChunks); ++i) {
      const RawEdge& e = raw[i];
      const GlobalId s = dense_of(e.src), d = dense_of(e.dst);
      out[o++] = Edge{s, d, e.weight};
      if (e.src != e.dst) out[o++] = Edge{d, s, e.weight};
    }
  }
  return out;
}

// Original ids → dense ids, checking what the source promised about its vertex set; with
// both_directions every edge u–v (u ≠ v) also yields v → u (undirected input). Consumes
// input.edges.
std::vector<Edge> remap(EdgeShare& input, bool both_directions, IdMap& ids, const Comm& comm) {
  if (input.dense_vertex_count) {
    const std::uint64_t n = *input.dense_vertex_count;
    ids = IdMap::identity(n, comm);
    comm.agree([&] {
      for (const RawEdge& e : input.edges)
        if (e.src >= n || e.dst >= n)
          throw_input("edge " + std::to_string(e.src) + " -> " + std::to_string(e.dst) + " lies outside the " +
                      std::to_string(n) + " declared vertices");
    });
    return remapped(input.edges, both_directions, [](VertexId v) { return GlobalId{v}; });
  }
  const std::vector<VertexId> endpoints = distinct_endpoints(input.edges);
  if (input.endpoints_must_be_declared) {
    ids = IdMap::build(std::move(input.declared), comm);
  } else {
    std::vector<VertexId> all = endpoints;
    all.insert(all.end(), input.declared.begin(), input.declared.end());
    ids = IdMap::build(std::move(all), comm);
  }
  std::vector<VertexId>().swap(input.declared);
  const std::vector<GlobalId> dense = ids.to_dense(endpoints, comm);
  comm.agree([&] {
    for (std::size_t i = 0; i < dense.size(); ++i)
      if (dense[i] == kMissingId)
        throw_input((input.edge_source.empty() ? std::string() : input.edge_source + ": ") + "edge endpoint " +
                    std::to_string(endpoints[i]) + " is not declared in " +
                    (input.vertex_source.empty() ? std::string("the vertex set") : input.vertex_source));
  });
  if (endpoints.empty()) return {};
  // Ids spanning a range not much larger than their count (most inputs) translate through a
  // direct table: one random read per endpoint instead of a binary search.
  const VertexId low = endpoints.front(), span = endpoints.back() - low;
  if (span < 4 * endpoints.size() + (std::uint64_t{1} << 20)) {
    std::vector<GlobalId> table(span + 1, kMissingId);
    for (std::size_t i = 0; i < endpoints.size(); ++i) table[endpoints[i] - low] = dense[i];
    return remapped(input.edges, both_directions, [&](VertexId v) { return table[v - low]; });
  }
  return remapped(input.edges, both_directions, [&](VertexId v) {
    return dense[static_cast<std::size_t>(std::lower_bound(endpoints.begin(), endpoints.end(), v) - endpoints.begin())];
  });
}

// Sorts by (dst, src) and merges runs of equal (dst, src): the first (largest) weight, or the
// sum when duplicates are multi-edges. Returns how many edges were merged away. Destinations
// lie in [first, first + rows): a counting sort by destination, then each row sorts its few
// sources, costs O(m + Σ d log d) instead of a comparison sort of all m edges. The counting
// sort keeps only what a row needs, its sources (and their weights when weights count: a
// weighted graph, or multi-edges summed), 8 or 16 bytes per edge instead of a second copy of
// the 24-byte edges; the collapsed rows become edges again once the input is freed. Both passes
// run in parallel with atomic slot counters: the order inside a row is then arbitrary, but the
// row's sort by (source, weight) makes it unique again.
std::uint64_t sort_and_collapse(std::vector<Edge>& edges, GlobalId first, std::uint64_t rows, bool weights_count,
                                bool sum_weights) {
  const std::uint64_t m = edges.size();
  std::vector<EdgeIndex> start(rows + 1, 0);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < m; ++i)
    std::atomic_ref<EdgeIndex>(start[edges[i].dst - first + 1]).fetch_add(1, std::memory_order_relaxed);
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<GlobalId> src(m);
  std::vector<double> weight(weights_count ? m : 0);
  {
    std::vector<EdgeIndex> next(start.begin(), start.end() - 1);
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < m; ++i) {
      const EdgeIndex slot = std::atomic_ref<EdgeIndex>(next[edges[i].dst - first]).fetch_add(1, std::memory_order_relaxed);
      src[slot] = edges[i].src;
      if (weights_count) weight[slot] = edges[i].weight;
    }
  }
  std::vector<Edge>().swap(edges);
  // Each row sorted and collapsed in place, at the front of its range.
  std::vector<EdgeIndex> kept(rows + 1, 0);
#pragma omp parallel
  {
    std::vector<std::pair<GlobalId, double>> row;  // (source, weight) of one row
#pragma omp for schedule(dynamic, 1024)
    for (std::uint64_t r = 0; r < rows; ++r) {
      const EdgeIndex b = start[r], e = start[r + 1];
      if (!weights_count) {
        std::sort(src.begin() + static_cast<std::ptrdiff_t>(b), src.begin() + static_cast<std::ptrdiff_t>(e));
        kept[r + 1] = static_cast<EdgeIndex>(std::unique(src.begin() + static_cast<std::ptrdiff_t>(b),
                                                         src.begin() + static_cast<std::ptrdiff_t>(e)) -
                                             (src.begin() + static_cast<std::ptrdiff_t>(b)));
        continue;
      }
      row.clear();
      for (EdgeIndex i = b; i < e; ++i) row.emplace_back(src[i], weight[i]);
      // By source, the largest weight first: it survives collapsing.
      std::sort(row.begin(), row.end(), [](const auto& x, const auto& y) { return x.first != y.first ? x.first < y.first : x.second > y.second; });
      EdgeIndex out = b;
      for (std::size_t k = 0; k < row.size(); ++k) {
        if (out != b && src[out - 1] == row[k].first) {
          if (sum_weights) weight[out - 1] += row[k].second;
          continue;
        }
        src[out] = row[k].first, weight[out] = row[k].second;
        ++out;
      }
      kept[r + 1] = out - b;
    }
  }
  std::partial_sum(kept.begin(), kept.end(), kept.begin());
  edges.resize(kept.back());
#pragma omp parallel for schedule(dynamic, 1024)
  for (std::uint64_t r = 0; r < rows; ++r)
    for (EdgeIndex k = 0; k < kept[r + 1] - kept[r]; ++k)
      edges[kept[r] + k] = Edge{src[start[r] + k], first + r, weights_count ? weight[start[r] + k] : 1.0};
  return m - kept.back();
}

// o(u) for every owned u: each rank sums the out-weight of every column of its CSR (its own
// vertices and its ghosts), then the ghost sums travel back to their owners through the halo
// plan run in reverse.
void compute_out_weights(DistGraph& g, const Comm& comm) {
  const LocalCsr& csr = g.in;
  std::vector<double> weight(csr.columns, 0.0);
  std::vector<std::uint64_t> count(csr.columns, 0);
  for (EdgeIndex e = 0; e < csr.edges(); ++e) {
    weight[csr.column[e]] += csr.weight.empty() ? 1.0 : csr.weight[e];
    ++count[csr.column[e]];
  }
  const std::span<double> w(weight);
  const std::span<std::uint64_t> c(count);
  g.out_weight.assign(w.begin(), w.begin() + csr.rows);
  std::vector<std::uint64_t> owned_count(c.begin(), c.begin() + csr.rows);
  g.halo.scatter_reduce<double>(w.subspan(csr.rows), g.out_weight, std::plus<>(), comm);
  g.halo.scatter_reduce<std::uint64_t>(c.subspan(csr.rows), owned_count, std::plus<>(), comm);
  g.out_degree_count.assign(owned_count.begin(), owned_count.end());
}

// Local CSR over columns [owned | ghosts], and the plan that fills the ghosts.
void build_csr_and_halo(const std::vector<Edge>& edges, const Partition& part, DistGraph& g, const Comm& comm) {
  const GlobalId lo = g.first;
  const GlobalId hi = lo + g.in.rows;
  for (const Edge& e : edges)
    if (e.src < lo || e.src >= hi) g.ghost_ids.push_back(e.src);
  __gnu_parallel::sort(g.ghost_ids.begin(), g.ghost_ids.end());
  g.ghost_ids.erase(std::unique(g.ghost_ids.begin(), g.ghost_ids.end()), g.ghost_ids.end());
  comm.agree([&] {
    if (g.in.rows + g.ghost_ids.size() > std::numeric_limits<LocalId>::max())
      throw Error(ErrorKind::input, "rank " + std::to_string(comm.rank()) + " would hold " +
                                        std::to_string(g.in.rows + g.ghost_ids.size()) +
                                        " vertices and ghosts, over the 2^32 local limit: use more ranks");
  });
  g.in.columns = static_cast<LocalId>(g.in.rows + g.ghost_ids.size());
  g.in.row_start.assign(static_cast<std::size_t>(g.in.rows) + 1, 0);
  g.in.column.resize(edges.size());
  if (g.weighted) g.in.weight.resize(edges.size());
  for (const Edge& e : edges) ++g.in.row_start[e.dst - lo + 1];
  std::partial_sum(g.in.row_start.begin(), g.in.row_start.end(), g.in.row_start.begin());
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const GlobalId s = edges[i].src;
    g.in.column[i] = s >= lo && s < hi
                         ? static_cast<LocalId>(s - lo)
                         : static_cast<LocalId>(g.in.rows + (std::lower_bound(g.ghost_ids.begin(), g.ghost_ids.end(), s) - g.ghost_ids.begin()));
    if (g.weighted) g.in.weight[i] = edges[i].weight;
  }
  // Ghosts are sorted by id, hence grouped by owner: ask each owner for its run.
  std::vector<std::int64_t> recv_counts(static_cast<std::size_t>(comm.size()), 0);
  for (GlobalId v : g.ghost_ids) ++recv_counts[static_cast<std::size_t>(part.owner(v))];
  std::vector<std::int64_t> send_counts;
  const std::vector<GlobalId> wanted = comm.alltoallv<GlobalId>(g.ghost_ids, recv_counts, &send_counts);
  std::vector<LocalId> send_index(wanted.size());
  for (std::size_t i = 0; i < wanted.size(); ++i) send_index[i] = static_cast<LocalId>(wanted[i] - lo);
  g.halo = HaloPlan(std::move(send_counts), std::move(send_index), std::move(recv_counts));
}

}  // namespace

HaloPlan::HaloPlan(std::vector<std::int64_t> send_counts, std::vector<LocalId> send_index,
                   std::vector<std::int64_t> recv_counts)
    : send_counts_(std::move(send_counts)),
      send_index_(std::move(send_index)),
      recv_counts_(std::move(recv_counts)),
      send_buffer_(send_index_.size()) {}

HaloPlan HaloPlan::relabeled(std::span<const LocalId> position, std::span<const LocalId> ghost_position,
                             const Comm& comm) const {
  // Tell every owner where each of its values now goes inside its group of ghosts here.
  std::vector<LocalId> within(ghost_position.size());
  std::size_t g = 0;
  for (const std::int64_t count : recv_counts_) {
    const std::size_t group = g;
    for (std::int64_t k = 0; k < count; ++k, ++g) within[g] = ghost_position[g] - static_cast<LocalId>(group);
  }
  std::vector<LocalId> slot(send_index_.size());
  comm.alltoallv_into<LocalId>(within, recv_counts_, slot, send_counts_);
  std::vector<LocalId> index(send_index_.size());
  std::size_t i = 0;
  for (const std::int64_t count : send_counts_) {
    const std::size_t group = i;
    for (std::int64_t k = 0; k < count; ++k, ++i) index[group + slot[i]] = position[send_index_[i]];
  }
  return HaloPlan(send_counts_, std::move(index), recv_counts_);
}

std::uint64_t HaloPlan::values_received() const {
  return static_cast<std::uint64_t>(std::accumulate(recv_counts_.begin(), recv_counts_.end(), std::int64_t{0}));
}

void HaloPlan::exchange(std::span<const double> owned, std::span<double> ghosts, const Comm& comm) const {
  const std::size_t count = send_index_.size();
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < count; ++i) send_buffer_[i] = owned[send_index_[i]];
  comm.alltoallv_into<double>(send_buffer_, send_counts_, ghosts, recv_counts_);
}

DistGraph build_graph(EdgeShare input, const GraphOptions& options, const Comm& comm) {
  DistGraph g;
  g.weighted = input.weighted;
  std::vector<Edge> edges = remap(input, options.undirected || !input.directed, g.ids, comm);
  std::vector<RawEdge>().swap(input.edges);
  std::uint64_t dropped_loops = 0;
  if (options.drop_self_loops) {
    const auto before = edges.size();
    std::erase_if(edges, [](const Edge& e) { return e.src == e.dst; });
    dropped_loops = before - edges.size();
  }
  g.stats.input_edges = comm.allreduce<std::uint64_t>(edges.size(), ReduceOp::sum);
  const std::uint64_t n = g.ids.size();
  comm.agree([&] {
    if (n == 0) throw_input("the graph is empty: the input has no edges and declares no vertices");
  });

  // Phase 1: group in-edges by destination under a uniform partition, collapse duplicates
  // there (all copies of an edge meet at one rank), and count exact in-degrees.
  const Partition uniform = Partition::uniform(n, comm.size());
  edges = redistribute(edges, [&](const Edge& e) { return uniform.owner(e.dst); }, comm);
  const std::uint64_t duplicates =
      sort_and_collapse(edges, uniform.begin(comm.rank()), uniform.count(comm.rank()), g.weighted || options.keep_duplicates,
                        options.keep_duplicates);
  // Multi-edges merged into one edge carry their multiplicity as a weight.
  if (options.keep_duplicates && comm.allreduce(duplicates, ReduceOp::sum) > 0) g.weighted = true;
  std::vector<std::uint64_t> in_degree(uniform.count(comm.rank()), 0);
  for (const Edge& e : edges) ++in_degree[e.dst - uniform.begin(comm.rank())];

  // Phase 2: balanced partition; edges sorted by dst move as contiguous runs and arrive sorted.
  g.partition = balance_on_in_degree(uniform.begin(comm.rank()), in_degree, n, comm);
  std::vector<std::uint64_t>().swap(in_degree);
  edges = redistribute(edges, [&](const Edge& e) { return g.partition.owner(e.dst); }, comm);
  g.first = g.partition.begin(comm.rank());
  comm.agree([&] {
    if (g.partition.count(comm.rank()) > std::numeric_limits<LocalId>::max())
      throw_input("a rank would own more than 2^32 vertices: use more ranks");
  });
  g.in.rows = static_cast<LocalId>(g.partition.count(comm.rank()));

  build_csr_and_halo(edges, g.partition, g, comm);
  compute_out_weights(g, comm);

  std::uint64_t local[5] = {edges.size(), duplicates, 0, 0, 0};
  for (const Edge& e : edges) local[2] += e.src == e.dst ? 1 : 0;
  for (LocalId v = 0; v < g.in.rows; ++v) local[3] += g.out_weight[v] == 0.0 ? 1 : 0;
  comm.allreduce_inplace<std::uint64_t>(local, ReduceOp::sum);
  std::uint64_t max_deg[2] = {0, 0};
  for (LocalId v = 0; v < g.in.rows; ++v) {
    max_deg[0] = std::max<std::uint64_t>(max_deg[0], g.in.row_start[v + 1] - g.in.row_start[v]);
    max_deg[1] = std::max<std::uint64_t>(max_deg[1], g.out_degree_count[v]);
  }
  comm.allreduce_inplace<std::uint64_t>(max_deg, ReduceOp::max);
  g.stats.n = n;
  g.stats.m = local[0];
  g.stats.duplicates = local[1];
  g.stats.self_loops = options.drop_self_loops ? comm.allreduce(dropped_loops, ReduceOp::sum) : local[2];
  g.stats.dangling = local[3];
  g.stats.max_in_degree = max_deg[0];
  g.stats.max_out_degree = max_deg[1];
  return g;
}

}  // namespace perron

namespace perron {

std::vector<double> sum_into_owners(std::span<const GlobalId> ids, std::span<const double> values,
                                    const DistGraph& graph, const Comm& comm) {
  struct Pair {
    GlobalId id;
    double value;
  };
  std::vector<Pair> pairs(ids.size());
  for (std::size_t i = 0; i < ids.size(); ++i) pairs[i] = {ids[i], values[i]};
  const Buckets<Pair> b = bucket_by_owner<Pair>(pairs, comm.size(), [&](const Pair& p) { return graph.partition.owner(p.id); });
  const std::vector<Pair> mine = comm.alltoallv<Pair>(b.send, b.counts);
  std::vector<double> out(graph.rows(), 0.0);
  for (const Pair& p : mine) out[p.id - graph.first] += p.value;
  return out;
}

}  // namespace perron
