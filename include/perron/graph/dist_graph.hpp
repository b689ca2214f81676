#pragma once
// The distributed graph: rank r owns the contiguous dense vertex range [first, first + rows)
// of a balanced Partition and the in-edges of those vertices as a local CSR, so a PageRank
// step pulls over its own rows without atomics. Sources owned elsewhere are "ghosts": columns
// [rows, rows + ghosts) of the CSR, refreshed each step by a HaloPlan built once, which
// sends every rank exactly the values it reads and nothing else.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/timer.hpp"
#include "perron/core/types.hpp"
#include "perron/graph/id_map.hpp"
#include "perron/graph/partition.hpp"

namespace perron {

// In-edges of this rank's vertices. Row v lists the sources of edges u→v as column indices:
// c < rows is the owned vertex first + c; c ≥ rows is ghost c − rows. Within a row the
// columns are ordered by global source id, so every sum runs in an order that does not
// depend on the number of ranks.
struct LocalCsr {
  LocalId rows = 0;
  LocalId columns = 0;               // rows + ghosts
  std::vector<EdgeIndex> row_start;  // rows + 1 offsets into column / weight
  Column<LocalId> column;            // written before read: no serial zeroing of fresh pages
  std::vector<double> weight;        // per edge; empty when the graph is unweighted

  EdgeIndex edges() const { return row_start.empty() ? 0 : row_start.back(); }
  std::uint64_t bytes() const {
    return row_start.capacity() * sizeof(EdgeIndex) + column.capacity() * sizeof(LocalId) + weight.capacity() * sizeof(double);
  }
  // Frees the columns and weights (the row offsets stay): for a caller whose kernel keeps its
  // own copy of the edges, e.g. PageRank's blocked layout. Nothing may read the edges after.
  void release_edges() {
    Column<LocalId>().swap(column);
    std::vector<double>().swap(weight);
  }
};

// How a halo exchange travels. direct: one alltoallv, a message per pair of ranks that share
// a ghost (up to P(P − 1) per exchange). two_level: the ranks form an R × C grid (HaloGrid)
// and every value goes first along its owner's row to the rank in its reader's column, then
// down that column to the reader, so a rank sends at most C − 1 + R − 1 messages (2P√P in all
// instead of P²). A value that several ranks of one column read crosses the row once. The
// ghosts arrive in the same places and order either way: results do not change by a bit.
// It is the row-then-column routing of 2D-partitioned BFS and SpMV (Buluç & Madduri, SC 2011)
// applied to the 1D partition's halo.
enum class HaloRouting : std::uint8_t { automatic, direct, two_level };

// What `automatic` weighs: the α–β cost of an exchange on the node of docs/scaling.md, where a
// message costs as much as kMessageBytes on the wire (2 µs at 12.5 GB/s), and an exchange
// takes as long as its busiest rank's sends, 8 · values + kMessageBytes · messages. From
// kTwoLevelMinRanks ranks on, auto routes two-level where that cost is lower; below, a rank
// sends at most 63 messages (0.13 ms a step), too few to repay a second pass over the values.
inline constexpr double kMessageBytes = 25e3;
inline constexpr std::uint64_t kTwoLevelMinRanks = 64;
inline double halo_cost(std::uint64_t values, std::uint64_t messages) {
  return 8.0 * static_cast<double>(values) + kMessageBytes * static_cast<double>(messages);
}
// Whether a plan asked for `wanted` on `ranks` ranks may travel two-level (auto then weighs
// halo_cost): HaloPlan::routed and the capacity plan decide by it alike.
inline bool may_route_two_level(HaloRouting wanted, std::uint64_t ranks) {
  return wanted == HaloRouting::two_level || (wanted == HaloRouting::automatic && ranks >= kTwoLevelMinRanks);
}

// The grid of a two-level exchange on P ranks: C columns, the largest divisor of P that is at
// most √P, and R = P / C rows; rank p sits at row p / C, column p % C. A prime P has one
// column: the second phase is then the direct exchange.
struct HaloGrid {
  std::uint64_t columns = 1, rows = 1;
  static HaloGrid of(std::uint64_t ranks) {
    HaloGrid g;
    for (std::uint64_t c = 1; c * c <= ranks; ++c)
      if (ranks % c == 0) g.columns = c;
    g.rows = ranks / g.columns;
    return g;
  }
  std::uint64_t row(std::uint64_t rank) const { return rank / columns; }
  std::uint64_t column(std::uint64_t rank) const { return rank % columns; }
};

// Which owned values go to which rank each step, and where ghosts arrive.
class HaloPlan {
 public:
  HaloPlan() = default;
  HaloPlan(std::vector<std::int64_t> send_counts, std::vector<LocalId> send_index, std::vector<std::int64_t> recv_counts);

