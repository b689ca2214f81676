#pragma once
// How a PageRank solve lays out this rank's in-edges (private to algo/pagerank.cpp): the set of
// vertices conjugate gradients eliminates, the work order of the vertices, and the
// cache-blocked copy of the edges.
#include <cstdint>
#include <span>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"
#include "perron/graph/dist_graph.hpp"

namespace perron::pagerank_detail {

// An independent set C of low-degree vertices: no two members adjacent (in either direction)
// and none with a self-loop, so the block of I − αP on C is the identity and a Krylov solver
// can solve for the other vertices F alone, through the Schur complement (see cg_solve and
// bicgstab_solve). Chosen by local minima (Luby 1986, with fixed priorities): a candidate joins
// when its key, (degree, hash of its global id), is below every candidate neighbour's; then its
// neighbours drop out; `rounds` times. Keys depend only on the graph, so C is the same for every
// rank count. On power-law graphs this is most of the vertices and few of the edges
// (docs/benchmarks.md).
// A symmetric graph's in-neighbours are all its neighbours. A directed graph's out-neighbours
// are found by sending each row's key and membership back along its in-edges (the halo's
// reverse, scatter_reduce); and its dangling vertices (no out-weight) are not candidates but a
// class of their own, `trailing`: no vertex reads them (their columns of P are zero), so the
// solve leaves their rows out and finishes them in one pass at the end (Langville & Meyer,
// "A reordering for the PageRank problem", 2006).
enum RowClass : std::uint8_t { kKeptRow = 0, kEliminatedRow = 1, kTrailingRow = 2 };
struct Elimination {
  std::vector<std::uint8_t> owned;  // RowClass of each owned vertex (dense local id)
  std::vector<std::uint8_t> ghost;  // 1 for an eliminated ghost
  std::uint64_t count = 0;          // eliminated vertices, every rank
  std::uint64_t trailing = 0;       // directed: dangling vertices ordered last, every rank

  // Whether CSR column c (owned below `rows`, ghost c − rows above) is eliminated.
  bool column(LocalId c, LocalId rows) const { return c < rows ? owned[c] == kEliminatedRow : ghost[c - rows] != 0; }
};
Elimination independent_low_degree_set(const DistGraph& graph, const Comm& comm, int rounds, bool directed = false);

// The work columns of kept vertices: the owned kept rows [0, kept) and the kept ghosts [rows,
// kept_end) (the ghosts come kept first, then eliminated); index(c) is c's place among them
// alone, owned then ghosts (a block of values for the kept columns only).
struct KeptColumns {
  LocalId kept = 0, rows = 0, kept_end = 0;
  bool holds(LocalId c) const { return c < kept || (c >= rows && c < kept_end); }
  std::size_t index(LocalId c) const { return c < kept ? c : c - (rows - kept); }
};

// The order a solve keeps its vectors in ("work order"): kept rows first, then eliminated
// ones, then trailing ones; the columns are the owned rows in that order, then the kept ghosts,
// then the eliminated ghosts, each group of ghosts ordered by owner rank (so a halo exchange
// lands it in place). With `by_reads`, vertices inside each class are sorted by how many of
// this rank's edges read them, most first (Faldu, Diamond & Grot 2019): the hot columns pack
// together, for the blocked kernel's first segment and for a batch's block of vectors.
struct WorkOrder {
  std::vector<LocalId> vertex;        // work row → dense local row
  std::vector<LocalId> position;      // dense local row → work row
  std::vector<LocalId> ghost_column;  // ghost g → its work column − rows
  LocalId kept_rows = 0;              // rows [0, kept_rows) are kept,
  LocalId trailing_rows = 0;          // [kept_rows, trailing_rows) eliminated, the rest trailing
  LocalId kept_ghosts = 0;            // ghost columns rows + [0, kept_ghosts) are kept

