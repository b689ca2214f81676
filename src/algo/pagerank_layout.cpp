#include "pagerank_layout.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>

#include "perron/core/hash.hpp"
#include "perron/core/memory.hpp"

namespace perron::pagerank_detail {
namespace {

enum Status : std::uint8_t { kCandidate = 0, kEliminated = 1, kOut = 2, kTrailing = 3 };

// (degree, hash of the global id) in one word: the lower key wins; hash ties only keep both
// out, never both in.
std::uint64_t priority(std::uint64_t degree, GlobalId id) {
  constexpr std::uint64_t kDegreeBits = 24;
  return (std::min<std::uint64_t>(degree, (std::uint64_t{1} << kDegreeBits) - 1) << (64 - kDegreeBits)) |
         (mix64(id) >> kDegreeBits);
}

}  // namespace

Elimination independent_low_degree_set(const DistGraph& graph, const Comm& comm, int rounds, bool directed) {
  const LocalCsr& csr = graph.in;
  const LocalId rows = csr.rows;
  const std::size_t ghosts = csr.columns - rows;
  const std::span<const EdgeIndex> start(csr.row_start);
  const std::span<const LocalId> column(csr.column);
  // Status and key of every column (owned rows, then ghosts from their owners). A directed
  // graph's dangling vertices are no candidates (kTrailing); its keys count both directions.
  std::vector<std::uint8_t> status(csr.columns, kCandidate);
  std::vector<std::uint64_t> key(csr.columns);
#pragma omp parallel for schedule(static)
  for (LocalId v = 0; v < rows; ++v) {
    const std::uint64_t out = directed ? graph.out_degree_count[v] : 0;
    key[v] = priority(start[v + 1] - start[v] + out, graph.first + v);
    if (directed && !(graph.out_weight[v] > 0.0)) status[v] = kTrailing;
    for (EdgeIndex e = start[v]; e < start[v + 1]; ++e)
      if (column[e] == v) status[v] = kOut;  // a self-loop: its diagonal entry is not 1
  }
  graph.halo.gather<std::uint64_t>(std::span<const std::uint64_t>(key).first(rows), std::span<std::uint64_t>(key).subspan(rows),
                                   comm);
  auto refresh_ghosts = [&] {
    graph.halo.gather<std::uint8_t>(std::span<const std::uint8_t>(status).first(rows),
                                    std::span<std::uint8_t>(status).subspan(rows), comm);
  };
  // Directed: per column u, the fold of `value(v)` over u's out-neighbours v (the rows that
  // read u), owners completed from every rank's ghosts. Only rows' own values are read, so
  // each rank computes its part alone and one reverse exchange finishes it.
  auto over_out_neighbours = [&](std::uint64_t identity, auto value, auto fold) {
    std::vector<std::uint64_t> acc(csr.columns, identity);
#pragma omp parallel for schedule(dynamic, 4096)
    for (LocalId v = 0; v < rows; ++v) {
      const std::uint64_t mine = value(v);
      if (mine == identity) continue;
      for (EdgeIndex e = start[v]; e < start[v + 1]; ++e) {
        std::atomic_ref<std::uint64_t> slot(acc[column[e]]);
        std::uint64_t seen = slot.load(std::memory_order_relaxed);
        while (fold(seen, mine) != seen && !slot.compare_exchange_weak(seen, fold(seen, mine), std::memory_order_relaxed)) {}
      }
    }
    graph.halo.scatter_reduce<std::uint64_t>(std::span<const std::uint64_t>(acc).subspan(rows),
                                             std::span<std::uint64_t>(acc).first(rows), fold, comm);
    acc.resize(rows);
    return acc;
  };
  const auto min = [](std::uint64_t a, std::uint64_t b) { return std::min(a, b); };
  const auto max = [](std::uint64_t a, std::uint64_t b) { return std::max(a, b); };
  constexpr std::uint64_t kNone = ~std::uint64_t{0};
  std::vector<std::uint8_t> change(rows);
  std::vector<std::uint64_t> beyond;  // directed: the lowest candidate key, then membership, among out-neighbours
  for (int round = 0; round < rounds; ++round) {
    refresh_ghosts();
    if (directed)
      beyond = over_out_neighbours(
          kNone, [&](LocalId v) { return status[v] == kCandidate ? key[v] : kNone; }, min);
      // Join: a candidate below every candidate neighbour. Hubs stop at their first lower neighbour.
#pragma omp parallel for schedule(dynamic, 4096)
    for (LocalId v = 0; v < rows; ++v) {
      bool joins = status[v] == kCandidate && (!directed || beyond[v] > key[v]);
      for (EdgeIndex e = start[v]; joins && e < start[v + 1]; ++e)
        joins = status[column[e]] != kCandidate || key[column[e]] > key[v];
      change[v] = joins ? 1 : 0;
    }
    for (LocalId v = 0; v < rows; ++v)
      if (change[v] != 0) status[v] = kEliminated;
    refresh_ghosts();
    if (directed)
      beyond = over_out_neighbours(
          0, [&](LocalId v) { return status[v] == kEliminated ? 1 : 0; }, max);
      // Drop out: a candidate next to a member.
#pragma omp parallel for schedule(dynamic, 4096)
    for (LocalId v = 0; v < rows; ++v) {
      bool next_to_member = status[v] == kCandidate && directed && beyond[v] != 0;
      if (status[v] == kCandidate)
        for (EdgeIndex e = start[v]; !next_to_member && e < start[v + 1]; ++e) next_to_member = status[column[e]] == kEliminated;
      change[v] = next_to_member ? 1 : 0;
    }
    for (LocalId v = 0; v < rows; ++v)
      if (change[v] != 0) status[v] = kOut;
  }
  refresh_ghosts();
  Elimination out;
  out.owned.resize(rows);
  out.ghost.resize(ghosts);
  std::uint64_t members = 0, trailing = 0;
  for (LocalId v = 0; v < rows; ++v) {
    out.owned[v] = status[v] == kEliminated ? kEliminatedRow : status[v] == kTrailing ? kTrailingRow : kKeptRow;
    members += status[v] == kEliminated ? 1 : 0;
    trailing += status[v] == kTrailing ? 1 : 0;
  }
  for (std::size_t g = 0; g < ghosts; ++g) out.ghost[g] = status[rows + g] == kEliminated ? 1 : 0;
  out.count = comm.allreduce<std::uint64_t>(members, ReduceOp::sum);
  out.trailing = comm.allreduce<std::uint64_t>(trailing, ReduceOp::sum);
  return out;
}

namespace {
// Sorts `ids` by reads[id], most first, keeping the order of ties: a counting sort (reads are
// edge counts, at most the rows), linear where a comparison sort of a million vertices cost
// a third of a second of the plan.
void most_read_first(std::span<LocalId> ids, std::span<const std::uint32_t> reads) {
  std::uint32_t most = 0;
  for (const LocalId c : ids) most = std::max(most, reads[c]);
  std::vector<std::size_t> start(static_cast<std::size_t>(most) + 2, 0);  // start[most − r]: first slot of r
  for (const LocalId c : ids) ++start[most - reads[c] + 1];
  for (std::size_t i = 1; i < start.size(); ++i) start[i] += start[i - 1];
  const std::vector<LocalId> before(ids.begin(), ids.end());
  for (const LocalId c : before) ids[start[most - reads[c]]++] = c;
}
}  // namespace

WorkOrder make_work_order(const DistGraph& graph, const Elimination* eliminated, bool by_reads) {
  const LocalCsr& csr = graph.in;
  const LocalId rows = csr.rows;
  std::vector<std::uint32_t> reads;  // ≤ rows: a row reads a column once
  if (by_reads && graph.partition.ranks() == 1) {
    // One rank: column c is read by every row it links to, so its reads are its out-degree,
    // which the build counted (DistGraph::out_degree_count): no pass over the edges (0.03–0.06 s
    // of a batch's 0.27 s plan on Kronecker 20).
    reads.resize(csr.columns);
#pragma omp parallel for schedule(static)
    for (LocalId c = 0; c < csr.columns; ++c) reads[c] = static_cast<std::uint32_t>(graph.out_degree_count[c]);
  } else if (by_reads) {
    // Each thread counts the reads of its own range of columns over all the edges: a stream of
    // the column array per thread, where atomic increments along the edges cost ten times more
    // on 2 threads. Its wall time is one stream of the array at any thread count (the threads'
    // streams share the memory bandwidth), so it does not shrink with threads as the rest does.
    reads.assign(csr.columns, 0);
    const std::span<const LocalId> column(csr.column);
#pragma omp parallel
    {
      const auto t = static_cast<std::uint64_t>(omp_get_thread_num());
      const auto threads = static_cast<std::uint64_t>(omp_get_num_threads());
      const auto first = static_cast<LocalId>(csr.columns * t / threads);
      const auto width = static_cast<LocalId>(csr.columns * (t + 1) / threads) - first;
      for (const LocalId c : column)
        if (c - first < width) ++reads[c];  // unsigned: first ≤ c < first + width
    }
  }
  // A row's class (kept, eliminated, trailing), a ghost's (kept or eliminated).
  auto class_of = [&](LocalId c) -> std::uint8_t {
    if (!eliminated) return kKeptRow;
    if (c < rows) return eliminated->owned[c];
    return eliminated->ghost[c - rows] != 0 ? kEliminatedRow : kKeptRow;
  };
  // Appends the columns of [first, last) of class `wanted` to `order`, most read first.
  auto append = [&](LocalId first, LocalId last, std::uint8_t wanted, std::vector<LocalId>& order) {
    const std::size_t from = order.size();
    for (LocalId c = first; c < last; ++c)
      if (class_of(c) == wanted) order.push_back(c);
    if (by_reads) most_read_first(std::span<LocalId>(order).subspan(from), reads);
  };
  WorkOrder w;
  w.vertex.reserve(rows);
  append(0, rows, kKeptRow, w.vertex);
  w.kept_rows = static_cast<LocalId>(w.vertex.size());
  append(0, rows, kEliminatedRow, w.vertex);
  w.trailing_rows = static_cast<LocalId>(w.vertex.size());
  append(0, rows, kTrailingRow, w.vertex);
  w.position.resize(rows);
  for (LocalId k = 0; k < rows; ++k) w.position[w.vertex[k]] = k;
  std::vector<LocalId> ghost_order;  // columns, kept then eliminated, by owner inside each
  for (const std::uint8_t wanted : {kKeptRow, kEliminatedRow}) {
    LocalId group = rows;
    for (const std::int64_t count : graph.halo.ghost_counts()) {
      append(group, static_cast<LocalId>(group + count), wanted, ghost_order);
      group = static_cast<LocalId>(group + count);
    }
    if (wanted == kKeptRow) w.kept_ghosts = static_cast<LocalId>(ghost_order.size());
  }
  w.ghost_column.resize(csr.columns - rows);
  for (LocalId k = 0; k < static_cast<LocalId>(ghost_order.size()); ++k) w.ghost_column[ghost_order[k] - rows] = k;
  return w;
}

LocalCsr work_rows(const LocalCsr& csr, const WorkOrder& order, LocalId first, LocalId last, std::vector<EdgeIndex>* kept_split) {
  LocalCsr out;
  out.rows = last - first;
  out.columns = csr.columns;
  out.row_start.assign(out.rows + 1, 0);
  for (LocalId i = 0; i < out.rows; ++i) {
    const LocalId v = order.vertex[first + i];
    out.row_start[i + 1] = out.row_start[i] + (csr.row_start[v + 1] - csr.row_start[v]);
  }
  // The rows are read in the graph's order and written to their work rows: a work order sorted
  // by reads visits the graph's rows at random, and a read that misses stalls the copy where a
  // write that misses does not.
  out.column.resize(out.row_start.back());
  if (!csr.weight.empty()) out.weight.resize(out.row_start.back());
  if (kept_split) kept_split->assign(out.rows, 0);
  const KeptColumns kept = order.kept_columns();
#pragma omp parallel for schedule(dynamic, 1024)
  for (LocalId v = 0; v < csr.rows; ++v) {
    const LocalId i = order.position[v] - first;  // unsigned: v's work row is in [first, last)
    if (i >= out.rows) continue;
    EdgeIndex to = out.row_start[i];
    if (!kept_split) {
      for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e, ++to) {
        out.column[to] = order.column(csr.column[e], csr.rows);
        if (!csr.weight.empty()) out.weight[to] = csr.weight[e];
      }
      continue;
    }
    // The kept columns' entries fill the row from its start, the others from its end backwards.
    EdgeIndex back = out.row_start[i + 1];
    for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) {
      const LocalId c = order.column(csr.column[e], csr.rows);
      const bool in_front = kept.holds(c);  // selects, no branch: the classes mix at random
      back -= in_front ? 0 : 1;
      const EdgeIndex at = in_front ? to : back;
      to += in_front ? 1 : 0;
      out.column[at] = c;
      if (!csr.weight.empty()) out.weight[at] = csr.weight[e];
    }
    (*kept_split)[i] = to;
  }
  return out;
}

