// PageRank against the dense float64 oracle, rank-count invariance and determinism. Every
// test runs at 1, 2, 3 and 4 ranks (ctest registers the binary once per rank count).
#include <omp.h>

#include "pagerank_layout.hpp"
#include "perron/algo/top_k.hpp"
#include "perron/core/error.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

// The blocked kernel shrunk so that small graphs still span many segments and tiles.
BlockedLayout small_cells() { return BlockedLayout{3, 7}; }

// A step hook that keeps the iterate (dense order) and the residuals of step k in `state` and
// stops the run there.
StepHook stop_at(int k, PageRankState& state) {
  return [k, &state](int iteration, const IterateFn& x, std::span<const double> residual) {
    if (iteration < k) return true;
    state.x = x();
    state.iteration = iteration;
    state.residual.assign(residual.begin(), residual.end());
    return false;
  };
}

PageRankParams tight() {
  PageRankParams p;
  p.tolerance = 1e-14;
  p.max_iterations = 100000;
  return p;
}

struct Case {
  std::uint64_t seed;
  int n, m;
  bool weighted, personalized, undirected;
};

class OracleTest : public testing::TestWithParam<Case> {};

TEST_P(OracleTest, MatchesDenseFloat64Solve) {
  const Case c = GetParam();
  const Comm comm = world();
  TestGraph g = random_graph(c.seed, c.n, c.m, c.weighted);
  DistGraph graph = build_graph(share_of(g, comm), GraphOptions{c.undirected, false}, comm);
  if (c.undirected) {  // the oracle sees both directions explicitly
    const auto count = g.edges.size();
    for (std::size_t i = 0; i < count; ++i)
      if (g.edges[i].src != g.edges[i].dst) g.edges.push_back({g.edges[i].dst, g.edges[i].src, g.edges[i].weight});
  }
  std::map<VertexId, double> pers;
  if (c.personalized) {
    // Personalize on a few vertices, including an isolated one and a dangling one.
    pers[g.edges[0].src] = 2.0;
    pers[g.edges[5].dst] = 1.0;
    pers[g.extra_vertices[0]] = 0.5;
  }
  const VertexDistribution teleport = distribution_of(pers, graph, comm);
  const auto expected = dense_pagerank(g, 0.85, pers);
  // Every kernel and solver meets the oracle: the plain and the cache-blocked pull (forced on
  // these small graphs), power iteration, Anderson acceleration, and on the undirected cases
  // conjugate gradients.
  struct Variant {
    PageRankKernel kernel;
    PageRankSolver solver;
    BlockedLayout layout;
    const char* name;
  };
  for (const Variant& variant : {Variant{PageRankKernel::csr, PageRankSolver::power, {}, "csr power"},
                                 Variant{PageRankKernel::blocked, PageRankSolver::power, {}, "blocked power"},
                                 Variant{PageRankKernel::blocked, PageRankSolver::power, small_cells(), "blocked small cells"},
                                 Variant{PageRankKernel::csr, PageRankSolver::anderson, {}, "csr anderson"},
                                 Variant{PageRankKernel::blocked, PageRankSolver::anderson, small_cells(), "blocked anderson"},
                                 Variant{PageRankKernel::csr, PageRankSolver::cg, {}, "csr cg"},
                                 Variant{PageRankKernel::blocked, PageRankSolver::cg, small_cells(), "blocked cg"},
                                 Variant{PageRankKernel::csr, PageRankSolver::bicgstab, {}, "csr bicgstab"},
                                 Variant{PageRankKernel::blocked, PageRankSolver::bicgstab, small_cells(), "blocked bicgstab"}}) {
    if (variant.solver == PageRankSolver::cg && !c.undirected) continue;  // cg needs a symmetric graph
    PageRankParams p = tight();
    p.kernel = variant.kernel;
    p.solver = variant.solver;
    p.blocked_layout = variant.layout;
    const PageRankResult r = pagerank(graph, p, teleport, teleport, comm);
    EXPECT_TRUE(r.converged) << variant.name;
    EXPECT_LT(r.mass_error, 1e-12) << variant.name;
    const auto got = gather_by_id(graph, r.score, comm);
    EXPECT_EQ(graph.stats.n, expected.size());
    EXPECT_LT(l1_distance(got, expected), 1e-10) << variant.name;
    if (variant.solver == PageRankSolver::cg || variant.solver == PageRankSolver::bicgstab) {
      EXPECT_GT(r.eliminated, 0u) << variant.name << ": solved on the Schur complement";
    }
    EXPECT_EQ(r.solver, variant.solver) << variant.name;
  }
}

INSTANTIATE_TEST_SUITE_P(RandomGraphs, OracleTest,
                         testing::Values(Case{1, 40, 120, false, false, false}, Case{2, 150, 600, false, false, false},
                                         Case{3, 150, 600, true, false, false}, Case{4, 97, 300, false, true, false},
                                         Case{5, 97, 300, true, true, false}, Case{6, 120, 400, false, false, true},
                                         Case{7, 33, 50, true, true, true}),
                         [](const auto& param_info) {
                           const Case& c = param_info.param;
                           return "seed" + std::to_string(c.seed) + (c.weighted ? "_weighted" : "") +
                                  (c.personalized ? "_personalized" : "") + (c.undirected ? "_undirected" : "");
                         });

