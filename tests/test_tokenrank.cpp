// TokenRank against a dense float64 reference: build every A_h = softmax(s·Q_h K_hᵀ + mask) with
// the float32 inputs promoted to float64, form the chain (each head, the mean, the product of
// layers, rollout), and solve (I − αÃ)ᵀ x = t directly by Gaussian elimination; π = x/Σx (the
// normalisation is what redistributing the mass of rows that see no key amounts to).
// L1 < 1e-9 with --precision double and < 1e-5 with single, on every rank count; the result at
// P ranks equals the one-rank result to 1e-12; the causal sweep equals power iteration.
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <cmath>
#include <limits>
#include <random>
#include <sstream>

#include "perron/algo/tokenrank.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

struct TrCase {
  std::string name;
  int hq = 2, hkv = 1, n = 61, d = 16, layers = 1;
  double sharpen = 1.0;  // Q scaled up: sharper rows, slower mixing
  bool causal = false;
  std::int64_t window = 0;
  double softcap = 0.0;
  bool mask = false;
  bool rollout = false;
  bool teleport = false;  // a random teleport vector instead of the uniform one
  int tile_q = 16, tile_k = 8;
};

using Matrix = std::vector<double>;  // n × n, row-major

struct Inputs {
  std::vector<std::vector<float>> q, k, mask;  // per layer: [hq][n][d], [hkv][n][d], [hq][n][n]
  std::vector<double> teleport;                // [n]
};

Inputs make_inputs(const TrCase& c) {
  std::mt19937 rng(static_cast<unsigned>(c.n * 7 + c.d + c.layers));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Inputs in;
  for (int l = 0; l < c.layers; ++l) {
    std::vector<float> q(static_cast<std::size_t>(c.hq) * c.n * c.d), k(static_cast<std::size_t>(c.hkv) * c.n * c.d);
    for (auto& e : q) e = static_cast<float>(c.sharpen) * normal(rng);
    for (auto& e : k) e = normal(rng);
    std::vector<float> mask;
    if (c.mask) {  // a quarter masked, small biases; row 5 of every head sees no key at all
      mask.resize(static_cast<std::size_t>(c.hq) * c.n * c.n);
      for (std::size_t e = 0; e < mask.size(); ++e) {
        const auto row = static_cast<int>(e / static_cast<std::size_t>(c.n)) % c.n;
        mask[e] = row == 5 || rng() % 4 == 0 ? -std::numeric_limits<float>::infinity() : 0.2f * normal(rng);
      }
    }
    in.q.push_back(std::move(q)), in.k.push_back(std::move(k)), in.mask.push_back(std::move(mask));
  }
  in.teleport.assign(static_cast<std::size_t>(c.n), 1.0 / c.n);
  if (c.teleport) {
    double sum = 0;
    for (auto& t : in.teleport) sum += t = (rng() % 5 == 0) ? 0.0 : 1.0 + static_cast<double>(rng() % 7);
    for (auto& t : in.teleport) t /= sum;
  }
  return in;
}