  // Collective: the same plan travelling by `routing` (automatic: two-level from
  // kTwoLevelMinRanks ranks where halo_cost, the largest over the ranks, is lower) for exchange
  // and exchange_block; gather and scatter_reduce, which run once at set-up, always go direct.
  // Plans derived from it by relabeled and subset keep its routing.
  HaloPlan routed(HaloRouting routing, const Comm& comm) const;
  HaloRouting routing() const { return two_level_ ? HaloRouting::two_level : HaloRouting::direct; }

  // Collective: ghosts[i] ← the owner's owned[...] for every ghost of this rank.
  void exchange(std::span<const double> owned, std::span<double> ghosts, const Comm& comm) const;
  // Collective: the same for `width` values per vertex, stored vertex-major (the values of
  // owned v at owned[v·width ..), of ghost g at ghosts[g·width ..)): one message per rank pair
  // carrying every value of each ghost, as a batch of vectors needs.
  void exchange_block(std::span<const double> owned, std::span<double> ghosts, std::size_t width, const Comm& comm) const;
  // The same for 4-byte values (a batch's single-precision cg directions).
  void exchange_block(std::span<const float> owned, std::span<float> ghosts, std::size_t width, const Comm& comm) const;
  // Typed forms for other algorithms (labels, flags): owners → ghosts, and ghosts → owners
  // combined with `op` (the plan run backwards).
  template <class T>
  void gather(std::span<const T> owned, std::span<T> ghosts, const Comm& comm) const {
    std::vector<T> send(send_index_.size());
    for (std::size_t i = 0; i < send.size(); ++i) send[i] = owned[send_index_[i]];
    comm.alltoallv_into<T>(send, send_counts_, ghosts, recv_counts_);
  }
  template <class T, class Op>
  void scatter_reduce(std::span<const T> ghosts, std::span<T> owned, Op op, const Comm& comm) const {
    std::vector<T> back(send_index_.size());
    comm.alltoallv_into<T>(ghosts, recv_counts_, back, send_counts_);
    for (std::size_t i = 0; i < back.size(); ++i) owned[send_index_[i]] = op(owned[send_index_[i]], back[i]);
  }
  // Collective: the same exchange for a kernel that keeps its vectors in another order. Owned
  // local id v is read at position[v]; ghost g arrives at ghost_position[g], which must keep
  // every ghost among those of its owner (ghosts come grouped by owner rank): the owners
  // reorder what they send, so no values move on arrival.
  HaloPlan relabeled(std::span<const LocalId> position, std::span<const LocalId> ghost_position, const Comm& comm) const;
  // The plan of a subset of the values: owners send owned v only where keep_owned[v], and
  // ghost g is received only where keep_ghost[g], in the same relative order. The two masks
  // must agree (a ghost's flag is its owner's: gather the owners' flags with this plan).
  // Collective (it routes the result as this plan is routed).
  HaloPlan subset(std::span<const std::uint8_t> keep_owned, std::span<const std::uint8_t> keep_ghost, const Comm& comm) const;
  // Ghosts per owner rank, in the order they arrive.
  std::span<const std::int64_t> ghost_counts() const { return recv_counts_; }
  // Values this rank puts on the wire per exchange (8 bytes each; two-level: both phases, a
  // value to itself not counted), and the messages it sends (non-empty, to another rank).
  std::uint64_t values_sent() const;
  std::uint64_t messages_sent() const;
  // Bytes this rank holds for the plan (not counting the per-exchange buffers).
  std::uint64_t bytes() const;
  // Values one exchange moves through this rank's buffers beyond the ghosts: the send buffer,
  // and for two-level the first phase's receive buffer and the second's send buffer.
  std::uint64_t buffer_values() const;
  std::uint64_t values_received() const;