  LocalId column(LocalId c, LocalId rows) const { return c < rows ? position[c] : rows + ghost_column[c - rows]; }
  KeptColumns kept_columns() const {
    const auto rows = static_cast<LocalId>(vertex.size());
    return {kept_rows, rows, rows + kept_ghosts};
  }
};
WorkOrder make_work_order(const DistGraph& graph, const Elimination* eliminated, bool by_reads);

// Work rows [first, last) of the CSR as a CSR of their own, columns in work order (each row's
// columns keep their order, so its sum runs in the same order as in the graph). With
// kept_split (a batch's plan), each row lists its entries from kept columns first, in that
// order, and the others after them in reverse order, and (*kept_split)[i] is where row i's
// others start: a batch's cg product reads the first part from single-precision directions and
// the rest from double values (pagerank_personalized.cpp).
LocalCsr work_rows(const LocalCsr& csr, const WorkOrder& order, LocalId first, LocalId last,
                   std::vector<EdgeIndex>* kept_split = nullptr);

// Degree-sorted, cache-blocked pull (Zhang, Kiriansky, Mendis, Zaharia, Amarasinghe & Shun,
// "Making caches work for graph analytics" (Cagra), 2017), over the kept rows of a work order
// sorted by reads (on a power-law graph the first segment then serves most of the edges). The
// columns are cut into segments of 2^shift (64 Ki: 512 KiB of contributions,
// half of a core's L2) and the rows into tiles (16 Ki: 128 KiB of y). The edges are stored
// segment by segment and, inside a segment, tile by tile as runs (row, count) of one row's
// edges, each edge a 16-bit offset into its segment. A step walks the segments in order; the
// threads share the tiles of a segment (a barrier between segments), so every gather of a
// segment hits the same 512 KiB and every y update stays in a tile that fits L2.
// A row's sum is then added segment by segment, in the same order for any thread count (tiles
// are fixed by rows, not threads): bit-identical across threads and runs.
// Sorting and blocking each pay on their own and more together (docs/benchmarks.md).
// Costs 2 bytes per edge plus 6 per run (row, count) beside the CSR.
class BlockedCsr {
 public:
  // Used when the contributions outgrow half of this rank's share of the cache (bytes): below
  // that the plain gather hits the cache anyway, and blocking only adds work.
  static bool worthwhile(const LocalCsr& csr, std::uint64_t cache_share);

  BlockedCsr(const LocalCsr& csr, const WorkOrder& order, bool weighted, LocalId segment_shift, LocalId tile_rows);

  std::uint64_t bytes() const {
    return (cell_edge_.capacity() + cell_run_.capacity()) * sizeof(std::uint64_t) + run_row_.capacity() * sizeof(LocalId) +
           (run_length_.capacity() + offset_.capacity()) * sizeof(std::uint16_t) + weight_.capacity() * sizeof(double);
  }

  // y(w) = Σ over w's in-edges of weight·contrib(column) for the kept rows w (y.size() of
  // them); contrib in work order, read from the segment of `first_column` on (the columns
  // before it must contribute 0). Call from inside a parallel region: all threads walk the
  // segments together.
  template <bool kWeighted>
  void gather(std::span<const double> contrib, std::span<double> y, LocalId first_column = 0) const {
#pragma omp for schedule(static)
    for (std::size_t w = 0; w < y.size(); ++w) y[w] = 0.0;
    for (std::size_t seg = first_column >> shift_; seg < segments_; ++seg) {
      const double* c = contrib.data() + (seg << shift_);
#pragma omp for schedule(dynamic, 1)
      for (std::size_t t = 0; t < tiles_; ++t) {
        const std::size_t cell = seg * tiles_ + t;
        EdgeIndex e = cell_edge_[cell];
        for (std::uint64_t r = cell_run_[cell]; r < cell_run_[cell + 1]; ++r) {
          double sum = 0.0;
          const EdgeIndex end = e + run_length_[r];
          for (; e < end; ++e) {
            if constexpr (kWeighted)
              sum += weight_[e] * c[offset_[e]];
            else
              sum += c[offset_[e]];
          }
          y[run_row_[r]] += sum;
        }
      }
    }
  }

 private:
  static constexpr std::uint32_t kMaxRun = 0xffff;  // longer runs of a row split (16-bit counts)

  LocalId shift_;
  std::size_t tiles_ = 0, segments_ = 0;
  std::vector<std::uint64_t> cell_edge_, cell_run_;  // (segment, tile) cells + 1 offsets
  // Allocated as zero pages, first written by the threads that fill them.
  Column<LocalId> run_row_;  // work row of each run
  Column<std::uint16_t> run_length_;
  Column<std::uint16_t> offset_;  // column − segment start, per edge
  Column<double> weight_;
};

}  // namespace perron::pagerank_detail