// The same graph on all P ranks and on the ranks split into two groups (rank 0 alone, and the
// others) must agree to 1e-12 in L1: results do not depend on the rank count.
TEST(PageRank, RankCountInvariance) {
  const Comm comm = world();
  // On one rank the split communicator is the whole one: nothing to compare (unit_np2..4 do).
  if (comm.size() < 2) GTEST_SKIP() << "rank-count invariance needs at least 2 ranks";
  const TestGraph g = random_graph(11, 300, 2000, true);
  PageRankParams p;
  const DistGraph full = build_graph(share_of(g, comm), {}, comm);
  const auto a = gather_by_id(full, pagerank(full, p, {}, {}, comm).score, comm);
  const Comm sub = comm.split(comm.rank() == 0 ? 0 : 1, comm.rank());
  const DistGraph part = build_graph(share_of(g, sub), {}, sub);
  const auto b = gather_by_id(part, pagerank(part, p, {}, {}, sub).score, sub);
  EXPECT_LE(l1_distance(a, b), 1e-12) << "ranks " << comm.size() << " vs " << sub.size();
}

// Conjugate gradients: the same answer as power iteration at every rank count and on split
// ranks, fewer steps than power iteration, deterministic bits, and a symmetric graph given as
// both directions explicitly is recognised as symmetric (not only one built --undirected).
TEST(PageRank, ConjugateGradientsOnSymmetricGraphs) {
  const Comm comm = world();
  TestGraph g = random_graph(21, 600, 5000, true);
  PageRankParams p;
  p.tolerance = 1e-14;
  p.kernel = PageRankKernel::blocked;
  p.blocked_layout = small_cells();
  const DistGraph full = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
  const PageRankResult power = pagerank(full, p, {}, {}, comm);
  p.solver = PageRankSolver::cg;
  const PageRankResult cg = pagerank(full, p, {}, {}, comm);
  EXPECT_TRUE(cg.converged);
  EXPECT_LT(cg.residual.back(), 1e-14);
  EXPECT_LT(cg.iterations, power.iterations * 3 / 4) << "cg " << cg.iterations << " steps, power " << power.iterations;
  const auto a = gather_by_id(full, power.score, comm);
  const auto b = gather_by_id(full, cg.score, comm);
  EXPECT_LE(l1_distance(a, b), 1e-12);
  EXPECT_EQ(pagerank(full, p, {}, {}, comm).score, cg.score) << "same ranks x threads, same bits";
  const Comm sub = comm.split(comm.rank() == 0 ? 0 : 1, comm.rank());
  const DistGraph part = build_graph(share_of(g, sub), GraphOptions{true, false}, sub);
  EXPECT_LE(l1_distance(a, gather_by_id(part, pagerank(part, p, {}, {}, sub).score, sub)), 1e-12);
  // Both directions written out, read as a directed graph: symmetric by the hash check.
  const auto count = g.edges.size();
  for (std::size_t i = 0; i < count; ++i) g.edges.push_back({g.edges[i].dst, g.edges[i].src, g.edges[i].weight});
  const DistGraph explicit_both = build_graph(share_of(g, comm), GraphOptions{}, comm);
  EXPECT_FALSE(explicit_both.stats.undirected);
  EXPECT_TRUE(is_symmetric(explicit_both, comm));
  EXPECT_LE(l1_distance(a, gather_by_id(explicit_both, pagerank(explicit_both, p, {}, {}, comm).score, comm)), 1e-12);
}

// cg stopped by the step hook hands out a normalized iterate (a probability vector), and a
// run resumed from it (a fresh Krylov space from that iterate) converges to the same scores.
TEST(PageRank, ConjugateGradientsResumesFromAStoppedIterate) {
  const Comm comm = world();
  const DistGraph graph = build_graph(share_of(random_graph(23, 500, 4000, false), comm), GraphOptions{true, false}, comm);
  PageRankParams p;
  p.solver = PageRankSolver::cg;
  p.tolerance = 1e-13;
  const PageRankResult whole = pagerank(graph, p, {}, {}, comm);
  PageRankState at5;
  const StepHook hook = stop_at(5, at5);
  const PageRankResult stopped = pagerank(graph, p, {}, {}, comm, {}, nullptr, hook);
  EXPECT_TRUE(stopped.stopped_early);
  EXPECT_EQ(stopped.score, at5.x);
  double mass = 0.0;
  for (double v : at5.x) mass += v;
  EXPECT_NEAR(comm.sum_ordered(mass), 1.0, 1e-12);
  const PageRankResult resumed = pagerank(graph, p, {}, {}, comm, {}, &at5);
  EXPECT_TRUE(resumed.converged);
  EXPECT_GT(resumed.iterations, 5);
  EXPECT_LE(l1_distance(gather_by_id(graph, resumed.score, comm), gather_by_id(graph, whole.score, comm)), 1e-11);
}

// A graph with a periphery, as web and Kronecker graphs have: a random core, leaves hanging
// off it, and pairs of leaves joined to each other.
TestGraph graph_with_periphery(std::uint64_t seed) {
  TestGraph g = random_graph(seed, 300, 2500, true);
  std::mt19937_64 rng(seed);
  const std::size_t core = g.edges.size();
  for (VertexId leaf = 2000000000; leaf < 2000000600; ++leaf) {
    g.edges.push_back({g.edges[rng() % core].src, leaf, 0.5 + static_cast<double>(rng() % 4)});
    if (leaf % 7 == 0) g.edges.push_back({leaf, leaf - 1, 1.0});
  }
  return g;
}

