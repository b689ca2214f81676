// Batched personalized PageRank against the dense float64 oracle and against single runs, at
// 1, 2, 3 and 4 ranks (and on split ranks); the seed-set reader's errors.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>

#include "pagerank_step.hpp"
#include "perron/algo/personalized.hpp"
#include "perron/core/error.hpp"
#include "perron/io/seed_sets.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

// A batch of seed sets by original id: one seed, several weighted ones, a dangling vertex, an
// isolated one, and an id given twice (its weights add up).
std::vector<std::map<VertexId, double>> seed_sets_of(const TestGraph& g) {
  return {{{g.edges[0].src, 1.0}},
          {{g.edges[3].dst, 2.0}, {g.edges[7].src, 0.5}, {g.edges[9].dst, 1.5}},
          {{g.edges[1].dst, 1.0}, {g.extra_vertices[0], 3.0}},
          {{g.extra_vertices[0], 1.0}},
          {{g.edges[2].src, 1.0}, {g.edges[4].src, 1.0}}};
}

// The teleports of `sets` on this graph (rank 0 holds the pairs, as the CLI's reader does).
std::vector<SparseTeleport> teleports_of(const std::vector<std::map<VertexId, double>>& sets, const DistGraph& graph,
                                         const Comm& comm, bool repeat_first_id = false) {
  std::vector<VertexId> ids;
  std::vector<double> weights;
  std::vector<std::size_t> start{0};
  if (comm.is_root())
    for (const auto& set : sets) {
      for (const auto& [id, w] : set) {
        if (repeat_first_id && &set == &sets.front()) {  // the same id twice, half the weight each
          ids.push_back(id), weights.push_back(w / 2);
          ids.push_back(id), weights.push_back(w / 2);
        } else {
          ids.push_back(id), weights.push_back(w);
        }
      }
      start.push_back(ids.size());
    }
  if (!comm.is_root()) start.clear();
  return sparse_teleports(ids, weights, start, graph, comm, [](std::size_t s) { return "set " + std::to_string(s); });
}

std::string name_of(PageRankSolver solver) {
  return solver == PageRankSolver::cg ? "cg" : solver == PageRankSolver::bicgstab ? "bicgstab" : "power";
}

// The defaults (tolerance 1e-10) with this solver.
PersonalizedParams defaults_with(PageRankSolver solver) {
  PersonalizedParams p;
  p.solver = solver;
  return p;
}

PersonalizedParams tight(PageRankSolver solver) {
  PersonalizedParams p;
  p.tolerance = 1e-14;
  p.max_iterations = 100000;
  p.solver = solver;
  return p;
}

// Vector j of a block, by original id.
std::map<VertexId, double> vector_of(const PersonalizedBlock& b, int j, const DistGraph& graph, const Comm& comm) {
  const std::vector<double> mine(b.score.begin() + static_cast<std::ptrdiff_t>(j) * graph.rows(),
                                 b.score.begin() + static_cast<std::ptrdiff_t>(j + 1) * graph.rows());
  return gather_by_id(graph, mine, comm);
}

// Every vector of `block` converged, and is the dense solve (1 − α)·t_j·(I − αA)⁻¹ of its set
// (dangling mass along t_j) and the single run with teleport t_j, to 1e-12 in L1.
void expect_dense_and_single(const PersonalizedBlock& block, const std::vector<std::map<VertexId, double>>& sets,
                             const TestGraph& g, const DistGraph& graph, PageRankSolver solver, const Comm& comm) {
  for (std::size_t j = 0; j < sets.size(); ++j) {
    const std::string what = name_of(solver) + " vector " + std::to_string(j);
    EXPECT_TRUE(block.converged[j]) << what;
    const auto got = vector_of(block, static_cast<int>(j), graph, comm);
    EXPECT_LT(l1_distance(got, dense_pagerank(g, 0.85, sets[j])), 1e-12) << what;
    PageRankParams single;
    single.tolerance = 1e-14;
    single.max_iterations = 100000;
    single.solver = solver;
    const VertexDistribution t = distribution_of(sets[j], graph, comm);
    const auto alone = gather_by_id(graph, pagerank(graph, single, t, t, comm).score, comm);
    EXPECT_LT(l1_distance(got, alone), 1e-12) << what;
  }
}

struct Case {
  std::uint64_t seed;
  int n, m;
  bool weighted, undirected;
};

class PersonalizedOracle : public testing::TestWithParam<Case> {};

