#include "perron/algo/pagerank.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "pagerank_layout.hpp"
#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"

namespace perron {
namespace {

using pagerank_detail::BlockedCsr;
using pagerank_detail::Elimination;
using pagerank_detail::WorkOrder;

// Fixed-size blocks for reductions: partial sums per block, added in block order, make every
// global sum independent of the thread count and of OpenMP's scheduling.
constexpr LocalId kBlock = 2048;

LocalId block_count(LocalId rows) { return (rows + kBlock - 1) / kBlock; }

// contrib(u) = x(u)/o(u): what u sends along each unit of out-weight (0 for dangling u), with
// x(u) = value(u): a vector's entry, or a value computed on the way (CG's new direction).
template <class Value>
void scale_by_out_weight(Value value, std::span<const double> inv_out, std::span<double> contrib) {
  const std::size_t rows = contrib.size();
#pragma omp parallel for schedule(static)
  for (std::size_t u = 0; u < rows; ++u) contrib[u] = value(u) * inv_out[u];
}

// Σ over dangling u of x(u), deterministic.
double dangling_mass(std::span<const double> x, std::span<const double> inv_out, std::vector<double>& block_sum) {
  const auto rows = static_cast<LocalId>(x.size());
  const LocalId blocks = block_count(rows);
  block_sum.assign(blocks, 0.0);
#pragma omp parallel for schedule(static)
  for (LocalId b = 0; b < blocks; ++b) {
    double s = 0.0;
    for (LocalId u = b * kBlock; u < std::min(rows, (b + 1) * kBlock); ++u)
      if (inv_out[u] == 0.0) s += x[u];
    block_sum[b] = s;
  }
  double total = 0.0;
  for (double s : block_sum) total += s;
  return total;
}

// What every row gets besides its in-edges, y(v) = α·sum + α·D·δ(v) + (1−α)·t(v), and this
// step's reductions over one block of rows: L1 change, dangling mass of y, Σy.
struct RowFinish {
  double alpha, dangling_sum, base_uniform, dangling_uniform;
  const VertexDistribution& teleport;
  const VertexDistribution& dangling;
  std::span<const double> x, inv_out;

