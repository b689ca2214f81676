#pragma once
// The PageRank step (private to algo/pagerank*.cpp): the pull kernels fused with the step's
// reductions, the ordered sums that make every global sum deterministic, and StepOperator,
// which runs one step of a solve over the layout it chose (plain or blocked CSR, with or
// without cg's eliminated set). The solvers (pagerank.cpp, pagerank_cg.cpp) and Anderson's
// mixing (pagerank_anderson.cpp) are written against it.
#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "pagerank_layout.hpp"
#include "perron/algo/pagerank.hpp"
#include "perron/comm/comm.hpp"
#include "perron/graph/dist_graph.hpp"

namespace perron {
namespace pagerank_detail {

// Fixed-size blocks for reductions: partial sums per block, added in block order, make every
// global sum independent of the thread count and of OpenMP's scheduling.
constexpr LocalId kBlock = 2048;

constexpr LocalId block_count(LocalId rows) { return (rows + kBlock - 1) / kBlock; }

// contrib(u) = x(u)/o(u): what u sends along each unit of out-weight (0 for dangling u), with
// x(u) = value(u): a vector's entry, or a value computed on the way (CG's new direction).
template <class Value>
void scale_by_out_weight(Value value, std::span<const double> inv_out, std::span<double> contrib) {
  const std::size_t rows = contrib.size();
#pragma omp parallel for schedule(static)
  for (std::size_t u = 0; u < rows; ++u) contrib[u] = value(u) * inv_out[u];
}

// Σ over dangling u of x(u), deterministic.
double dangling_mass(std::span<const double> x, std::span<const double> inv_out, std::vector<double>& block_sum);

// What every row gets besides its in-edges, y(v) = α·sum + α·D·δ(v) + (1−α)·t(v), and this
// step's reductions over one block of rows: L1 change, dangling mass of y, Σy.
struct RowFinish {
  double alpha, dangling_sum, base_uniform, dangling_uniform;
  const VertexDistribution& teleport;
  const VertexDistribution& dangling;
  std::span<const double> x, inv_out;

  RowFinish(double a, double d, double n_inv, const VertexDistribution& t, const VertexDistribution& dv,
            std::span<const double> x_, std::span<const double> inv)
      : alpha(a),
        dangling_sum(d),
        base_uniform((1.0 - a) * n_inv),
        dangling_uniform(a * d * n_inv),
        teleport(t),
        dangling(dv),
        x(x_),
        inv_out(inv) {}

  // y(v) from its in-edge sum, adding to the block's {residual, dangling mass, mass}.
  double operator()(LocalId v, double sum, std::array<double, 3>& acc) const {
    const double tele = teleport.uniform() ? base_uniform : (1.0 - alpha) * teleport.values[v];
    const double dang = dangling.uniform() ? dangling_uniform : alpha * dangling_sum * dangling.values[v];
    const double yv = alpha * sum + dang + tele;
    acc[0] += std::abs(yv - x[v]);
    if (inv_out[v] == 0.0) acc[1] += yv;
    acc[2] += yv;
    return yv;
  }
};

// q(v) = p(v) − α·sum: the product q = (I − αP)p that conjugate gradients iterate with (no
// teleport, no dangling term), adding ⟨p, q⟩ in the inner product weighted by 1/o to the block.
struct ApplyShifted {
  double alpha;
  std::span<const double> p, weight;