// Every vector of the batch is the dense solve (1 − α)·t_j·(I − αA)⁻¹ (dangling mass along
// t_j), and the single run with teleport t_j, to 1e-12 in L1; with power iteration, bicgstab and, on
// symmetric graphs, conjugate gradients.
TEST_P(PersonalizedOracle, EachVectorIsTheDenseSolveAndTheSingleRun) {
  const Case c = GetParam();
  const Comm comm = world();
  TestGraph g = random_graph(c.seed, c.n, c.m, c.weighted);
  const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{c.undirected, false}, comm);
  if (c.undirected) {
    const auto count = g.edges.size();
    for (std::size_t i = 0; i < count; ++i)
      if (g.edges[i].src != g.edges[i].dst) g.edges.push_back({g.edges[i].dst, g.edges[i].src, g.edges[i].weight});
  }
  const auto sets = seed_sets_of(g);
  const std::vector<SparseTeleport> teleports = teleports_of(sets, graph, comm, true);
  for (const PageRankSolver solver : {PageRankSolver::power, PageRankSolver::cg, PageRankSolver::bicgstab}) {
    if (solver == PageRankSolver::cg && !c.undirected) continue;
    const PersonalizedPlan plan(graph, tight(solver), comm);
    const PersonalizedBlock block = personalized_pagerank(graph, plan, tight(solver), teleports, comm);
    ASSERT_EQ(block.iterations.size(), sets.size());
    expect_dense_and_single(block, sets, g, graph, solver, comm);
    // The isolated vertex's own chain: all its mass stays home, found by the first step.
    EXPECT_EQ(block.iterations[3], solver == PageRankSolver::power ? 1 : block.iterations[3]);
    EXPECT_FALSE(block.history.empty());
    EXPECT_EQ(block.solver, solver);
  }
}

// Seed sets on vertices the elimination kept only (hubs, as seeds often are): the Krylov solves
// take r₀ = b_F without the pull from the eliminated rows (b_C = 0), and each vector is still the
// dense solve and the single run to 1e-12. The sets above always hold an eliminated vertex (the
// isolated one), so they test the pull.
TEST(PersonalizedPageRank, SeedsOnKeptVerticesOnly) {
  const Comm comm = world();
  TestGraph g = random_graph(35, 100, 450, false);
  const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
  const auto count = g.edges.size();
  for (std::size_t i = 0; i < count; ++i)
    if (g.edges[i].src != g.edges[i].dst) g.edges.push_back({g.edges[i].dst, g.edges[i].src, g.edges[i].weight});
  for (const PageRankSolver solver : {PageRankSolver::cg, PageRankSolver::bicgstab}) {
    const PersonalizedPlan plan(graph, tight(solver), comm);
    const pagerank_detail::StepOperator::Phases phases = plan.op().phases();
    std::vector<double> kept(graph.rows());
    for (LocalId v = 0; v < graph.rows(); ++v)
      kept[v] = (phases.position.empty() ? v : phases.position[v]) < plan.op().kept_rows() ? 1.0 : 0.0;
    std::vector<VertexId> ids;
    for (const auto& [id, flag] : gather_by_id(graph, kept, comm))
      if (flag == 1.0) ids.push_back(id);
    ASSERT_GE(ids.size(), 6u) << name_of(solver);
    ASSERT_LT(ids.size(), static_cast<std::size_t>(graph.stats.n)) << name_of(solver) << ": nothing eliminated";
    const std::vector<std::map<VertexId, double>> sets = {
        {{ids[0], 1.0}}, {{ids[1], 2.0}, {ids[2], 0.5}}, {{ids[3], 1.0}, {ids[4], 1.0}, {ids[5], 3.0}}};
    const PersonalizedBlock block = personalized_pagerank(graph, plan, tight(solver), teleports_of(sets, graph, comm), comm);
    expect_dense_and_single(block, sets, g, graph, solver, comm);
  }
}

INSTANTIATE_TEST_SUITE_P(RandomGraphs, PersonalizedOracle,
                         testing::Values(Case{31, 60, 240, false, false}, Case{32, 120, 500, true, false},
                                         Case{33, 90, 400, false, true}, Case{34, 110, 500, true, true}),
                         [](const auto& param_info) {
                           const Case& c = param_info.param;
                           return "seed" + std::to_string(c.seed) + (c.weighted ? "_weighted" : "") +
                                  (c.undirected ? "_undirected" : "");
                         });

