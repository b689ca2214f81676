// The peers of bench/pagerank.sh on one node, in one process, on the same graph (loaded and
// built by perron's own pipeline, one rank):
//   - baseline: the textbook CSR pull loop (GAPBS pr_spmv): contrib[u] = x[u]/outdeg[u], then
//     x'[v] = (1 − α)/n + α·(Σ_{u→v} contrib[u] + dangling/n), float64, OpenMP static rows;
//   - perron: perron::pagerank with a fixed number of steps (the same iteration), with its
//     automatic kernel choice (cache-blocked on large graphs) and with the plain CSR kernel;
//   - SuiteSparse:GraphBLAS (when built with it): the same iteration as GrB operations on an
//     iso CSR matrix of in-edges (mxv with PLUS_SECOND), as LAGraph writes PageRank;
//   - STREAM triad a = b + s·c (float64) for the machine's bandwidth;
//   - time to L1 < 1e-10: perron's power iteration, its Anderson solver, and its Krylov solver
//     (conjugate gradients on an undirected graph, BiCGSTAB on a directed one) with and without
//     elimination, each with its plan's build time.
// Repetitions are interleaved; prints one JSON object with the medians.
//
//   perron_pagerank_peers GRAPH.bin ITERATIONS REPETITIONS [directed]   (run as one MPI rank;
//   the edges are read as undirected unless `directed`)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "perron/algo/pagerank.hpp"
#include "perron/comm/comm.hpp"
#include "perron/core/memory.hpp"
#include "perron/graph/dist_graph.hpp"
#include "perron/io/edge_source.hpp"

#ifdef PERRON_HAVE_GRAPHBLAS
extern "C" {
#include <GraphBLAS.h>
}
#endif

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The textbook pull loop, written independently of perron's kernel.
double baseline(const perron::DistGraph& g, int iterations, double alpha, std::vector<double>& x) {
  const std::size_t n = g.rows();
  const auto* start = g.in.row_start.data();
  const auto* col = g.in.column.data();
  std::vector<double> contrib(n), next(n);
  std::vector<double> outdeg(g.out_weight.begin(), g.out_weight.end());
  x.assign(n, 1.0 / static_cast<double>(n));
  const auto t0 = Clock::now();
  for (int it = 0; it < iterations; ++it) {
    double dangling = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : dangling)
    for (std::size_t u = 0; u < n; ++u) {
      if (outdeg[u] > 0) {
        contrib[u] = x[u] / outdeg[u];
      } else {
        contrib[u] = 0.0;
        dangling += x[u];
      }
    }
    const double base = (1.0 - alpha) / static_cast<double>(n) + alpha * dangling / static_cast<double>(n);
    double residual = 0.0;
#pragma omp parallel for schedule(dynamic, 1024) reduction(+ : residual)
    for (std::size_t v = 0; v < n; ++v) {
      double sum = 0.0;
      for (auto e = start[v]; e < start[v + 1]; ++e) sum += contrib[col[e]];
      next[v] = base + alpha * sum;
      residual += std::abs(next[v] - x[v]);
    }
    x.swap(next);
  }
  return seconds_since(t0) / iterations;
}

double perron_steps(const perron::DistGraph& g, int iterations, perron::PageRankKernel kernel, const perron::Comm& comm,
                    std::vector<double>& x) {
  perron::PageRankParams p;
  p.fixed_iterations = iterations;
  p.kernel = kernel;
  const perron::PageRankResult r = perron::pagerank(g, p, {}, {}, comm);
  x = r.score;
  return r.seconds / iterations;
}

#ifdef PERRON_HAVE_GRAPHBLAS
void check(GrB_Info info, const char* what) {
  if (info != GrB_SUCCESS) {
    std::fprintf(stderr, "GraphBLAS: %s failed (%d)\n", what, static_cast<int>(info));
    std::exit(1);
  }
}

struct GraphBlasPageRank {
  GrB_Matrix a = nullptr;
  GrB_Vector inv_out = nullptr, is_dangling = nullptr;
  GrB_Index n = 0;

  explicit GraphBlasPageRank(const perron::DistGraph& g) {
    n = g.rows();
    const GrB_Index m = g.in.edges();
    auto* ap = static_cast<GrB_Index*>(std::malloc((n + 1) * sizeof(GrB_Index)));
    auto* aj = static_cast<GrB_Index*>(std::malloc(std::max<GrB_Index>(m, 1) * sizeof(GrB_Index)));
    auto* ax = static_cast<double*>(std::malloc(sizeof(double)));
    for (GrB_Index v = 0; v <= n; ++v) ap[v] = g.in.row_start[v];
    for (GrB_Index e = 0; e < m; ++e) aj[e] = g.in.column[e];
    ax[0] = 1.0;
    check(GxB_Matrix_import_CSR(&a, GrB_FP64, n, n, &ap, &aj, reinterpret_cast<void**>(&ax), (n + 1) * sizeof(GrB_Index),
                                std::max<GrB_Index>(m, 1) * sizeof(GrB_Index), sizeof(double), true, false, nullptr),
          "import CSR");
    check(GrB_Vector_new(&inv_out, GrB_FP64, n), "vector");
    check(GrB_Vector_new(&is_dangling, GrB_FP64, n), "vector");
    for (GrB_Index u = 0; u < n; ++u) {
      const double o = g.out_weight[u];
      GrB_Vector_setElement_FP64(inv_out, o > 0 ? 1.0 / o : 0.0, u);
      GrB_Vector_setElement_FP64(is_dangling, o > 0 ? 0.0 : 1.0, u);
    }
    GrB_Vector_wait(inv_out, GrB_MATERIALIZE);
    GrB_Vector_wait(is_dangling, GrB_MATERIALIZE);
  }
  ~GraphBlasPageRank() {
    GrB_Matrix_free(&a);
    GrB_Vector_free(&inv_out);
    GrB_Vector_free(&is_dangling);
  }

