#include "perron/graph/dist_graph.hpp"

#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <limits>
#include <numeric>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>

#include "exchange.hpp"
#include "perron/core/error.hpp"
#include "perron/core/hash.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/range.hpp"
#include <parallel/algorithm>

namespace perron {
namespace {

// Fixed chunks for the parallel passes of the build: the same split for any thread count,
// so every pass writes its output in the same order.
constexpr std::uint64_t kChunks = 256;

// collapse_bucketed scatters the edges to row buckets in this many groups (one pass over the
// edges each, so only a group's keys exist at a time), each to at most about kScatterStreams
// buckets (see there).
constexpr std::uint64_t kScatterGroups = 4;
constexpr std::uint64_t kScatterStreams = 384;

// Two ways to read the edges' endpoints: the EdgeList's two 64-bit columns, or one column of
// (src << 32) | dst when every dense id fits in 32 bits (8 bytes per edge instead of 16).
struct ColumnEnds {
  const GlobalId* s;
  const GlobalId* d;
  GlobalId src(std::size_t i) const { return s[i]; }
  GlobalId dst(std::size_t i) const { return d[i]; }
};
struct PackedEnds {
  const std::uint64_t* key;
  GlobalId src(std::size_t i) const { return key[i] >> 32; }
  GlobalId dst(std::size_t i) const { return key[i] & 0xffffffffu; }
};

// redistribute for packed directed edges (each goes to one rank) without a second copy of
// the list: exchange_in_place sends it slice by slice and receives into the entries that
// left (8 bytes an edge, 16 with weights, and two bounce buffers of kRoundBytes).
template <class OwnerFn>
EdgeList redistribute_in_place(EdgeList& edges, OwnerFn owner, const Comm& comm) {
  const bool weighted = comm.allreduce(edges.has_weights() ? 1 : 0, ReduceOp::max) != 0;
  if (weighted) edges.ensure_weights();
  Column<double>* weight = weighted ? &edges.weights() : nullptr;
  exchange_in_place(
      edges.keys(), weight, [&](std::uint64_t key) { return owner(key & 0xffffffffu); }, comm);
  return std::move(edges);
}

// Sends every edge to the owner of its destination (owner(v): the rank of vertex v), in the
// order held: a parallel stable counting sort into rank buckets (counts per chunk, then each
// chunk writes at its offsets), then exchange_into_sent per column. With both_directions an edge u–v
// also goes to the owner of u when that is another rank, so that every rank receives the
// edges that touch its vertices from either end (collapse_rows_from then reads each from the
// end it owns). `ends` reads the endpoints: packed edges (PackedEnds: one key column, the dst
// column already freed) travel as that one column, 8 bytes an edge instead of 16, and arrive
// packed. Packed directed edges skip the bucketed copy (redistribute_in_place). On one rank
// the edges stay where they are.
template <class Ends, class OwnerFn>
EdgeList redistribute(EdgeList& edges, Ends ends, bool both_directions, OwnerFn owner, const Comm& comm) {
  if (comm.size() == 1) return std::move(edges);
  constexpr bool packed = std::is_same_v<Ends, PackedEnds>;
  if (packed && !both_directions) return redistribute_in_place(edges, owner, comm);
  const auto P = static_cast<std::size_t>(comm.size());
  const std::uint64_t m = edges.size();
  // The second owner of edge i, or P when it has none.
  auto other_owner = [&](std::size_t i, std::size_t first_owner) {
    if (!both_directions || ends.src(i) == ends.dst(i)) return P;
    const auto o = static_cast<std::size_t>(owner(ends.src(i)));
    return o == first_owner ? P : o;
  };
  std::vector<std::int64_t> at(kChunks * P, 0);  // per (chunk, rank): count, then offset
#pragma omp parallel for schedule(dynamic, 1)
  for (std::uint64_t c = 0; c < kChunks; ++c)
    for (std::uint64_t i = block_begin(m, c, kChunks); i < block_begin(m, c + 1, kChunks); ++i) {
      const auto o = static_cast<std::size_t>(owner(ends.dst(i)));
      ++at[c * P + o];
      if (const std::size_t o2 = other_owner(i, o); o2 < P) ++at[c * P + o2];
    }
  // Buckets laid out for the other ranks in rank order, then this rank's own: only the others'
  // travel (this rank's count is 0 in send_counts).
  const auto self = static_cast<std::size_t>(comm.rank());
  std::vector<std::int64_t> send_counts(P, 0);
  std::int64_t offset = 0;
  for (std::size_t k = 0; k < P; ++k) {
    const std::size_t r = k + 1 == P ? self : (k < self ? k : k + 1);
    for (std::uint64_t c = 0; c < kChunks; ++c) {
      const std::int64_t n = at[c * P + r];
      at[c * P + r] = offset;
      offset += n;
      send_counts[r] += n;
    }
  }
  const auto kept = static_cast<std::size_t>(send_counts[self]);
  const auto sent = static_cast<std::size_t>(offset) - kept;
  send_counts[self] = 0;
  const std::vector<std::int64_t> recv_counts = comm.alltoall_counts(send_counts);
  const auto arriving = static_cast<std::size_t>(std::accumulate(recv_counts.begin(), recv_counts.end(), std::int64_t{0}));
  // Each column is bucketed, sent and freed in turn; `drop` frees what the remaining columns no
  // longer need before the exchange. Directed edges send src first (owners come from dst), so
  // the peak is the input plus one bucketed column (24 bytes per edge, not 40). The bucketed
  // column becomes the result: this rank's bucket stays where it lies and what arrives fills
  // the entries sent (exchange_into_sent), then the room reserved past them for the larger of
  // the two layouts. So an exchange holds the column, not a second copy of it.
  const bool weighted = comm.allreduce(edges.has_weights() ? 1 : 0, ReduceOp::max) != 0;
  auto send_column = [&](auto column_of, auto drop) {
    using T = std::decay_t<decltype(column_of(std::size_t{0}))>;
    Column<T> send;  // every entry is written below: no zeroing pass
    send.reserve(std::max(sent + kept, kept + arriving));
    send.resize(sent + kept);
    std::vector<std::int64_t> next(at);
#pragma omp parallel for schedule(dynamic, 1)
    for (std::uint64_t c = 0; c < kChunks; ++c)
      for (std::uint64_t i = block_begin(m, c, kChunks); i < block_begin(m, c + 1, kChunks); ++i) {
        const auto o = static_cast<std::size_t>(owner(ends.dst(i)));
        send[static_cast<std::size_t>(next[c * P + o]++)] = column_of(i);
        if (const std::size_t o2 = other_owner(i, o); o2 < P) send[static_cast<std::size_t>(next[c * P + o2]++)] = column_of(i);
      }
    drop();
    exchange_into_sent(send, sent, send_counts, recv_counts, arriving, comm);
    return send;
  };
  EdgeList out = packed ? EdgeList::packed_ids() : EdgeList();
  if (weighted) out.weights() = send_column([&](std::size_t i) { return edges.weight(i); }, [&] { edges.clear_weights(); });
  if constexpr (packed) {
    out.keys() = send_column([&](std::size_t i) { return ends.key[i]; }, [&] { edges.release(); });
  } else if (!both_directions) {
    out.src() = send_column([&](std::size_t i) { return ends.src(i); }, [&] { Column<VertexId>().swap(edges.src()); });
    out.dst() = send_column([&](std::size_t i) { return ends.dst(i); }, [&] { edges.release(); });
  } else {
    out.dst() = send_column([&](std::size_t i) { return ends.dst(i); }, [] {});
    out.src() = send_column([&](std::size_t i) { return ends.src(i); }, [&] { edges.release(); });
  }
  return out;
}

// The smallest and largest endpoint id of the first m edges ({max, 0} when m = 0).
template <class Ends>
std::pair<VertexId, VertexId> endpoint_range(std::size_t m, Ends ends) {
  VertexId low = std::numeric_limits<VertexId>::max(), high = 0;
#pragma omp parallel for schedule(static) reduction(min : low) reduction(max : high)
  for (std::size_t i = 0; i < m; ++i) {
    const VertexId s = ends.src(i), d = ends.dst(i);
    low = std::min(low, std::min(s, d));
    high = std::max(high, std::max(s, d));
  }
  return {low, high};
}

// Calls f with the reader of the list's endpoints: PackedEnds or ColumnEnds.
template <class F>
decltype(auto) with_ends(const EdgeList& edges, F f) {
  if (edges.packed()) return f(PackedEnds{edges.keys().data()});
  return f(ColumnEnds{edges.src().data(), edges.dst().data()});
}

// The ids of the first m edges' endpoints, sorted and distinct: all 2m endpoints sorted (the
// remap's path for ids too widely spread for IdRanks' bitmap).
template <class Ends>
std::vector<VertexId> distinct_endpoints_of(std::size_t m, Ends ends) {
  std::vector<VertexId> ids(2 * m);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < m; ++i) ids[2 * i] = ends.src(i), ids[2 * i + 1] = ends.dst(i);
  __gnu_parallel::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// The first edge in this rank's order with an endpoint that `accepts(v)` rejects, if any: the
// one that an input error names.
template <class Accepts>
std::optional<RawEdge> first_rejected(const EdgeList& edges, Accepts accepts) {
  const std::size_t m = edges.size();
  const std::size_t first = with_ends(edges, [&](auto ends) {
    std::size_t at = m;
#pragma omp parallel for schedule(static) reduction(min : at)
    for (std::size_t i = 0; i < m; ++i)
      if (i < at && !(accepts(ends.src(i)) && accepts(ends.dst(i)))) at = i;
    return at;
  });
  if (first == m) return std::nullopt;
  return edges[first];
}

// Throws, naming the file, the first endpoint in this rank's edge order (the source before
// the destination) that `declared(v)` rejects, if any.
template <class Declared>
void check_declared(const EdgeShare& input, Declared declared) {
  if (const std::optional<RawEdge> e = first_rejected(input.edges, declared))
    throw_input((input.edge_source.empty() ? std::string() : input.edge_source + ": ") + "edge endpoint " +
                std::to_string(declared(e->src) ? e->dst : e->src) + " is not declared in " +
                (input.vertex_source.empty() ? std::string("the vertex set") : input.vertex_source));
}

// Every raw edge through `dense_of`, the ids rewritten in place: no second copy of the edges.
// A packed list stays packed: the caller widens it first unless every dense id fits in 32 bits.
template <class DenseOf>
EdgeList remapped(EdgeList& raw, DenseOf dense_of) {
  if (raw.packed()) {
    Column<std::uint64_t>& key = raw.keys();
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = EdgeList::key(dense_of(key[i] >> 32), dense_of(key[i] & 0xffffffffu));
    return std::move(raw);
  }
  Column<VertexId>& src = raw.src();
  Column<VertexId>& dst = raw.dst();
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < src.size(); ++i) {
    src[i] = dense_of(src[i]);
    dst[i] = dense_of(dst[i]);
  }
  return std::move(raw);
}

// Dense ids below this fit a packed list's 32-bit halves.
constexpr std::uint64_t kPackedIds = std::uint64_t{1} << 32;

// popcnt for the rank directory's lookups, where the CPU has it (every x86-64 since 2008; the
// baseline x86-64 build would call libgcc's table-driven popcount for each endpoint).
#if defined(__clang__)
#define PERRON_POPCNT_CLONES
#else
#define PERRON_POPCNT_CLONES __attribute__((target_clones("popcnt", "default")))
#endif

// A set of integers in [0, span) as a bitmap, with each 64-bit word's count of the members
// before it (Jacobson's rank directory, "Space-efficient static trees and graphs", FOCS 1989):
// rank(v), the number of members below v, is one count read and a popcount within v's word.
// For 4 Mi integers the bits take 512 KiB and the counts 512 KiB, about a core's L2, where a
// table of 32-bit ranks would take 16 MiB.
class RankBitmap {
 public:
  RankBitmap() = default;
  explicit RankBitmap(std::uint64_t span)
      : bits_(static_cast<std::size_t>(span / 64 + 1), 0), before_(static_cast<std::size_t>(span / 64 + 1), 0) {}