// At the default tolerance cg's directions are rounded to single precision (the batch reads
// them as floats, the single solve keeps the same rounded values as doubles), and the
// recurrence stays exact: every vector is the single run to 1e-12 in L1, on all ranks and on
// the ranks split in two, and the dense solve to what the tolerance allows (‖x − x*‖₁ ≤
// ‖F(x) − x‖₁/(1 − α)).
TEST(Personalized, SinglePrecisionDirectionsAtTheDefaultTolerance) {
  const Comm comm = world();
  const Comm sub = comm.split(comm.rank() == 0 || comm.size() == 1 ? 0 : 1, comm.rank());
  for (const bool weighted : {false, true}) {
    TestGraph g = random_graph(weighted ? 37 : 36, 400, 2400, weighted);
    const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
    const DistGraph part = build_graph(share_of(g, sub), GraphOptions{true, false}, sub);
    const auto count = g.edges.size();
    for (std::size_t i = 0; i < count; ++i)
      if (g.edges[i].src != g.edges[i].dst) g.edges.push_back({g.edges[i].dst, g.edges[i].src, g.edges[i].weight});
    const PersonalizedParams p = defaults_with(PageRankSolver::cg);
    ASSERT_TRUE(pagerank_detail::single_precision_directions(p.tolerance, p.fixed_iterations));
    const auto sets = seed_sets_of(g);
    const PersonalizedBlock block =
        personalized_pagerank(graph, PersonalizedPlan(graph, p, comm), p, teleports_of(sets, graph, comm), comm);
    const PersonalizedBlock split =
        personalized_pagerank(part, PersonalizedPlan(part, p, sub), p, teleports_of(sets, part, sub), sub);
    for (std::size_t j = 0; j < sets.size(); ++j) {
      const std::string what = std::string(weighted ? "weighted" : "unweighted") + " vector " + std::to_string(j);
      EXPECT_TRUE(block.converged[j]) << what;
      const auto got = vector_of(block, static_cast<int>(j), graph, comm);
      EXPECT_LT(l1_distance(got, dense_pagerank(g, 0.85, sets[j])), p.tolerance / 0.15) << what;
      PageRankParams single;
      single.solver = PageRankSolver::cg;
      const VertexDistribution t = distribution_of(sets[j], graph, comm);
      EXPECT_LT(l1_distance(got, gather_by_id(graph, pagerank(graph, single, t, t, comm).score, comm)), 1e-12) << what;
      EXPECT_LT(l1_distance(got, vector_of(split, static_cast<int>(j), part, sub)), 1e-12)
          << what << ", ranks " << comm.size() << " vs " << sub.size();
    }
  }
}

// At the default tolerance too, a bicgstab batch's vectors are their single runs to 1e-12 (a
// vector below its target waits for the others as it is, not taking the block's extra steps).
TEST(Personalized, BicgstabAtTheDefaultToleranceIsTheSingleRun) {
  const Comm comm = world();
  const TestGraph g = random_graph(39, 400, 2400, false);
  const DistGraph graph = build_graph(share_of(g, comm), {}, comm);
  const PersonalizedParams p = defaults_with(PageRankSolver::bicgstab);
  const auto sets = seed_sets_of(g);
  const PersonalizedBlock block =
      personalized_pagerank(graph, PersonalizedPlan(graph, p, comm), p, teleports_of(sets, graph, comm), comm);
  int fewest = std::numeric_limits<int>::max();
  for (std::size_t j = 0; j < sets.size(); ++j) {
    EXPECT_TRUE(block.converged[j]) << "vector " << j;
    PageRankParams single;
    single.solver = PageRankSolver::bicgstab;
    const VertexDistribution t = distribution_of(sets[j], graph, comm);
    const PageRankResult alone = pagerank(graph, single, t, t, comm);
    fewest = std::min(fewest, alone.iterations);
    EXPECT_LT(l1_distance(vector_of(block, static_cast<int>(j), graph, comm), gather_by_id(graph, alone.score, comm)), 1e-12)
        << "vector " << j;
  }
  // Some vector alone needs fewer steps than the block takes: it waited.
  EXPECT_LT(fewest, *std::max_element(block.iterations.begin(), block.iterations.end()));
}