  RowFinish(double a, double d, double n_inv, const VertexDistribution& t, const VertexDistribution& dv,
            std::span<const double> x_, std::span<const double> inv)
      : alpha(a), dangling_sum(d), base_uniform((1.0 - a) * n_inv), dangling_uniform(a * d * n_inv), teleport(t), dangling(dv),
        x(x_), inv_out(inv) {}

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
#pragma omp parallel for schedule(dynamic, 1)
  for (LocalId b = 0; b < blocks; ++b) {
    std::array<double, 3> acc{0.0, 0.0, 0.0};
    for (LocalId v = b * kBlock; v < std::min(rows, (b + 1) * kBlock); ++v) {
      double sum = 0.0;
      for (EdgeIndex e = start[v]; e < start[v + 1]; ++e) {
        if constexpr (kWeighted) sum += w[e] * contrib[col[e]];
        else sum += contrib[col[e]];
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
std::vector<double> permuted(std::span<const double> values, std::span<const LocalId> to) {
  std::vector<double> out(values.size());
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < values.size(); ++i) out[to[i]] = values[i];
  return out;
}

// Anderson acceleration, type II with depth m (Anderson 1965; Walker & Ni 2011): from the step
// x ↦ F(x) and its residual g = F(x) − x, keep the last m + 1 pairs (Y_j = F(x_j), G_j), choose
// γ = argmin ‖g − ΔG γ‖₂ over the differences ΔG_i = G_{i+1} − G_i (normal equations, m ≤ 10,
// a tiny ridge), and move to x' = F(x) − ΔY γ (ΔX + ΔG = ΔY, since X + G = Y). For PageRank's
// linear F this is GMRES(m) in disguise, and it needs only F itself, so it reuses the pull
// kernel, the halo and the dangling handling.
// Cost per step: one pass writing G and Y, one pass of dot products of the new G with the
// stored ones (the Gram matrix of the G's is kept, and the differences' Gram follows from it),
// one pass combining the Y's. Dot products are summed in fixed blocks, then in rank order:
// deterministic for given ranks × threads. A singular or non-finite solve keeps only the
// newest pair and takes the plain step.
class AndersonMixer {
 public:
  AndersonMixer(std::size_t rows, int depth)
      : slots_(static_cast<std::size_t>(std::max(depth, 1)) + 1), y_(slots_, std::vector<double>(rows)),
        g_(slots_, std::vector<double>(rows)), gram_(slots_ * slots_, 0.0) {}

  // x holds x_k, y holds F(x_k); on return x holds x_{k+1}.
  void mix(std::vector<double>& x, const std::vector<double>& y, const Comm& comm) {
    const std::size_t rows = x.size();
    std::size_t slot = 0;  // a free slot, or the oldest one
    if (order_.size() == slots_) {
      slot = order_.front();
      order_.erase(order_.begin());
    } else {
      while (std::find(order_.begin(), order_.end(), slot) != order_.end()) ++slot;
    }
    order_.push_back(slot);
    std::vector<double>& gs = g_[slot];
    std::vector<double>& ys = y_[slot];
#pragma omp parallel for schedule(static)
    for (std::size_t v = 0; v < rows; ++v) {
      gs[v] = y[v] - x[v];
      ys[v] = y[v];
    }
    update_gram(slot, comm);
    const std::vector<double> gamma = coefficients();
    if (gamma.empty()) {  // no history (or a singular system): the plain step
      order_.erase(order_.begin(), order_.end() - 1);
      x = y;
      return;
    }
    // x' = Y_c − Σ_i γ_i (Y_{i+1} − Y_i) = Σ_j w_j Y_j over the stored steps, oldest first.
    const std::size_t c = order_.size() - 1;
    std::vector<double> w(c + 1, 0.0);
    w[c] = 1.0;
    for (std::size_t i = 0; i < c; ++i) w[i + 1] -= gamma[i], w[i] += gamma[i];
#pragma omp parallel for schedule(static)
    for (std::size_t v = 0; v < rows; ++v) {
      double xv = 0.0;
      for (std::size_t j = 0; j <= c; ++j) xv += w[j] * y_[order_[j]][v];
      x[v] = xv;
    }
  }

 private:
  // ⟨G_slot, G_j⟩ for every stored j, into the kept Gram matrix.
  void update_gram(std::size_t slot, const Comm& comm) {
    const std::size_t c = order_.size();
    const auto rows = static_cast<LocalId>(g_[slot].size());
    const LocalId blocks = block_count(rows);
    std::vector<double> block_sum(static_cast<std::size_t>(blocks) * c, 0.0);
    const double* gs = g_[slot].data();
#pragma omp parallel for schedule(static)
    for (LocalId b = 0; b < blocks; ++b) {
      double* out = block_sum.data() + static_cast<std::size_t>(b) * c;
      for (std::size_t j = 0; j < c; ++j) {
        const double* gj = g_[order_[j]].data();
        double sum = 0.0;
        for (LocalId v = b * kBlock; v < std::min(rows, (b + 1) * kBlock); ++v) sum += gs[v] * gj[v];
        out[j] = sum;
      }
    }
    std::vector<double> dots(c, 0.0);
    for (LocalId b = 0; b < blocks; ++b)
      for (std::size_t j = 0; j < c; ++j) dots[j] += block_sum[static_cast<std::size_t>(b) * c + j];
    comm.sum_ordered(std::span<double>(dots));
    for (std::size_t j = 0; j < c; ++j) gram_[slot * slots_ + order_[j]] = gram_[order_[j] * slots_ + slot] = dots[j];
  }

  // γ from (ΔGᵀΔG + λI) γ = ΔGᵀ g, g the newest residual; empty if unusable.
  std::vector<double> coefficients() const {
    if (order_.size() < 2) return {};
    const std::size_t c = order_.size() - 1;
    auto m = [&](std::size_t i, std::size_t j) { return gram_[order_[i] * slots_ + order_[j]]; };
    std::vector<double> a(c * (c + 1), 0.0);
    double scale = 0.0;
    for (std::size_t i = 0; i < c; ++i) {
      for (std::size_t j = 0; j < c; ++j) a[i * (c + 1) + j] = m(i + 1, j + 1) - m(i + 1, j) - m(i, j + 1) + m(i, j);
      a[i * (c + 1) + c] = m(i + 1, c) - m(i, c);
      scale = std::max(scale, a[i * (c + 1) + i]);
    }
    if (!(scale > 0.0) || !std::isfinite(scale)) return {};
    for (std::size_t i = 0; i < c; ++i) a[i * (c + 1) + i] += 1e-12 * scale;
    for (std::size_t col = 0; col < c; ++col) {  // Gaussian elimination, partial pivoting
      std::size_t piv = col;
      for (std::size_t r = col + 1; r < c; ++r)
        if (std::abs(a[r * (c + 1) + col]) > std::abs(a[piv * (c + 1) + col])) piv = r;
      if (a[piv * (c + 1) + col] == 0.0) return {};
      for (std::size_t j = 0; j <= c; ++j) std::swap(a[col * (c + 1) + j], a[piv * (c + 1) + j]);
      for (std::size_t r = col + 1; r < c; ++r) {
        const double f = a[r * (c + 1) + col] / a[col * (c + 1) + col];
        for (std::size_t j = col; j <= c; ++j) a[r * (c + 1) + j] -= f * a[col * (c + 1) + j];
      }
    }
    std::vector<double> gamma(c);
    for (std::size_t i = c; i-- > 0;) {
      double v = a[i * (c + 1) + c];
      for (std::size_t j = i + 1; j < c; ++j) v -= a[i * (c + 1) + j] * gamma[j];
      gamma[i] = v / a[i * (c + 1) + i];
      if (!std::isfinite(gamma[i])) return {};
    }
    return gamma;
  }

  std::size_t slots_;                      // m + 1 stored steps
  std::vector<std::vector<double>> y_, g_;  // F(x_j) and G_j per slot
  std::vector<double> gram_;               // ⟨G_i, G_j⟩ by slot
  std::vector<std::size_t> order_;         // slots in use, oldest first
};


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
  std::vector<std::array<double, 3>> block_sum, eliminated_sum;
  std::vector<double> block_scalar;
};

}  // namespace

void check_pagerank_params(const PageRankParams& p) {
  if (!(p.damping >= 0.0 && p.damping <= 1.0))
    throw_usage("damping must be in [0, 1], got " + std::to_string(p.damping));
  if (!(p.tolerance > 0.0)) throw_usage("tolerance must be > 0, got " + std::to_string(p.tolerance));
  if (p.max_iterations < 1) throw_usage("max-iterations must be >= 1, got " + std::to_string(p.max_iterations));
  if (p.fixed_iterations < 0) throw_usage("iterations must be >= 0, got " + std::to_string(p.fixed_iterations));
  if (p.solver == PageRankSolver::cg && !(p.damping < 1.0))
    throw_usage("solver cg needs damping < 1 (at 1, I - P is singular); use --solver power or anderson");
  if (p.anderson_depth < 1 || p.anderson_depth > 10)
    throw_usage("anderson-depth must be in [1, 10], got " + std::to_string(p.anderson_depth));
  if (p.blocked_layout.segment_shift < 1 || p.blocked_layout.segment_shift > 16)
    throw_usage("blocked segment shift must be in [1, 16], got " + std::to_string(p.blocked_layout.segment_shift));
  if (p.blocked_layout.tile_rows < 1) throw_usage("blocked tile rows must be >= 1");
}

VertexDistribution distribution_from_weights(std::span<const VertexId> ids, std::span<const double> weights,
                                             const DistGraph& graph, const Comm& comm, const std::string& what) {
  const std::vector<GlobalId> dense = graph.ids.to_dense(ids, comm);
  comm.agree([&] {
    for (std::size_t i = 0; i < dense.size(); ++i)
      if (dense[i] == kMissingId) throw_input(what + ": vertex " + std::to_string(ids[i]) + " is not in the graph");
  });
  VertexDistribution d{sum_into_owners(dense, weights, graph, comm)};
  double local = 0.0;
  for (double v : d.values) local += v;
  const double total = comm.sum_ordered(local);
  comm.agree([&] {
    if (!(total > 0.0)) throw_input(what + ": the weights sum to 0; at least one must be positive");
  });
  for (double& v : d.values) v /= total;
  return d;
}

// One solve's pull operator: the kernel (plain or blocked), the halo plans in the kernel's
// vertex order, and 1/o per vertex in that order ("work order", WorkOrder: by reads for the
// blocked kernel; the plain kernel over the whole graph reads the graph's own CSR in dense
// order). The choice is collective (the plan's relabeling is): blocked when any rank's vector
// outgrows its cache.
// For cg it also splits the vertices into kept ones and an eliminated independent set
// (independent_low_degree_set), stored last in work order with their own small CSR; a step
// then runs in two phases: the eliminated rows pull from kept columns, then the kept rows pull
// from everything. Each phase exchanges only its own ghosts, so a step still sends each ghost
// value once.
class StepOperator {
 public:
  StepOperator(const DistGraph& graph, const PageRankParams& params, const Comm& comm)
      : rows_(graph.rows()), columns_(graph.in.columns), weighted_(graph.weighted) {
    check_pagerank_params(params);
    comm.agree([&] {
      if (params.solver == PageRankSolver::cg && !is_symmetric(graph, comm))
        throw_usage("solver cg needs a symmetric graph (every edge u->v matched by v->u of the same weight: "
                    "--undirected, or a symmetric input); use --solver anderson or power for a directed graph");
    });
    const int ranks_here = params.kernel == PageRankKernel::automatic ? comm.ranks_on_node() : 1;
    const bool want_blocked = params.kernel == PageRankKernel::automatic
                                  ? comm.allreduce(BlockedCsr::worthwhile(graph.in, ranks_here) ? 1 : 0, ReduceOp::max) == 1
                                  : params.kernel == PageRankKernel::blocked;
    std::optional<Elimination> eliminated;
    if (params.solver == PageRankSolver::cg && params.cg_eliminate) {
      eliminated.emplace(pagerank_detail::independent_low_degree_set(graph, comm, kEliminationRounds));
      if (eliminated->count == 0) eliminated.reset();
    }
    kept_rows_ = rows_;
    kept_ghosts_ = columns_ - rows_;
    if (want_blocked || eliminated) {
      order_.emplace(pagerank_detail::make_work_order(graph, eliminated ? &*eliminated : nullptr, want_blocked));
      kept_rows_ = order_->kept_rows;
      kept_ghosts_ = order_->kept_ghosts;
    }
    if (eliminated) {
      split_by_elimination(graph, *eliminated, comm);
      eliminated_terms(graph, *eliminated, params.damping, comm);
    } else if (order_) {
      kept_halo_ = graph.halo.relabeled(order_->position, order_->ghost_column, comm);
    }
    if (want_blocked) blocked_.emplace(graph.in, *order_, weighted_, params.blocked_layout.segment_shift, params.blocked_layout.tile_rows);
    else if (order_) kept_csr_ = pagerank_detail::work_rows(graph.in, *order_, 0, kept_rows_);
    std::vector<double> inv(rows_);
    for (LocalId u = 0; u < rows_; ++u) inv[u] = graph.out_weight[u] > 0.0 ? 1.0 / graph.out_weight[u] : 0.0;
    inv_out_ = to_work(inv);
    if (!order_) {
      graph_csr_ = &graph.in;
      dense_halo_ = &graph.halo;
    }
  }