  double operator()(LocalId v, double sum, std::array<double, 3>& acc) const {
    const double qv = p[v] - alpha * sum;
    acc[0] += p[v] * weight[v] * qv;
    return qv;
  }
};

// Conjugate gradients' search directions in single precision (cg_solve, and the batch's cg in
// pagerank_personalized.cpp), where the tolerance is at least kSinglePrecisionTolerance. A
// product reads p(u)/o(u) as a 4-byte float, c = fl32(p(u)/o(u)), and the solve keeps p(u) =
// c·o(u) itself, so z += a·p and r −= a·Sp still use the very p whose product was taken: the
// recurrence stays exact in double, only the direction is rounded (by at most 2⁻²⁴ of each
// value), and the true residual goes as low as in double. A batch of 16 vectors then gathers 64
// bytes per edge instead of 128, from a block of directions half the size (the kept
// columns'). What the rounding costs is conjugacy: on Kronecker 14 to 20, global and seeded,
// the same steps as in double to 1e-8 and 1e-10, two more to 1e-12 (docs/benchmarks.md); so
// below kSinglePrecisionTolerance the directions stay double.
inline constexpr double kSinglePrecisionTolerance = 1e-10;
inline bool single_precision_directions(double tolerance, int fixed_iterations) {
  return fixed_iterations == 0 && tolerance >= kSinglePrecisionTolerance;
}
// The direction whose sent value is the float `sent`: p = sent·out, out = 1/inv_out (o, up to
// the rounding of the two divisions), one product per value. A batch rebuilds p this way from
// the floats it sends, to the bits it would hold, instead of holding p as well (Batch::cg).
inline double direction_of_sent(float sent, double out) { return static_cast<double>(sent) * out; }
// p, rounded so that what it sends, fl32(p·inv_out), is a float f and p = f·o
// (direction_of_sent; then fl32(p·inv_out) = f again: p·inv_out is within 2⁻⁵¹·|f| of f), for
// a row that sends (inv_out > 0) with out = 1/inv_out given (a batch computes it once per row).
inline double single_precision_direction(double p, double inv_out, double out) {
  return direction_of_sent(static_cast<float>(p * inv_out), out);
}
// The same for any row: unchanged where nothing is sent (inv_out = 0).
inline double single_precision_direction(double p, double inv_out) {
  return inv_out > 0.0 ? single_precision_direction(p, inv_out, 1.0 / inv_out) : p;
}

// How many edges ahead a pull over the CSR asks for the source values it will gather
// (__builtin_prefetch), for S values (S·8 bytes) per source. Once the values outgrow the
// cache, each gather waits for memory unless it was asked for early: the out-of-order window
// covers only a few edges. The distance keeps about kPrefetchLines cache lines in flight per
// thread; measured on Kronecker 20 and 22 (docs/benchmarks.md): a pull over a graph
// whose values fit the cache neither gains nor loses.
inline constexpr EdgeIndex kPrefetchLines = 256;
template <int S>
inline constexpr EdgeIndex prefetch_distance = kPrefetchLines / ((S * 8 + 63) / 64);

// The pull step for rows [0, rows), fused with the step's reductions per block (`finish` maps
// a row's in-edge sum to its value and adds to the block's three sums: RowFinish, ApplyShifted).
// Dynamic scheduling over blocks balances skewed in-degrees; results do not depend on it.
template <bool kWeighted, class Finish>
void pull_step(const LocalCsr& csr, std::span<const double> contrib, const Finish& finish, std::span<double> y,
               std::vector<std::array<double, 3>>& block_sum) {
  const LocalId rows = csr.rows;
  const LocalId blocks = block_count(rows);
  block_sum.assign(blocks, {0.0, 0.0, 0.0});
  const EdgeIndex* start = csr.row_start.data();
  const LocalId* col = csr.column.data();
  const double* w = csr.weight.data();
  const EdgeIndex edges = start[rows];
#pragma omp parallel for schedule(dynamic, 1)
  for (LocalId b = 0; b < blocks; ++b) {
    std::array<double, 3> acc{0.0, 0.0, 0.0};
    for (LocalId v = b * kBlock; v < std::min(rows, (b + 1) * kBlock); ++v) {
      double sum = 0.0;
      for (EdgeIndex e = start[v]; e < start[v + 1]; ++e) {
        if (e + prefetch_distance<1> < edges) __builtin_prefetch(&contrib[col[e + prefetch_distance<1>]]);
        if constexpr (kWeighted)
          sum += w[e] * contrib[col[e]];
        else
          sum += contrib[col[e]];
      }
      y[v] = finish(v, sum, acc);
    }
    block_sum[b] = acc;
  }
}

// The step of pull_step over the blocked layout, in work order: gather every row, then finish
// the rows block by block (the same fixed blocks as pull_step, so the same reductions).
template <bool kWeighted, class Finish>
void blocked_pull_step(const BlockedCsr& blocked, std::span<const double> contrib, const Finish& finish, std::span<double> y,
                       std::vector<std::array<double, 3>>& block_sum, LocalId first_column = 0) {
  const auto rows = static_cast<LocalId>(y.size());
  const LocalId blocks = block_count(rows);
  block_sum.assign(blocks, {0.0, 0.0, 0.0});
#pragma omp parallel
  {
    blocked.gather<kWeighted>(contrib, y, first_column);
#pragma omp for schedule(static)
    for (LocalId b = 0; b < blocks; ++b) {
      std::array<double, 3> acc{0.0, 0.0, 0.0};
      for (LocalId w = b * kBlock; w < std::min(rows, (b + 1) * kBlock); ++w) y[w] = finish(w, y[w], acc);
      block_sum[b] = acc;
    }
  }
}

// out[to[i]] = values[i]: into work order with to = position, back to dense with to = vertex.
std::vector<double> permuted(std::span<const double> values, std::span<const LocalId> to);

// Σ over rows [0, rows) of three quantities that body(v, acc) adds to acc: in fixed blocks,
// then in block order, then in rank order, so deterministic for given ranks × threads.
template <class Body>
std::array<double, 3> ordered_sums(LocalId rows, std::vector<std::array<double, 3>>& block_sum, const Comm& comm, Body body) {
  const LocalId blocks = block_count(rows);
  block_sum.assign(blocks, {0.0, 0.0, 0.0});
#pragma omp parallel for schedule(static)
  for (LocalId b = 0; b < blocks; ++b) {
    std::array<double, 3> acc{0.0, 0.0, 0.0};
    for (LocalId v = b * kBlock; v < std::min(rows, (b + 1) * kBlock); ++v) body(v, acc);
    block_sum[b] = acc;
  }
  std::array<double, 3> sums{0.0, 0.0, 0.0};
  for (const auto& b : block_sum)
    for (std::size_t k = 0; k < 3; ++k) sums[k] += b[k];
  comm.sum_ordered(sums);
  return sums;
}

// What a solve needs besides its vectors: contributions (owned, then ghosts) and block sums.
struct StepBuffers {
  std::vector<double> contrib;
  std::vector<std::array<double, 3>> block_sum, eliminated_sum, trailing_sum;
  std::vector<double> block_scalar;
};

// The order of the vertices inside each class of a plain-kernel work order (which cg and
// bicgstab build; power on the plain kernel reads the graph's CSR): the graph's, or most read
// first (as the blocked kernel's). A batch of 16 vectors gathers 128 bytes per edge
// from a block of vectors far larger than the cache; most read first packs the hubs' rows, which
// most edges read, into a part that stays cached: on Kronecker 20 a product of 16 vectors takes
// 0.8× the time, for 0.15 s more plan (docs/benchmarks.md). One vector's 8 bytes per vertex
// mostly stay cached anyway, and it gains less than the plan costs.
enum class WorkColumns { graph_order, most_read_first };

// One solve's pull operator: the kernel (plain or blocked), the halo plans in the kernel's
// vertex order, and 1/o per vertex in that order ("work order", WorkOrder: by reads for the
// blocked kernel; the plain kernel over the whole graph reads the graph's own CSR in dense
// order). The choice is collective (the plan's relabeling is): blocked when any rank's vector
// outgrows its cache.
// For cg and bicgstab it also splits the vertices into kept ones and an eliminated independent
// set (independent_low_degree_set), stored after the kept ones in work order with their own
// small CSR; a step then runs in two phases: the eliminated rows pull from kept columns, then
// the kept rows pull from everything. Each phase exchanges only its own ghosts, so a step still
// sends each ghost value once. For bicgstab the dangling vertices come last ("trailing", with a
// CSR of their own): no row reads them, so the solver's products skip their rows and a full
// step finishes them in a third phase, after the other two (nothing to exchange).
class StepOperator {
 public:
  StepOperator(const DistGraph& graph, const PageRankParams& params, const Comm& comm,
               WorkColumns columns = WorkColumns::graph_order);