  static void set(std::uint64_t* words, std::uint64_t v) { words[v >> 6] |= std::uint64_t{1} << (v & 63); }
  std::span<std::uint64_t> words() { return bits_; }
  // Counts the members before each word; call once the bits are final, before rank().
  void count() {
    std::uint64_t at = 0;
    for (std::size_t w = 0; w < bits_.size(); ++w) {
      before_[w] = at;
      at += static_cast<std::uint64_t>(std::popcount(bits_[w]));
    }
    size_ = at;
  }
  std::uint64_t size() const { return size_; }
  std::uint64_t word_count() const { return bits_.size(); }
  std::uint64_t rank(std::uint64_t v) const {
    const std::uint64_t w = v >> 6;
    return before_[w] + static_cast<std::uint64_t>(std::popcount(bits_[w] & ((std::uint64_t{1} << (v & 63)) - 1)));
  }
  bool contains(std::uint64_t v) const { return (v >> 6) < bits_.size() && (bits_[v >> 6] >> (v & 63) & 1) != 0; }
  std::uint64_t rank_of_word(std::uint64_t w) const { return w < bits_.size() ? before_[w] : size_; }
  // f(v) for each member in the words [w0, w1), increasing.
  template <class F>
  void each(std::uint64_t w0, std::uint64_t w1, F f) const {
    for (std::uint64_t w = w0; w < w1; ++w)
      for (std::uint64_t b = bits_[w]; b != 0; b &= b - 1) f(64 * w + static_cast<std::uint64_t>(std::countr_zero(b)));
  }

 private:
  std::vector<std::uint64_t> bits_;
  std::vector<std::uint64_t> before_;
  std::uint64_t size_ = 0;
};

// Sets in `bits` every value that mark(i, set) passes to set() for the items i in [0, m). Each
// thread marks a copy of its own (plain ORs, in its cache), merged after, while the copies
// take no more than `budget` bytes; else every thread marks `bits` with atomic ORs.
template <class Mark>
void mark_bits(std::span<std::uint64_t> bits, std::size_t m, std::size_t budget, Mark mark) {
  const std::size_t words = bits.size();
  const auto threads = static_cast<std::size_t>(omp_get_max_threads());
  if (threads == 1) {
    for (std::size_t i = 0; i < m; ++i) mark(i, [&](std::uint64_t v) { RankBitmap::set(bits.data(), v); });
  } else if (threads * words * sizeof(std::uint64_t) <= std::max<std::size_t>(budget, std::size_t{1} << 20)) {
    std::vector<std::vector<std::uint64_t>> own(threads);
#pragma omp parallel num_threads(static_cast <int>(threads))
    {
      std::vector<std::uint64_t>& mine = own[static_cast<std::size_t>(omp_get_thread_num())];
      mine.assign(words, 0);  // first touched by its thread
#pragma omp for schedule(static)
      for (std::size_t i = 0; i < m; ++i) mark(i, [&](std::uint64_t v) { RankBitmap::set(mine.data(), v); });
#pragma omp for schedule(static)
      for (std::size_t w = 0; w < words; ++w) {
        std::uint64_t any = bits[w];
        for (const std::vector<std::uint64_t>& o : own)
          if (!o.empty()) any |= o[w];  // (a team smaller than asked for leaves some unused)
        bits[w] = any;
      }
    }
  } else {
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < m; ++i)
      mark(i, [&](std::uint64_t v) {
        std::atomic_ref<std::uint64_t>(bits[v >> 6]).fetch_or(std::uint64_t{1} << (v & 63), std::memory_order_relaxed);
      });
  }
}

// Dense ids by rank in a presence bitmap. The dense ids are the original ids' ranks in sorted
// order (IdMap's numbering). When every rank's ids fall in one range [low, low + span) not
// much wider than the edges are many (most inputs), the range's presence bitmap, OR-reduced
// over the ranks, is the whole map: v's dense id is its rank in the bitmap. At Kronecker 22
// the table of dense ids this replaces took 16 MiB, and filling it took a presence table of
// bytes, an IdMap built by sample sort and Alltoallv, and a binary search per distinct
// endpoint (remap 0.45 of a 1.4 s build at 1 x 2, directed Kronecker 22).
class IdRanks {
 public:
  // Collective. The ranks of the ids of `declared` on every rank, and of the endpoints of the
  // first m edges unless `only_declared` (a vertex file that must declare every endpoint: then
  // check contains() for each). Nothing when the range is too wide for a bitmap (more than 8
  // bits per id of the average rank, plus 2^20, or beyond 2^32 ids: then the remap sorts).
  template <class Ends>
  static std::optional<IdRanks> of(std::size_t m, Ends ends, std::span<const VertexId> declared, bool only_declared,
                                   const Comm& comm);

  bool contains(VertexId v) const { return ids_.contains(v - low_); }  // (below low wraps past the bitmap)
  // v's dense id; v must be present.
  GlobalId dense(VertexId v) const { return ids_.rank(v - low_); }
  // This rank's share of the sorted ids for IdMap::from_sorted_runs: those of the words
  // [r·W/P, (r+1)·W/P), so the shares are disjoint and in rank order.
  std::vector<VertexId> share(const Comm& comm) const;

 private:
  VertexId low_ = 0;
  RankBitmap ids_;  // v − low for every id v
};