// The eliminated set: no member has a self-loop or a member neighbour, every ghost carries its
// owner's flag, and the set is the same vertices at any rank count (keys come from the graph).
TEST(PageRank, EliminatedSetIsIndependentAndTheSameOnAnyRanks) {
  const Comm comm = world();
  const TestGraph g = graph_with_periphery(31);
  auto members = [&](const Comm& c) {
    const DistGraph graph = build_graph(share_of(g, c), GraphOptions{true, false}, c);
    const pagerank_detail::Elimination e = pagerank_detail::independent_low_degree_set(graph, c, 2);
    const LocalId rows = graph.rows();
    for (LocalId v = 0; v < rows; ++v) {
      if (e.owned[v] == 0) continue;
      for (EdgeIndex k = graph.in.row_start[v]; k < graph.in.row_start[v + 1]; ++k) {
        const LocalId col = graph.in.column[k];
        EXPECT_NE(col, v) << "an eliminated vertex with a self-loop";
        EXPECT_FALSE(e.column(col, rows)) << "two adjacent eliminated vertices";
      }
    }
    std::vector<std::uint8_t> owners_flags(e.ghost.size());
    graph.halo.gather<std::uint8_t>(e.owned, owners_flags, c);
    EXPECT_EQ(owners_flags, e.ghost);
    EXPECT_GT(e.count, 600u / 2) << "most leaves are eliminated";
    return gather_by_id(graph, std::vector<double>(e.owned.begin(), e.owned.end()), c);
  };
  const auto all = members(comm);
  const Comm sub = comm.split(comm.rank() == 0 ? 0 : 1, comm.rank());
  EXPECT_EQ(members(sub), all) << "ranks " << comm.size() << " vs " << sub.size();
}

// cg on the Schur complement against cg on the whole system and power iteration: the same
// scores to 1e-12 (personalized, weighted, with self-loops and isolated vertices), in fewer steps.
TEST(PageRank, EliminationKeepsTheAnswerAndSavesSteps) {
  const Comm comm = world();
  const TestGraph g = graph_with_periphery(32);
  const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
  const VertexDistribution teleport = distribution_of({{g.edges[3].src, 1.0}, {2000000005, 2.0}}, graph, comm);
  PageRankParams p = tight();
  const auto power = gather_by_id(graph, pagerank(graph, p, teleport, teleport, comm).score, comm);
  p.solver = PageRankSolver::cg;
  for (const PageRankKernel kernel : {PageRankKernel::csr, PageRankKernel::blocked}) {
    p.kernel = kernel;
    p.blocked_layout = small_cells();
    p.cg_eliminate = false;
    const PageRankResult whole = pagerank(graph, p, teleport, teleport, comm);
    p.cg_eliminate = true;
    const PageRankResult reduced = pagerank(graph, p, teleport, teleport, comm);
    EXPECT_EQ(whole.eliminated, 0u);
    EXPECT_GT(reduced.eliminated, 300u);
    EXPECT_TRUE(reduced.converged);
    EXPECT_LT(reduced.iterations, whole.iterations)
        << "eliminated " << reduced.iterations << " steps, whole " << whole.iterations;
    EXPECT_LE(l1_distance(gather_by_id(graph, reduced.score, comm), power), 1e-12);
    EXPECT_LE(l1_distance(gather_by_id(graph, whole.score, comm), power), 1e-12);
    EXPECT_EQ(pagerank(graph, p, teleport, teleport, comm).score, reduced.score) << "same ranks x threads, same bits";
  }
}

// The directed independent set: no member has a self-loop, dangles, or links to or from
// another member (checked from both ends: in-edges here, out-edges through the rows that read
// a member); the dangling vertices are exactly the trailing class; the same vertices at any
// rank count.
TEST(PageRank, DirectedEliminatedSetIsIndependentBothWays) {
  const Comm comm = world();
  const TestGraph g = graph_with_periphery(33);
  auto classes = [&](const Comm& c) {
    const DistGraph graph = build_graph(share_of(g, c), GraphOptions{}, c);
    const pagerank_detail::Elimination e = pagerank_detail::independent_low_degree_set(graph, c, 2, true);
    const LocalId rows = graph.rows();
    std::uint64_t dangling = 0;
    for (LocalId v = 0; v < rows; ++v) {
      const bool dangles = !(graph.out_weight[v] > 0.0);
      dangling += dangles ? 1 : 0;
      EXPECT_EQ(e.owned[v] == pagerank_detail::kTrailingRow, dangles) << "trailing is dangling";
      for (EdgeIndex k = graph.in.row_start[v]; k < graph.in.row_start[v + 1]; ++k) {
        const LocalId col = graph.in.column[k];
        if (e.owned[v] == pagerank_detail::kEliminatedRow) {
          EXPECT_NE(col, v) << "an eliminated vertex with a self-loop";
          EXPECT_FALSE(e.column(col, rows)) << "an edge from an eliminated vertex into another";
        }
      }
    }
    EXPECT_EQ(c.allreduce<std::uint64_t>(dangling, ReduceOp::sum), e.trailing);
    EXPECT_EQ(e.trailing, graph.stats.dangling);
    EXPECT_GT(e.count, 100u);
    std::vector<std::uint8_t> eliminated(e.owned.size()), owners_flags(e.ghost.size());
    for (std::size_t v = 0; v < e.owned.size(); ++v) eliminated[v] = e.owned[v] == pagerank_detail::kEliminatedRow ? 1 : 0;
    graph.halo.gather<std::uint8_t>(eliminated, owners_flags, c);
    EXPECT_EQ(owners_flags, e.ghost);
    return gather_by_id(graph, std::vector<double>(e.owned.begin(), e.owned.end()), c);
  };
  const auto all = classes(comm);
  const Comm sub = comm.split(comm.rank() == 0 ? 0 : 1, comm.rank());
  EXPECT_EQ(classes(sub), all) << "ranks " << comm.size() << " vs " << sub.size();
}