  PageRankKernel kernel() const { return blocked_ ? PageRankKernel::blocked : PageRankKernel::csr; }
  // Whether a step reads the graph's CSR (else the plan holds its own copy of the edges).
  bool reads_graph_csr() const { return !order_; }
  LocalId rows() const { return rows_; }
  LocalId kept_rows() const { return kept_rows_; }
  LocalId trailing_rows() const { return trailing_rows_; }  // the first trailing row (rows() without any)
  bool eliminates() const { return eliminated_count_ > 0; }
  std::uint64_t eliminated_count() const { return eliminated_count_; }
  std::uint64_t trailing_count() const { return trailing_count_; }
  PageRankSolver solver() const { return solver_; }
  // Per kept row: the share of its out-weight that goes to eliminated vertices, and the
  // diagonal of the Schur complement S (empty without elimination).
  std::span<const double> eliminated_share() const { return eliminated_share_; }
  std::span<const double> schur_diagonal() const { return schur_diagonal_; }
  // bicgstab: Σz over every row from the kept values alone, exactly, for any z_F (the other
  // rows being what z_F makes them):
  //   Σz = Σ_{v ∈ F} sum_weight(v)·z(v) + Σ_{c ∈ C} sum_weight(c)·b(c) + Σ_{d ∈ D} b(d),
  // with, for kept v, 1 + α·Σ_{v→c∈C} P(c,v)(1 + α·s_D(c)) + α·s_D(v), and for eliminated c,
  // 1 + α·s_D(c), where s_D(u) is the part of u's out-weight going to trailing vertices.
  // Over rows [0, trailing_rows()); empty for the other solvers.
  std::span<const double> sum_weight() const { return sum_weight_; }
  // Per step, what this rank's halo exchanges send: values on the wire, and messages.
  std::uint64_t values_sent() const {
    return (order_ ? kept_halo_.values_sent() : dense_halo_->values_sent()) + eliminated_halo_.values_sent();
  }
  std::uint64_t messages_sent() const {
    return (order_ ? kept_halo_.messages_sent() : dense_halo_->messages_sent()) + eliminated_halo_.messages_sent();
  }
  std::span<const double> inv_out() const { return inv_out_; }