// single_precision_direction keeps p where nothing is sent, and else rounds it to p = f·o, f
// the float it sends, fl32(p·(1/o)) = f: so a batch rebuilds each direction from its float
// (direction_of_sent) to the very bits a held p has, for integer out-degrees and out-weights
// alike. A cg plan lists each kept row's entries from kept columns first (kept_split), and its
// eliminated rows read kept columns only.
TEST(Personalized, SinglePrecisionDirectionsAndKeptColumnsFirst) {
  EXPECT_EQ(pagerank_detail::single_precision_direction(0.1, 0.0), 0.1);
  std::mt19937_64 random(44);
  std::uniform_real_distribution<double> magnitude(-30.0, 30.0), out_weight(0.01, 1000.0);
  std::uniform_int_distribution<int> out_degree(1, 1 << 20);
  for (int i = 0; i < 20000; ++i) {
    const double d = (i % 2 == 0 ? 1.0 : -1.0) * std::exp(magnitude(random));
    const double o = i % 3 == 0 ? out_weight(random) : static_cast<double>(out_degree(random));
    const double inv = 1.0 / o;
    const double p = pagerank_detail::single_precision_direction(d, inv);
    const float sent = static_cast<float>(p * inv);
    ASSERT_EQ(sent, static_cast<float>(d * inv)) << d << " over " << o;
    ASSERT_EQ(pagerank_detail::direction_of_sent(sent, 1.0 / inv), p) << d << " over " << o;
    ASSERT_NEAR(p, d, std::abs(d) * 0x1p-23) << d << " over " << o;
  }
  EXPECT_FALSE(pagerank_detail::single_precision_directions(1e-12, 0));
  EXPECT_FALSE(pagerank_detail::single_precision_directions(1e-8, 5));
  const Comm comm = world();
  const TestGraph g = random_graph(38, 300, 1500, true);
  const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
  const PersonalizedParams p = defaults_with(PageRankSolver::cg);
  const PersonalizedPlan plan(graph, p, comm);
  const pagerank_detail::StepOperator::Phases phases = plan.op().phases();
  const pagerank_detail::KeptColumns kept = plan.op().kept_columns();
  ASSERT_TRUE(plan.op().eliminates());
  ASSERT_EQ(phases.kept_split.size(), phases.kept.rows);
  for (EdgeIndex e = 0; e < phases.eliminated.edges(); ++e)
    EXPECT_TRUE(kept.holds(phases.eliminated.column[e])) << "eliminated entry " << e;
  std::uint64_t firsts = 0, seconds = 0;
  for (LocalId v = 0; v < phases.kept.rows; ++v)
    for (EdgeIndex e = phases.kept.row_start[v]; e < phases.kept.row_start[v + 1]; ++e) {
      const bool first = e < phases.kept_split[v];
      EXPECT_EQ(kept.holds(phases.kept.column[e]), first) << "row " << v << ", entry " << e;
      (first ? firsts : seconds) += 1;
    }
  EXPECT_GT(comm.allreduce(firsts, ReduceOp::sum), 0u);
  EXPECT_GT(comm.allreduce(seconds, ReduceOp::sum), 0u);
}

// A plan given its block's size claims the block's buffers before any block runs: the block
// then computes in them without growing any (the plan holds as many bytes after it), gives the
// same bits as a plan that leaves them to the first block, and holds no more than the estimate
// that the memory check uses. Power, cg (single-precision directions at the default
// tolerance) and bicgstab.
TEST(Personalized, PlanClaimsTheBlockItRuns) {
  const Comm comm = world();
  const TestGraph g = random_graph(39, 300, 1500, true);
  const auto sets = seed_sets_of(g);
  const int vectors = static_cast<int>(sets.size());
  for (const PageRankSolver solver : {PageRankSolver::power, PageRankSolver::cg, PageRankSolver::bicgstab}) {
    const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{solver == PageRankSolver::cg, false}, comm);
    const PersonalizedParams p = defaults_with(solver);
    const PersonalizedPlan claimed(graph, p, comm, vectors), unclaimed(graph, p, comm);
    const std::uint64_t held = claimed.block_bytes();
    EXPECT_GT(held, 0u) << name_of(solver);
    EXPECT_LE(held, personalized_block_bytes(graph, solver, vectors)) << name_of(solver);
    EXPECT_EQ(unclaimed.block_bytes(), 0u) << name_of(solver);
    const PersonalizedBlock a = personalized_pagerank(graph, claimed, p, teleports_of(sets, graph, comm), comm);
    const PersonalizedBlock b = personalized_pagerank(graph, unclaimed, p, teleports_of(sets, graph, comm), comm);
    EXPECT_EQ(claimed.block_bytes(), held) << name_of(solver) << ": the block grew a buffer the plan claimed";
    EXPECT_EQ(unclaimed.block_bytes(), held) << name_of(solver) << ": the plan claimed other buffers than the block uses";
    EXPECT_EQ(a.score, b.score) << name_of(solver);
    EXPECT_EQ(a.iterations, b.iterations) << name_of(solver);
  }
}