 private:
  // The two phases of a two-level exchange on this rank (see HaloRouting). Phase 1, within
  // the row: to column j, the owned values that any rank of column j reads, each once
  // (first_index, grouped by column). Phase 2, within the column: to row i, for each owner of
  // this rank's row in rank order, what the reader in row i wants from it, picked from phase
  // 1's arrivals (second_index); the reader's arrivals from rows 0, 1, … are its ghosts from
  // owners 0, 1, … in order, so they land in place.
  struct TwoLevel {
    TwoLevel(Comm row_comm, Comm column_comm) : row(std::move(row_comm)), column(std::move(column_comm)) {}
    Comm row, column;
    std::vector<std::int64_t> first_send, first_recv;    // per column of the row
    std::vector<LocalId> first_index;                    // owned positions
    std::vector<std::int64_t> second_send, second_recv;  // per row of the column
    std::vector<LocalId> second_index;                   // positions in phase 1's arrivals
    mutable std::vector<double> first_buffer, arrived, second_buffer;
  };
  // exchange_block for values of type T through these buffers: the direct route's send buffer,
  // and the two-level route's three (TwoLevel's for doubles; null on the direct route).
  template <class T>
  struct BlockBuffers {
    std::vector<T>* send;
    std::vector<T>* first;
    std::vector<T>* arrived;
    std::vector<T>* second;
  };
  template <class T>
  void exchange_block_through(std::span<const T> owned, std::span<T> ghosts, std::size_t width, const Comm& comm,
                              BlockBuffers<T> buffers) const;

  std::vector<std::int64_t> send_counts_;
  std::vector<LocalId> send_index_;  // owned local ids, grouped by destination rank
  std::vector<std::int64_t> recv_counts_;
  mutable std::vector<double> send_buffer_;
  mutable std::vector<float> float_send_, float_first_, float_arrived_, float_second_;  // exchange_block's for floats
  std::shared_ptr<const TwoLevel> two_level_;                                           // set when routed two-level
};

struct GraphOptions {
  bool undirected = false;       // count every edge in both directions
  bool drop_self_loops = false;  // default keeps them (a self-loop is a real link)
  bool keep_duplicates = false;  // repeated edges stay multi-edges: their weights add up
};

// Global facts about the graph as built (the same on every rank).
struct GraphStats {
  std::uint64_t n = 0;            // vertices
  std::uint64_t m = 0;            // directed edges after collapsing duplicates
  std::uint64_t input_edges = 0;  // edges as read (after undirected doubling)
  std::uint64_t duplicates = 0;   // edges removed as duplicates
  std::uint64_t self_loops = 0;   // kept self-loops (removed ones when dropped)
  std::uint64_t dangling = 0;     // vertices with zero out-weight
  std::uint64_t max_in_degree = 0;
  std::uint64_t max_out_degree = 0;
  bool undirected = false;  // built with both directions of every edge: symmetric
};

struct DistGraph {
  Partition partition;
  IdMap ids;
  GlobalId first = 0;  // first owned dense id
  LocalCsr in;
  std::vector<GlobalId> ghost_ids;              // global ids of ghost columns, increasing
  std::vector<double> out_weight;               // o(u) per owned vertex: out-degree or Σ out-weights
  std::vector<std::uint64_t> out_degree_count;  // out-edges per owned vertex (statistics)
  HaloPlan halo;
  GraphStats stats;
  bool weighted = false;
  // Σ over this rank's in-edges u→v of mix64(mix64(v) ^ u·0xC2B2AE3D27D4EB4F ^ bits of w(u,v)
  // (0 unweighted)), in global ids: this rank's share of the run fingerprint (checkpoints). The
  // build takes it while the sources are still global ids in row order; from the CSR, a ghost
  // source costs a random read (0.14 s of a 2-rank run at Kronecker 22).
  std::uint64_t edge_checksum = 0;