  // The work columns of kept vertices (every column without an elimination).
  KeptColumns kept_columns() const { return {kept_rows_, rows_, rows_ + kept_ghosts_}; }

  // What a solve that pulls several vectors at once runs on (personalized.hpp's batches): the
  // plain kernel's CSRs of the kept, eliminated and trailing rows, the halo plans of the kept
  // and the eliminated rows, and the work order (`vertex`: work row → dense row, `position` its
  // inverse; both empty in the graph's own order). With an elimination and
  // WorkColumns::most_read_first (a batch's), where every eliminated row reads kept columns
  // only, kept row v's entries from kept columns come first and those from the other columns
  // start at kept_split[v] (empty otherwise). Only without the blocked kernel.
  struct Phases {
    const LocalCsr& kept;
    const LocalCsr& eliminated;
    const LocalCsr& trailing;
    const HaloPlan& kept_halo;
    const HaloPlan& eliminated_halo;
    LocalId kept_ghosts;
    std::span<const LocalId> vertex, position;
    std::span<const EdgeIndex> kept_split;
  };
  Phases phases() const;
  // Bytes this operator holds beside the graph: its copies of the edges, halo plans, order and
  // per-row terms.
  std::uint64_t bytes() const;
  std::vector<double> to_work(std::span<const double> dense) const {
    return order_ ? permuted(dense, order_->position) : std::vector<double>(dense.begin(), dense.end());
  }
  std::vector<double> to_dense(std::span<const double> work) const {
    return order_ ? permuted(work, order_->vertex) : std::vector<double>(work.begin(), work.end());
  }

  // The full step: y(v) = finish(v, Σ_{u→v} w(u,v)·x(u)/o(u)) for every row (x, y in work
  // order), and the three sums `finish` adds up, over every row of every rank (block, then
  // rank order).
  template <class Finish>
  std::array<double, 3> apply(std::span<const double> x, const Finish& finish, std::span<double> y, StepBuffers& buffers,
                              const Comm& comm) const {
    const auto eliminated_row = [&](LocalId v, double sum, std::array<double, 3>& acc) {
      y[v] = finish(v, sum, acc);
      return x[v];
    };
    return apply_to([x](std::size_t u) { return x[u]; }, eliminated_row, finish, y, buffers, comm, true);
  }

  // The phases of a step, for any values: kept u sends value(u)/o(u); eliminated row v,
  // given the sum s over its in-edges, sends eliminated(v, s, acc)/o(v) (and may add to its
  // block's sums); kept row v becomes finish(v, its in-edge sum, acc) in y[v], and so do the
  // trailing rows with `trailing` (y then spans every row).
  template <class Value, class Eliminated, class Finish>
  std::array<double, 3> apply_to(Value value, const Eliminated& eliminated, const Finish& finish, std::span<double> y,
                                 StepBuffers& buffers, const Comm& comm, bool trailing = false) const {
    pull_eliminated(value, eliminated, buffers, comm);
    return pull_kept(finish, y, buffers, comm, trailing);
  }

