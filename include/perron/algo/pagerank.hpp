#pragma once
// Distributed PageRank over a DistGraph (../shared/docs/maths.md), by power iteration or by
// the solvers below, all reaching the fixed point of
//
//   x₀ = t,  x_{k+1}(v) = α Σ_{u→v} x_k(u)·w(u,v)/o(u) + α (Σ_{u∈D} x_k(u)) δ(v) + (1−α) t(v)
//
// with damping α, teleport t, dangling vector δ (defaults to t) and D the vertices with zero
// out-weight. Stops when ‖x_{k+1} − x_k‖₁ < tolerance, after max_iterations, or after exactly
// `fixed_iterations` when that is > 0.
//
// Design: pull over in-edges (GAPBS pr.cc): each vertex sums its own row, so there are no
// atomics and every sum runs in a fixed order (CSR order, or segment by segment in the blocked
// kernel's degree order). Global reductions are summed in fixed blocks and
// then in rank order, so the result is bit-identical for the same ranks × threads and the
// scores agree across rank counts to rounding. Two messages per step: the halo exchange of
// x(u)/o(u) and one small ordered sum of (residual, dangling mass, total mass); cg with
// elimination splits the exchange in two (kept, then eliminated values), each value still
// sent once.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/graph/dist_graph.hpp"