// BiCGSTAB on a directed graph with dangling vertices, a periphery, self-loops and weights:
// the answer of power iteration to 1e-12 (personalized too), with and without elimination and
// on both kernels; the same bits for the same ranks x threads; the same answer to 1e-12 on the
// ranks split in two; the verifier's true step within the tolerance.
TEST(PageRank, BiCgStabOnDirectedGraphs) {
  const Comm comm = world();
  const TestGraph g = graph_with_periphery(34);
  const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{}, comm);
  ASSERT_GT(graph.stats.dangling, 500u);
  ASSERT_FALSE(is_symmetric(graph, comm));
  for (const bool personalized : {false, true}) {
    const VertexDistribution teleport =
        personalized ? distribution_of({{g.edges[3].src, 1.0}, {2000000005, 2.0}}, graph, comm) : VertexDistribution{};
    PageRankParams p = tight();
    const auto power = gather_by_id(graph, pagerank(graph, p, teleport, teleport, comm).score, comm);
    p.solver = PageRankSolver::bicgstab;
    for (const PageRankKernel kernel : {PageRankKernel::csr, PageRankKernel::blocked}) {
      for (const bool eliminate : {false, true}) {
        p.kernel = kernel;
        p.blocked_layout = small_cells();
        p.cg_eliminate = eliminate;
        const PageRankPlan plan(graph, p, comm);
        EXPECT_EQ(plan.trailing(), graph.stats.dangling);
        const PageRankResult r = pagerank(graph, plan, p, teleport, teleport, comm);
        const std::string what = std::string(eliminate ? "eliminated" : "whole") + (personalized ? ", personalized" : "") +
                                 (kernel == PageRankKernel::blocked ? ", blocked" : ", csr");
        EXPECT_TRUE(r.converged) << what;
        EXPECT_EQ(r.solver, PageRankSolver::bicgstab);
        EXPECT_EQ(r.eliminated > 0, eliminate) << what;
        EXPECT_LT(r.mass_error, 1e-12) << what;
        EXPECT_LE(l1_distance(gather_by_id(graph, r.score, comm), power), 1e-12) << what;
        EXPECT_EQ(pagerank(graph, plan, p, teleport, teleport, comm).score, r.score)
            << what << ": same ranks x threads, same bits";
        EXPECT_LT(pagerank_step_residual(graph, plan, p, teleport, teleport, r.score, comm), 10 * p.tolerance) << what;
      }
    }
    const Comm sub = comm.split(comm.rank() == 0 ? 0 : 1, comm.rank());
    const DistGraph part = build_graph(share_of(g, sub), GraphOptions{}, sub);
    const VertexDistribution sub_teleport =
        personalized ? distribution_of({{g.edges[3].src, 1.0}, {2000000005, 2.0}}, part, sub) : VertexDistribution{};
    const auto split = gather_by_id(part, pagerank(part, p, sub_teleport, sub_teleport, sub).score, sub);
    EXPECT_LE(l1_distance(split, power), 1e-12) << "ranks " << comm.size() << " vs " << sub.size();
  }
}

// BiCGSTAB stopped by the step hook hands out a probability vector, and a run resumed from it
// (a fresh Krylov space from that iterate, scaled to z's scale) converges to the same scores;
// so does one from a poor start (uniform over a few vertices).
TEST(PageRank, BiCgStabResumesFromAStoppedIterate) {
  const Comm comm = world();
  const DistGraph graph = build_graph(share_of(graph_with_periphery(35), comm), GraphOptions{}, comm);
  PageRankParams p = tight();
  p.solver = PageRankSolver::bicgstab;
  const PageRankResult whole = pagerank(graph, p, {}, {}, comm);
  PageRankState at5;
  const PageRankResult stopped = pagerank(graph, p, {}, {}, comm, {}, nullptr, stop_at(5, at5));
  EXPECT_TRUE(stopped.stopped_early);
  EXPECT_EQ(stopped.score, at5.x);
  double mass = 0.0;
  for (double v : at5.x) mass += v;
  EXPECT_NEAR(comm.sum_ordered(mass), 1.0, 1e-12);
  const PageRankResult resumed = pagerank(graph, p, {}, {}, comm, {}, &at5);
  EXPECT_TRUE(resumed.converged);
  EXPECT_GT(resumed.iterations, 5);
  const auto expected = gather_by_id(graph, whole.score, comm);
  EXPECT_LE(l1_distance(gather_by_id(graph, resumed.score, comm), expected), 1e-12);
}