  // The iteration as GrB calls, as LAGraph writes it: t = α·(x .* inv_out); w = base, dense;
  // w += A ⊕.second t (accumulated, so a vertex without in-edges keeps its base); residual.
  double run(int iterations, double alpha, std::vector<double>& out) const {
    GrB_Vector x, t, w, d;
    check(GrB_Vector_new(&x, GrB_FP64, n), "vector");
    GrB_Vector_new(&t, GrB_FP64, n);
    GrB_Vector_new(&w, GrB_FP64, n);
    GrB_Vector_new(&d, GrB_FP64, n);
    check(GrB_Vector_assign_FP64(x, nullptr, nullptr, 1.0 / static_cast<double>(n), GrB_ALL, n, nullptr), "assign");
    const auto t0 = Clock::now();
    for (int it = 0; it < iterations; ++it) {
      double dangling = 0.0, residual = 0.0;
      check(GrB_Vector_eWiseMult_BinaryOp(d, nullptr, nullptr, GrB_TIMES_FP64, x, is_dangling, nullptr), "dangling");
      check(GrB_Vector_reduce_FP64(&dangling, nullptr, GrB_PLUS_MONOID_FP64, d, nullptr), "reduce");
      check(GrB_Vector_eWiseMult_BinaryOp(t, nullptr, nullptr, GrB_TIMES_FP64, x, inv_out, nullptr), "contrib");
      check(GrB_Vector_apply_BinaryOp1st_FP64(t, nullptr, nullptr, GrB_TIMES_FP64, alpha, t, nullptr), "scale");
      const double base = (1.0 - alpha) / static_cast<double>(n) + alpha * dangling / static_cast<double>(n);
      check(GrB_Vector_assign_FP64(w, nullptr, nullptr, base, GrB_ALL, n, nullptr), "base");
      check(GrB_mxv(w, nullptr, GrB_PLUS_FP64, GxB_PLUS_SECOND_FP64, a, t, nullptr), "mxv");
      check(GrB_Vector_eWiseAdd_BinaryOp(d, nullptr, nullptr, GrB_MINUS_FP64, w, x, nullptr), "difference");
      check(GrB_Vector_apply(d, nullptr, nullptr, GrB_ABS_FP64, d, nullptr), "abs");
      check(GrB_Vector_reduce_FP64(&residual, nullptr, GrB_PLUS_MONOID_FP64, d, nullptr), "residual");
      std::swap(x, w);
    }
    const double s = seconds_since(t0) / iterations;
    out.assign(n, 0.0);
    GrB_Index count = n;
    std::vector<GrB_Index> idx(n);
    GrB_Vector_extractTuples_FP64(idx.data(), out.data(), &count, x);
    GrB_Vector_free(&x);
    GrB_Vector_free(&t);
    GrB_Vector_free(&w);
    GrB_Vector_free(&d);
    return s;
  }
};
#endif

// STREAM triad a = b + s·c over three float64 arrays of 32 Mi elements: GB/s (24 bytes per element).
double stream_triad() {
  const std::size_t n = std::size_t{1} << 25;
  std::vector<double> a(n), b(n), c(n);
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < n; ++i) a[i] = 0.0, b[i] = 1.0, c[i] = 2.0;
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = Clock::now();
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) a[i] = b[i] + 3.0 * c[i];
    best = std::max(best, 24.0 * static_cast<double>(n) / seconds_since(t0) / 1e9);
  }
  return best + 0.0 * a[n / 2];
}

double l1(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) d += std::abs(a[i] - b[i]);
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  perron::Environment env(argc, argv);
  const perron::Comm comm = perron::Environment::world();
  const bool directed = argc == 5 && std::string(argv[4]) == "directed";
  if ((argc != 4 && !directed) || comm.size() != 1) {
    std::fprintf(stderr, "usage: perron_pagerank_peers GRAPH.bin ITERATIONS REPETITIONS [directed] (one MPI rank)\n");
    return 2;
  }
  const int iterations = std::atoi(argv[2]), repetitions = std::atoi(argv[3]);
  perron::InputSpec spec;
  spec.input = argv[1];
  spec.format = "binary";
  perron::GraphOptions options;
  options.undirected = !directed;
  const auto t0 = Clock::now();
  perron::DistGraph g = perron::build_graph(perron::load_edges(spec, comm).share, options, comm);
  const double build_s = seconds_since(t0);
  const std::uint64_t rss_graph = perron::peak_rss_bytes();
  const double alpha = 0.85;
  std::vector<double> xb, xp, xg;
  std::vector<double> tb, tp, tc, tg, xc;