namespace perron {

enum class PageRankSolver {
  automatic,  // cg on a symmetric graph, bicgstab on a directed one, power where neither applies
              // (a fixed iteration count, damping 1, or dangling mass sent elsewhere than the
              // teleport vector): choose_solver
  power,      // x ← F(x): one step per iteration, bit-identical restarts
  anderson,   // Anderson acceleration of the same step (depth m): for this linear fixed point,
              // equivalent to GMRES(m) on (I − αPᵀ)x = (1 − α)t (Walker & Ni 2011)
  cg,         // conjugate gradients on (I − αP)z = (1 − α)t, x = z/Σz, for symmetric graphs:
              // there I − αP is self-adjoint in the inner product weighted by 1/o; with
              // cg_eliminate, on the Schur complement left by an independent set of
              // low-degree vertices (fewer and cheaper products)
  bicgstab,   // BiCGSTAB (van der Vorst 1992) on the same system for a directed graph: the
              // dangling vertices ordered last and solved for in one pass at the end, the
              // Schur complement of an independent set (cg_eliminate) on the rest
};

enum class PageRankKernel {
  automatic,  // in a plan: blocked when the contributions outgrow half of this rank's share of
              // L3, else csr; `perron pagerank` also weighs the layout's build against the steps
              // left (blocked_layout_may_pay, blocked_layout_repays)
  csr,        // the plain pull over the CSR
  blocked,    // degree-sorted, cache-blocked pull (column segments of 64 Ki)
};

// Shape of the blocked kernel: columns per segment 2^segment_shift (≤ 16: offsets are 16-bit;
// 16 = 512 KiB of contributions, half of a 1 MiB L2) and rows per tile (16 Ki = 128 KiB of y).
// Results do not depend on either beyond rounding; tests shrink them to exercise many cells.
struct BlockedLayout {
  LocalId segment_shift = 16;
  LocalId tile_rows = 16384;
};

struct PageRankParams {
  double damping = 0.85;
  double tolerance = 1e-10;
  int max_iterations = 1000;
  int fixed_iterations = 0;  // > 0: run exactly this many steps, ignoring the tolerance
  PageRankSolver solver = PageRankSolver::power;
  int anderson_depth = 5;    // m: differences kept by the Anderson solver
  bool cg_eliminate = true;  // cg, bicgstab: eliminate an independent set of low-degree vertices first
  PageRankKernel kernel = PageRankKernel::automatic;
  BlockedLayout blocked_layout;
  // The last-level cache this rank may count on, in bytes, for kernel auto's cache rule; 0:
  // the machine's L3 shared evenly by the ranks on the node. On a node shared with other jobs
  // the L3 that Linux reports is not what a rank gets: measure and set it (docs/benchmarks.md).
  std::uint64_t cache_bytes = 0;
};

// A probability vector over the vertices: uniform (1/n each) when `values` is empty, else
// this rank's slice (owned vertices) of a vector whose global sum is 1.
struct VertexDistribution {
  std::vector<double> values;
  bool uniform() const { return values.empty(); }
};

// Collective: the distribution given by (original id, weight) pairs that any rank may hold;
// weights of a repeated id add up and the total is normalised to 1. Throws an input error,
// prefixed by `what` (the file or option it came from), for an id that is not a vertex or a
// total that is not positive.
VertexDistribution distribution_from_weights(std::span<const VertexId> ids, std::span<const double> weights,
                                             const DistGraph& graph, const Comm& comm, const std::string& what);

// Warm start: the start vector of a run that re-ranks a changed graph (a crawl re-ranked day
// after day) from a previous result's (original id, score) pairs, which any rank may hold.
// A vertex in both takes its previous score; a vertex new to the graph starts at its teleport
// share; ids no longer in the graph are dropped and counted; the vector is then renormalised
// to sum 1. Any start converges to the same fixed point; a close one needs fewer steps.
struct WarmStart {
  std::vector<double> x;           // this rank's vertices, dense order
  std::uint64_t ignored = 0;       // ids of the previous result not in the graph (every rank)
  std::uint64_t new_vertices = 0;  // vertices absent from the previous result (every rank)
};
// Collective. Throws an input error, prefixed by `what`, when no previous score lands on the
// graph with a positive total.
WarmStart warm_start(std::span<const VertexId> ids, std::span<const double> scores, const DistGraph& graph,
                     const VertexDistribution& teleport, const Comm& comm, const std::string& what);

struct IterationReport {
  int iteration;    // 1-based
  double residual;  // ‖x_k − x_{k−1}‖₁; for cg ‖(1−α)t − (I−αP)z_k‖₁ / Σz_k, the same
                    // quantity when no vertex dangles (its last entry is always a true step's)
  double seconds;   // wall time of this step
};
using IterationObserver = std::function<void(const IterationReport&)>;

// Where a run resumes (checkpoint/restart): the iterate x_k of this rank's vertices, k, and
// the residuals of steps 1..k. With the power solver, continuing from it gives the same bits
// as never stopping, because every sum runs in the same fixed order; anderson and cg start
// their history afresh from x_k, so they meet the same tolerance by a slightly different path.
struct PageRankState {
  std::vector<double> x;
  int iteration = 0;
  std::vector<double> residual;
};

// Called after every step (but the last) with the iteration k, a function that returns this
// rank's x_k in dense order (it costs a pass over x, and for cg with elimination a halo
// exchange, so it is collective: call it only when x is needed, e.g. for a checkpoint, and on
// every rank alike) and the residuals so far (a view valid during the call); returns false to
// stop the run there (the result then has stopped_early = true). Every rank must return the
// same answer.
using IterateFn = std::function<std::vector<double>()>;
using StepHook = std::function<bool(int iteration, const IterateFn& x, std::span<const double> residual)>;

struct PageRankResult {
  std::vector<double> score;     // owned vertices, dense order
  std::vector<double> residual;  // one entry per iteration
  int iterations = 0;
  bool converged = false;
  double mass_error = 0.0;                          // |Σ x − 1| at the end: a check on the arithmetic
  double seconds = 0.0;                             // time in the iteration loop
  std::uint64_t halo_bytes_sent_per_iteration = 0;  // this rank
  std::uint64_t halo_messages_per_iteration = 0;    // this rank sends (to other ranks)
  bool stopped_early = false;                       // the step hook asked to stop
  PageRankKernel kernel = PageRankKernel::csr;      // the kernel this rank ran (csr or blocked)
  int kernel_switched_after = 0;                    // > 0: csr up to this step, blocked after
  int solver_switched_after = 0;                    // > 0: power up to this step, `solver` after
  std::uint64_t eliminated = 0;                     // cg, bicgstab: vertices solved for by elimination, every rank
  PageRankSolver solver = PageRankSolver::power;    // the solver that ran (never automatic)
};

// Collective: the solver that `automatic` stands for on this graph. cg and bicgstab solve
// (I − αP)z = t and normalise, which is PageRank only when the dangling mass goes where the
// teleport does (`dangling_is_teleport`, or no vertex dangles); neither runs at damping 1 (the
// system is singular) or for a fixed iteration count, which means power steps (Graphalytics).
// Any other solver is returned as it is.
PageRankSolver choose_solver(const DistGraph& graph, const PageRankParams& params, bool dangling_is_teleport, const Comm& comm);

// Throws a usage error naming the first parameter out of range.
void check_pagerank_params(const PageRankParams& params);

namespace pagerank_detail {
class StepOperator;
}

// The operator of a solve, built once from the graph (collective): the kernel chosen by
// params.kernel with its layout of the in-edges, the halo plan in that kernel's vertex order,
// 1/o per vertex, and for cg the eliminated set. The blocked layout keeps its own copy of the
// edges (2 bytes each), so once the plan is built a caller with no further use for the CSR's
// columns may release them (LocalCsr::release_edges) when reads_csr() is false: the solve then
// holds 2 bytes per edge instead of 6. Throws a usage error on every rank for solver cg on a graph that is not
// symmetric (is_symmetric). Solver automatic is chosen here (choose_solver) as if the dangling
// mass went where the teleport does; choose first when it may not.
class PageRankPlan {
 public:
  PageRankPlan(const DistGraph& graph, const PageRankParams& params, const Comm& comm);
  PageRankPlan(PageRankPlan&&) noexcept;
  PageRankPlan& operator=(PageRankPlan&&) noexcept;
  ~PageRankPlan();

  PageRankKernel kernel() const;     // csr or blocked, as chosen
  bool reads_csr() const;            // whether a solve reads the graph's CSR
  std::uint64_t eliminated() const;  // cg, bicgstab: vertices eliminated (every rank)
  std::uint64_t trailing() const;    // bicgstab: dangling vertices ordered last (every rank)
  PageRankSolver solver() const;     // the solver the plan is for (never automatic)
  const pagerank_detail::StepOperator& step() const { return *step_; }

