// PageRank: the public API and the driver; the step is in pagerank_step, the solvers' pieces in
// pagerank_anderson and pagerank_cg.
#include "perron/algo/pagerank.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "pagerank_anderson.hpp"
#include "pagerank_step.hpp"
#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"

namespace perron {

using pagerank_detail::AndersonMixer;
using pagerank_detail::dangling_mass;
using pagerank_detail::Solve;
using pagerank_detail::StepBuffers;
using pagerank_detail::StepOperator;

void check_pagerank_params(const PageRankParams& p) {
  if (!(p.damping >= 0.0 && p.damping <= 1.0)) throw_usage("damping must be in [0, 1], got " + std::to_string(p.damping));
  if (!(p.tolerance > 0.0)) throw_usage("tolerance must be > 0, got " + std::to_string(p.tolerance));
  if (p.max_iterations < 1) throw_usage("max-iterations must be >= 1, got " + std::to_string(p.max_iterations));
  if (p.fixed_iterations < 0) throw_usage("iterations must be >= 0, got " + std::to_string(p.fixed_iterations));
  if ((p.solver == PageRankSolver::cg || p.solver == PageRankSolver::bicgstab) && !(p.damping < 1.0))
    throw_usage(std::string("solver ") + (p.solver == PageRankSolver::cg ? "cg" : "bicgstab") +
                " needs damping < 1 (at 1, I - P is singular); the solvers power and anderson take any damping");
  if (p.anderson_depth < 1 || p.anderson_depth > 10)
    throw_usage("anderson-depth must be in [1, 10], got " + std::to_string(p.anderson_depth));
  if (p.blocked_layout.segment_shift < 1 || p.blocked_layout.segment_shift > 16)
    throw_usage("blocked segment shift must be in [1, 16], got " + std::to_string(p.blocked_layout.segment_shift));
  if (p.blocked_layout.tile_rows < 1) throw_usage("blocked tile rows must be >= 1");
}

namespace {

// Collective: divides this rank's slice by the sum over every rank (in rank order); throws the
// input error `refusal` on every rank when that sum is not positive.
void normalize_or_refuse(std::vector<double>& x, const Comm& comm, const std::string& refusal) {
  double local = 0.0;
  for (double v : x) local += v;
  const double total = comm.sum_ordered(local);
  comm.agree([&] {
    if (!(total > 0.0)) throw_input(refusal);
  });
  for (double& v : x) v /= total;
}

}  // namespace

VertexDistribution distribution_from_weights(std::span<const VertexId> ids, std::span<const double> weights,
                                             const DistGraph& graph, const Comm& comm, const std::string& what) {
  const std::vector<GlobalId> dense = graph.ids.to_dense(ids, comm);
  comm.agree([&] {
    for (std::size_t i = 0; i < dense.size(); ++i)
      if (dense[i] == kMissingId) throw_input(what + ": vertex " + std::to_string(ids[i]) + " is not in the graph");
  });
  VertexDistribution d{sum_into_owners(dense, weights, graph, comm)};
  normalize_or_refuse(d.values, comm, what + ": the weights sum to 0; at least one must be positive");
  return d;
}

WarmStart warm_start(std::span<const VertexId> ids, std::span<const double> scores, const DistGraph& graph,
                     const VertexDistribution& teleport, const Comm& comm, const std::string& what) {
  const std::vector<GlobalId> dense = graph.ids.to_dense(ids, comm);
  std::vector<GlobalId> kept_id;
  std::vector<double> kept_score;
  std::uint64_t ignored = 0;
  for (std::size_t i = 0; i < dense.size(); ++i) {
    if (dense[i] == kMissingId) {
      ++ignored;
      continue;
    }
    kept_id.push_back(dense[i]);
    kept_score.push_back(scores[i]);
  }
  WarmStart out;
  out.ignored = comm.allreduce(ignored, ReduceOp::sum);
  out.x = sum_into_owners(kept_id, kept_score, graph, comm);
  // Which vertices the previous result covered: a second sum, of ones.
  const std::vector<double> covered = sum_into_owners(kept_id, std::vector<double>(kept_id.size(), 1.0), graph, comm);
  const double n_inv = 1.0 / static_cast<double>(graph.stats.n);
  std::uint64_t fresh = 0;
  for (LocalId v = 0; v < graph.rows(); ++v)
    if (covered[v] == 0.0) {
      out.x[v] = teleport.uniform() ? n_inv : teleport.values[v];
      ++fresh;
    }
  out.new_vertices = comm.allreduce(fresh, ReduceOp::sum);
  normalize_or_refuse(out.x, comm, what + ": its scores sum to 0 over this graph's vertices: nothing to start from");
  return out;
}

PageRankPlan::PageRankPlan(const DistGraph& graph, const PageRankParams& params, const Comm& comm)
    : step_(std::make_unique<StepOperator>(graph, params, comm)) {}
PageRankPlan::PageRankPlan(PageRankPlan&&) noexcept = default;
PageRankPlan& PageRankPlan::operator=(PageRankPlan&&) noexcept = default;
PageRankPlan::~PageRankPlan() = default;
PageRankKernel PageRankPlan::kernel() const { return step_->kernel(); }
bool PageRankPlan::reads_csr() const { return step_->reads_graph_csr(); }
std::uint64_t PageRankPlan::eliminated() const { return step_->eliminated_count(); }
std::uint64_t PageRankPlan::trailing() const { return step_->trailing_count(); }
PageRankSolver PageRankPlan::solver() const { return step_->solver(); }

PageRankSolver choose_solver(const DistGraph& graph, const PageRankParams& params, bool dangling_is_teleport, const Comm& comm) {
  if (params.solver != PageRankSolver::automatic) return params.solver;
  const bool same = comm.allreduce(dangling_is_teleport ? 1 : 0, ReduceOp::min) == 1;
  if (params.fixed_iterations > 0 || !(params.damping < 1.0) || (graph.stats.dangling > 0 && !same)) return PageRankSolver::power;
  return is_symmetric(graph, comm) ? PageRankSolver::cg : PageRankSolver::bicgstab;
}

namespace {

// Whether the dangling mass goes where the teleport does (this rank's slices agree).
bool dangling_follows_teleport(const VertexDistribution& teleport, const VertexDistribution& dangling) {
  return (teleport.uniform() && dangling.uniform()) || teleport.values == dangling.values;
}

// A distribution in the operator's work order (uniform stays uniform).
VertexDistribution in_work_order(const StepOperator& op, const VertexDistribution& dense) {
  return VertexDistribution{dense.uniform() ? std::vector<double>{} : op.to_work(dense.values)};
}

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

}  // namespace

PageRankResult pagerank(const DistGraph& graph, const PageRankParams& params, const VertexDistribution& teleport,
                        const VertexDistribution& dangling, const Comm& comm, const IterationObserver& observe,
                        const PageRankState* start, const StepHook& hook) {
  PageRankParams concrete = params;
  concrete.solver = choose_solver(graph, params, dangling_follows_teleport(teleport, dangling), comm);
  const PageRankPlan plan(graph, concrete, comm);
  return pagerank(graph, plan, concrete, teleport, dangling, comm, observe, start, hook);
}

PageRankResult pagerank(const DistGraph& graph, const PageRankPlan& plan, const PageRankParams& params,
                        const VertexDistribution& teleport_dense, const VertexDistribution& dangling_dense, const Comm& comm,
                        const IterationObserver& observe, const PageRankState* start, const StepHook& hook) {
  check_pagerank_params(params);
  const StepOperator& op = plan.step();
  const LocalId rows = graph.rows();
  if (op.rows() != rows) throw Error(ErrorKind::internal, "the PageRank plan was built for another graph");
  if (start && start->x.size() != rows)
    throw Error(ErrorKind::internal,
                "restart state holds " + std::to_string(start->x.size()) + " values for " + std::to_string(rows) + " vertices");
  const PageRankSolver solver = op.solver();
  const bool krylov = solver == PageRankSolver::cg || solver == PageRankSolver::bicgstab;
  if (krylov && graph.stats.dangling > 0) {
    // x = z/Σz holds when dangling vertices send their mass along the teleport vector.
    const bool same = dangling_follows_teleport(teleport_dense, dangling_dense);
    comm.agree([&] {
      if (comm.allreduce(same ? 1 : 0, ReduceOp::min) == 0)
        throw_usage(std::string("solver ") + (solver == PageRankSolver::cg ? "cg" : "bicgstab") +
                    " needs the dangling vector to be the teleport vector on a graph with dangling vertices; "
                    "the solvers anderson and power take any dangling vector (--solver auto picks power)");
    });
  }
  const VertexDistribution teleport = in_work_order(op, teleport_dense);
  const VertexDistribution dangling = in_work_order(op, dangling_dense);
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
  const double mass = solver == PageRankSolver::cg ? pagerank_detail::cg_solve(solve, x, first, start != nullptr, result)
                      : solver == PageRankSolver::bicgstab
                          ? pagerank_detail::bicgstab_solve(solve, x, first, start != nullptr, result)
                          : fixed_point_solve(solve, x, first, result);
  result.seconds = total.seconds();
  result.converged = !result.stopped_early && !result.residual.empty() && result.residual.back() < params.tolerance;
  result.mass_error = std::abs(mass - 1.0);
  result.halo_bytes_sent_per_iteration = op.values_sent() * sizeof(double);
  result.halo_messages_per_iteration = op.messages_sent();
  result.eliminated = op.eliminated_count();
  result.solver = solver;
  result.score = op.to_dense(x);
  return result;
}

double pagerank_step_residual(const DistGraph& graph, const PageRankPlan& plan, const PageRankParams& params,
                              const VertexDistribution& teleport_dense, const VertexDistribution& dangling_dense,
                              std::span<const double> score, const Comm& comm) {
  const StepOperator& op = plan.step();
  if (op.rows() != graph.rows() || score.size() != graph.rows())
    throw Error(ErrorKind::internal, "pagerank_step_residual: the scores, the plan and the graph disagree in size");
  const VertexDistribution teleport = in_work_order(op, teleport_dense);
  const VertexDistribution dangling = in_work_order(op, dangling_dense);
  const std::vector<double> x = op.to_work(score);
  std::vector<double> y(x.size());
  StepBuffers buffers;
  const IterationObserver no_observer;
  const StepHook no_hook;
  const Solve s{op, params, teleport, dangling, 1.0 / static_cast<double>(graph.stats.n), comm, no_observer, no_hook, buffers};
  const double dangling_sum = comm.sum_ordered(dangling_mass(x, op.inv_out(), buffers.block_scalar));
  return s.step(x, dangling_sum, y)[0];
}

int forecast_steps_left(std::span<const double> residual, const PageRankParams& params) {
  const int done = static_cast<int>(residual.size());
  const int limit = params.fixed_iterations > 0 ? params.fixed_iterations : params.max_iterations;
  if (params.fixed_iterations > 0 || done < 3) return std::max(0, limit - done);
  const double r = residual[done - 1];
  if (r < params.tolerance) return 0;
  const double rho = std::max(r / residual[done - 2], residual[done - 2] / residual[done - 3]);
  if (!(rho < 1.0) || !(r > 0.0)) return std::max(0, limit - done);
  const double left = std::ceil(std::log(params.tolerance / r) / std::log(rho));
  return static_cast<int>(std::min<double>(left, limit - done));
}

bool krylov_solver_repays(std::span<const double> residual, const PageRankParams& params) {
  if (params.fixed_iterations > 0 || residual.size() < 3) return false;  // fixed steps are power steps; no rate yet
  return forecast_steps_left(residual, params) * (1.0 - kKrylovCost.time_per_power_step) > kKrylovCost.plan_in_csr_steps;
}

bool blocked_layout_repays(std::span<const double> residual, const PageRankParams& params) {
  if (params.fixed_iterations == 0 && residual.size() < 3) return false;  // no rate yet
  return forecast_steps_left(residual, params) * (1.0 - kBlockedCost.step_in_csr_steps) > kBlockedCost.build_in_csr_steps;
}

}  // namespace perron