// What solver auto stands for: cg on a symmetric graph, bicgstab on a directed one, power for
// a fixed step count, at damping 1, or with the dangling mass sent elsewhere than the teleport
// vector on a graph with dangling vertices; a named solver stays as named.
TEST(PageRank, SolverAutoChoosesByGraphAndParameters) {
  const Comm comm = world();
  const TestGraph g = graph_with_periphery(36);
  const DistGraph directed = build_graph(share_of(g, comm), GraphOptions{}, comm);
  const DistGraph undirected = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
  PageRankParams p;
  p.solver = PageRankSolver::automatic;
  EXPECT_EQ(choose_solver(directed, p, true, comm), PageRankSolver::bicgstab);
  EXPECT_EQ(choose_solver(undirected, p, true, comm), PageRankSolver::cg);
  EXPECT_EQ(choose_solver(directed, p, false, comm), PageRankSolver::power) << "dangling vector elsewhere";
  p.fixed_iterations = 20;
  EXPECT_EQ(choose_solver(undirected, p, true, comm), PageRankSolver::power) << "fixed steps are power steps";
  p.fixed_iterations = 0;
  p.damping = 1.0;
  EXPECT_EQ(choose_solver(directed, p, true, comm), PageRankSolver::power) << "damping 1";
  p.damping = 0.85;
  p.solver = PageRankSolver::anderson;
  EXPECT_EQ(choose_solver(directed, p, true, comm), PageRankSolver::anderson);
  // The library's own entry point resolves auto with the real distributions.
  p.solver = PageRankSolver::automatic;
  const VertexDistribution elsewhere = distribution_of({{g.edges[0].src, 1.0}}, directed, comm);
  EXPECT_EQ(pagerank(directed, p, {}, {}, comm).solver, PageRankSolver::bicgstab);
  EXPECT_EQ(pagerank(directed, p, {}, elsewhere, comm).solver, PageRankSolver::power);
  p.solver = PageRankSolver::bicgstab;
  EXPECT_THROW(pagerank(directed, p, {}, elsewhere, comm), Error) << "bicgstab needs the dangling vector to be t";
}

// Solver auto's switch from power to bicgstab: none while the forecast is short, once the
// steps left repay the plan; never for a fixed step count.
TEST(PageRank, KrylovSwitchRepaysItsPlan) {
  PageRankParams p;
  p.tolerance = 1e-10;
  const std::vector<double> fast{1.0, 0.13, 0.0169};  // ρ = 0.13: 10 steps left
  const std::vector<double> slow{1.0, 0.8, 0.64};     // ρ = 0.8: 93 steps left
  EXPECT_FALSE(krylov_solver_repays(fast, p));
  EXPECT_TRUE(krylov_solver_repays(slow, p));
  EXPECT_FALSE(krylov_solver_repays(std::span<const double>(slow).first(2), p)) << "no rate yet";
  p.fixed_iterations = 100;
  EXPECT_FALSE(krylov_solver_repays(slow, p));
}

// cg refuses what it cannot solve, on every rank alike: a directed graph (one reverse edge
// with another weight is enough), and dangling vertices sent elsewhere than the teleport vector.
TEST(PageRank, ConjugateGradientsRefusesWhatItCannotSolve) {
  const Comm comm = world();
  TestGraph g = random_graph(22, 200, 1200, true);
  const auto count = g.edges.size();
  for (std::size_t i = 0; i < count; ++i) g.edges.push_back({g.edges[i].dst, g.edges[i].src, g.edges[i].weight});
  g.edges.back().weight *= 2.0;
  PageRankParams p;
  p.solver = PageRankSolver::cg;
  const DistGraph directed = build_graph(share_of(g, comm), GraphOptions{}, comm);
  EXPECT_FALSE(is_symmetric(directed, comm));
  try {
    pagerank(directed, p, {}, {}, comm);
    ADD_FAILURE() << "cg accepted a graph that is not symmetric";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_NE(std::string(e.what()).find("symmetric"), std::string::npos) << e.what();
  }
  const DistGraph undirected = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
  ASSERT_GT(undirected.stats.dangling, 0u) << "the test graph declares isolated vertices";
  std::map<VertexId, double> elsewhere{{g.edges[0].src, 1.0}};
  const VertexDistribution dangling = distribution_of(elsewhere, undirected, comm);
  EXPECT_THROW(pagerank(undirected, p, {}, dangling, comm), Error);
  EXPECT_NO_THROW(pagerank(undirected, p, dangling, dangling, comm));
}