  // Every row but the kept ones, from the kept values alone: phase 1, then the eliminated
  // ghosts, then the trailing rows, y(v) = trailing(v, in-edge sum, acc). The sums of both.
  template <class Value, class Eliminated, class Trailing>
  std::array<double, 3> complete(Value value, const Eliminated& eliminated, const Trailing& trailing, std::span<double> y,
                                 StepBuffers& buffers, const Comm& comm) const {
    pull_eliminated(value, eliminated, buffers, comm);
    if (eliminates()) exchange_eliminated(buffers, comm);
    pull_trailing_rows(trailing, y, buffers);
    buffers.block_sum.clear();
    return sums_of_all_phases(buffers, comm);
  }

  // Phase 1 alone: the kept contributions and their ghosts, then every eliminated row.
  template <class Value, class Eliminated>
  void pull_eliminated(Value value, const Eliminated& eliminated, StepBuffers& buffers, const Comm& comm) const {
    buffers.contrib.resize(columns_);
    const std::span<double> contrib(buffers.contrib);
    scale_by_out_weight(value, std::span<const double>(inv_out_).first(kept_rows_), contrib.first(kept_rows_));
    if (order_)
      kept_halo_.exchange(contrib.first(rows_), contrib.subspan(rows_, kept_ghosts_), comm);
    else
      dense_halo_->exchange(contrib.first(rows_), contrib.subspan(rows_), comm);
    buffers.eliminated_sum.clear();
    buffers.trailing_sum.clear();
    if (!eliminates()) return;
    const std::span<const double> inv_out(inv_out_);
    const auto send = [&](LocalId i, double sum, std::array<double, 3>& acc) {
      const LocalId v = kept_rows_ + i;
      return eliminated(v, sum, acc) * inv_out[v];
    };
    const std::span<double> eliminated_contrib = contrib.subspan(kept_rows_, trailing_rows_ - kept_rows_);
    pull_rows(eliminated_csr_, contrib, send, eliminated_contrib, buffers.eliminated_sum);
  }

  // Phase 2: the eliminated rows' ghosts, then every kept row, and with `trailing` phase 3,
  // the trailing rows; the sums of every phase.
  template <class Finish>
  std::array<double, 3> pull_kept(const Finish& finish, std::span<double> y, StepBuffers& buffers, const Comm& comm,
                                  bool trailing = false) const {
    if (eliminates()) exchange_eliminated(buffers, comm);
    pull_kept_rows(finish, y, buffers, 0);
    if (trailing) pull_trailing_rows(finish, y, buffers);
    return sums_of_all_phases(buffers, comm);
  }

  // y(v) = finish(v, Σ over v's in-edges from eliminated u of w(u,v)·value(u)/o(u)) for the
  // kept rows (cg's right-hand side): the kept columns send 0, so the blocked kernel starts at
  // the segment of the first eliminated column (a small share of the edges remains).
  template <class Value, class Finish>
  void pull_from_eliminated(Value value, const Finish& finish, std::span<double> y, StepBuffers& buffers,
                            const Comm& comm) const {
    buffers.contrib.resize(columns_);
    double* contrib = buffers.contrib.data();
    const LocalId kept_end = rows_ + kept_ghosts_;
#pragma omp parallel for schedule(static)
    for (LocalId c = 0; c < kept_end; ++c) contrib[c] = c < kept_rows_ ? 0.0 : c < rows_ ? value(c) * inv_out_[c] : 0.0;
    exchange_eliminated(buffers, comm);
    pull_kept_rows(finish, y, buffers, kept_rows_);
  }

 private:
  void exchange_eliminated(StepBuffers& buffers, const Comm& comm) const {
    const std::span<double> contrib(buffers.contrib);
    eliminated_halo_.exchange(contrib.first(rows_), contrib.subspan(rows_ + kept_ghosts_), comm);
  }