template <class Ends>
std::optional<IdRanks> IdRanks::of(std::size_t m, Ends ends, std::span<const VertexId> declared, bool only_declared,
                                   const Comm& comm) {
  VertexId low = std::numeric_limits<VertexId>::max(), high = 0;
  if (!only_declared) std::tie(low, high) = endpoint_range(m, ends);
  for (const VertexId v : declared) low = std::min(low, v), high = std::max(high, v);
  low = comm.allreduce(low, ReduceOp::min);
  high = comm.allreduce(high, ReduceOp::max);
  const std::uint64_t count = comm.allreduce<std::uint64_t>(m + declared.size(), ReduceOp::sum);
  const auto P = static_cast<std::uint64_t>(comm.size());
  if (low > high) return std::nullopt;    // no ids anywhere
  const std::uint64_t span = high - low;  // + 1, kept from overflowing
  if (span >= std::uint64_t{1} << 32 || span >= 8 * ((count + P - 1) / P) + (std::uint64_t{1} << 20)) return std::nullopt;

  IdRanks r;
  r.low_ = low;
  r.ids_ = RankBitmap(span + 1);
  if (!only_declared)
    mark_bits(r.ids_.words(), m, 8 * m, [&](std::size_t i, auto&& set) {
      set(ends.src(i) - low);
      set(ends.dst(i) - low);
    });
  for (const VertexId v : declared) RankBitmap::set(r.ids_.words().data(), v - low);
  comm.allreduce_inplace<std::uint64_t>(r.ids_.words(), ReduceOp::bit_or);
  r.ids_.count();
  return r;
}

std::vector<VertexId> IdRanks::share(const Comm& comm) const {
  const auto P = static_cast<std::uint64_t>(comm.size()), me = static_cast<std::uint64_t>(comm.rank());
  const std::uint64_t w0 = block_begin(ids_.word_count(), me, P), w1 = block_begin(ids_.word_count(), me + 1, P);
  std::vector<VertexId> ids;
  ids.reserve(ids_.rank_of_word(w1) - ids_.rank_of_word(w0));
  ids_.each(w0, w1, [&](std::uint64_t i) { ids.push_back(low_ + i); });
  return ids;
}

// Rewrites ids to their dense ids in place, a chunk of a packed or a wide list at a time
// (called from the parallel loops of remapped_by_rank: OpenMP's outlined bodies would not
// inherit the clones' targets).
PERRON_POPCNT_CLONES void dense_by_rank(std::uint64_t* key, std::size_t count, const IdRanks& ranks) {
  for (std::size_t i = 0; i < count; ++i) key[i] = EdgeList::key(ranks.dense(key[i] >> 32), ranks.dense(key[i] & 0xffffffffu));
}
PERRON_POPCNT_CLONES void dense_by_rank(VertexId* src, VertexId* dst, std::size_t count, const IdRanks& ranks) {
  for (std::size_t i = 0; i < count; ++i) {
    src[i] = ranks.dense(src[i]);
    dst[i] = ranks.dense(dst[i]);
  }
}

// Dense source ids → local columns: an owned vertex's offset in [lo, lo + rows), a ghost's
// rows + its rank among the ghosts. A chunk at a time, for the popcnt clones (as dense_by_rank).
struct LocalColumns {
  GlobalId lo;
  LocalId rows;
  const RankBitmap* ghosts;
  LocalId operator()(GlobalId s) const {
    return s - lo < rows ? static_cast<LocalId>(s - lo) : static_cast<LocalId>(rows + ghosts->rank(s));
  }
};
PERRON_POPCNT_CLONES void local_columns(const std::uint32_t* src, LocalId* out, std::size_t count, const LocalColumns& to) {
  for (std::size_t i = 0; i < count; ++i) out[i] = to(src[i]);
}
PERRON_POPCNT_CLONES void local_columns(const GlobalId* src, LocalId* out, std::size_t count, const LocalColumns& to) {
  for (std::size_t i = 0; i < count; ++i) out[i] = to(src[i]);
}

EdgeList remapped_by_rank(EdgeList& raw, const IdRanks& ranks) {
  const std::size_t m = raw.size();
  std::uint64_t* const key = raw.packed() ? raw.keys().data() : nullptr;
  VertexId* const src = raw.packed() ? nullptr : raw.src().data();
  VertexId* const dst = raw.packed() ? nullptr : raw.dst().data();
#pragma omp parallel for schedule(static)
  for (std::uint64_t c = 0; c < kChunks; ++c) {
    const std::uint64_t i = block_begin(m, c, kChunks), count = block_begin(m, c + 1, kChunks) - i;
    if (key)
      dense_by_rank(key + i, count, ranks);
    else
      dense_by_rank(src + i, dst + i, count, ranks);
  }
  return std::move(raw);
}

// Original ids → dense ids, checking what the source promised about its vertex set. Consumes
// input.edges.
EdgeList remap(EdgeShare& input, IdMap& ids, const Comm& comm) {
  if (input.dense_vertex_count) {
    const std::uint64_t n = *input.dense_vertex_count;
    ids = IdMap::identity(n, comm);
    if (n > kPackedIds) input.edges.widen();
    comm.agree([&] {
      if (const std::optional<RawEdge> e = first_rejected(input.edges, [n](VertexId v) { return v < n; }))
        throw_input("edge " + std::to_string(e->src) + " -> " + std::to_string(e->dst) + " lies outside the " +
                    std::to_string(n) + " declared vertices");
    });
    return remapped(input.edges, [](VertexId v) { return GlobalId{v}; });
  }
  const bool only_declared = input.endpoints_must_be_declared;
  const std::size_t m = input.edges.size();
  const std::optional<IdRanks> ranks =
      with_ends(input.edges, [&](auto ends) { return IdRanks::of(m, ends, input.declared, only_declared, comm); });
  if (ranks) {
    if (only_declared) comm.agree([&] { check_declared(input, [&](VertexId v) { return ranks->contains(v); }); });
    std::vector<VertexId>().swap(input.declared);
    ids = IdMap::from_sorted_runs(ranks->share(comm), comm);
    return remapped_by_rank(input.edges, *ranks);
  }
  // Ids too widely spread for a bitmap: the distinct endpoints, numbered by IdMap (a sample
  // sort), then a binary search among them per endpoint.
  std::vector<VertexId> endpoints = with_ends(input.edges, [&](auto ends) { return distinct_endpoints_of(m, ends); });
  if (only_declared) {
    ids = IdMap::build(std::move(input.declared), comm);
  } else {
    std::vector<VertexId> all = endpoints;
    all.insert(all.end(), input.declared.begin(), input.declared.end());
    ids = IdMap::build(std::move(all), comm);
  }
  std::vector<VertexId>().swap(input.declared);
  if (ids.size() > kPackedIds) input.edges.widen();  // (declared ids beyond 2^32 vertices)
  const std::vector<GlobalId> dense = ids.to_dense(endpoints, comm);
  const auto dense_of = [&](VertexId v) {
    return dense[static_cast<std::size_t>(std::lower_bound(endpoints.begin(), endpoints.end(), v) - endpoints.begin())];
  };
  comm.agree([&] {
    if (std::find(dense.begin(), dense.end(), kMissingId) != dense.end())
      check_declared(input, [&](VertexId v) { return dense_of(v) != kMissingId; });
  });
  return remapped(input.edges, dense_of);
}

// In-edges grouped by destination: row r (dense id first + r) lists its sources
// src[start[r], start[r + 1]), increasing and distinct, with their weights when weights count.
// Src is a 32-bit id when every dense id fits (most graphs: 4 bytes per edge instead of 8).
template <class Src>
struct Rows {
  GlobalId first = 0;
  std::vector<EdgeIndex> start;
  Column<Src> src;             // grown as survivors arrive: no serial zeroing, pages faulted in by the copying threads
  std::vector<double> weight;  // empty: every weight is 1

  std::uint64_t rows() const { return start.size() - 1; }
};

// One entry of a row bucket: key = (row within the bucket) << src_bits | source, so that
// sorting the keys sorts the bucket by row, then by source; with its weight when weights count.
struct BucketKey {
  std::uint64_t key;
};
struct BucketKeyWeight {
  std::uint64_t key;
  double weight;
};

// Sorts a bucket's entries by the low `bits` bits of their keys (the rest are zero): LSD radix
// sort with 11-bit digits through `scratch` (2^11 counters stay in L1, and a bucket is sized to
// stay in L2), skipping a digit that every key shares. Below 256 entries std::sort is faster.
template <class E>
void sort_bucket(std::span<E> e, unsigned bits, std::vector<E>& scratch) {
  const auto by_key = [](const E& x, const E& y) { return x.key < y.key; };
  if (e.size() < 256) {
    std::sort(e.begin(), e.end(), by_key);
    return;
  }
  constexpr unsigned kDigit = 11;
  constexpr std::uint64_t kMask = (std::uint64_t{1} << kDigit) - 1;
  if (scratch.size() < e.size()) scratch.resize(e.size());
  E* from = e.data();
  E* to = scratch.data();
  std::array<std::uint32_t, kMask + 1> count;
  for (unsigned shift = 0; shift < bits; shift += kDigit) {
    count.fill(0);
    for (std::size_t i = 0; i < e.size(); ++i) ++count[(from[i].key >> shift) & kMask];
    if (count[(from[0].key >> shift) & kMask] == e.size()) continue;  // one digit: nothing moves
    std::uint32_t at = 0;
    for (auto& c : count) std::swap(c, at), at += c;
    for (std::size_t i = 0; i < e.size(); ++i) to[count[(from[i].key >> shift) & kMask]++] = from[i];
    std::swap(from, to);
  }
  if (from != e.data()) std::copy_n(from, e.size(), e.data());
}