  PageRankKernel kernel() const { return blocked_ ? PageRankKernel::blocked : PageRankKernel::csr; }
  // Whether a step reads the graph's CSR (else the plan holds its own copy of the edges).
  bool reads_graph_csr() const { return !order_; }
  LocalId rows() const { return rows_; }
  LocalId kept_rows() const { return kept_rows_; }
  bool eliminates() const { return eliminated_count_ > 0; }
  std::uint64_t eliminated_count() const { return eliminated_count_; }
  // Per kept row: the share of its out-weight that goes to eliminated vertices, and the
  // diagonal of the Schur complement S (empty without elimination).
  std::span<const double> eliminated_share() const { return eliminated_share_; }
  std::span<const double> schur_diagonal() const { return schur_diagonal_; }
  std::uint64_t values_sent() const {
    return (order_ ? kept_halo_.values_sent() : dense_halo_->values_sent()) + eliminated_halo_.values_sent();
  }
  std::span<const double> inv_out() const { return inv_out_; }
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
    return apply_to([x](std::size_t u) { return x[u]; }, eliminated_row, finish, y, buffers, comm);
  }

  // The two phases of a step, for any values: kept u sends value(u)/o(u); eliminated row v,
  // given the sum s over its in-edges, sends eliminated(v, s, acc)/o(v) (and may add to its
  // block's sums); kept row v becomes finish(v, its in-edge sum, acc) in y[v].
  template <class Value, class Eliminated, class Finish>
  std::array<double, 3> apply_to(Value value, const Eliminated& eliminated, const Finish& finish, std::span<double> y,
                                 StepBuffers& buffers, const Comm& comm) const {
    pull_eliminated(value, eliminated, buffers, comm);
    return pull_kept(finish, y, buffers, comm);
  }