// A of one head of one layer, dense, float64.
Matrix dense_attention(const TrCase& c, const Inputs& in, int layer, int h) {
  const auto n = static_cast<std::size_t>(c.n);
  Matrix a(n * n, 0.0);
  const int kvh = h / (c.hq / c.hkv);
  const std::vector<float>& q = in.q[static_cast<std::size_t>(layer)];
  const std::vector<float>& k = in.k[static_cast<std::size_t>(layer)];
  const std::vector<float>& mask = in.mask[static_cast<std::size_t>(layer)];
  for (int i = 0; i < c.n; ++i) {
    std::vector<double> s(n, -INFINITY);
    double mx = -INFINITY;
    for (int j = 0; j < c.n; ++j) {
      bool visible = !(c.causal && j > i);
      if (c.window > 0) visible = visible && (c.causal ? j > i - c.window : std::abs(i - j) < c.window);
      if (!visible) continue;
      double x = 0;
      for (int d = 0; d < c.d; ++d)
        x += static_cast<double>(q[(static_cast<std::size_t>(h) * n + i) * c.d + d]) *
             k[(static_cast<std::size_t>(kvh) * n + j) * c.d + d];
      x /= std::sqrt(static_cast<double>(c.d));
      if (c.softcap > 0) x = c.softcap * std::tanh(x / c.softcap);
      if (c.mask) x += mask[(static_cast<std::size_t>(h) * n + i) * n + j];
      s[static_cast<std::size_t>(j)] = x;
      mx = std::max(mx, x);
    }
    if (mx == -INFINITY) continue;  // a row that sees no key: zero (dangling)
    double sum = 0;
    for (double x : s) sum += x == -INFINITY ? 0 : std::exp(x - mx);
    for (std::size_t j = 0; j < n; ++j) a[i * n + j] = s[j] == -INFINITY ? 0 : std::exp(s[j] - mx) / sum;
  }
  return a;
}

Matrix multiply(const Matrix& a, const Matrix& b, std::size_t n) {
  Matrix c(n * n, 0.0);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t l = 0; l < n; ++l)
      for (std::size_t j = 0; j < n; ++j) c[i * n + j] += a[i * n + l] * b[l * n + j];
  return c;
}

// π with π = α πÃ + (1 − αΣπÃ) t: x solves (I − αÃ)ᵀ x = t (partial pivoting), π = x/Σx.
std::vector<double> dense_solve(const Matrix& chain, double alpha, const std::vector<double>& t) {
  const std::size_t n = t.size();
  Matrix m(n * (n + 1));
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) m[i * (n + 1) + j] = (i == j ? 1.0 : 0.0) - alpha * chain[j * n + i];
    m[i * (n + 1) + n] = t[i];
  }
  for (std::size_t col = 0; col < n; ++col) {
    std::size_t piv = col;
    for (std::size_t r = col + 1; r < n; ++r)
      if (std::abs(m[r * (n + 1) + col]) > std::abs(m[piv * (n + 1) + col])) piv = r;
    for (std::size_t j = 0; j <= n; ++j) std::swap(m[col * (n + 1) + j], m[piv * (n + 1) + j]);
    for (std::size_t r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = m[r * (n + 1) + col] / m[col * (n + 1) + col];
      for (std::size_t j = col; j <= n; ++j) m[r * (n + 1) + j] -= f * m[col * (n + 1) + j];
    }
  }
  std::vector<double> x(n);
  double sum = 0;
  for (std::size_t i = 0; i < n; ++i) sum += x[i] = m[i * (n + 1) + n] / m[i * (n + 1) + i];
  for (double& v : x) v /= sum;
  return x;
}

// The dense chains Ã: [hq + 1], each head's, then the mean chain's.
std::vector<Matrix> dense_chains(const TrCase& c, const Inputs& in) {
  const auto n = static_cast<std::size_t>(c.n);
  std::vector<Matrix> chains(static_cast<std::size_t>(c.hq) + 1);
  for (int l = c.layers - 1; l >= 0; --l) {  // Ã = A_{L−1} ⋯ A_0: a step applies the top layer first
    Matrix mean(n * n, 0.0);
    for (int h = 0; h <= c.hq; ++h) {
      Matrix a(n * n, 0.0);
      if (h < c.hq) {
        a = dense_attention(c, in, l, h);
        for (std::size_t e = 0; e < a.size(); ++e) mean[e] += a[e] / c.hq;
      } else {
        a = mean;
      }
      if (c.rollout)
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t j = 0; j < n; ++j) a[i * n + j] = 0.5 * a[i * n + j] + (i == j ? 0.5 : 0.0);
      Matrix& chain = chains[static_cast<std::size_t>(h)];
      chain = chain.empty() ? a : multiply(chain, a, n);
    }
  }
  return chains;
}