bool BlockedCsr::worthwhile(const LocalCsr& csr, std::uint64_t cache_share) {
  return static_cast<std::uint64_t>(csr.columns) * sizeof(double) > cache_share / 2;
}

BlockedCsr::BlockedCsr(const LocalCsr& csr, const WorkOrder& order, bool weighted, LocalId segment_shift,
                       LocalId tile_rows_wanted)
    : shift_(segment_shift) {
  const LocalId rows = order.kept_rows;
  const LocalId tile_rows = std::max<LocalId>(1, tile_rows_wanted);
  tiles_ = (static_cast<std::size_t>(rows) + tile_rows - 1) / tile_rows;
  segments_ = static_cast<std::size_t>(csr.columns >> shift_) + 1;
  const std::size_t cells = segments_ * tiles_;  // (segment, tile), segment-major
  const LocalId mask = (LocalId{1} << shift_) - 1;
  constexpr LocalId kNoRow = ~LocalId{0};
  // Pass 1: edges and runs per cell. Pass 2: runs and offsets in place. on_edge(segment,
  // work row, offset in the segment, edge, whether it starts a run).
  std::vector<std::uint64_t> cell_edges(cells, 0), cell_runs(cells, 0);
  auto walk = [&](std::size_t t, auto&& on_edge) {
    std::vector<LocalId> last(segments_, kNoRow);
    std::vector<std::uint32_t> length(segments_, 0);
    std::vector<LocalId> mapped;
    const auto end = static_cast<LocalId>(std::min<std::uint64_t>(rows, (t + 1) * std::uint64_t{tile_rows}));
    for (auto w = static_cast<LocalId>(t * tile_rows); w < end; ++w) {
      const LocalId v = order.vertex[w];
      const EdgeIndex first = csr.row_start[v];
      // The row's work columns first, in a loop of independent loads (the lookups miss cache:
      // apart from the run logic below, these loads overlap).
      mapped.resize(csr.row_start[v + 1] - first);
      for (std::size_t k = 0; k < mapped.size(); ++k) mapped[k] = order.column(csr.column[first + k], csr.rows);
      for (EdgeIndex e = first; e < csr.row_start[v + 1]; ++e) {
        const LocalId c = mapped[e - first];
        const std::size_t seg = c >> shift_;
        const bool new_run = last[seg] != w || length[seg] == kMaxRun;
        length[seg] = new_run ? 1 : length[seg] + 1;
        last[seg] = w;
        on_edge(seg, w, static_cast<std::uint16_t>(c & mask), e, new_run);
      }
    }
  };
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t t = 0; t < tiles_; ++t) {
    // Counted here, stored once: neighbouring tiles' cells share cache lines.
    std::vector<std::uint64_t> edges(segments_, 0), runs(segments_, 0);
    walk(t, [&](std::size_t seg, LocalId, std::uint16_t, EdgeIndex, bool new_run) {
      ++edges[seg];
      runs[seg] += new_run ? 1 : 0;
    });
    for (std::size_t seg = 0; seg < segments_; ++seg) {
      cell_edges[seg * tiles_ + t] = edges[seg];
      cell_runs[seg * tiles_ + t] = runs[seg];
    }
  }
  cell_edge_.assign(cells + 1, 0);
  cell_run_.assign(cells + 1, 0);
  for (std::size_t i = 0; i < cells; ++i) {
    cell_edge_[i + 1] = cell_edge_[i] + cell_edges[i];
    cell_run_[i + 1] = cell_run_[i] + cell_runs[i];
  }
  offset_.resize(cell_edge_.back());
  if (weighted) weight_.resize(cell_edge_.back());
  run_row_.resize(cell_run_.back());
  run_length_.resize(cell_run_.back());
#pragma omp parallel for schedule(dynamic, 1)
  for (std::size_t t = 0; t < tiles_; ++t) {
    std::vector<std::uint64_t> edge_at(segments_), run_at(segments_);
    for (std::size_t seg = 0; seg < segments_; ++seg) {
      edge_at[seg] = cell_edge_[seg * tiles_ + t];
      run_at[seg] = cell_run_[seg * tiles_ + t];
    }
    walk(t, [&](std::size_t seg, LocalId w, std::uint16_t offset, EdgeIndex e, bool new_run) {
      if (new_run) {
        run_row_[run_at[seg]] = w;
        run_length_[run_at[seg]++] = 0;
      }
      ++run_length_[run_at[seg] - 1];
      if (!weight_.empty()) weight_[edge_at[seg]] = csr.weight[e];
      offset_[edge_at[seg]++] = offset;
    });
  }
}

}  // namespace perron::pagerank_detail