  // Phase 1 alone: the kept contributions and their ghosts, then every eliminated row.
  template <class Value, class Eliminated>
  void pull_eliminated(Value value, const Eliminated& eliminated, StepBuffers& buffers, const Comm& comm) const {
    buffers.contrib.resize(columns_);
    const std::span<double> contrib(buffers.contrib);
    scale_by_out_weight(value, std::span<const double>(inv_out_).first(kept_rows_), contrib.first(kept_rows_));
    if (order_) kept_halo_.exchange(contrib.first(rows_), contrib.subspan(rows_, kept_ghosts_), comm);
    else dense_halo_->exchange(contrib.first(rows_), contrib.subspan(rows_), comm);
    buffers.eliminated_sum.clear();
    if (!eliminates()) return;
    const std::span<const double> inv_out(inv_out_);
    const auto send = [&](LocalId i, double sum, std::array<double, 3>& acc) {
      const LocalId v = kept_rows_ + i;
      return eliminated(v, sum, acc) * inv_out[v];
    };
    const std::span<double> eliminated_contrib = contrib.subspan(kept_rows_, rows_ - kept_rows_);
    if (weighted_) pull_step<true>(eliminated_csr_, contrib, send, eliminated_contrib, buffers.eliminated_sum);
    else pull_step<false>(eliminated_csr_, contrib, send, eliminated_contrib, buffers.eliminated_sum);
  }

  // Phase 2: the eliminated rows' ghosts, then every kept row; the sums of both phases.
  template <class Finish>
  std::array<double, 3> pull_kept(const Finish& finish, std::span<double> y, StepBuffers& buffers, const Comm& comm) const {
    if (eliminates()) exchange_eliminated(buffers, comm);
    pull_kept_rows(finish, y, buffers, 0);
    return sums_of_both_phases(buffers, comm);
  }

  // y(v) = finish(v, Σ over v's in-edges from eliminated u of w(u,v)·value(u)/o(u)) for the
  // kept rows (cg's right-hand side): the kept columns send 0, so the blocked kernel starts at
  // the segment of the first eliminated column (on Kronecker 22, 6.5% of the edges remain).
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
    if (blocked_ && weighted_) blocked_pull_step<true>(*blocked_, contrib, finish, kept, buffers.block_sum, first_column);
    else if (blocked_) blocked_pull_step<false>(*blocked_, contrib, finish, kept, buffers.block_sum, first_column);
    else if (weighted_) pull_step<true>(csr, contrib, finish, kept, buffers.block_sum);
    else pull_step<false>(csr, contrib, finish, kept, buffers.block_sum);
  }