  LocalId rows() const { return in.rows; }
  // The global dense id of CSR column c: an owned vertex below rows(), a ghost above.
  GlobalId global_id(LocalId c) const { return c < in.rows ? first + c : ghost_ids[c - in.rows]; }
  // Bytes this rank holds for the graph: the CSR, the ghosts and their plan, the out-weights
  // and degrees, and its part of the id map.
  std::uint64_t bytes() const {
    return in.bytes() + ghost_ids.capacity() * sizeof(GlobalId) + out_weight.capacity() * sizeof(double) +
           out_degree_count.capacity() * sizeof(std::uint64_t) + halo.bytes() + ids.bytes();
  }
};

// Collective: redistributes the edges of every rank to their owners and builds the graph.
// Duplicate edges collapse into one keeping the largest weight, or with keep_duplicates into
// one whose weight is their sum (the same chain as the multigraph); the vertex set is every
// id in an edge plus every declared id. Throws the same input error on every rank for an empty
// graph or an undeclared endpoint. With `laps`, times its sub-phases on this rank: remap (ids
// to dense ids), exchange (edges to the rows' owners), collapse (sorting rows, merging
// duplicates), balance (rows to the balanced partition), csr (columns, ghosts, halo plan),
// out_weights, statistics.
DistGraph build_graph(EdgeShare input, const GraphOptions& options, const Comm& comm, Laps* laps = nullptr);

// A built graph's rows as a prepared graph file stores them: this rank's rows of a partition,
// their in-edges' sources as dense ids (increasing within a row), and their weights when the
// graph is weighted.
struct PreparedRows {
  std::vector<EdgeIndex> start;  // rows + 1 offsets, from 0
  Column<std::uint32_t> src32;   // the sources while every dense id fits 32 bits (n <= 2^32)
  Column<GlobalId> src;          // else here
  std::vector<double> weight;    // empty: unweighted
};

// Collective: the graph that prepared rows describe, as build_graph builds it from the edges:
// local columns and ghosts, the halo plan, out-weights and the statistics the edges give (m,
// self-loops, dangling, largest degrees); `stats` brings the rest (input edges, duplicates,
// undirected). Nothing is parsed, remapped or exchanged but the ghosts' requests. The caller
// has checked the rows (offsets monotone, sources below n and increasing within a row).
// With `laps`, times csr, out_weights and statistics as build_graph does.
DistGraph assemble_graph(PreparedRows rows, IdMap ids, Partition partition, const GraphStats& stats, bool weighted,
                         const Comm& comm, Laps* laps = nullptr);

// Collective: whether every edge u→v of weight w has its reverse v→u of the same weight (as
// many times). True at once for a graph built undirected; false at once where a vertex has more
// in-edges than out-edges or fewer (O(n)); otherwise compares two sums over the
// edges of a 64-bit hash, of (u, v, w) and of (v, u, w): equal multisets give equal sums, and
// a graph that is not symmetric passes with probability about 2^-64. Reads the CSR's columns.
bool is_symmetric(const DistGraph& graph, const Comm& comm);

}  // namespace perron

namespace perron {

// Collective: a vertex vector from (dense id, value) pairs held anywhere; each owner receives
// its pairs and sums them into its slice (rows entries, dense ids [first, first + rows)).
std::vector<double> sum_into_owners(std::span<const GlobalId> ids, std::span<const double> values, const DistGraph& graph,
                                    const Comm& comm);

}  // namespace perron