#ifdef PERRON_HAVE_GRAPHBLAS
  GrB_init(GrB_NONBLOCKING);
  GxB_Global_Option_set(GxB_GLOBAL_NTHREADS, omp_get_max_threads());
  auto* gb = new GraphBlasPageRank(g);
#endif
  for (int rep = 0; rep < repetitions; ++rep) {
    tb.push_back(baseline(g, iterations, alpha, xb));
    tp.push_back(perron_steps(g, iterations, perron::PageRankKernel::automatic, comm, xp));
    tc.push_back(perron_steps(g, iterations, perron::PageRankKernel::csr, comm, xc));
#ifdef PERRON_HAVE_GRAPHBLAS
    tg.push_back(gb->run(iterations, alpha, xg));
#endif
  }
#ifdef PERRON_HAVE_GRAPHBLAS
  delete gb;
  GrB_finalize();
#endif
  // Time to L1 < 1e-10 from the uniform start, by solver (interleaved): power iteration,
  // Anderson acceleration, the Krylov solver (cg on an undirected graph, bicgstab on a
  // directed one) on the Schur complement and on the whole system. The plan (layout, and the
  // eliminated set) is timed apart from the solve.
  constexpr int kSolvers = 4;
  const perron::PageRankSolver krylov = directed ? perron::PageRankSolver::bicgstab : perron::PageRankSolver::cg;
  const perron::PageRankSolver solvers[kSolvers] = {perron::PageRankSolver::power, perron::PageRankSolver::anderson, krylov,
                                                    krylov};
  const bool eliminate[kSolvers] = {false, false, true, false};
  std::vector<double> conv_s[kSolvers], plan_s[kSolvers];
  int conv_it[kSolvers] = {0, 0, 0, 0};
  std::vector<double> conv_x[kSolvers];
  for (int rep = 0; rep < repetitions; ++rep)
    for (int s = 0; s < kSolvers; ++s) {
      perron::PageRankParams p;
      p.solver = solvers[s];
      p.cg_eliminate = eliminate[s];
      const auto t_plan = Clock::now();
      const perron::PageRankPlan plan(g, p, comm);
      plan_s[s].push_back(seconds_since(t_plan));
      const perron::PageRankResult r = perron::pagerank(g, plan, p, {}, {}, comm);
      conv_s[s].push_back(r.seconds);
      conv_it[s] = r.iterations;
      conv_x[s] = r.score;
    }
  std::printf(
      "{\"krylov\": \"%s\", \"n\": %llu, \"m\": %llu, \"threads\": %d, \"build_s\": %.6f, \"stream_triad_gbs\": %.3f,"
      " \"baseline_s\": %.6f, \"perron_s\": %.6f, \"perron_csr_s\": %.6f, \"graphblas_s\": %.6f,"
      " \"l1_perron_baseline\": %.3e, \"l1_graphblas_baseline\": %.3e,"
      " \"power_iterations\": %d, \"power_s\": %.6f, \"anderson_iterations\": %d, \"anderson_s\": %.6f,"
      " \"cg_iterations\": %d, \"cg_s\": %.6f, \"cg_whole_iterations\": %d, \"cg_whole_s\": %.6f,"
      " \"power_plan_s\": %.6f, \"anderson_plan_s\": %.6f, \"cg_plan_s\": %.6f, \"cg_whole_plan_s\": %.6f,"
      " \"l1_anderson_power\": %.3e, \"l1_cg_power\": %.3e, \"l1_cg_whole_power\": %.3e,"
      " \"peak_rss_bytes\": %llu, \"rss_after_build_bytes\": %llu}\n",
      directed ? "bicgstab" : "cg", static_cast<unsigned long long>(g.stats.n), static_cast<unsigned long long>(g.stats.m),
      omp_get_max_threads(), build_s, stream_triad(), median(tb), median(tp), median(tc), tg.empty() ? -1.0 : median(tg),
      l1(xp, xb), xg.empty() ? -1.0 : l1(xg, xb), conv_it[0], median(conv_s[0]), conv_it[1], median(conv_s[1]), conv_it[2],
      median(conv_s[2]), conv_it[3], median(conv_s[3]), median(plan_s[0]), median(plan_s[1]), median(plan_s[2]),
      median(plan_s[3]), l1(conv_x[0], conv_x[1]), l1(conv_x[0], conv_x[2]), l1(conv_x[0], conv_x[3]),
      static_cast<unsigned long long>(perron::peak_rss_bytes()), static_cast<unsigned long long>(rss_graph));
  return 0;
}