// Merges a sorted bucket's repeated keys in place at its front and returns how many stay: the
// largest weight survives, or with sum_weights the run's weights add up, largest first (the
// order the sum is taken in depends on the weights alone, not on where the copies came from).
// kept[row + 1] counts each row's survivors (rows of this bucket only: no other thread's).
template <class E>
std::size_t merge_bucket(std::span<E> e, unsigned src_bits, std::uint64_t row0, bool sum_weights, EdgeIndex* kept) {
  std::size_t o = 0;
  for (std::size_t i = 0; i < e.size();) {
    std::size_t j = i + 1;
    while (j < e.size() && e[j].key == e[i].key) ++j;
    E out = e[i];
    if constexpr (std::is_same_v<E, BucketKeyWeight>) {
      if (j - i > 1) {
        std::sort(e.begin() + static_cast<std::ptrdiff_t>(i), e.begin() + static_cast<std::ptrdiff_t>(j),
                  [](const E& x, const E& y) { return x.weight > y.weight; });
        out = e[i];
        if (sum_weights)
          for (std::size_t k = i + 1; k < j; ++k) out.weight += e[k].weight;
      }
    }
    e[o++] = out;
    ++kept[row0 + (out.key >> src_bits) + 1];
    i = j;
  }
  return o;
}

// Groups this rank's edges by destination row [first, first + rows) and merges repeated
// (dst, src): the largest weight survives, or with sum_weights (multi-edges) their sum.
// Consumes `edges`; counts the merged entries into `duplicates`. Sources are dense ids < n.
//
// With both_directions an edge u–v (u ≠ v) is an entry of row v (source u) and of row u
// (source v), each where this rank owns the row: the undirected graph is never written out as
// twice the edges.
//
// A two-level radix sort, so that no pass makes a random access outside the caches. The rows
// fall into buckets of 2^shift consecutive rows holding about 2^15 entries each (8 or 16 bytes:
// a bucket and its scratch fit a core's L2). Per-thread counts of each bucket, then one pass
// over the edges scatters (row in bucket, source) keys to their bucket, a streaming write;
// each bucket is then radix-sorted by key on its own, in cache, and merged. The rows come out
// sorted by source with no per-row sort. (An atomic counting sort by row, the earlier design,
// spent 2.1 of 3.1 s at Kronecker 22 on a cache miss and a locked add per entry and on
// insertion sorts of its rows.) To bound the memory, the buckets are scattered in groups of
// about a quarter of the entries each, one pass over the edges per group: the keys of one
// group (2 or 4 bytes per entry) beside the rows, not of all.
template <class E, class Src, class Ends>
Rows<Src> collapse_bucketed(EdgeList& edges, Ends ends, bool both_directions, GlobalId first, std::uint64_t rows, std::uint64_t n,
                            bool sum_weights, std::uint64_t& duplicates) {
  constexpr bool kWeighted = std::is_same_v<E, BucketKeyWeight>;
  const std::uint64_t m = edges.size();
  // Raw pointers (inside `ends` too): through the vectors, every store made the compiler
  // reload the columns' addresses.
  const double* const ew = edges.has_weights() ? edges.weights().data() : nullptr;
  // Calls f(row, source, i) for each entry of this rank: (dst, src) of an edge whose dst it owns,
  // and with both_directions (src, dst) of one whose src it owns. An orphaned `omp for`: the
  // same static split of [0, m) on every call, so each thread meets the same entries each time.
  const auto each_entry = [&, ends, m, first, rows](auto&& f) {       // by value: registers in the loops, not reloads
    const auto owned = [=](GlobalId v) { return v - first < rows; };  // unsigned: v < first wraps high
    if (both_directions) {
#pragma omp for schedule(static)
      for (std::size_t i = 0; i < m; ++i) {
        const GlobalId s = ends.src(i), d = ends.dst(i);
        if (owned(d)) f(d, s, i);
        if (s != d && owned(s)) f(s, d, i);
      }
    } else {
#pragma omp for schedule(static)
      for (std::size_t i = 0; i < m; ++i)
        if (owned(ends.dst(i))) f(ends.dst(i), ends.src(i), i);
    }
  };
  const auto src_bits = static_cast<int>(std::max<std::uint64_t>(1, std::bit_width(std::max<std::uint64_t>(n, 2) - 1)));
  const std::uint64_t per_row = std::max<std::uint64_t>(1, (both_directions ? 2 : 1) * m / std::max<std::uint64_t>(rows, 1));
  // Buckets of about 2^15 entries, so that a bucket and its sort's scratch fit a core's L2;
  // twice that when a group would otherwise scatter to more than kScatterStreams buckets: a
  // thread keeps one cache line open per bucket it writes to, and past that many lines they
  // stop fitting its L1 (directed Kronecker 22 at 1 × 2, medians of 3: 585 buckets a group,
  // collapse 1.21 s; 292 buckets of twice the size, 1.03 s; 146 of four times, 1.22 s).
  const int fit = std::max(0, static_cast<int>(std::bit_width((std::uint64_t{1} << 15) / per_row)) - 1);
  const int grown = fit + ((rows >> fit) / kScatterGroups > kScatterStreams ? 1 : 0);
  const auto shift = static_cast<unsigned>(std::clamp(grown, 0, std::min(16, 64 - src_bits)));
  const std::uint64_t buckets = (rows + (std::uint64_t{1} << shift) - 1) >> shift;
  const std::uint64_t src_mask = src_bits == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << src_bits) - 1;

  Rows<Src> out;
  out.first = first;
  out.start.assign(rows + 1, 0);
  EdgeIndex* const kept = out.start.data();  // survivors per row, then their offsets
  std::vector<std::uint64_t> bucket_begin(buckets + 1, 0), bucket_kept(buckets, 0);
  std::vector<std::uint64_t> cursor;                            // [thread][bucket]: counts, then where the next entry goes
  HugeVector<E> keys;                                           // one group's entries, unset until scattered (no serial memset)
  std::vector<std::pair<std::uint64_t, std::uint64_t>> groups;  // bucket ranges
  Src* to_src = nullptr;
  double* to_weight = nullptr;
  std::uint64_t written = 0;  // survivors of the groups done
#pragma omp parallel
  {
    const auto t = static_cast<std::size_t>(omp_get_thread_num());
    const auto threads = static_cast<std::size_t>(omp_get_num_threads());
#pragma omp single
    cursor.assign(threads * buckets, 0);
    std::uint64_t* const mine = cursor.data() + t * buckets;
    each_entry([&](GlobalId row, GlobalId, std::size_t) { ++mine[(row - first) >> shift]; });
#pragma omp single
    {
      for (std::uint64_t b = 0; b < buckets; ++b) {
        std::uint64_t at = bucket_begin[b];
        for (std::size_t u = 0; u < threads; ++u) std::swap(cursor[u * buckets + b], at), at += cursor[u * buckets + b];
        bucket_begin[b + 1] = at;
      }
      const std::uint64_t entries = bucket_begin[buckets];
      // Four groups of about a quarter of the entries each, but at least 2^12 entries (so the
      // tests' small graphs take several groups, as large ones do): group g ends at the first
      // bucket boundary past (g + 1) quarters.
      const std::uint64_t quarter =
          std::max<std::uint64_t>((entries + kScatterGroups - 1) / kScatterGroups, std::uint64_t{1} << 12);
      std::uint64_t largest = 0;
      for (std::uint64_t b = 0; b < buckets;) {
        const std::uint64_t goal = (groups.size() + 1) * quarter;
        std::uint64_t e = b + 1;
        while (e < buckets && bucket_begin[e] < goal) ++e;
        groups.emplace_back(b, e);
        largest = std::max(largest, bucket_begin[e] - bucket_begin[b]);
        b = e;
      }
      keys.resize(largest + threads);  // and a spare slot per thread
      // Room for every entry, but pages only as the groups' survivors arrive (no reallocation:
      // the pointers stay valid), so the keys of the last group and the rows before it are
      // resident together, not the keys and all the rows.
      out.src.reserve(entries);
      if (kWeighted) out.weight.reserve(entries);
      to_src = out.src.data();
      to_weight = out.weight.data();
    }
    std::vector<E> scratch;
    for (const auto& group : groups) {
      // Named copies, not a structured binding: the lambda below and the OpenMP loops capture
      // them, which clang before 16 rejects for bindings (and the fuzz build is clang's).
      const std::uint64_t b0 = group.first, b1 = group.second;
      // The entries of other groups go to this thread's spare slot past the group's: a select,
      // where a branch mispredicted for most entries (3 times slower).
      const std::uint64_t base = bucket_begin[b0], spare = keys.size() - threads + t;
      const std::uint64_t low_mask = (std::uint64_t{1} << shift) - 1;
      each_entry([=, to = keys.data()](GlobalId row, GlobalId source, std::size_t i) {
        const std::uint64_t r = row - first, b = r >> shift, slot = mine[b];
        const std::uint64_t here = b - b0 < b1 - b0 ? 1 : 0, keep = std::uint64_t{0} - here;
        mine[b] = slot + here;
        E& e = to[((slot - base) & keep) | (spare & ~keep)];
        e.key = ((r & low_mask) << src_bits) | source;
        if constexpr (kWeighted) e.weight = ew ? ew[i] : 1.0;
      });
#pragma omp single
      if (b1 == buckets) edges.release();  // read for the last time
#pragma omp for schedule(dynamic, 1)
      for (std::uint64_t b = b0; b < b1; ++b) {
        const std::span<E> bucket(keys.data() + (bucket_begin[b] - base), bucket_begin[b + 1] - bucket_begin[b]);
        sort_bucket(bucket, shift + src_bits, scratch);
        bucket_kept[b] = merge_bucket(bucket, src_bits, b << shift, sum_weights, kept);
      }
      // Each bucket's survivors go after those of the buckets before it.
#pragma omp single
      {
        std::uint64_t at = written;
        for (std::uint64_t b = b0; b < b1; ++b) std::swap(bucket_kept[b], at), at += bucket_kept[b];
        written = at;
        out.src.resize(written);
        if (kWeighted) out.weight.resize(written);
      }
#pragma omp for schedule(dynamic, 64)
      for (std::uint64_t b = b0; b < b1; ++b) {
        const std::uint64_t end = b + 1 < b1 ? bucket_kept[b + 1] : written;
        const E* from = keys.data() + (bucket_begin[b] - base);
        for (std::uint64_t k = bucket_kept[b]; k < end; ++k, ++from) {
          to_src[k] = static_cast<Src>(from->key & src_mask);
          if constexpr (kWeighted) to_weight[k] = from->weight;
        }
      }
    }
  }
  edges.release();  // (when there were no buckets)
  HugeVector<E>().swap(keys);
  std::partial_sum(out.start.begin(), out.start.end(), out.start.begin());
  duplicates = bucket_begin[buckets] - out.start.back();  // the CSR gives their room back
  return out;
}