// Reference scores: [hq + 1][n], the mean chain last.
std::vector<std::vector<double>> reference(const TrCase& c, const Inputs& in, double alpha) {
  std::vector<std::vector<double>> pi;
  for (const Matrix& chain : dense_chains(c, in)) pi.push_back(dense_solve(chain, alpha, in.teleport));
  return pi;
}

// This rank's part of the problem: contiguous blocks, or the zigzag layout for causal chains
// on several ranks, exactly as `perron tokenrank` lays it out.
struct LocalProblem {
  std::vector<std::vector<float>> q, k, mask_rows, mask_cols;
  std::vector<double> teleport;
  std::vector<std::int64_t> position;
  TokenRankProblem problem;
};

LocalProblem local_problem(const TrCase& c, const Inputs& in, const Comm& comm) {
  LocalProblem lp;
  const auto P = static_cast<std::int64_t>(comm.size()), r = static_cast<std::int64_t>(comm.rank());
  lp.problem.n = c.n;
  lp.problem.segments = c.causal && P > 1 ? zigzag_segments(c.n, comm.rank(), comm.size())
                                          : std::vector<Segment>{{c.n * r / P, c.n * (r + 1) / P - c.n * r / P}};
  for (const Segment& s : lp.problem.segments)
    for (std::int64_t i = 0; i < s.count; ++i) lp.position.push_back(s.begin + i);
  const auto rows = lp.position.size(), n = static_cast<std::size_t>(c.n);
  for (int l = 0; l < c.layers; ++l) {
    const auto li = static_cast<std::size_t>(l);
    lp.q.push_back(gather_rows(in.q[li], c.hq, c.n, c.d, lp.problem.segments));
    lp.k.push_back(gather_rows(in.k[li], c.hkv, c.n, c.d, lp.problem.segments));
    std::vector<float> mr, mc;
    if (c.mask) {
      mr = gather_rows(in.mask[li], c.hq, c.n, c.n, lp.problem.segments);
      mc.resize(static_cast<std::size_t>(c.hq) * n * rows);
      for (std::size_t h = 0; h < static_cast<std::size_t>(c.hq); ++h)
        for (std::size_t i = 0; i < n; ++i)
          for (std::size_t j = 0; j < rows; ++j)
            mc[(h * n + i) * rows + j] = in.mask[li][(h * n + i) * n + static_cast<std::size_t>(lp.position[j])];
    }
    lp.mask_rows.push_back(std::move(mr)), lp.mask_cols.push_back(std::move(mc));
  }
  for (int l = 0; l < c.layers; ++l) {
    const auto li = static_cast<std::size_t>(l);
    lp.problem.layers.push_back({c.hq, c.hkv, c.d, lp.q[li], lp.k[li], lp.mask_rows[li], lp.mask_cols[li]});
  }
  for (std::int64_t p : lp.position) lp.teleport.push_back(in.teleport[static_cast<std::size_t>(p)]);
  if (c.teleport) lp.problem.teleport = lp.teleport;
  return lp;
}

TokenRankParams params_of(const TrCase& c, Precision precision) {
  TokenRankParams p;
  p.causal = c.causal, p.window = c.window, p.softcap = c.softcap, p.rollout = c.rollout;
  p.tile_q = c.tile_q, p.tile_k = c.tile_k;
  p.precision = precision;
  p.tolerance = 1e-13;
  return p;
}

// Largest L1 distance over the chains (each head, then the mean) between the result and the
// reference, summed over ranks.
double l1_error(const TrCase& c, const LocalProblem& lp, const TokenRankResult& got, const std::vector<std::vector<double>>& ref,
                const Comm& comm) {
  std::vector<double> err(static_cast<std::size_t>(c.hq) + 1, 0.0);
  const std::size_t rows = lp.position.size();
  for (std::size_t i = 0; i < rows; ++i) {
    const auto p = static_cast<std::size_t>(lp.position[i]);
    for (std::size_t h = 0; h < static_cast<std::size_t>(c.hq); ++h) err[h] += std::abs(got.score[h * rows + i] - ref[h][p]);
    err.back() += std::abs(got.mean_score[i] - ref.back()[p]);
  }
  comm.sum_ordered(std::span<double>(err));
  return *std::max_element(err.begin(), err.end());
}