  std::array<double, 3> sums_of_both_phases(const StepBuffers& buffers, const Comm& comm) const {
    std::array<double, 3> sums{0.0, 0.0, 0.0};
    for (const auto* part : {&buffers.block_sum, &buffers.eliminated_sum})
      for (const auto& b : *part)
        for (std::size_t k = 0; k < 3; ++k) sums[k] += b[k];
    comm.sum_ordered(sums);
    return sums;
  }

  // Rounds of the independent-set choice: on Kronecker scale 20, one round eliminates 68% of
  // the vertices (cg 17 products to 1e-10), two 70% (15), more add nothing.
  static constexpr int kEliminationRounds = 2;

  // The eliminated rows' own CSR, and one halo plan for the kept values and one for the
  // eliminated ones, each landing its ghosts in its region of the work columns.
  void split_by_elimination(const DistGraph& graph, const Elimination& eliminated, const Comm& comm) {
    eliminated_count_ = eliminated.count;
    eliminated_csr_ = pagerank_detail::work_rows(graph.in, *order_, kept_rows_, rows_);
    std::vector<std::uint8_t> keep_owned(rows_), keep_ghost(eliminated.ghost.size());
    std::vector<LocalId> kept_ghost_column, eliminated_ghost_column;
    for (LocalId v = 0; v < rows_; ++v) keep_owned[v] = eliminated.owned[v] == 0 ? 1 : 0;
    for (std::size_t g = 0; g < keep_ghost.size(); ++g) {
      keep_ghost[g] = eliminated.ghost[g] == 0 ? 1 : 0;
      if (keep_ghost[g] != 0) kept_ghost_column.push_back(order_->ghost_column[g]);
      else eliminated_ghost_column.push_back(order_->ghost_column[g] - kept_ghosts_);
    }
    kept_halo_ = graph.halo.subset(keep_owned, keep_ghost).relabeled(order_->position, kept_ghost_column, comm);
    eliminated_halo_ = graph.halo.subset(eliminated.owned, eliminated.ghost).relabeled(order_->position, eliminated_ghost_column, comm);
  }

  // Per kept row v (work order), from its in-edges (the graph is symmetric, so they are also
  // its out-edges): the share of its out-weight that goes to eliminated vertices,
  // Σ_c w(c,v)/o(v), and the diagonal of S = I − αP_FF − α²P_FC P_CF,
  // S(v,v) = 1 − α·w(v,v)/o(v) − α²·Σ_c w(c,v)²/(o(c)·o(v)), over eliminated c.
  void eliminated_terms(const DistGraph& graph, const Elimination& eliminated, double alpha, const Comm& comm) {
    const LocalCsr& csr = graph.in;
    std::vector<double> ghost_out(csr.columns - rows_);  // o(c) of the ghosts
    graph.halo.gather<double>(graph.out_weight, ghost_out, comm);
    eliminated_share_.assign(kept_rows_, 0.0);
    schur_diagonal_.assign(kept_rows_, 1.0);
#pragma omp parallel for schedule(dynamic, 1024)
    for (LocalId w = 0; w < kept_rows_; ++w) {
      const LocalId v = order_->vertex[w];
      double to_eliminated = 0.0, self = 0.0, two_steps = 0.0;
      for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) {
        const LocalId c = csr.column[e];
        const double weight = csr.weight.empty() ? 1.0 : csr.weight[e];
        if (c == v) self += weight;
        if (!eliminated.column(c, rows_)) continue;
        to_eliminated += weight;
        two_steps += weight * weight / (c < rows_ ? graph.out_weight[c] : ghost_out[c - rows_]);
      }
      const double o = graph.out_weight[v];
      if (!(o > 0.0)) continue;  // not in practice: an isolated vertex is always eliminated
      eliminated_share_[w] = to_eliminated / o;
      schur_diagonal_[w] = 1.0 - alpha * self / o - alpha * alpha * two_steps / o;
    }
  }

  LocalId rows_, columns_, kept_rows_ = 0, kept_ghosts_ = 0;
  bool weighted_;
  std::uint64_t eliminated_count_ = 0;
  std::optional<WorkOrder> order_;        // absent: the plain kernel in dense order
  std::optional<BlockedCsr> blocked_;     // the kept rows, blocked
  LocalCsr kept_csr_;                     // the kept rows in work order (plain kernel with an order)
  LocalCsr eliminated_csr_;               // the eliminated rows in work order
  HaloPlan kept_halo_, eliminated_halo_;  // in work order
  const LocalCsr* graph_csr_ = nullptr;   // without an order: the graph's own CSR
  const HaloPlan* dense_halo_ = nullptr;  // and halo plan
  std::vector<double> inv_out_;
  std::vector<double> eliminated_share_, schur_diagonal_;
};

PageRankPlan::PageRankPlan(const DistGraph& graph, const PageRankParams& params, const Comm& comm)
    : step_(std::make_unique<StepOperator>(graph, params, comm)) {}
PageRankPlan::PageRankPlan(PageRankPlan&&) noexcept = default;
PageRankPlan& PageRankPlan::operator=(PageRankPlan&&) noexcept = default;
PageRankPlan::~PageRankPlan() = default;
PageRankKernel PageRankPlan::kernel() const { return step_->kernel(); }
bool PageRankPlan::reads_csr() const { return step_->reads_graph_csr(); }
std::uint64_t PageRankPlan::eliminated() const { return step_->eliminated_count(); }