 private:
  std::unique_ptr<pagerank_detail::StepOperator> step_;
};

// Collective. The parameters must pass check_pagerank_params (checked again here). The first
// form builds the plan itself; the second runs on one built from the same graph and kernel.
PageRankResult pagerank(const DistGraph& graph, const PageRankParams& params, const VertexDistribution& teleport,
                        const VertexDistribution& dangling, const Comm& comm, const IterationObserver& observe = {},
                        const PageRankState* start = nullptr, const StepHook& hook = {});
PageRankResult pagerank(const DistGraph& graph, const PageRankPlan& plan, const PageRankParams& params,
                        const VertexDistribution& teleport, const VertexDistribution& dangling, const Comm& comm,
                        const IterationObserver& observe = {}, const PageRankState* start = nullptr, const StepHook& hook = {});

// Kernel auto, by cost. The blocked layout makes each step cheaper once the contributions
// outgrow the cache, but building it is itself a pass over the edges worth several steps of
// the plain kernel. In units of one plain (csr) step, measured on directed and undirected
// Kronecker 22 at 1 × 2 and 2 × 1 (docs/benchmarks.md "Kernel auto"), since the csr pull asks
// for its sources ahead (prefetch_distance): the build costs 20–26 csr steps, and a blocked
// step 0.77–0.85 of a csr step on the undirected graph, 0.9–1.1 on the directed one (before
// the prefetch: 0.45–0.70, most with one thread per rank, whose plain gather then had the
// fewest misses in flight; now one thread and two gain alike). Both are passes over the same
// edges, so their ratio moves less between machines than either time. The build repays
// itself when more than build / (1 − step) steps remain: 105. A solve therefore starts on the
// CSR, which needs no build, and switches once the residuals forecast that many steps left; a
// Graph500 graph that converges in 13–36 steps never pays for the layout, a web graph that
// needs hundreds does after its first few. The rule reads residuals, never clocks, so the
// choice is the same on every rank, for every rank count and every run.
struct BlockedLayoutCost {
  double build_in_csr_steps;
  double step_in_csr_steps;
};
inline constexpr BlockedLayoutCost kBlockedCost{21.0, 0.80};

// Solver auto, by cost, on a directed graph. bicgstab takes fewer products than power
// iteration takes steps when the chain mixes slowly, but its plan (the independent set, the
// work order, the CSR copied into it) is itself worth several csr steps, and where power
// converges in a few steps no Krylov method does better: a Kronecker graph read as directed
// takes 13 power steps to 1e-10 and 14 BiCGSTAB products. Measured at Kronecker 22 and on the
// real directed graphs (docs/benchmarks.md "Solver auto"): the plan costs 9–12 csr steps, and
// BiCGSTAB spends about half of the time that power iteration needs for the same stretch on a
// slowly mixing graph. So `perron pagerank --solver auto` on a directed graph starts with power
// steps on the CSR, and once the residuals forecast more than plan / (1 − time ratio) = 24
// steps left, goes on with bicgstab from the iterate reached; it reads residuals, never
// clocks, so every rank and run decides alike. (A symmetric graph goes to cg at once: there
// power needs 36 steps at Kronecker 22 and cg's 13 products repay the plan, while the early
// residuals, which shrink fast before the slow modes dominate, forecast only 11.)
struct KrylovCost {
  double plan_in_csr_steps;
  double time_per_power_step;  // a Krylov solve's time per power step it replaces
};
inline constexpr KrylovCost kKrylovCost{12.0, 0.5};

// Whether switching from power iteration to cg or bicgstab now repays the plan, over the
// steps left forecast from the residuals so far (forecast_steps_left; needs 3 residuals).
bool krylov_solver_repays(std::span<const double> residual, const PageRankParams& params);

// Collective: whether the blocked kernel could help at all on this graph (the plan's cache
// rule: some rank's contributions outgrow half of its share of the cache, params.cache_bytes).
bool blocked_layout_may_pay(const DistGraph& graph, const PageRankParams& params, const Comm& comm);

// The steps left until the tolerance (or the iteration limit), forecast from the residuals so
// far: the last residual shrinking by ρ = the larger of the last two ratios per step. A fixed
// iteration count is known exactly. Needs 3 residuals (else returns the limit's steps left).
int forecast_steps_left(std::span<const double> residual, const PageRankParams& params);

// Whether building the blocked layout now repays itself over the forecast steps left.
bool blocked_layout_repays(std::span<const double> residual, const PageRankParams& params);

// The verifier (as GAPBS's pr.cc verifies): one true step F from `score` (dense order, as
// PageRankResult::score holds it), whatever solver produced it; returns ‖F(x) − x‖₁ over every
// rank. Collective; `plan` and the distributions as the solve had them.
double pagerank_step_residual(const DistGraph& graph, const PageRankPlan& plan, const PageRankParams& params,
                              const VertexDistribution& teleport, const VertexDistribution& dangling,
                              std::span<const double> score, const Comm& comm);

}  // namespace perron