  // Every kept row's in-edge sum, from the segment of `first_column` on (blocked kernel).
  template <class Finish>
  void pull_kept_rows(const Finish& finish, std::span<double> y, StepBuffers& buffers, LocalId first_column) const {
    const std::span<const double> contrib(buffers.contrib);
    const std::span<double> kept = y.first(kept_rows_);
    const LocalCsr& csr = order_ ? kept_csr_ : *graph_csr_;
    if (blocked_ && weighted_)
      blocked_pull_step<true>(*blocked_, contrib, finish, kept, buffers.block_sum, first_column);
    else if (blocked_)
      blocked_pull_step<false>(*blocked_, contrib, finish, kept, buffers.block_sum, first_column);
    else
      pull_rows(csr, contrib, finish, kept, buffers.block_sum);
  }

  // Phase 3: y(v) = finish(v, in-edge sum, acc) for the trailing rows (after every value they
  // read is in contrib: no row reads a trailing one).
  template <class Finish>
  void pull_trailing_rows(const Finish& finish, std::span<double> y, StepBuffers& buffers) const {
    buffers.trailing_sum.clear();
    if (trailing_rows_ == rows_) return;
    const std::span<const double> contrib(buffers.contrib);
    const auto at = [&](LocalId i, double sum, std::array<double, 3>& acc) { return finish(trailing_rows_ + i, sum, acc); };
    const std::span<double> out = y.subspan(trailing_rows_, rows_ - trailing_rows_);
    pull_rows(trailing_csr_, contrib, at, out, buffers.trailing_sum);
  }

  // pull_step over a plain CSR of rows, weighted or not as the graph is.
  template <class Finish>
  void pull_rows(const LocalCsr& csr, std::span<const double> contrib, const Finish& finish, std::span<double> y,
                 std::vector<std::array<double, 3>>& block_sum) const {
    if (weighted_)
      pull_step<true>(csr, contrib, finish, y, block_sum);
    else
      pull_step<false>(csr, contrib, finish, y, block_sum);
  }

  std::array<double, 3> sums_of_all_phases(const StepBuffers& buffers, const Comm& comm) const {
    std::array<double, 3> sums{0.0, 0.0, 0.0};
    for (const auto* part : {&buffers.block_sum, &buffers.eliminated_sum, &buffers.trailing_sum})
      for (const auto& b : *part)
        for (std::size_t k = 0; k < 3; ++k) sums[k] += b[k];
    comm.sum_ordered(sums);
    return sums;
  }

  // Rounds of the independent-set choice: a second round adds a few vertices and saves a few
  // products, a third nothing (docs/benchmarks.md).
  static constexpr int kEliminationRounds = 2;

  // The eliminated rows' own CSR, and one halo plan for the kept values and one for the
  // eliminated ones, each landing its ghosts in its region of the work columns.
  void split_by_elimination(const DistGraph& graph, const Elimination& eliminated, const Comm& comm);

  // Per kept row v (work order), from its in-edges (the graph is symmetric, so they are also
  // its out-edges): the share of its out-weight that goes to eliminated vertices,
  // Σ_c w(c,v)/o(v), and the diagonal of S = I − αP_FF − α²P_FC P_CF,
  // S(v,v) = 1 − α·w(v,v)/o(v) − α²·Σ_c w(c,v)²/(o(c)·o(v)), over eliminated c.
  void eliminated_terms(const DistGraph& graph, const Elimination& eliminated, double alpha, const Comm& comm);
  // bicgstab's weights of Σz (sum_weight), from the eliminated and trailing rows' in-edges
  // sent back to their sources; no diagonal (bicgstab is not preconditioned).
  void sum_weights_directed(const DistGraph& graph, double alpha, const Comm& comm);

  LocalId rows_, columns_, kept_rows_ = 0, trailing_rows_ = 0, kept_ghosts_ = 0;
  bool weighted_;
  PageRankSolver solver_;
  std::uint64_t eliminated_count_ = 0, trailing_count_ = 0;
  std::optional<WorkOrder> order_;        // absent: the plain kernel in dense order
  std::optional<BlockedCsr> blocked_;     // the kept rows, blocked
  LocalCsr kept_csr_;                     // the kept rows in work order (plain kernel with an order)
  std::vector<EdgeIndex> kept_split_;     // per kept row: its first entry from a column not kept
  LocalCsr eliminated_csr_;               // the eliminated rows in work order
  LocalCsr trailing_csr_;                 // the trailing rows in work order
  HaloPlan kept_halo_, eliminated_halo_;  // in work order
  const LocalCsr* graph_csr_ = nullptr;   // without an order: the graph's own CSR
  const HaloPlan* dense_halo_ = nullptr;  // and halo plan
  std::vector<double> inv_out_;
  std::vector<double> eliminated_share_, schur_diagonal_, sum_weight_;
};

// Everything a solver loop reads but does not own; vectors in work order.
struct Solve {
  const StepOperator& op;
  const PageRankParams& params;
  const VertexDistribution& teleport;
  const VertexDistribution& dangling;
  double n_inv;
  const Comm& comm;
  const IterationObserver& observe;
  const StepHook& hook;
  StepBuffers& buffers;