namespace {

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

// Power iteration x ← F(x), or with `anderson` each step mixed with the last ones. Returns Σx.
double fixed_point_solve(const Solve& s, std::vector<double>& x, int first, PageRankResult& result) {
  std::vector<double> y(x.size());
  double dangling_sum = s.comm.sum_ordered(dangling_mass(x, s.op.inv_out(), s.buffers.block_scalar));
  std::optional<AndersonMixer> anderson;
  if (s.params.solver == PageRankSolver::anderson) anderson.emplace(x.size(), s.params.anderson_depth);
  double mass = 1.0;
  for (int it = first; it <= s.limit(); ++it) {
    const Stopwatch watch;
    const std::array<double, 3> sums = s.step(x, dangling_sum, y);
    const bool done = s.below_tolerance(sums[0]);
    if (anderson && !done) {
      // The next iterate is a combination of the last steps: its dangling mass is not y's.
      anderson->mix(x, y, s.comm);
      dangling_sum = s.comm.sum_ordered(dangling_mass(x, s.op.inv_out(), s.buffers.block_scalar));
    } else {
      x.swap(y);
      dangling_sum = sums[1];
    }
    mass = sums[2];
    if (!s.record(result, it, sums[0], watch.seconds(), done, [&] { return s.op.to_dense(x); })) break;
  }
  return mass;
}

// Conjugate gradients (Hestenes & Stiefel 1952) for a symmetric graph. With A symmetric, O the
// diagonal of out-weights and P = A·O⁻¹, the matrix M = I − αP has O⁻¹M = O⁻¹ − α·O⁻¹AO⁻¹
// symmetric, and positive definite for α < 1 (P's eigenvalues are those of O^-½AO^-½, in
// [−1, 1]). So M is self-adjoint and positive in ⟨u, w⟩ = Σ u(v)w(v)/o(v) (weight 1 on an
// isolated vertex: its row and column are empty), and CG in that inner product solves
// Mz = b, b = (1 − α)t, with the pull kernel as the product: the linear-system view of Gleich,
// Zhukov & Berkhin (2004), for which the weighted inner product gives a short recurrence. When
// the dangling vector is t, (I − αP)x = c·t for the PageRank x, so x = z/Σz.
// CG reduces the error over the spectrum of M like a Chebyshev polynomial, (√κ − 1)/(√κ + 1)
// per product, against α·|λ₂| for power iteration.
//
// Elimination (the Schur complement; cg_eliminate). With C an independent set of low-degree
// vertices (independent_low_degree_set) and F the rest, M's block on C is the identity, so
// Mz = b splits into z_C = b_C + αP_CF z_F and
//   S z_F = b_F + αP_FC b_C,   S = I − αP_FF − α²P_FC P_CF,
// S being the Schur complement of O⁻¹M (symmetric) times O_F: self-adjoint and positive in the
// same inner product on F. CG runs on S. Its product is one step of the operator's two phases
// (C rows pull from F, F rows from everything), one pass over the edges like M's, with vectors
// over F only; and CG converges faster on it. Kronecker scale 20, products to 1e-10: power 35,
// CG on M 23, CG on S 15 (70% of the vertices in C; scale 22 in perron: 36, 26, 17). The full
// system's residual at (z_F, z_C) is S's, r_F (r_C = 0), and Σz = Σ_F z(1 + α·share) + Σ_C b,
// share(v) the part of v's out-weight going to C, so the stopping estimate ‖r‖₁/Σz costs no
// extra pass. S's diagonal spans [1 − α², 1] (a hub whose neighbours are mostly eliminated
// leaves is near 1 − α²), so CG on S is preconditioned by it (Jacobi; a diagonal is
// self-adjoint in the weighted inner product): Kronecker 22, 17 products → 13; scipy on
// Kronecker 20, 15 → 12. Without elimination M's diagonal is 1 but for self-loops, and
// Jacobi there measured no better (scipy, 23 → 26), so it is not used.
//
// A product is one pull plus two vector passes. When the estimate falls below the tolerance,
// one power step from x = z/Σz measures the true residual ‖F(x) − x‖₁ and becomes the result
// if it is below the tolerance; else CG goes on, asking its estimate for correspondingly less.
double cg_solve(const Solve& s, std::vector<double>& x, int first, bool resume, PageRankResult& result) {
  const StepOperator& op = s.op;
  const LocalId rows = op.rows(), kept = op.kept_rows();
  const double alpha = s.params.damping;
  const std::span<const double> inv_out = op.inv_out(), share = op.eliminated_share();
  std::vector<double> weight(kept), rhs(kept), z(kept), r(kept), p(kept), q(kept), y(rows);
  for (LocalId v = 0; v < kept; ++v) weight[v] = inv_out[v] > 0.0 ? inv_out[v] : 1.0;
  // Jacobi preconditioner on S (1 without elimination, where M's diagonal is 1 but for
  // self-loops): h = r/diag(S).
  const std::span<const double> diagonal = op.schur_diagonal();
  auto precondition = [&](LocalId v) { return diagonal.empty() ? 1.0 : 1.0 / diagonal[v]; };
  auto b = [&](LocalId v) { return (1.0 - alpha) * (s.teleport.uniform() ? s.n_inv : s.teleport.values[v]); };
  auto mass = [&](LocalId v) { return share.empty() ? 1.0 : 1.0 + alpha * share[v]; };
  // rhs = b_F + αP_FC b_C (a pull over the edges from eliminated vertices only), and Σ_C b.
  double eliminated_b = 0.0;
  if (op.eliminates()) {
    const auto add_b = [&](LocalId v, double sum, std::array<double, 3>&) { return b(v) + alpha * sum; };
    op.pull_from_eliminated(b, add_b, rhs, s.buffers, s.comm);
    eliminated_b = ordered_sums(rows - kept, s.buffers.block_sum, s.comm,
                                [&](LocalId i, std::array<double, 3>& acc) { acc[0] += b(kept + i); })[0];
  } else {
    for (LocalId v = 0; v < kept; ++v) rhs[v] = b(v);
  }
  // The eliminated rows of S's product send α·(their sum); the solve's kept values are z's.
  const auto schur = [alpha](LocalId, double sum, std::array<double, 3>&) { return alpha * sum; };
  // x = z/Σz: z/Σz on the kept rows and b/Σz on the eliminated ones, which the eliminated
  // phase of a pull completes to z_C/Σz by adding α·P_CF x_F (complete_x). Before any step
  // (Σz = 0), the start x₀ = t, complete as it is. Returns whether a step was taken.
  auto kept_x = [&](double total, std::vector<double>& out) {
    const bool started = total > 0.0;
    for (LocalId v = 0; v < rows; ++v) out[v] = !started ? b(v) / (1.0 - alpha) : v < kept ? z[v] / total : b(v) / total;
    return started;
  };
  auto complete_x = [alpha](bool started, std::vector<double>& out, LocalId v, double sum) {
    if (started) out[v] += alpha * sum;
    return out[v];
  };
  // The true step from x = z/Σz, completing x on the eliminated rows in its first phase,
  // before they send or finish. A dangling vertex of a symmetric graph has no weighted
  // in-edges, so its x and the dangling mass are known before the step.
  std::vector<double> xn(rows);
  auto true_step = [&](double total) {
    const bool started = kept_x(total, xn);
    const double dangling_sum = s.comm.sum_ordered(dangling_mass(xn, inv_out, s.buffers.block_scalar));
    const RowFinish finish(alpha, dangling_sum, s.n_inv, s.teleport, s.dangling, xn, inv_out);
    const auto eliminated_row = [&](LocalId v, double sum, std::array<double, 3>& acc) {
      complete_x(started, xn, v, sum);
      y[v] = finish(v, sum, acc);
      return xn[v];
    };
    return op.apply_to([&](std::size_t u) { return xn[u]; }, eliminated_row, finish, y, s.buffers, s.comm);
  };
  // x = z/Σz over every row, by the eliminated phase alone (for a snapshot or a stop).
  auto normalized = [&](double total) {
    std::vector<double> out(rows);
    const bool started = kept_x(total, out);
    if (started && op.eliminates()) {
      const auto recover = [&](LocalId v, double sum, std::array<double, 3>&) { return complete_x(true, out, v, sum); };
      op.pull_eliminated([&](std::size_t u) { return out[u]; }, recover, s.buffers, s.comm);
    }
    return out;
  };
  // r = rhs − Sz (and p = r, from β = 0). A fresh run starts from z = 0, where r = rhs, and
  // its first step moves to the best multiple of rhs. A resumed run starts from its iterate's
  // kept part and pays one product for the residual.
  double rz = 0.0, z_sum = 0.0, beta = 0.0, final_mass = 1.0;
  double estimate = std::numeric_limits<double>::infinity(), target = s.params.tolerance;
  if (resume) {
    std::copy(x.begin(), x.begin() + kept, z.begin());
  } else {
    rz = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId v, std::array<double, 3>& acc) {
      r[v] = rhs[v];
      acc[1] += r[v] * weight[v] * r[v] * precondition(v);
    })[1];
  }
  bool residual_known = !resume;
  for (int it = first; it <= s.limit(); ++it) {
    const Stopwatch watch;
    if (!residual_known) {
      op.apply_to([&](std::size_t u) { return z[u]; }, schur, ApplyShifted{alpha, z, weight}, q, s.buffers, s.comm);
      const auto sums = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId v, std::array<double, 3>& acc) {
        r[v] = rhs[v] - q[v];
        acc[0] += std::abs(r[v]);
        acc[1] += r[v] * weight[v] * r[v] * precondition(v);
        acc[2] += z[v] * mass(v);
      });
      rz = sums[1], z_sum = sums[2] + eliminated_b, estimate = sums[0] / z_sum;
      residual_known = true;
    } else if (it == s.limit() || (s.params.fixed_iterations == 0 && estimate < target)) {  // the true step
      const std::array<double, 3> sums = true_step(z_sum);
      if (it == s.limit() || s.below_tolerance(sums[0])) {
        x.swap(y);
        final_mass = sums[2];
        s.record(result, it, sums[0], watch.seconds(), true, {});
        return final_mass;
      }
      target = 0.5 * s.params.tolerance * estimate / sums[0];
      if (!s.record(result, it, sums[0], watch.seconds(), false, [&] { return op.to_dense(xn); })) break;
      continue;
    } else {  // one CG step: p = h + β·p (on the way into the product), q = Sp, z += a·p, r −= a·q
      const auto direction = [&](std::size_t u) { return p[u] = r[u] * precondition(static_cast<LocalId>(u)) + beta * p[u]; };
      const double pq = op.apply_to(direction, schur, ApplyShifted{alpha, p, weight}, q, s.buffers, s.comm)[0];
      const double a = pq > 0.0 ? rz / pq : 0.0;
      const auto sums = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId v, std::array<double, 3>& acc) {
        z[v] += a * p[v];
        r[v] -= a * q[v];
        acc[0] += std::abs(r[v]);
        acc[1] += r[v] * weight[v] * r[v] * precondition(v);
        acc[2] += z[v] * mass(v);
      });
      beta = rz > 0.0 ? sums[1] / rz : 0.0;
      rz = sums[1], z_sum = sums[2] + eliminated_b;
      // A zero step (p·Sp = 0: r is already 0) leaves the estimate at 0, which ends the loop.
      estimate = a > 0.0 ? sums[0] / z_sum : 0.0;
    }
    if (!s.record(result, it, estimate, watch.seconds(), false, [&] { return op.to_dense(normalized(z_sum)); })) break;
  }
  // Stopped by the hook: hand out the normalized iterate.
  x = normalized(z_sum);
  return final_mass;
}

}  // namespace