class TokenRankTest : public testing::TestWithParam<TrCase> {};

TEST_P(TokenRankTest, MatchesDenseFloat64) {
  const TrCase c = GetParam();
  const Comm comm = world();
  const Inputs in = make_inputs(c);
  const auto ref = reference(c, in, 0.85);
  const LocalProblem lp = local_problem(c, in, comm);

  const TokenRankResult exact = tokenrank(lp.problem, params_of(c, Precision::double_precision), comm);
  EXPECT_TRUE(exact.converged);
  EXPECT_LT(l1_error(c, lp, exact, ref, comm), 1e-9) << "double precision, solver " << static_cast<int>(exact.solver);
  const TokenRankResult fast = tokenrank(lp.problem, params_of(c, Precision::single), comm);
  EXPECT_LT(l1_error(c, lp, fast, ref, comm), 1e-5) << "single precision";
  if (c.causal && c.layers == 1) {
    EXPECT_EQ(exact.solver, TokenRankSolver::triangular) << "causal chains default to the exact sweep";
    TokenRankParams p = params_of(c, Precision::double_precision);
    p.solver = TokenRankSolver::power;
    const TokenRankResult power = tokenrank(lp.problem, p, comm);
    EXPECT_EQ(power.solver, TokenRankSolver::power);
    EXPECT_LT(l1_error(c, lp, power, ref, comm), 1e-9) << "power iteration on the causal chain";
  }

  // Rank-count invariance: every rank alone solves the whole problem; the P-rank answer equals it.
  const Comm self = comm.split(comm.rank(), 0);
  const LocalProblem whole = local_problem(c, in, self);
  const TokenRankResult alone = tokenrank(whole.problem, params_of(c, Precision::double_precision), self);
  double diff = 0;
  for (std::size_t i = 0; i < lp.position.size(); ++i)
    diff += std::abs(exact.mean_score[i] - alone.mean_score[static_cast<std::size_t>(lp.position[i])]);
  EXPECT_LT(comm.sum_ordered(diff), 1e-12) << comm.size() << " ranks against one";
}