// Same ranks × threads → the same bits; and because reductions run over fixed blocks, the
// thread count does not change the bits either.
TEST(PageRank, DeterministicBitsAcrossRunsAndThreads) {
  const Comm comm = world();
  const TestGraph g = random_graph(12, 5000, 40000, false);
  const DistGraph graph = build_graph(share_of(g, comm), {}, comm);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(2);
  const PageRankResult r1 = pagerank(graph, {}, {}, {}, comm);
  const PageRankResult r2 = pagerank(graph, {}, {}, {}, comm);
  omp_set_num_threads(1);
  const PageRankResult r3 = pagerank(graph, {}, {}, {}, comm);
  omp_set_num_threads(saved);
  EXPECT_EQ(r1.score, r2.score);
  EXPECT_EQ(r1.residual, r2.residual);
  EXPECT_EQ(r1.score, r3.score);
  // The blocked kernel too: threads share its tiles, but a row's sum runs segment by segment.
  PageRankParams blocked;
  blocked.kernel = PageRankKernel::blocked;
  blocked.blocked_layout = small_cells();
  omp_set_num_threads(2);
  const PageRankResult b1 = pagerank(graph, blocked, {}, {}, comm);
  const PageRankResult b2 = pagerank(graph, blocked, {}, {}, comm);
  omp_set_num_threads(1);
  const PageRankResult b3 = pagerank(graph, blocked, {}, {}, comm);
  omp_set_num_threads(saved);
  EXPECT_EQ(b1.score, b2.score);
  EXPECT_EQ(b1.score, b3.score);
  double diff = 0;
  for (std::size_t i = 0; i < b1.score.size(); ++i) diff += std::abs(b1.score[i] - r1.score[i]);
  EXPECT_LT(comm.sum_ordered(diff), 1e-13) << "blocked and plain kernels";
}

// The two-level halo route moves the same values to the same places as the direct one: every
// solver and kernel gives the same bits either way, directed and undirected, and a batch of
// personalized vectors too.
TEST(PageRank, HaloRoutingDoesNotChangeABit) {
  const Comm comm = world();
  for (const bool undirected : {false, true}) {
    DistGraph graph = build_graph(share_of(random_graph(15, 1000, 6000, false), comm), GraphOptions{undirected, false}, comm);
    // Directed: bicgstab (the kept and the eliminated halos) and the blocked kernel (its own
    // relabeled plan); undirected: cg and the plain kernel (the graph's plan).
    std::vector<PageRankParams> runs(2);
    for (PageRankParams& p : runs) p.tolerance = 1e-6;  // bits, not accuracy: a few steps show them
    runs[0].solver = undirected ? PageRankSolver::cg : PageRankSolver::bicgstab;
    runs[1].solver = PageRankSolver::power;
    runs[1].kernel = undirected ? PageRankKernel::csr : PageRankKernel::blocked;
    runs[1].blocked_layout = small_cells();
    std::vector<PageRankResult> direct;
    for (const PageRankParams& p : runs) direct.push_back(pagerank(graph, p, {}, {}, comm));
    graph.halo = graph.halo.routed(HaloRouting::two_level, comm);
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const PageRankResult routed = pagerank(graph, runs[i], {}, {}, comm);
      EXPECT_EQ(routed.score, direct[i].score) << "run " << i << (undirected ? ", undirected" : ", directed");
      EXPECT_EQ(routed.residual, direct[i].residual) << "run " << i;
    }
  }
}

// Blocked kernel and Anderson solver: the same answer at P ranks as on the split ranks.
TEST(PageRank, RankCountInvarianceOfBlockedKernelAndAnderson) {
  const Comm comm = world();
  // On one rank the split communicator is the whole one: nothing to compare (unit_np2..4 do).
  if (comm.size() < 2) GTEST_SKIP() << "rank-count invariance needs at least 2 ranks";
  const TestGraph g = random_graph(14, 400, 3000, true);
  PageRankParams p;
  p.kernel = PageRankKernel::blocked;
  p.tolerance = 1e-14;
  const DistGraph full = build_graph(share_of(g, comm), {}, comm);
  const Comm sub = comm.split(comm.rank() == 0 ? 0 : 1, comm.rank());
  const DistGraph part = build_graph(share_of(g, sub), {}, sub);
  const auto a = gather_by_id(full, pagerank(full, p, {}, {}, comm).score, comm);
  const auto b = gather_by_id(part, pagerank(part, p, {}, {}, sub).score, sub);
  EXPECT_LE(l1_distance(a, b), 1e-12);
  p.solver = PageRankSolver::anderson;
  const auto c = gather_by_id(full, pagerank(full, p, {}, {}, comm).score, comm);
  EXPECT_LE(l1_distance(a, c), 1e-12) << "anderson against power at tolerance 1e-14";
}

// The blocked kernel keeps its vectors in degree order: what leaves it (the score, the iterate
// handed to the step hook for checkpoints) is in dense order, and a restart from that iterate
// continues with the same bits.
TEST(PageRank, BlockedKernelHandsOutDenseOrder) {
  const Comm comm = world();
  const DistGraph graph = build_graph(share_of(random_graph(15, 800, 6000, true), comm), {}, comm);
  PageRankParams p;
  p.kernel = PageRankKernel::blocked;
  p.blocked_layout = small_cells();
  p.fixed_iterations = 9;
  const PageRankResult whole = pagerank(graph, p, {}, {}, comm);
  PageRankParams csr = p;
  csr.kernel = PageRankKernel::csr;
  const PageRankResult plain = pagerank(graph, csr, {}, {}, comm);
  double diff = 0.0;
  for (std::size_t i = 0; i < plain.score.size(); ++i) diff += std::abs(plain.score[i] - whole.score[i]);
  EXPECT_LT(comm.sum_ordered(diff), 1e-14);
  PageRankState at4;
  const StepHook hook = stop_at(4, at4);
  const PageRankResult stopped = pagerank(graph, p, {}, {}, comm, {}, nullptr, hook);
  EXPECT_TRUE(stopped.stopped_early);
  EXPECT_EQ(stopped.score, at4.x);
  const PageRankResult resumed = pagerank(graph, p, {}, {}, comm, {}, &at4);
  EXPECT_EQ(resumed.score, whole.score);
  EXPECT_EQ(resumed.residual, whole.residual);
}