  int limit() const { return params.fixed_iterations > 0 ? params.fixed_iterations : params.max_iterations; }
  // Whether the teleport has mass on an eliminated row of any rank (a uniform one always has; a
  // personalized one only where a seed was eliminated). Without it b_C = 0, and the Krylov
  // solves' right-hand side b_F + αP_FC b_C is b_F: the pull from the eliminated rows, over
  // every edge of the kept rows, would add +0 to each value (the same bits).
  bool teleport_on_eliminated() const {
    bool mine = teleport.uniform();
    for (LocalId v = op.kept_rows(); !mine && v < op.trailing_rows(); ++v) mine = teleport.values[v] != 0.0;
    return comm.allreduce<int>(mine ? 1 : 0, ReduceOp::max) == 1;
  }
  bool below_tolerance(double residual) const { return params.fixed_iterations == 0 && residual < params.tolerance; }

  // Records step `it`; true when the loop goes on: not after the last step (`done`), and not
  // when the step hook (checkpoints, signals) stops the run.
  bool record(PageRankResult& result, int it, double residual, double seconds, bool done, const IterateFn& x) const {
    result.residual.push_back(residual);
    result.iterations = it;
    if (observe) observe(IterationReport{it, residual, seconds});
    if (done) return false;
    if (hook && it < limit() && !hook(it, x, result.residual)) {
      result.stopped_early = true;
      return false;
    }
    return true;
  }

  // y = F(x), the PageRank step; returns {‖y − x‖₁, dangling mass of y, Σy}.
  std::array<double, 3> step(std::span<const double> x, double dangling_sum, std::span<double> y) const {
    const RowFinish finish(params.damping, dangling_sum, n_inv, teleport, dangling, x, op.inv_out());
    return op.apply(x, finish, y, buffers, comm);
  }
};

// The confirming power step of cg and bicgstab, once their estimate fell below `target`:
// `sums` = {‖F(x) − x‖₁, ·, Σ F(x)} of the true step from their iterate x, with F(x) in y. At the
// last step or below the tolerance it is the result (x takes y, Σ F(x) in final_mass): done.
// Otherwise the estimate understated the true change, so its target shrinks by that ratio (and
// half again), the step is recorded (`iterate` gives x for a checkpoint), and the solve goes on
// unless the step hook stopped it.
enum class Confirmed { done, go_on, stopped };
inline Confirmed confirm_step(const Solve& s, int it, const std::array<double, 3>& sums, double seconds, double estimate,
                              double& target, std::vector<double>& x, std::vector<double>& y, double& final_mass,
                              PageRankResult& result, const IterateFn& iterate) {
  if (it == s.limit() || s.below_tolerance(sums[0])) {
    x.swap(y);
    final_mass = sums[2];
    s.record(result, it, sums[0], seconds, true, {});
    return Confirmed::done;
  }
  target = 0.5 * s.params.tolerance * estimate / sums[0];
  return s.record(result, it, sums[0], seconds, false, iterate) ? Confirmed::go_on : Confirmed::stopped;
}

// Conjugate gradients on the Schur complement, for symmetric graphs (pagerank_cg.cpp): from x
// (work order; with `resume`, a restart's iterate) to the solution, recording every step in
// `result`. Returns the mass Σx of the last true step.
double cg_solve(const Solve& s, std::vector<double>& x, int first, bool resume, PageRankResult& result);

// BiCGSTAB on the Schur complement with the dangling vertices last, for directed graphs
// (pagerank_bicgstab.cpp); the same contract as cg_solve.
double bicgstab_solve(const Solve& s, std::vector<double>& x, int first, bool resume, PageRankResult& result);

}  // namespace pagerank_detail
}  // namespace perron