// A plan given a BlockCheck hands it, before claiming, its own bytes and the block's exactly as
// it then claims them: at least what power's block holds (the contributions and one vector over
// every row, the app's check before the plan exists) and at most the forecast, which counts a
// Krylov solver's vectors over every row. A check that throws stops the plan with its error.
TEST(Personalized, PlanChecksItsExactBlockBeforeClaimingIt) {
  const Comm comm = world();
  const TestGraph g = random_graph(42, 300, 1500, false);
  constexpr int kVectors = 5;
  for (const PageRankSolver solver : {PageRankSolver::power, PageRankSolver::cg, PageRankSolver::bicgstab}) {
    const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{solver == PageRankSolver::cg, false}, comm);
    const PersonalizedParams p = defaults_with(solver);
    std::uint64_t plan_bytes = 0, block_bytes = 0;
    const PersonalizedPlan plan(graph, p, comm, kVectors, [&](std::uint64_t plan_held, std::uint64_t block_held) {
      plan_bytes = plan_held;
      block_bytes = block_held;
    });
    EXPECT_EQ(plan_bytes, plan.bytes()) << name_of(solver);
    EXPECT_EQ(block_bytes, plan.block_bytes()) << name_of(solver);
    if (solver == PageRankSolver::cg) {
      // Its directions are the floats it sends (every kept row sends one: the isolated
      // vertices are eliminated): z, r and q over the kept rows, the contributions over every
      // column and the floats over the kept ones, no p, and a staging vector over every row
      // where the kept rows' contributions hold fewer than rows values.
      const pagerank_detail::StepOperator& op = plan.op();
      const std::uint64_t width = 8;  // kVectors, padded to a power of two
      const std::uint64_t kept = op.kept_rows(), kept_columns = kept + op.phases().kept_ghosts;
      ASSERT_TRUE(std::all_of(op.inv_out().begin(), op.inv_out().begin() + kept, [](double inv) { return inv > 0.0; }));
      const std::uint64_t staging = kept * width < graph.rows() ? 8 * graph.rows() : 0;
      EXPECT_EQ(block_bytes, width * (8 * (3 * kept + graph.in.columns) + 4 * kept_columns) + staging);
    }
    EXPECT_EQ(personalized_block_bytes_at_least(graph, kVectors), 8 * sizeof(double) * graph.in.columns);  // 8 values per column
    EXPECT_GE(block_bytes, personalized_block_bytes_at_least(graph, kVectors)) << name_of(solver);
    EXPECT_LE(block_bytes, personalized_block_bytes(graph, solver, kVectors)) << name_of(solver);
    EXPECT_THROW(PersonalizedPlan(graph, p, comm, kVectors,
                                  [](std::uint64_t, std::uint64_t) { throw Error(ErrorKind::input, "no room"); }),
                 Error)
        << name_of(solver);
  }
}

// A plan for one vector keeps the graph's order, as a single solve does (the order by reads
// pays only for a block of several), and its cg rounds the directions as the single solve does
// but reads them as doubles (no kept-first split to read floats from): the vector is the single
// run's, bit for bit, at the default tolerance, with every solver.
TEST(Personalized, OneVectorPlanIsTheSingleRun) {
  const Comm comm = world();
  const TestGraph g = random_graph(41, 400, 2400, false);
  const std::vector<std::map<VertexId, double>> set{seed_sets_of(g)[1]};
  for (const PageRankSolver solver : {PageRankSolver::power, PageRankSolver::cg, PageRankSolver::bicgstab}) {
    const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{solver == PageRankSolver::cg, false}, comm);
    const PersonalizedParams p = defaults_with(solver);
    const PersonalizedPlan plan(graph, p, comm, 1);
    if (plan.op().eliminates()) {
      EXPECT_TRUE(plan.op().phases().kept_split.empty()) << name_of(solver);
    }
    const PersonalizedBlock block = personalized_pagerank(graph, plan, p, teleports_of(set, graph, comm), comm);
    PageRankParams single;
    single.solver = solver;
    const VertexDistribution t = distribution_of(set[0], graph, comm);
    const PageRankResult alone = pagerank(graph, single, t, t, comm);
    EXPECT_EQ(block.iterations[0], alone.iterations) << name_of(solver);
    EXPECT_EQ(vector_of(block, 0, graph, comm), gather_by_id(graph, alone.score, comm)) << name_of(solver);
  }
}

