#include "pagerank_step.hpp"

#include <cmath>

#include "perron/core/error.hpp"
#include "perron/core/memory.hpp"

namespace perron::pagerank_detail {

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

std::vector<double> permuted(std::span<const double> values, std::span<const LocalId> to) {
  std::vector<double> out(values.size());
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < values.size(); ++i) out[to[i]] = values[i];
  return out;
}

// The layout a solve runs on: the kernel (blocked when asked, or, for auto, when any rank's
// vector outgrows its share of the cache; the choice is collective, as the plan's relabeling
// is), the work order, the halo plans in that order, and for cg the eliminated set with the
// terms its Schur complement needs.
StepOperator::StepOperator(const DistGraph& graph, const PageRankParams& params, const Comm& comm, WorkColumns columns)
    : rows_(graph.rows()), columns_(graph.in.columns), weighted_(graph.weighted), solver_(params.solver) {
  check_pagerank_params(params);
  if (solver_ == PageRankSolver::automatic) solver_ = choose_solver(graph, params, true, comm);
  comm.agree([&] {
    if (solver_ == PageRankSolver::cg && !is_symmetric(graph, comm))
      throw_usage(
          "solver cg needs a symmetric graph (every edge u->v matched by v->u of the same weight: "
          "an undirected or symmetric input); --solver auto runs bicgstab on a directed graph, and the solvers "
          "anderson and power take one too");
  });
  const bool want_blocked = params.kernel == PageRankKernel::automatic ? blocked_layout_may_pay(graph, params, comm)
                                                                       : params.kernel == PageRankKernel::blocked;
  // cg eliminates an independent set; bicgstab also orders the dangling vertices last.
  std::optional<Elimination> eliminated;
  const bool directed = solver_ == PageRankSolver::bicgstab;
  if ((solver_ == PageRankSolver::cg && params.cg_eliminate) || directed) {
    const int rounds = params.cg_eliminate ? kEliminationRounds : 0;
    eliminated.emplace(pagerank_detail::independent_low_degree_set(graph, comm, rounds, directed));
    if (eliminated->count == 0 && eliminated->trailing == 0) eliminated.reset();
  }
  kept_rows_ = trailing_rows_ = rows_;
  kept_ghosts_ = columns_ - rows_;
  if (want_blocked || eliminated) {
    order_.emplace(pagerank_detail::make_work_order(graph, eliminated ? &*eliminated : nullptr,
                                                    want_blocked || columns == WorkColumns::most_read_first));
    kept_rows_ = order_->kept_rows;
    trailing_rows_ = order_->trailing_rows;
    kept_ghosts_ = order_->kept_ghosts;
  }
  if (eliminated) {
    split_by_elimination(graph, *eliminated, comm);
    if (directed)
      sum_weights_directed(graph, params.damping, comm);
    else
      eliminated_terms(graph, *eliminated, params.damping, comm);
  } else if (order_) {
    kept_halo_ = graph.halo.relabeled(order_->position, order_->ghost_column, comm);
  }
  // A batch's cg products read the kept columns from single-precision directions: its kept rows
  // list those columns first (phases()), where every eliminated row reads kept columns only (an
  // independent set's rows do), which those products' pulls rely on. A single solve reads one
  // array and sums in the graph's order.
  bool split_kept = eliminated && !want_blocked && columns == WorkColumns::most_read_first;
  if (split_kept) {
    const KeptColumns kept = order_->kept_columns();
    split_kept =
        std::all_of(eliminated_csr_.column.begin(), eliminated_csr_.column.end(), [&](LocalId c) { return kept.holds(c); });
  }
  if (want_blocked)
    blocked_.emplace(graph.in, *order_, weighted_, params.blocked_layout.segment_shift, params.blocked_layout.tile_rows);
  else if (order_)
    kept_csr_ = pagerank_detail::work_rows(graph.in, *order_, 0, kept_rows_, split_kept ? &kept_split_ : nullptr);
  std::vector<double> inv(rows_);
  for (LocalId u = 0; u < rows_; ++u) inv[u] = graph.out_weight[u] > 0.0 ? 1.0 / graph.out_weight[u] : 0.0;
  inv_out_ = to_work(inv);
  if (!order_) {
    graph_csr_ = &graph.in;
    dense_halo_ = &graph.halo;
  }
}

StepOperator::Phases StepOperator::phases() const {
  if (blocked_) throw Error(ErrorKind::internal, "StepOperator::phases: the blocked kernel has no plain CSR of its rows");
  if (!order_)
    return Phases{*graph_csr_, eliminated_csr_, trailing_csr_, *dense_halo_, eliminated_halo_, kept_ghosts_, {}, {}, {}};
  return Phases{kept_csr_,    eliminated_csr_, trailing_csr_,    kept_halo_, eliminated_halo_,
                kept_ghosts_, order_->vertex,  order_->position, kept_split_};
}

std::uint64_t StepOperator::bytes() const {
  std::uint64_t total = kept_halo_.bytes() + eliminated_halo_.bytes();
  for (const LocalCsr* c : {&kept_csr_, &eliminated_csr_, &trailing_csr_}) total += c->bytes();
  total += kept_split_.capacity() * sizeof(EdgeIndex);
  if (order_)
    total += (order_->vertex.capacity() + order_->position.capacity() + order_->ghost_column.capacity()) * sizeof(LocalId);
  for (const std::vector<double>* v : {&inv_out_, &eliminated_share_, &schur_diagonal_, &sum_weight_})
    total += v->capacity() * sizeof(double);
  return total + (blocked_ ? blocked_->bytes() : 0);
}