// A row with more in-edges from one segment than a 16-bit run length holds (a star's centre).
TEST(PageRank, BlockedKernelSplitsLongRuns) {
  const Comm comm = world();
  TestGraph star;
  for (VertexId leaf = 1; leaf <= 70000; ++leaf) star.edges.push_back(RawEdge{leaf, 0, 1.0});
  GraphOptions undirected;
  undirected.undirected = true;
  const DistGraph graph = build_graph(share_of(star, comm), undirected, comm);
  PageRankParams p;
  p.kernel = PageRankKernel::blocked;
  p.fixed_iterations = 5;
  const PageRankResult b = pagerank(graph, p, {}, {}, comm);
  p.kernel = PageRankKernel::csr;
  const PageRankResult c = pagerank(graph, p, {}, {}, comm);
  double diff = 0.0;
  for (std::size_t i = 0; i < c.score.size(); ++i) diff += std::abs(b.score[i] - c.score[i]);
  EXPECT_LT(comm.sum_ordered(diff), 1e-13);
  // And the centre outranks every leaf.
  const auto by_id = gather_by_id(graph, b.score, comm);
  for (const auto& [id, v] : by_id) {
    if (id != 0) {
      EXPECT_LT(v, by_id.at(0)) << "leaf " << id;
    }
  }
}

// The verifier: one true step from the result of every solver stays within the tolerance (the
// solvers stop on the true change, cg on its confirming step), on every kernel; from a vector
// that is not the answer (the result of two steps) it moves by about that first step's change.
TEST(PageRank, VerifierStepMeasuresTheTrueResidual) {
  const Comm comm = world();
  const TestGraph g = random_graph(23, 400, 3000, true);
  const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
  for (const PageRankSolver solver : {PageRankSolver::power, PageRankSolver::anderson, PageRankSolver::cg}) {
    for (const PageRankKernel kernel : {PageRankKernel::csr, PageRankKernel::blocked}) {
      PageRankParams p;
      p.solver = solver;
      p.kernel = kernel;
      p.blocked_layout = small_cells();
      const PageRankPlan plan(graph, p, comm);
      const PageRankResult r = pagerank(graph, plan, p, {}, {}, comm);
      ASSERT_TRUE(r.converged);
      const double residual = pagerank_step_residual(graph, plan, p, {}, {}, r.score, comm);
      EXPECT_LT(residual, 10 * p.tolerance) << "solver " << static_cast<int>(solver) << ", kernel " << static_cast<int>(kernel);
      if (solver == PageRankSolver::power) {
        EXPECT_LT(residual, r.residual.back()) << "a converging step shrinks the change";
      }
    }
  }
  PageRankParams p;
  p.fixed_iterations = 2;
  const PageRankPlan plan(graph, p, comm);
  const PageRankResult early = pagerank(graph, plan, p, {}, {}, comm);
  const double residual = pagerank_step_residual(graph, plan, p, {}, {}, early.score, comm);
  EXPECT_GT(residual, 1e-4) << "two steps are far from the answer";
  EXPECT_LT(residual, early.residual.back()) << "but the third step moves less than the second";
}

// Kernel auto's forecast of the steps left: exact for a residual that shrinks geometrically,
// the larger ratio of the last two when it does not, the limit when it does not shrink.
TEST(PageRank, ForecastOfTheStepsLeft) {
  PageRankParams p;
  p.tolerance = 1e-10;
  std::vector<double> r;
  for (int k = 0; k < 4; ++k) r.push_back(std::pow(0.5, k));  // 1, 1/2, 1/4, 1/8
  // 2^-3 · 2^-j < 1e-10 first at j = 31.
  EXPECT_EQ(forecast_steps_left(r, p), 31);
  // ρ = 0.8 (the slower of 0.5 and 0.8): 0.4 · 0.8^j < 1e-10 first at j = 100.
  EXPECT_EQ(forecast_steps_left(std::vector<double>{1.0, 0.5, 0.4}, p), 100);
  EXPECT_EQ(forecast_steps_left(std::vector<double>{1.0, 1.0, 2.0}, p), p.max_iterations - 3) << "not shrinking";
  EXPECT_EQ(forecast_steps_left(std::vector<double>{1.0, 0.5, 1e-11}, p), 0) << "converged";
  // The build repays itself over more than 21 / 0.2 = 105 steps.
  const std::vector<double> slow{1.0, 0.9, 0.81};  // 213 steps left
  EXPECT_TRUE(blocked_layout_repays(slow, p));
  EXPECT_FALSE(blocked_layout_repays(std::vector<double>{3.2e-4, 1.6e-4, 8e-5}, p)) << "20 steps left";
  EXPECT_FALSE(blocked_layout_repays(std::vector<double>{1.0, 0.9}, p)) << "no rate from two residuals";
  EXPECT_FALSE(blocked_layout_repays(std::vector<double>{1.0, 0.5, 0.4}, p)) << "100 steps left";
  p.fixed_iterations = 60;
  EXPECT_EQ(forecast_steps_left(std::vector<double>{1.0}, p), 59) << "a fixed count is known from the start";
  EXPECT_FALSE(blocked_layout_repays(std::vector<double>{1.0}, p));
  p.fixed_iterations = 200;
  EXPECT_TRUE(blocked_layout_repays(std::vector<double>{1.0}, p));
}