// A batch plan orders each class of its rows, and so of its owned columns, by how many of this
// rank's rows read them, most first (on one rank they are the out-degrees the build counted; on
// more, counted on the edges).
TEST(Personalized, WorkColumnsMostReadFirst) {
  const Comm comm = world();
  const TestGraph g = random_graph(40, 400, 3000, false);
  const DistGraph graph = build_graph(share_of(g, comm), {}, comm);
  const PersonalizedParams p = defaults_with(PageRankSolver::bicgstab);
  const PersonalizedPlan plan(graph, p, comm);
  const pagerank_detail::StepOperator::Phases phases = plan.op().phases();
  std::vector<std::uint32_t> reads(graph.in.columns, 0);
  for (const LocalId c : graph.in.column) ++reads[c];
  const auto ordered = [&](LocalId first, LocalId last) {
    for (LocalId k = first + 1; k < last; ++k)
      EXPECT_GE(reads[phases.vertex[k - 1]], reads[phases.vertex[k]]) << "work rows " << k - 1 << " and " << k;
  };
  ordered(0, plan.op().kept_rows());
  ordered(plan.op().kept_rows(), plan.op().trailing_rows());
  ordered(plan.op().trailing_rows(), plan.op().rows());
}

// The batch on all P ranks and on the ranks split in two agrees to 1e-12 per vector.
TEST(Personalized, RankCountInvariance) {
  const Comm comm = world();
  if (comm.size() < 2) GTEST_SKIP() << "rank-count invariance needs at least 2 ranks";
  const TestGraph g = random_graph(35, 300, 2000, true);
  const auto sets = seed_sets_of(g);
  const Comm sub = comm.split(comm.rank() == 0 ? 0 : 1, comm.rank());
  for (const bool undirected : {false, true}) {
    const PersonalizedParams p = undirected ? tight(PageRankSolver::cg) : tight(PageRankSolver::bicgstab);
    const DistGraph full = build_graph(share_of(g, comm), GraphOptions{undirected, false}, comm);
    const DistGraph part = build_graph(share_of(g, sub), GraphOptions{undirected, false}, sub);
    const PersonalizedBlock a =
        personalized_pagerank(full, PersonalizedPlan(full, p, comm), p, teleports_of(sets, full, comm), comm);
    const PersonalizedBlock b =
        personalized_pagerank(part, PersonalizedPlan(part, p, sub), p, teleports_of(sets, part, sub), sub);
    for (int j = 0; j < static_cast<int>(sets.size()); ++j)
      EXPECT_LE(l1_distance(vector_of(a, j, full, comm), vector_of(b, j, part, sub)), 1e-12)
          << "vector " << j << (undirected ? " (cg)" : " (bicgstab)") << ", ranks " << comm.size() << " vs " << sub.size();
  }
}

// Sixteen vectors (the widest block) and a fixed iteration count: each vector takes exactly
// that many steps, as a single run does, and equals it.
TEST(Personalized, WidestBlockAndFixedIterations) {
  const Comm comm = world();
  const TestGraph g = random_graph(36, 200, 1200, false);
  const DistGraph graph = build_graph(share_of(g, comm), {}, comm);
  std::vector<std::map<VertexId, double>> sets;
  for (int j = 0; j < kMaxBlockVectors; ++j) sets.push_back({{g.edges[static_cast<std::size_t>(j)].src, 1.0}});
  PersonalizedParams p;
  p.fixed_iterations = 7;
  p.solver = PageRankSolver::power;
  const PersonalizedBlock block =
      personalized_pagerank(graph, PersonalizedPlan(graph, p, comm), p, teleports_of(sets, graph, comm), comm);
  EXPECT_EQ(block.history.size(), 7u);
  PageRankParams single;
  single.fixed_iterations = 7;
  single.solver = PageRankSolver::power;
  for (int j = 0; j < kMaxBlockVectors; ++j) {
    EXPECT_EQ(block.iterations[static_cast<std::size_t>(j)], 7);
    const VertexDistribution t = distribution_of(sets[static_cast<std::size_t>(j)], graph, comm);
    EXPECT_LT(l1_distance(vector_of(block, j, graph, comm), gather_by_id(graph, pagerank(graph, single, t, t, comm).score, comm)),
              1e-13)
        << "vector " << j;
  }
}