template <class Src, class Ends>
Rows<Src> collapse_rows_from(EdgeList& edges, Ends ends, bool both_directions, GlobalId first, std::uint64_t rows,
                             std::uint64_t n, bool weights_count, bool sum_weights, std::uint64_t& duplicates) {
  if (weights_count)
    return collapse_bucketed<BucketKeyWeight, Src>(edges, ends, both_directions, first, rows, n, sum_weights, duplicates);
  return collapse_bucketed<BucketKey, Src>(edges, ends, both_directions, first, rows, n, sum_weights, duplicates);
}

// Collective: moves rows to the ranks that own them under `target`. A rank's rows form one
// contiguous run per receiving rank, and runs arrive in rank order, which is row order, so
// the sources are sent from where they lie (no bucketing copy) with one count per row.
// `with_weights` must be the same on every rank (a rank may hold no entries at all).
template <class Src>
Rows<Src> redistribute_rows(Rows<Src>& rows, bool with_weights, const Partition& target, const Comm& comm) {
  if (comm.size() == 1) return std::move(rows);
  const auto P = static_cast<std::size_t>(comm.size());
  std::vector<std::int64_t> row_counts(P, 0), entry_counts(P, 0);
  std::vector<EdgeIndex> length(rows.rows());
  for (std::uint64_t r = 0; r < rows.rows(); ++r) {
    const auto t = static_cast<std::size_t>(target.owner(rows.first + r));
    length[r] = rows.start[r + 1] - rows.start[r];
    ++row_counts[t];
    entry_counts[t] += static_cast<std::int64_t>(length[r]);
  }
  Rows<Src> out;
  out.first = target.begin(comm.rank());
  const std::vector<EdgeIndex> got_length = comm.alltoallv<EdgeIndex>(length, row_counts);
  std::vector<EdgeIndex>().swap(length);
  const std::vector<std::int64_t> got_entries = comm.alltoall_counts(entry_counts);
  out.src.resize(static_cast<std::size_t>(std::accumulate(got_entries.begin(), got_entries.end(), std::int64_t{0})));
  comm.alltoallv_into<Src>(rows.src, entry_counts, out.src, got_entries);
  Column<Src>().swap(rows.src);
  if (with_weights) {
    out.weight = comm.alltoallv<double>(rows.weight, entry_counts);
    std::vector<double>().swap(rows.weight);
  }
  out.start.assign(got_length.size() + 1, 0);
  std::partial_sum(got_length.begin(), got_length.end(), out.start.begin() + 1);
  return out;
}

// o(u) for every owned u: each rank sums the out-weight of every column of its CSR (its own
// vertices and its ghosts), then the ghost sums travel back to their owners through the halo
// plan run in reverse.
void compute_out_weights(DistGraph& g, const Comm& comm) {
  const LocalCsr& csr = g.in;
  const std::span<const LocalId> column(csr.column);
  // Edges per column: integers, so threads add them in any order. The ghosts' counts go to
  // their owners; the array then keeps its owned part as the out-degrees.
  std::vector<std::uint64_t> count(csr.columns, 0);
  const auto threads = static_cast<std::size_t>(omp_get_max_threads());
  if (threads == 1 || threads * csr.columns <= column.size() / 2) {
    // A count per thread, then summed: a locked add per edge cost more than the pass itself
    // (Kronecker 22: 0.22 s against 0.09 s on 2 threads, and on 1). Only while the extra
    // arrays stay within a quarter of the columns' bytes; atomics otherwise.
    std::vector<std::uint64_t> other((threads - 1) * csr.columns, 0);
#pragma omp parallel num_threads(static_cast <int>(threads))
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      std::uint64_t* const mine = t == 0 ? count.data() : other.data() + (t - 1) * csr.columns;
#pragma omp for schedule(static)
      for (std::size_t e = 0; e < column.size(); ++e) ++mine[column[e]];
#pragma omp for schedule(static)
      for (std::size_t c = 0; c < csr.columns; ++c)
        for (std::size_t u = 1; u < threads; ++u) count[c] += other[(u - 1) * csr.columns + c];
    }
  } else {
#pragma omp parallel for schedule(static)
    for (std::size_t e = 0; e < column.size(); ++e)
      std::atomic_ref<std::uint64_t>(count[column[e]]).fetch_add(1, std::memory_order_relaxed);
  }
  const std::span<std::uint64_t> c(count);
  g.halo.scatter_reduce<std::uint64_t>(c.subspan(csr.rows), c.first(csr.rows), std::plus<>(), comm);
  count.resize(csr.rows);
  count.shrink_to_fit();  // the ghosts' part is done with: the graph keeps rows, not columns
  g.out_degree_count = std::move(count);
  g.out_weight.resize(csr.rows);
  // Unweighted: o(u) is the out-degree, exactly. (The graph's flag decides, not this rank's
  // weights: a rank without edges has none, and every rank must take the same collectives.)
  if (!g.weighted) {
#pragma omp parallel for schedule(static)
    for (LocalId u = 0; u < csr.rows; ++u) g.out_weight[u] = static_cast<double>(g.out_degree_count[u]);
    return;
  }
  // Weighted: summed serially in edge order, then the ghosts' sums added in rank order, so the
  // bits do not depend on the thread count.
  std::vector<double> weight(csr.columns, 0.0);
  for (std::size_t e = 0; e < column.size(); ++e) weight[column[e]] += csr.weight.empty() ? 1.0 : csr.weight[e];
  const std::span<double> w(weight);
  std::copy(w.begin(), w.begin() + csr.rows, g.out_weight.begin());
  g.halo.scatter_reduce<double>(w.subspan(csr.rows), g.out_weight, std::plus<>(), comm);
}