void StepOperator::split_by_elimination(const DistGraph& graph, const Elimination& eliminated, const Comm& comm) {
  eliminated_count_ = eliminated.count;
  trailing_count_ = eliminated.trailing;
  eliminated_csr_ = pagerank_detail::work_rows(graph.in, *order_, kept_rows_, trailing_rows_);
  trailing_csr_ = pagerank_detail::work_rows(graph.in, *order_, trailing_rows_, rows_);
  // The kept halo also carries any trailing vertex that a row reads (only through an edge of
  // weight 0, which sends nothing): every ghost is kept or eliminated.
  std::vector<std::uint8_t> keep_owned(rows_), eliminated_owned(rows_), keep_ghost(eliminated.ghost.size());
  std::vector<LocalId> kept_ghost_column, eliminated_ghost_column;
  for (LocalId v = 0; v < rows_; ++v) {
    eliminated_owned[v] = eliminated.owned[v] == kEliminatedRow ? 1 : 0;
    keep_owned[v] = 1 - eliminated_owned[v];
  }
  for (std::size_t g = 0; g < keep_ghost.size(); ++g) {
    keep_ghost[g] = eliminated.ghost[g] == 0 ? 1 : 0;
    if (keep_ghost[g] != 0)
      kept_ghost_column.push_back(order_->ghost_column[g]);
    else
      eliminated_ghost_column.push_back(order_->ghost_column[g] - kept_ghosts_);
  }
  kept_halo_ = graph.halo.subset(keep_owned, keep_ghost, comm).relabeled(order_->position, kept_ghost_column, comm);
  eliminated_halo_ =
      graph.halo.subset(eliminated_owned, eliminated.ghost, comm).relabeled(order_->position, eliminated_ghost_column, comm);
}

void StepOperator::sum_weights_directed(const DistGraph& graph, double alpha, const Comm& comm) {
  const LocalCsr& csr = graph.in;
  // Σ over u's out-edges into the work rows [first, last) of w·factor(row), for every column u:
  // each of those rows adds its in-edges to their sources, owned or ghost; the ghosts' parts
  // go back to their owners.
  auto into_rows = [&](LocalId first, LocalId last, auto factor) {
    std::vector<double> out(csr.columns, 0.0);
    for (LocalId w = first; w < last; ++w) {
      const LocalId c = order_->vertex[w];
      const double f = factor(c);
      for (EdgeIndex e = csr.row_start[c]; e < csr.row_start[c + 1]; ++e)
        out[csr.column[e]] += (csr.weight.empty() ? 1.0 : csr.weight[e]) * f;
    }
    graph.halo.scatter_reduce<double>(std::span<const double>(out).subspan(rows_), std::span<double>(out).first(rows_),
                                      std::plus<>(), comm);
    out.resize(rows_);
    return out;
  };
  auto share = [&](const std::vector<double>& to, LocalId v) {
    return graph.out_weight[v] > 0.0 ? to[v] / graph.out_weight[v] : 0.0;
  };
  const std::vector<double> to_trailing = into_rows(trailing_rows_, rows_, [](LocalId) { return 1.0; });
  const std::vector<double> to_eliminated =
      into_rows(kept_rows_, trailing_rows_, [&](LocalId c) { return 1.0 + alpha * share(to_trailing, c); });
  sum_weight_.assign(trailing_rows_, 1.0);
  for (LocalId w = 0; w < trailing_rows_; ++w) {
    const LocalId v = order_->vertex[w];
    sum_weight_[w] = 1.0 + alpha * share(to_trailing, v) + (w < kept_rows_ ? alpha * share(to_eliminated, v) : 0.0);
  }
}

void StepOperator::eliminated_terms(const DistGraph& graph, const Elimination& eliminated, double alpha, const Comm& comm) {
  const LocalCsr& csr = graph.in;
  std::vector<double> ghost_out(csr.columns - rows_);  // o(c) of the ghosts
  graph.halo.gather<double>(graph.out_weight, ghost_out, comm);
  eliminated_share_.assign(kept_rows_, 0.0);
  schur_diagonal_.assign(kept_rows_, 1.0);
  // The kept rows in the graph's order (a work order sorted by reads visits them at random).
#pragma omp parallel for schedule(dynamic, 1024)
  for (LocalId v = 0; v < rows_; ++v) {
    const LocalId w = order_->position[v];
    if (w >= kept_rows_) continue;
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

}  // namespace perron::pagerank_detail

namespace perron {

bool blocked_layout_may_pay(const DistGraph& graph, const PageRankParams& params, const Comm& comm) {
  const std::uint64_t share =
      params.cache_bytes > 0 ? params.cache_bytes : last_level_cache_bytes() / static_cast<std::uint64_t>(comm.ranks_on_node());
  const bool here = pagerank_detail::BlockedCsr::worthwhile(graph.in, share);
  return comm.allreduce(here ? 1 : 0, ReduceOp::max) == 1;
}

}  // namespace perron