TEST(PageRank, FixedIterationsRunExactly) {
  const Comm comm = world();
  const DistGraph graph = build_graph(share_of(random_graph(13, 50, 200, false), comm), {}, comm);
  PageRankParams p;
  p.fixed_iterations = 7;
  const PageRankResult r = pagerank(graph, p, {}, {}, comm);
  EXPECT_EQ(r.iterations, 7);
  EXPECT_EQ(r.residual.size(), 7u);
}

// Without edges every vertex keeps its teleport share; damping 0 gives t itself.
TEST(PageRank, EdgelessAndZeroDamping) {
  const Comm comm = world();
  EdgeShare s;
  if (comm.is_root()) s.declared = {5, 9, 100, 7};
  const DistGraph graph = build_graph(s, {}, comm);
  EXPECT_EQ(graph.stats.n, 4u);
  EXPECT_EQ(graph.stats.dangling, 4u);
  for (const auto& [id, v] : gather_by_id(graph, pagerank(graph, {}, {}, {}, comm).score, comm)) EXPECT_NEAR(v, 0.25, 1e-15);
  const TestGraph g = random_graph(14, 30, 90, false);
  const DistGraph g2 = build_graph(share_of(g, comm), {}, comm);
  PageRankParams p;
  p.damping = 0.0;
  for (const auto& [id, v] : gather_by_id(g2, pagerank(g2, p, {}, {}, comm).score, comm)) EXPECT_NEAR(v, 1.0 / 30, 1e-15);
}

TEST(PageRank, EmptyGraphIsACollectiveInputError) {
  const Comm comm = world();
  try {
    build_graph(EdgeShare{}, {}, comm);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.collective());
    EXPECT_EQ(e.kind(), ErrorKind::input);
    EXPECT_NE(std::string(e.what()).find("empty"), std::string::npos) << e.what();
  }
}

// top_k against a full sort of the whole vector: every rank holds a slice of the dense ids
// (scores with many ties, so the order of ties by id is checked), and every k from 0 to past n,
// the ids given as a span too (in reverse, as TokenRank's positions may come).
TEST(PageRank, TopKIsTheSortedHeadOfTheWholeVector) {
  const Comm comm = world();
  constexpr std::uint64_t n = 1000;
  const std::uint64_t first = n * static_cast<std::uint64_t>(comm.rank()) / static_cast<std::uint64_t>(comm.size());
  const std::uint64_t last = n * static_cast<std::uint64_t>(comm.rank() + 1) / static_cast<std::uint64_t>(comm.size());
  const auto score_of = [](std::uint64_t v) { return static_cast<double>((v * 7919) % 97); };
  std::vector<double> local;
  std::vector<GlobalId> reversed;
  for (std::uint64_t v = first; v < last; ++v) {
    local.push_back(score_of(v));
    reversed.push_back(n - 1 - v);
  }
  std::vector<ScoredVertex> all, all_reversed;
  for (std::uint64_t v = 0; v < n; ++v) {
    all.push_back({v, score_of(v)});
    all_reversed.push_back({n - 1 - v, score_of(v)});
  }
  const auto better = [](const ScoredVertex& a, const ScoredVertex& b) {
    return a.score != b.score ? a.score > b.score : a.id < b.id;
  };
  std::sort(all.begin(), all.end(), better);
  std::sort(all_reversed.begin(), all_reversed.end(), better);
  for (const std::size_t k : {std::size_t{0}, std::size_t{1}, std::size_t{10}, std::size_t{97}, std::size_t{999},
                              std::size_t{1000}, std::size_t{5000}}) {
    const std::vector<ScoredVertex> got = top_k(local, first, k, comm), by_ids = top_k(local, reversed, k, comm);
    const std::size_t expected = std::min<std::size_t>(k, n);
    ASSERT_EQ(got.size(), expected) << "k = " << k;
    ASSERT_EQ(by_ids.size(), expected) << "k = " << k;
    for (std::size_t i = 0; i < expected; ++i) {
      EXPECT_EQ(got[i].id, all[i].id) << "k = " << k << ", place " << i;
      EXPECT_EQ(got[i].score, all[i].score) << "k = " << k << ", place " << i;
      EXPECT_EQ(by_ids[i].id, all_reversed[i].id) << "k = " << k << ", place " << i;
    }
  }
}

TEST(PageRank, RejectsBadParameters) {
  PageRankParams p;
  p.damping = 1.5;
  EXPECT_THROW(check_pagerank_params(p), Error);
  p = {};
  p.tolerance = 0;
  EXPECT_THROW(check_pagerank_params(p), Error);
  p = {};
  p.max_iterations = 0;
  EXPECT_THROW(check_pagerank_params(p), Error);
  p = {};
  p.blocked_layout.segment_shift = 17;  // offsets are 16-bit
  EXPECT_THROW(check_pagerank_params(p), Error);
}

}  // namespace
}  // namespace perron::test