// Local CSR over columns [owned | ghosts] from this rank's rows, and the plan that fills the
// ghosts. The columns are written over the sources where both are 32-bit (no second array).
template <class Src>
void build_csr_and_halo(Rows<Src>& rows, const Partition& part, DistGraph& g, const Comm& comm) {
  const GlobalId lo = g.first;
  const GlobalId hi = lo + g.in.rows;
  const auto owned = [&](GlobalId s) { return s >= lo && s < hi; };
  const std::size_t m = rows.src.size();
  // The ghosts, sorted and distinct: none where this rank owns every vertex (one rank). While
  // the vertices are no more than the edges (most graphs), they are the members of a bitmap
  // over [0, n), marked in one parallel pass, and a ghost's column is its rank there (in
  // cache: a table of columns by id took a cache miss per ghost entry); otherwise every ghost
  // occurrence is sorted, O(m log m), and looked up by binary search.
  const std::uint64_t n = part.n();
  const bool owns_all = lo == 0 && hi == n;
  const bool by_bitmap = !owns_all && n <= m;
  RankBitmap ghosts;
  if (by_bitmap) {
    ghosts = RankBitmap(n);
    mark_bits(ghosts.words(), m, m * sizeof(Src), [&](std::size_t i, auto&& set) {
      if (!owned(rows.src[i])) set(rows.src[i]);
    });
    ghosts.count();
    g.ghost_ids.reserve(ghosts.size());
    ghosts.each(0, ghosts.word_count(), [&](std::uint64_t v) { g.ghost_ids.push_back(v); });
  } else if (!owns_all) {
    for (const Src s : rows.src)
      if (!owned(s)) g.ghost_ids.push_back(s);
    __gnu_parallel::sort(g.ghost_ids.begin(), g.ghost_ids.end());
    g.ghost_ids.erase(std::unique(g.ghost_ids.begin(), g.ghost_ids.end()), g.ghost_ids.end());
  }
  g.ghost_ids.shrink_to_fit();
  comm.agree([&] {
    if (g.in.rows + g.ghost_ids.size() > std::numeric_limits<LocalId>::max())
      throw Error(ErrorKind::input, "rank " + std::to_string(comm.rank()) + " would hold " +
                                        std::to_string(g.in.rows + g.ghost_ids.size()) +
                                        " vertices and ghosts, over the 2^32 local limit: use more ranks");
  });
  g.in.columns = static_cast<LocalId>(g.in.rows + g.ghost_ids.size());
  const bool weights = g.weighted && !rows.weight.empty();
  std::uint64_t checksum = 0;  // DistGraph::edge_checksum (integer sums: the same in any order)
#pragma omp parallel for schedule(dynamic, 4096) reduction(+ : checksum)
  for (LocalId v = 0; v < g.in.rows; ++v) {
    const std::uint64_t row = mix64(g.first + v);
    for (EdgeIndex e = rows.start[v]; e < rows.start[v + 1]; ++e)
      checksum += mix64(row ^ (static_cast<std::uint64_t>(rows.src[e]) * 0xC2B2AE3D27D4EB4Full) ^
                        (weights ? std::bit_cast<std::uint64_t>(rows.weight[e]) : 0));
  }
  g.edge_checksum = checksum;
  g.in.row_start = std::move(rows.start);
  LocalId* out = nullptr;  // the columns: over the sources where both are 32-bit (no second array)
  if constexpr (std::is_same_v<Src, LocalId>) {
    out = rows.src.data();
  } else {
    g.in.column.resize(m);
    out = g.in.column.data();
  }
  const LocalColumns to_local{lo, g.in.rows, &ghosts};
#pragma omp parallel for schedule(static)
  for (std::uint64_t c = 0; c < kChunks; ++c) {
    const std::uint64_t i = block_begin(m, c, kChunks), count = block_begin(m, c + 1, kChunks) - i;
    if (by_bitmap || owns_all) {
      local_columns(rows.src.data() + i, out + i, count, to_local);
    } else {
      for (std::uint64_t k = i; k < i + count; ++k) {
        const GlobalId s = rows.src[k];
        out[k] = owned(s) ? static_cast<LocalId>(s - lo)
                          : static_cast<LocalId>(
                                g.in.rows + (std::lower_bound(g.ghost_ids.begin(), g.ghost_ids.end(), s) - g.ghost_ids.begin()));
      }
    }
  }
  if constexpr (std::is_same_v<Src, LocalId>) {
    g.in.column = std::move(rows.src);
  } else {
    Column<Src>().swap(rows.src);
  }
  if (g.weighted) g.in.weight = std::move(rows.weight);
  std::vector<double>().swap(rows.weight);
  // The rows arrived with room for every edge before duplicates collapsed: give it back, the
  // graph is held for the whole run.
  g.in.column.shrink_to_fit();
  g.in.weight.shrink_to_fit();
  g.in.row_start.shrink_to_fit();
  // Ghosts are sorted by id, hence grouped by owner: ask each owner for its run.
  std::vector<std::int64_t> recv_counts(static_cast<std::size_t>(comm.size()), 0);
  for (GlobalId v : g.ghost_ids) ++recv_counts[static_cast<std::size_t>(part.owner(v))];
  std::vector<std::int64_t> send_counts;
  const std::vector<GlobalId> wanted = comm.alltoallv<GlobalId>(g.ghost_ids, recv_counts, &send_counts);
  std::vector<LocalId> send_index(wanted.size());
  for (std::size_t i = 0; i < wanted.size(); ++i) send_index[i] = static_cast<LocalId>(wanted[i] - lo);
  g.halo = HaloPlan(std::move(send_counts), std::move(send_index), std::move(recv_counts));
}

// m, self-loops (kept ones), dangling vertices and the largest degrees, from the built CSR.
void edge_statistics(DistGraph& g, const Comm& comm) {
  std::uint64_t self_loops = 0, dangling = 0, max_in = 0, max_out = 0;
#pragma omp parallel for schedule(static) reduction(+ : self_loops, dangling) reduction(max : max_in, max_out)
  for (LocalId v = 0; v < g.in.rows; ++v) {
    for (EdgeIndex e = g.in.row_start[v]; e < g.in.row_start[v + 1]; ++e) self_loops += g.in.column[e] == v ? 1 : 0;
    dangling += g.out_weight[v] == 0.0 ? 1 : 0;
    max_in = std::max<std::uint64_t>(max_in, g.in.row_start[v + 1] - g.in.row_start[v]);
    max_out = std::max<std::uint64_t>(max_out, g.out_degree_count[v]);
  }
  std::uint64_t local[3] = {g.in.edges(), self_loops, dangling};
  comm.allreduce_inplace<std::uint64_t>(local, ReduceOp::sum);
  std::uint64_t max_deg[2] = {max_in, max_out};
  comm.allreduce_inplace<std::uint64_t>(max_deg, ReduceOp::max);
  g.stats.m = local[0];
  g.stats.self_loops = local[1];
  g.stats.dangling = local[2];
  g.stats.max_in_degree = max_deg[0];
  g.stats.max_out_degree = max_deg[1];
}

// The build after remapping, with sources held as Src (32-bit when every dense id fits).
// Phase 1: rows under a uniform partition, where all copies of an edge meet and collapse and
// exact in-degrees are known. Phase 2: rows move to a partition balanced on those degrees.
template <class Src>
void build_rows_and_csr(EdgeList& edges, bool both_directions, const GraphOptions& options, DistGraph& g, const Comm& comm,
                        Laps& laps) {
  const std::uint64_t n = g.ids.size();
  const Partition uniform = Partition::uniform(n, comm.size());
  const auto owner = [&](GlobalId v) { return uniform.owner(v); };
  std::uint64_t duplicates = 0;
  auto collapse = [&](auto ends) {
    return collapse_rows_from<Src>(edges, ends, both_directions, uniform.begin(comm.rank()), uniform.count(comm.rank()), n,
                                   g.weighted || options.keep_duplicates, options.keep_duplicates, duplicates);
  };
  Rows<Src> rows;
  if constexpr (sizeof(Src) == 4) {
    edges.pack();  // dense ids fit: the exchange and the sort move 8 bytes an edge, not 16
    edges = redistribute(edges, PackedEnds{edges.keys().data()}, both_directions, owner, comm);
    laps.lap("exchange");
    rows = collapse(PackedEnds{edges.keys().data()});
  } else {
    edges.widen();
    edges = redistribute(edges, ColumnEnds{edges.src().data(), edges.dst().data()}, both_directions, owner, comm);
    laps.lap("exchange");
    rows = collapse(ColumnEnds{edges.src().data(), edges.dst().data()});
  }
  laps.lap("collapse");
  g.stats.duplicates = comm.allreduce(duplicates, ReduceOp::sum);
  // Multi-edges merged into one edge carry their multiplicity as a weight.
  if (options.keep_duplicates && g.stats.duplicates > 0) g.weighted = true;
  std::vector<std::uint64_t> in_degree(rows.rows());
  for (std::uint64_t r = 0; r < rows.rows(); ++r) in_degree[r] = rows.start[r + 1] - rows.start[r];
  g.partition = balance_on_in_degree(uniform.begin(comm.rank()), in_degree, n, comm);
  std::vector<std::uint64_t>().swap(in_degree);
  rows = redistribute_rows(rows, g.weighted || options.keep_duplicates, g.partition, comm);
  g.first = g.partition.begin(comm.rank());
  comm.agree([&] {
    if (g.partition.count(comm.rank()) > std::numeric_limits<LocalId>::max())
      throw_input("a rank would own more than 2^32 vertices: use more ranks");
  });
  g.in.rows = static_cast<LocalId>(g.partition.count(comm.rank()));
  laps.lap("balance");
  build_csr_and_halo(rows, g.partition, g, comm);
  laps.lap("csr");
}

}  // namespace

HaloPlan::HaloPlan(std::vector<std::int64_t> send_counts, std::vector<LocalId> send_index, std::vector<std::int64_t> recv_counts)
    : send_counts_(std::move(send_counts)),
      send_index_(std::move(send_index)),
      recv_counts_(std::move(recv_counts)),
      send_buffer_(send_index_.size()) {}