// Personalized chains, batched (tokenrank_personalized): one per query position (and one
// seed set of two weighted positions), each the dense solve of the mean chain with its teleport,
// π_v ∝ t_v (I − αÃ)⁻¹, and the single run with that teleport (its mean chain), to 1e-12 in
// double precision at every rank count; 1e-5 in single precision.
TEST_P(TokenRankTest, PersonalizedChainsMatchDenseSolvesAndSingleRuns) {
  const TrCase c = GetParam();
  const Comm comm = world();
  const Inputs in = make_inputs(c);
  const Matrix mean_chain = dense_chains(c, in).back();
  const LocalProblem lp = local_problem(c, in, comm);
  const auto n = static_cast<std::size_t>(c.n);
  std::vector<std::vector<double>> full;  // every teleport, [n]
  for (const std::size_t q : {std::size_t{0}, std::size_t{7}, n / 2, n - 1}) {
    full.emplace_back(n, 0.0);
    full.back()[q] = 1.0;
  }
  full.emplace_back(n, 0.0);
  full.back()[3] = 0.75, full.back()[n - 2] = 0.25;
  std::vector<std::vector<double>> mine;  // this rank's positions
  for (const auto& t : full) {
    mine.emplace_back();
    for (const std::int64_t p : lp.position) mine.back().push_back(t[static_cast<std::size_t>(p)]);
  }
  for (const Precision precision : {Precision::double_precision, Precision::single}) {
    const TokenRankParams p = params_of(c, precision);
    const TokenRankResult batch = tokenrank_personalized(lp.problem, mine, p, comm);
    EXPECT_TRUE(batch.converged);
    const double bound = precision == Precision::double_precision ? 1e-12 : 1e-5;
    const std::size_t rows = lp.position.size();
    ASSERT_EQ(batch.score.size(), full.size() * rows);
    for (std::size_t v = 0; v < full.size(); ++v) {
      const std::vector<double> expect = dense_solve(mean_chain, 0.85, full[v]);
      LocalProblem single = lp;
      single.problem.teleport = mine[v];
      const TokenRankResult alone = tokenrank(single.problem, p, comm);
      double to_dense = 0, to_single = 0;
      for (std::size_t i = 0; i < rows; ++i) {
        to_dense += std::abs(batch.score[v * rows + i] - expect[static_cast<std::size_t>(lp.position[i])]);
        to_single += std::abs(batch.score[v * rows + i] - alone.mean_score[i]);
      }
      EXPECT_LT(comm.sum_ordered(to_dense), bound) << "chain " << v << (precision == Precision::single ? " (single)" : "");
      EXPECT_LT(comm.sum_ordered(to_single), bound) << "chain " << v << " against its single run";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Chains, TokenRankTest,
    testing::Values(TrCase{.name = "random_gqa"}, TrCase{.name = "sharpened", .hq = 1, .n = 53, .sharpen = 4.0},
                    TrCase{.name = "causal", .hq = 3, .hkv = 3, .n = 67, .causal = true},
                    TrCase{.name = "causal_sharp_window", .n = 58, .sharpen = 3.0, .causal = true, .window = 9},
                    TrCase{.name = "window_mask_teleport", .n = 47, .window = 11, .mask = true, .teleport = true},
                    TrCase{.name = "causal_mask", .n = 45, .causal = true, .mask = true},
                    TrCase{.name = "softcap_d64", .hq = 2, .hkv = 2, .n = 40, .d = 64, .softcap = 2.0},
                    TrCase{.name = "two_layers", .n = 37, .layers = 2},
                    TrCase{.name = "three_layers_rollout", .n = 33, .layers = 3, .rollout = true},
                    TrCase{.name = "causal_rollout", .n = 41, .causal = true, .rollout = true},
                    TrCase{.name = "causal_one_head", .hq = 1, .n = 43, .causal = true},
                    TrCase{.name = "big_tiles", .n = 90, .tile_q = 256, .tile_k = 512}),
    [](const auto& param_info) { return param_info.param.name; });

TEST(TokenRank, UndampedCausalChainIsTheFirstToken) {
  const Comm comm = world();
  const TrCase c{.name = "e0", .n = 29, .causal = true};
  const Inputs in = make_inputs(c);
  const LocalProblem lp = local_problem(c, in, comm);
  TokenRankParams p = params_of(c, Precision::double_precision);
  p.damping = 1.0;
  const TokenRankResult r = tokenrank(lp.problem, p, comm);
  EXPECT_TRUE(r.converged);
  EXPECT_NE(r.note.find("e_0"), std::string::npos) << r.note;
  for (std::size_t i = 0; i < lp.position.size(); ++i) EXPECT_EQ(r.mean_score[i], lp.position[i] == 0 ? 1.0 : 0.0);
  // Power iteration with damping close to 1 drifts there too.
  p.damping = 0.999;
  p.solver = TokenRankSolver::power;
  p.max_iterations = 100000;
  const TokenRankResult near = tokenrank(lp.problem, p, comm);
  double first = 0;
  for (std::size_t i = 0; i < lp.position.size(); ++i)
    if (lp.position[i] == 0) first = near.mean_score[i];
  EXPECT_GT(comm.allreduce(first, ReduceOp::max), 0.5);
}

// The verifier: one true step from the result of each solver (power, the exact causal sweep,
// and the e0 answer of an undamped causal chain) moves it by less than the tolerance.
TEST(TokenRank, VerifierStepConfirmsEverySolver) {
  const Comm comm = world();
  for (const TrCase& c : {TrCase{.name = "gqa"}, TrCase{.name = "causal", .hq = 3, .hkv = 3, .n = 67, .causal = true},
                          TrCase{.name = "layers", .n = 37, .layers = 2}}) {
    const Inputs in = make_inputs(c);
    const LocalProblem lp = local_problem(c, in, comm);
    for (const Precision precision : {Precision::single, Precision::double_precision}) {
      TokenRankParams p = params_of(c, precision);
      p.verify = true;
      const TokenRankResult r = tokenrank(lp.problem, p, comm);
      EXPECT_GE(r.verify_residual, 0.0) << c.name;
      // In single precision the exact sweep is exact for its own fp32 score tiles, which round
      // differently from the step's (other tile shapes): they agree to fp32's ~1e-7, not 1e-12.
      const bool fp32_sweep = precision == Precision::single && r.solver == TokenRankSolver::triangular;
      EXPECT_LT(r.verify_residual, fp32_sweep ? 1e-6 : 10 * p.tolerance) << c.name << ", solver " << static_cast<int>(r.solver);
    }
  }
  const TrCase c{.name = "e0", .n = 29, .causal = true};
  const Inputs in = make_inputs(c);
  const LocalProblem lp = local_problem(c, in, comm);
  TokenRankParams p = params_of(c, Precision::double_precision);
  p.damping = 1.0;
  p.verify = true;
  EXPECT_LT(tokenrank(lp.problem, p, comm).verify_residual, 1e-12) << "e0 is the fixed point";
  p = params_of(c, Precision::double_precision);
  p.solver = TokenRankSolver::power;
  p.max_iterations = 2;
  p.verify = true;
  const TokenRankResult early = tokenrank(lp.problem, p, comm);
  EXPECT_FALSE(early.converged);
  EXPECT_GT(early.verify_residual, 10 * p.tolerance) << "two steps are not the answer";
}

TEST(TokenRank, BadParametersAreCollectiveErrors) {
  const Comm comm = world();
  const TrCase c{.name = "bad", .n = 20};
  const Inputs in = make_inputs(c);
  const LocalProblem lp = local_problem(c, in, comm);
  TokenRankParams p = params_of(c, Precision::single);
  p.solver = TokenRankSolver::triangular;
  expect_error([&] { tokenrank(lp.problem, p, comm); }, "needs a causal chain");
  p = params_of(c, Precision::single);
  p.damping = 1.5;
  expect_error([&] { tokenrank(lp.problem, p, comm); }, "damping must be in [0, 1]");
}

// The exported attention graph: with top_k = n every edge with its weight A_ij; with top_k = 3
// the three largest of each row, by decreasing weight.
TEST(AttentionGraph, EdgesAreTheEntriesOfA) {
  const Comm comm = world();
  const TrCase c{.name = "graph", .hq = 2, .hkv = 2, .n = 31, .window = 12, .mask = true};
  const Inputs in = make_inputs(c);
  const LocalProblem lp = local_problem(c, in, comm);
  const auto n = static_cast<std::size_t>(c.n);
  const Matrix a0 = dense_attention(c, in, 0, 0), a1 = dense_attention(c, in, 0, 1);
  const TokenRankParams p = params_of(c, Precision::double_precision);
  for (const int head : {-1, 1}) {
    const AttentionEdges all = attention_top_k(lp.problem, 0, p, head, c.n, comm);
    double err = 0, count = 0, expected = 0;
    for (std::size_t e = 0; e < all.src.size(); ++e) {
      const std::size_t at = all.src[e] * n + all.dst[e];
      err = std::max(err, std::abs(all.weight[e] - (head < 0 ? 0.5 * (a0[at] + a1[at]) : a1[at])));
      ++count;
    }
    for (std::size_t e = 0; e < n * n; ++e) expected += (head < 0 ? a0[e] + a1[e] > 0 : a1[e] > 0) ? 1 : 0;
    EXPECT_LT(comm.allreduce(err, ReduceOp::max), 1e-13);
    EXPECT_EQ(comm.sum_ordered(count), expected) << "head " << head;
  }
  const AttentionEdges top = attention_top_k(lp.problem, 0, p, 0, 3, comm);
  for (std::size_t e = 0; e < top.src.size(); ++e) {
    std::vector<double> row(a0.begin() + static_cast<std::ptrdiff_t>(top.src[e] * n),
                            a0.begin() + static_cast<std::ptrdiff_t>((top.src[e] + 1) * n));
    std::sort(row.rbegin(), row.rend());
    const std::size_t rank_in_row = e % 3;  // rows have at least 3 visible keys here except the dangling one
    if (top.src[e] != 5) {
      EXPECT_NEAR(top.weight[e], row[rank_in_row], 1e-13);
    }
  }
}

// The positional null (tokenrank_null) against a dense float64 oracle: U built entry by entry
// (1/|V_i| on the keys query i sees), the chain Ũ = U^L (or ((U + I)/2)^L with rollout),
// π = α π Ũ + (1 − α) t by dense power iteration; causal, causal windowed, windowed, full,
// one and three layers, rollout, a non-uniform teleport.
TEST(TokenRank, PositionalNullMatchesDenseUniformAttention) {
  const std::int64_t n = 37;
  std::vector<double> teleport(n);
  for (std::int64_t j = 0; j < n; ++j) teleport[j] = 1.0 + static_cast<double>(j % 5);
  double total = 0.0;
  for (double w : teleport) total += w;
  for (double& w : teleport) w /= total;
  struct Case {
    bool causal;
    std::int64_t window;
    int layers;
    bool rollout, personalized;
  };
  for (const Case c : {Case{true, 0, 1, false, false}, Case{true, 5, 1, false, true}, Case{false, 4, 1, false, false},
                       Case{false, 0, 1, false, true}, Case{true, 0, 3, false, false}, Case{true, 6, 2, true, true},
                       Case{false, 3, 3, true, false}}) {
    TokenRankParams p;
    p.causal = c.causal, p.window = c.window, p.rollout = c.rollout;
    std::vector<double> u(n * n, 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      std::vector<std::int64_t> seen;
      for (std::int64_t j = 0; j < n; ++j) {
        const bool visible =
            c.causal ? (j <= i && (c.window == 0 || j > i - c.window)) : (c.window == 0 || std::abs(i - j) < c.window);
        if (visible) seen.push_back(j);
      }
      for (std::int64_t j : seen) u[i * n + j] = 1.0 / static_cast<double>(seen.size());
    }
    std::vector<double> x(n);
    for (std::int64_t j = 0; j < n; ++j) x[j] = c.personalized ? teleport[j] : 1.0 / n;
    for (int it = 0; it < 3000; ++it) {
      std::vector<double> y = x;
      for (int l = 0; l < c.layers; ++l) {
        std::vector<double> z(n, 0.0);
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < n; ++j)
            z[j] += y[i] * (c.rollout ? 0.5 * (u[i * n + j] + (i == j ? 1.0 : 0.0)) : u[i * n + j]);
        y = z;
      }
      for (std::int64_t j = 0; j < n; ++j) x[j] = 0.85 * y[j] + 0.15 * (c.personalized ? teleport[j] : 1.0 / n);
    }
    const std::vector<double> null =
        tokenrank_null(n, c.layers, p, c.personalized ? std::span<const double>(teleport) : std::span<const double>());
    double l1 = 0.0;
    for (std::int64_t j = 0; j < n; ++j) l1 += std::abs(null[j] - x[j]);
    EXPECT_LT(l1, 1e-13) << "causal " << c.causal << " window " << c.window << " layers " << c.layers << " rollout " << c.rollout;
  }
}

}  // namespace
}  // namespace perron::test