// With a FrozenVector, every vector reaches it exactly once, at the step it freezes, with the
// bits `score` would hold, in the order the vectors freeze (by step); `score` stays empty.
// For every solver, on a directed and an undirected graph, with 6 vectors and with 1: cg stages
// them in its kept rows' contributions, here a few at a time (6 vectors padded to 8 values
// per row, its kept rows fewer than 3/4 of the rows), or for the one vector in a vector of its
// own (1 value per kept row: fewer than rows).
TEST(Personalized, FrozenVectorsTakeTheResults) {
  const Comm comm = world();
  const TestGraph g = random_graph(39, 300, 1800, false);
  for (const bool undirected : {false, true})
    for (const std::size_t count : {6, 1}) {
      const DistGraph graph = build_graph(share_of(g, comm), GraphOptions{undirected, false}, comm);
      std::vector<std::map<VertexId, double>> sets;
      for (std::size_t j = 0; j < count; ++j) sets.push_back({{g.edges[3 * j].src, 1.0}, {g.edges[3 * j + 1].dst, 0.5}});
      for (const PageRankSolver solver : {PageRankSolver::power, PageRankSolver::cg, PageRankSolver::bicgstab}) {
        if (solver == PageRankSolver::cg && !undirected) continue;
        const PersonalizedParams p = tight(solver);
        const PersonalizedPlan plan(graph, p, comm);
        const std::vector<SparseTeleport> teleports = teleports_of(sets, graph, comm);
        const PersonalizedBlock held = personalized_pagerank(graph, plan, p, teleports, comm);
        std::vector<int> order;
        std::vector<std::vector<double>> taken(sets.size());
        const PersonalizedBlock streamed =
            personalized_pagerank(graph, plan, p, teleports, comm, {}, {}, [&](int j, std::span<const double> score) {
              order.push_back(j);
              taken[static_cast<std::size_t>(j)].assign(score.begin(), score.end());
            });
        const std::string what =
            name_of(solver) + (undirected ? ", undirected, " : ", directed, ") + std::to_string(count) + " vectors";
        EXPECT_TRUE(streamed.score.empty()) << what;
        ASSERT_EQ(order.size(), sets.size()) << what;
        std::vector<int> each(count);
        std::iota(each.begin(), each.end(), 0);
        EXPECT_TRUE(std::is_permutation(order.begin(), order.end(), each.begin())) << what;
        if (solver == PageRankSolver::cg) {  // staged in more than one pass, or in a vector of its own
          const std::uint64_t kept_values = plan.op().kept_rows() * (count == 6 ? 8 : 1);
          const std::uint64_t staged_apart = kept_values < count * graph.rows() ? 1 : 0;
          EXPECT_GT(comm.allreduce<std::uint64_t>(staged_apart, ReduceOp::sum), 0U) << what;  // on some rank
        }
        // Freeze order: by the step each vector met the tolerance.
        for (std::size_t i = 1; i < order.size(); ++i)
          EXPECT_LE(streamed.iterations[static_cast<std::size_t>(order[i - 1])],
                    streamed.iterations[static_cast<std::size_t>(order[i])])
              << what;
        EXPECT_EQ(streamed.iterations, held.iterations) << what;
        for (std::size_t j = 0; j < sets.size(); ++j) {
          const auto rows = static_cast<std::ptrdiff_t>(graph.rows());
          const std::vector<double> expected(held.score.begin() + static_cast<std::ptrdiff_t>(j) * rows,
                                             held.score.begin() + static_cast<std::ptrdiff_t>(j + 1) * rows);
          EXPECT_EQ(taken[j], expected) << what << " vector " << j;
        }
      }
    }
}

// A batch over the two-level halo route (exchange_block through its two phases) gives the
// same bits as over the direct one, for power, for bicgstab's two halos and for cg's float ones.
TEST(Personalized, HaloRoutingDoesNotChangeABit) {
  const Comm comm = world();
  const TestGraph g = random_graph(38, 300, 2000, false);
  std::vector<std::map<VertexId, double>> sets;
  for (std::size_t j = 0; j < 5; ++j) sets.push_back({{g.edges[j].src, 1.0}, {g.edges[j + 7].dst, 2.0}});
  // cg on the undirected graph (its products send single-precision directions), the others directed.
  for (const PageRankSolver solver : {PageRankSolver::power, PageRankSolver::bicgstab, PageRankSolver::cg}) {
    DistGraph graph = build_graph(share_of(g, comm), GraphOptions{solver == PageRankSolver::cg, false}, comm);
    PersonalizedParams p;
    p.solver = solver;
    p.tolerance = 1e-6;  // bits, not accuracy
    graph.halo = graph.halo.routed(HaloRouting::direct, comm);
    const PersonalizedBlock direct =
        personalized_pagerank(graph, PersonalizedPlan(graph, p, comm), p, teleports_of(sets, graph, comm), comm);
    graph.halo = graph.halo.routed(HaloRouting::two_level, comm);
    const PersonalizedBlock routed =
        personalized_pagerank(graph, PersonalizedPlan(graph, p, comm), p, teleports_of(sets, graph, comm), comm);
    EXPECT_EQ(routed.score, direct.score) << name_of(solver);
    EXPECT_EQ(routed.iterations, direct.iterations);
  }
}