HaloPlan HaloPlan::relabeled(std::span<const LocalId> position, std::span<const LocalId> ghost_position, const Comm& comm) const {
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
  return HaloPlan(send_counts_, std::move(index), recv_counts_).routed(routing(), comm);
}

HaloPlan HaloPlan::subset(std::span<const std::uint8_t> keep_owned, std::span<const std::uint8_t> keep_ghost,
                          const Comm& comm) const {
  std::vector<std::int64_t> send_counts(send_counts_.size(), 0), recv_counts(recv_counts_.size(), 0);
  std::vector<LocalId> index;
  std::size_t i = 0;
  for (std::size_t r = 0; r < send_counts_.size(); ++r)
    for (std::int64_t k = 0; k < send_counts_[r]; ++k, ++i)
      if (keep_owned[send_index_[i]] != 0) {
        index.push_back(send_index_[i]);
        ++send_counts[r];
      }
  std::size_t g = 0;
  for (std::size_t r = 0; r < recv_counts_.size(); ++r)
    for (std::int64_t k = 0; k < recv_counts_[r]; ++k, ++g) recv_counts[r] += keep_ghost[g] != 0 ? 1 : 0;
  return HaloPlan(std::move(send_counts), std::move(index), std::move(recv_counts)).routed(routing(), comm);
}

namespace {

// Σ counts[k] over k ≠ skip, and how many of them are non-zero.
std::pair<std::uint64_t, std::uint64_t> off_self(std::span<const std::int64_t> counts, std::size_t skip) {
  std::uint64_t values = 0, messages = 0;
  for (std::size_t k = 0; k < counts.size(); ++k)
    if (k != skip && counts[k] > 0) values += static_cast<std::uint64_t>(counts[k]), ++messages;
  return {values, messages};
}

}  // namespace

namespace {

// Phase 1's groups of a two-level route: per grid column j, the owned positions that any rank
// of column j reads, sorted, each once; `start` gives each destination's part of send_index.
std::vector<std::vector<LocalId>> column_groups(std::span<const LocalId> send_index, std::span<const std::size_t> start,
                                                const HaloGrid& grid) {
  std::vector<std::vector<LocalId>> group(grid.columns);
  for (std::size_t d = 0; d + 1 < start.size(); ++d)
    group[grid.column(d)].insert(group[grid.column(d)].end(), send_index.begin() + static_cast<std::ptrdiff_t>(start[d]),
                                 send_index.begin() + static_cast<std::ptrdiff_t>(start[d + 1]));
  for (auto& g : group) {
    std::sort(g.begin(), g.end());
    g.erase(std::unique(g.begin(), g.end()), g.end());
  }
  return group;
}

}  // namespace

HaloPlan HaloPlan::routed(HaloRouting routing, const Comm& comm) const {
  HaloPlan plan(send_counts_, send_index_, recv_counts_);
  const auto P = static_cast<std::uint64_t>(comm.size());
  if (!may_route_two_level(routing, P)) return plan;
  const HaloGrid grid = HaloGrid::of(P);
  const auto C = static_cast<std::size_t>(grid.columns), R = static_cast<std::size_t>(grid.rows);
  const auto me = static_cast<std::uint64_t>(comm.rank());
  // The row's and the column's communicators: this plan's own when it has them (a plan derived
  // from a routed one), else split from comm.
  auto t = std::make_shared<TwoLevel>(
      two_level_ ? TwoLevel(two_level_->row, two_level_->column)
                 : TwoLevel(comm.split(static_cast<int>(grid.row(me)), static_cast<int>(grid.column(me))),
                            comm.split(static_cast<int>(grid.column(me)), static_cast<int>(grid.row(me)))));
  std::vector<std::size_t> start(P + 1, 0);
  for (std::size_t d = 0; d < P; ++d) start[d + 1] = start[d] + static_cast<std::size_t>(send_counts_[d]);
  const std::vector<std::vector<LocalId>> group = column_groups(send_index_, start, grid);
  std::size_t first_values = 0;
  for (const auto& g : group) first_values += g.size();
  t->first_index.reserve(first_values);  // exactly: bytes() counts capacities
  t->first_send.reserve(C);
  t->first_recv.reserve(C);
  for (const auto& g : group) {
    t->first_send.push_back(static_cast<std::int64_t>(g.size()));
    t->first_index.insert(t->first_index.end(), g.begin(), g.end());
  }
  // To the rank of column j in this row: how many values phase 1 brings it, and for each
  // reader of column j (rows 0..R−1) how many it wants from this rank (a header of 1 + R
  // counts); then the places of those values in phase 1's group, reader by reader.
  std::vector<std::int64_t> header, place_counts(C, 0);
  std::vector<LocalId> places;
  for (std::size_t j = 0; j < C; ++j) {
    header.push_back(t->first_send[j]);
    for (std::size_t i = 0; i < R; ++i) {
      const std::size_t d = i * C + j;
      header.push_back(send_counts_[d]);
      place_counts[j] += send_counts_[d];
      for (std::size_t k = start[d]; k < start[d + 1]; ++k)
        places.push_back(
            static_cast<LocalId>(std::lower_bound(group[j].begin(), group[j].end(), send_index_[k]) - group[j].begin()));
    }
  }
  const std::vector<std::int64_t> headers =
      t->row.alltoallv<std::int64_t>(header, std::vector<std::int64_t>(C, static_cast<std::int64_t>(1 + R)));
  const std::vector<LocalId> arrived_places = t->row.alltoallv<LocalId>(places, place_counts);
  const auto wanted = [&](std::size_t c, std::size_t i) { return static_cast<std::size_t>(headers[c * (1 + R) + 1 + i]); };
  // Phase 1 arrives from the owners of this row in column order; phase 2 sends to the reader
  // of row i, for each of those owners in turn, the values it wants, picked from the arrivals.
  std::vector<std::size_t> offset(C + 1, 0), cursor(C + 1, 0);
  for (std::size_t c = 0; c < C; ++c) {
    t->first_recv.push_back(headers[c * (1 + R)]);
    offset[c + 1] = offset[c] + static_cast<std::size_t>(t->first_recv[c]);
    cursor[c + 1] = cursor[c];
    for (std::size_t i = 0; i < R; ++i) cursor[c + 1] += wanted(c, i);  // where owner c's places start
  }
  t->second_index.reserve(cursor[C]);
  t->second_send.assign(R, 0);
  for (std::size_t i = 0; i < R; ++i)
    for (std::size_t c = 0; c < C; ++c) {
      for (std::size_t k = 0; k < wanted(c, i); ++k)
        t->second_index.push_back(static_cast<LocalId>(offset[c] + arrived_places[cursor[c]++]));
      t->second_send[i] += static_cast<std::int64_t>(wanted(c, i));
    }
  // Phase 2's arrivals from row i: this rank's ghosts from the owners of row i, in place.
  t->second_recv.assign(R, 0);
  for (std::size_t i = 0; i < R; ++i)
    for (std::size_t c = 0; c < C; ++c) t->second_recv[i] += recv_counts_[i * C + c];
  t->first_buffer.resize(t->first_index.size());
  t->arrived.resize(offset[C]);
  t->second_buffer.resize(t->second_index.size());
  const double direct = halo_cost(plan.values_sent(), plan.messages_sent());  // before the route is set
  plan.two_level_ = std::move(t);
  if (routing == HaloRouting::automatic) {
    const double two_level = halo_cost(plan.values_sent(), plan.messages_sent());
    if (comm.allreduce(two_level, ReduceOp::max) >= comm.allreduce(direct, ReduceOp::max)) plan.two_level_.reset();
  }
  return plan;
}

std::uint64_t HaloPlan::values_sent() const {
  if (!two_level_) return send_index_.size();
  const TwoLevel& t = *two_level_;
  return off_self(t.first_send, static_cast<std::size_t>(t.row.rank())).first +
         off_self(t.second_send, static_cast<std::size_t>(t.column.rank())).first;
}

std::uint64_t HaloPlan::messages_sent() const {
  if (!two_level_) return off_self(send_counts_, send_counts_.size()).second;
  const TwoLevel& t = *two_level_;
  return off_self(t.first_send, static_cast<std::size_t>(t.row.rank())).second +
         off_self(t.second_send, static_cast<std::size_t>(t.column.rank())).second;
}

std::uint64_t HaloPlan::bytes() const {
  std::uint64_t b =
      (send_counts_.capacity() + recv_counts_.capacity()) * sizeof(std::int64_t) + send_index_.capacity() * sizeof(LocalId);
  if (two_level_) {
    const TwoLevel& t = *two_level_;
    b += (t.first_send.capacity() + t.first_recv.capacity() + t.second_send.capacity() + t.second_recv.capacity()) *
             sizeof(std::int64_t) +
         (t.first_index.capacity() + t.second_index.capacity()) * sizeof(LocalId);
  }
  return b;
}