PageRankResult pagerank(const DistGraph& graph, const PageRankParams& params, const VertexDistribution& teleport,
                        const VertexDistribution& dangling, const Comm& comm, const IterationObserver& observe,
                        const PageRankState* start, const StepHook& hook) {
  const PageRankPlan plan(graph, params, comm);
  return pagerank(graph, plan, params, teleport, dangling, comm, observe, start, hook);
}

PageRankResult pagerank(const DistGraph& graph, const PageRankPlan& plan, const PageRankParams& params,
                        const VertexDistribution& teleport_dense, const VertexDistribution& dangling_dense, const Comm& comm,
                        const IterationObserver& observe, const PageRankState* start, const StepHook& hook) {
  check_pagerank_params(params);
  const StepOperator& op = plan.step();
  const LocalId rows = graph.rows();
  if (op.rows() != rows) throw Error(ErrorKind::internal, "the PageRank plan was built for another graph");
  if (start && start->x.size() != rows)
    throw Error(ErrorKind::internal, "restart state holds " + std::to_string(start->x.size()) + " values for " +
                                         std::to_string(rows) + " vertices");
  if (params.solver == PageRankSolver::cg && graph.stats.dangling > 0) {
    // x = z/Σz holds when dangling vertices send their mass along the teleport vector.
    const bool same = (teleport_dense.uniform() && dangling_dense.uniform()) || teleport_dense.values == dangling_dense.values;
    comm.agree([&] {
      if (comm.allreduce(same ? 1 : 0, ReduceOp::min) == 0)
        throw_usage("solver cg needs the dangling vector to be the teleport vector on a graph with dangling vertices; "
                    "use --solver anderson or power with --dangling");
    });
  }
  const VertexDistribution teleport{teleport_dense.uniform() ? std::vector<double>{} : op.to_work(teleport_dense.values)};
  const VertexDistribution dangling{dangling_dense.uniform() ? std::vector<double>{} : op.to_work(dangling_dense.values)};
  const double n_inv = 1.0 / static_cast<double>(graph.stats.n);

  PageRankResult result;
  result.kernel = op.kernel();
  std::vector<double> x(rows);
  for (LocalId v = 0; v < rows; ++v) x[v] = teleport.uniform() ? n_inv : teleport.values[v];  // x₀ = t
  int first = 1;
  if (start) {
    x = op.to_work(start->x);
    first = start->iteration + 1;
    result.residual = start->residual;
    result.iterations = start->iteration;
  }
  StepBuffers buffers;
  const Solve solve{op, params, teleport, dangling, n_inv, comm, observe, hook, buffers};
  const Stopwatch total;
  const double mass = params.solver == PageRankSolver::cg ? cg_solve(solve, x, first, start != nullptr, result)
                                                          : fixed_point_solve(solve, x, first, result);
  result.seconds = total.seconds();
  result.converged = !result.stopped_early && !result.residual.empty() && result.residual.back() < params.tolerance;
  result.mass_error = std::abs(mass - 1.0);
  result.halo_bytes_sent_per_iteration = op.values_sent() * sizeof(double);
  result.eliminated = op.eliminated_count();
  result.score = op.to_dense(x);
  return result;
}

}  // namespace perron