TEST(Personalized, SolverChoiceAndRefusals) {
  const Comm comm = world();
  const TestGraph g = random_graph(37, 80, 300, false);
  const DistGraph directed = build_graph(share_of(g, comm), {}, comm);
  const DistGraph undirected = build_graph(share_of(g, comm), GraphOptions{true, false}, comm);
  PersonalizedParams p;
  EXPECT_EQ(choose_personalized_solver(directed, p, comm), PageRankSolver::bicgstab);
  EXPECT_EQ(choose_personalized_solver(undirected, p, comm), PageRankSolver::cg);
  p.fixed_iterations = 5;
  EXPECT_EQ(choose_personalized_solver(undirected, p, comm), PageRankSolver::power);
  EXPECT_EQ(choose_personalized_solver(directed, p, comm), PageRankSolver::power);
  p.fixed_iterations = 0;
  p.solver = PageRankSolver::cg;
  expect_error([&] { choose_personalized_solver(directed, p, comm); }, "symmetric");
  p.solver = PageRankSolver::bicgstab;
  EXPECT_EQ(choose_personalized_solver(undirected, p, comm), PageRankSolver::bicgstab);
  p.damping = 1.0;
  expect_error([&] { choose_personalized_solver(directed, p, comm); }, "damping < 1");
  p.damping = 0.85;
  p.solver = PageRankSolver::anderson;
  expect_error([&] { choose_personalized_solver(undirected, p, comm); }, "no batched form");
  // An id that is not a vertex names its set.
  std::vector<VertexId> ids{g.edges[0].src, 4};  // 4: not among the random ids (all > 1e6 in practice)
  std::vector<double> w{1.0, 1.0};
  std::vector<std::size_t> start{0, 1, 2};
  if (!comm.is_root()) ids.clear(), w.clear(), start.clear();
  expect_error(
      [&] { sparse_teleports(ids, w, start, directed, comm, [](std::size_t s) { return "sets.txt:" + std::to_string(s + 1); }); },
      "sets.txt:2: vertex 4 is not in the graph");
}

// The seed-set reader: the accepted syntax, and every refusal naming the file and line.
TEST(Personalized, SeedSetFiles) {
  const std::string path = "/tmp/perron_seed_sets_" + std::to_string(getpid()) + "_" + std::to_string(world().rank()) + ".txt";
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  auto refused = [&](const std::string& text, const std::string& needle) {
    write(text);
    try {
      read_seed_sets(path);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  write("# seeds\n3,17\n5:2.5 7  9:1e-3\n\t42 ,\n");
  const SeedSets s = read_seed_sets(path);
  ASSERT_EQ(s.sets(), 3u);
  EXPECT_EQ(s.id, (std::vector<VertexId>{3, 17, 5, 7, 9, 42}));
  EXPECT_EQ(s.weight, (std::vector<double>{1, 1, 2.5, 1, 1e-3, 1}));
  EXPECT_EQ(s.start, (std::vector<std::size_t>{0, 2, 5, 6}));
  EXPECT_EQ(s.line, (std::vector<std::uint64_t>{2, 3, 4}));
  EXPECT_EQ(s.text[1], "5:2.5 7  9:1e-3");
  refused("1\n\n2\n", path + ":2: empty seed set");
  refused("1,x\n", path + ":1: expected a vertex id");
  refused("1,-3\n", path + ":1: expected a vertex id");
  refused("1\n2:0\n", path + ":2: the weight of 2 must be > 0");
  refused("2:-1\n", "must be > 0");
  refused("2:nan\n", "must be > 0 and finite");
  refused("2:inf\n", "must be > 0 and finite");
  refused("2:\n", "expected a weight");
  refused("# only a comment\n", "no seed set");
  std::remove(path.c_str());
  EXPECT_EQ(parse_seed_list("5, 17", "--seeds").id, (std::vector<VertexId>{5, 17}));
  EXPECT_EQ(parse_seed_list("5:2,17", "--seeds").weight, (std::vector<double>{2, 1}));
  for (const auto& [list, needle] : {std::pair<std::string, std::string>{",", "--per-query: empty list"},
                                     {"", "--per-query: empty list"},
                                     {"3,x", "--per-query: expected a vertex id"},
                                     {"3:0", "--per-query: the weight of 3 must be > 0"}}) {
    try {
      parse_seed_list(list, "--per-query");
      ADD_FAILURE() << "accepted: '" << list << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace perron::test