std::uint64_t HaloPlan::buffer_values() const {
  if (!two_level_) return send_index_.size();
  return two_level_->first_buffer.size() + two_level_->arrived.size() + two_level_->second_buffer.size();
}

std::uint64_t HaloPlan::values_received() const {
  return static_cast<std::uint64_t>(std::accumulate(recv_counts_.begin(), recv_counts_.end(), std::int64_t{0}));
}

namespace {

// out[k·width ..) ← in[index[k]·width ..) for every k: a halo phase's packing.
template <class T>
void pick(std::span<const T> in, std::span<const LocalId> index, std::size_t width, std::vector<T>& out) {
  out.resize(index.size() * width);
  const std::size_t count = index.size();
#pragma omp parallel for schedule(static)
  for (std::size_t k = 0; k < count; ++k)
    std::copy_n(in.data() + static_cast<std::size_t>(index[k]) * width, width, out.data() + k * width);
}

std::vector<std::int64_t> scaled(std::span<const std::int64_t> counts, std::size_t width) {
  std::vector<std::int64_t> out(counts.begin(), counts.end());
  for (auto& c : out) c *= static_cast<std::int64_t>(width);
  return out;
}

}  // namespace

void HaloPlan::exchange(std::span<const double> owned, std::span<double> ghosts, const Comm& comm) const {
  if (two_level_) return exchange_block(owned, ghosts, 1, comm);
  const std::size_t count = send_index_.size();
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < count; ++i) send_buffer_[i] = owned[send_index_[i]];
  comm.alltoallv_into<double>(send_buffer_, send_counts_, ghosts, recv_counts_);
}

void HaloPlan::exchange_block(std::span<const double> owned, std::span<double> ghosts, std::size_t width,
                              const Comm& comm) const {
  const TwoLevel* t = two_level_.get();  // its buffers are mutable
  exchange_block_through<double>(
      owned, ghosts, width, comm,
      {&send_buffer_, t ? &t->first_buffer : nullptr, t ? &t->arrived : nullptr, t ? &t->second_buffer : nullptr});
}

void HaloPlan::exchange_block(std::span<const float> owned, std::span<float> ghosts, std::size_t width, const Comm& comm) const {
  exchange_block_through<float>(owned, ghosts, width, comm, {&float_send_, &float_first_, &float_arrived_, &float_second_});
}

// Direct: one alltoallv. Two-level: two, each within a row or a column of the grid, so a rank
// meets C − 1 + R − 1 others.
template <class T>
void HaloPlan::exchange_block_through(std::span<const T> owned, std::span<T> ghosts, std::size_t width, const Comm& comm,
                                      BlockBuffers<T> b) const {
  if (!two_level_) {
    pick(owned, std::span<const LocalId>(send_index_), width, *b.send);
    comm.alltoallv_into<T>(*b.send, scaled(send_counts_, width), ghosts, scaled(recv_counts_, width));
    return;
  }
  const TwoLevel& t = *two_level_;
  pick(owned, std::span<const LocalId>(t.first_index), width, *b.first);
  b.arrived->resize(static_cast<std::size_t>(std::accumulate(t.first_recv.begin(), t.first_recv.end(), std::int64_t{0})) * width);
  t.row.alltoallv_into<T>(*b.first, scaled(t.first_send, width), *b.arrived, scaled(t.first_recv, width));
  pick(std::span<const T>(*b.arrived), std::span<const LocalId>(t.second_index), width, *b.second);
  t.column.alltoallv_into<T>(*b.second, scaled(t.second_send, width), ghosts, scaled(t.second_recv, width));
}

DistGraph build_graph(EdgeShare input, const GraphOptions& options, const Comm& comm, Laps* laps_out) {
  Laps own;
  Laps& laps = laps_out ? *laps_out : own;
  laps.start();  // the caller's Laps may be older than the load: "remap" times the remap alone
  DistGraph g;
  g.weighted = input.weighted;
  const std::string source = input.edge_source;
  const bool both_directions = options.undirected || !input.directed;
  EdgeList edges = remap(input, g.ids, comm);
  return_free_memory();  // the remap's id tables, freed: resident until handed back
  input.edges.release();
  laps.lap("remap");
  std::uint64_t dropped_loops = 0;
  if (options.drop_self_loops) dropped_loops = edges.keep_if([](const RawEdge& e) { return e.src != e.dst; });
  std::uint64_t directed_edges = edges.size();  // as read, an undirected edge counting twice
  if (both_directions) {
    std::uint64_t reverses = 0;
#pragma omp parallel for schedule(static) reduction(+ : reverses)
    for (std::size_t i = 0; i < edges.size(); ++i) reverses += edges[i].src != edges[i].dst ? 1 : 0;
    directed_edges += reverses;
  }
  g.stats.input_edges = comm.allreduce<std::uint64_t>(directed_edges, ReduceOp::sum);
  const std::uint64_t n = g.ids.size();
  comm.agree([&] {
    if (n == 0)
      throw_input((source.empty() ? std::string() : source + ": ") +
                  "the graph is empty: the input has no edges and declares no vertices");
  });
  if (n <= std::uint64_t{std::numeric_limits<std::uint32_t>::max()} + 1) {
    build_rows_and_csr<std::uint32_t>(edges, both_directions, options, g, comm, laps);
  } else {
    build_rows_and_csr<GlobalId>(edges, both_directions, options, g, comm, laps);
  }
  compute_out_weights(g, comm);
  laps.lap("out_weights");
  edge_statistics(g, comm);
  laps.lap("statistics");
  g.stats.n = n;
  g.stats.self_loops = options.drop_self_loops ? comm.allreduce(dropped_loops, ReduceOp::sum) : g.stats.self_loops;
  g.stats.undirected = options.undirected;
  return g;
}

DistGraph assemble_graph(PreparedRows prepared, IdMap ids, Partition partition, const GraphStats& stats, bool weighted,
                         const Comm& comm, Laps* laps_out) {
  Laps own;
  Laps& laps = laps_out ? *laps_out : own;
  laps.start();  // the caller's Laps may be older than the read of the rows
  DistGraph g;
  g.weighted = weighted;
  g.ids = std::move(ids);
  g.partition = std::move(partition);
  g.first = g.partition.begin(comm.rank());
  g.in.rows = static_cast<LocalId>(g.partition.count(comm.rank()));
  g.stats = stats;
  if (g.ids.size() <= std::uint64_t{std::numeric_limits<std::uint32_t>::max()} + 1) {
    // 32-bit sources become the columns in place.
    Rows<std::uint32_t> rows{g.first, std::move(prepared.start), std::move(prepared.src32), std::move(prepared.weight)};
    build_csr_and_halo(rows, g.partition, g, comm);
  } else {
    Rows<GlobalId> rows{g.first, std::move(prepared.start), std::move(prepared.src), std::move(prepared.weight)};
    build_csr_and_halo(rows, g.partition, g, comm);
  }
  laps.lap("csr");
  compute_out_weights(g, comm);
  laps.lap("out_weights");
  edge_statistics(g, comm);
  laps.lap("statistics");
  return g;
}

bool is_symmetric(const DistGraph& graph, const Comm& comm) {
  if (graph.stats.undirected) return true;
  const LocalCsr& csr = graph.in;
  // Necessary: as many in-edges as out-edges at every vertex. O(n), and it settles almost every
  // directed graph before the hash pass below (5 hashes an edge: 0.4 s of a 2-rank run at
  // Kronecker 22, where solver auto asked this question of a directed graph).
  bool degrees_match = graph.out_degree_count.size() == csr.rows;
  for (LocalId v = 0; v < csr.rows && degrees_match; ++v)
    degrees_match = csr.row_start[v + 1] - csr.row_start[v] == graph.out_degree_count[v];
  if (comm.allreduce(degrees_match ? 1 : 0, ReduceOp::min) == 0) return false;
  // h(a, b, w): ordered in (a, b), so an edge and its reverse hash differently.
  auto h = [](GlobalId a, GlobalId b, std::uint64_t w) { return mix64(mix64(a ^ 0x9E3779B97F4A7C15ull) + b) ^ mix64(w + 1); };
  std::uint64_t forward = 0, backward = 0;
#pragma omp parallel for schedule(dynamic, 1024) reduction(+ : forward, backward)
  for (LocalId v = 0; v < csr.rows; ++v)
    for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) {
      const GlobalId src = graph.global_id(csr.column[e]);
      const std::uint64_t w = csr.weight.empty() ? 0 : std::bit_cast<std::uint64_t>(csr.weight[e]);
      forward += h(src, graph.first + v, w);
      backward += h(graph.first + v, src, w);
    }
  std::uint64_t sums[2] = {forward, backward};
  comm.allreduce_inplace<std::uint64_t>(sums, ReduceOp::sum);  // integer sums mod 2^64: exact in any order
  return sums[0] == sums[1];
}

}  // namespace perron

namespace perron {

std::vector<double> sum_into_owners(std::span<const GlobalId> ids, std::span<const double> values, const DistGraph& graph,
                                    const Comm& comm) {
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
