#pragma once
// TokenRank: the PageRank of the attention graph (../shared/docs/maths.md), computed from Q and
// K tile by tile, never materialising the N×N row-stochastic matrix A = softmax(s·QKᵀ).
//
//   π = α πA + (1 − α) t            (damping α, teleport t; Erel et al. 2025, damped)
//
// One pass computes every row's log-sum-exp LSE_i (Q stays, K blocks travel around the ring).
// Each power-iteration step is then y = xᵀA, tile by tile: P = exp(S_IJ − LSE_I) needs no
// running max because LSE is known, and y_J += Pᵀ x_I. Across ranks the (Q, LSE, x) blocks
// travel around the ring while every rank accumulates y for the keys it owns; one ordered
// reduction per step gives the residual. All heads' chains and the mean chain Ā = (1/H) Σ_h A_h
// advance in the same pass, so each score tile is computed once per step.
//
// Causal chains are lower triangular: with damping the exact solution is one backward sweep
// over key tiles, π_j = [(1−α) t_j + α Σ_{i>j} π_i A_ij] / (1 − α A_jj); without damping the
// only stationary distribution is e₀ (token 0 absorbs everything, A_00 = 1).
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "perron/algo/attention.hpp"
#include "perron/algo/pagerank.hpp"
#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"

namespace perron {

enum class Precision {
  single,            // fp32 scores and exp (SGEMM tiles), float64 accumulation of y and π: π to ~1e-7
  double_precision,  // float64 scores, exp and steps (DGEMM tiles): agrees with a float64 reference to ~1e-12
};

enum class TokenRankSolver {
  automatic,   // triangular for a causal single layer, else power
  power,       // damped power iteration to the L1 tolerance
  triangular,  // causal only: the exact backward sweep
};

// One layer of queries and keys on this rank, for this rank's positions (the problem's
// segments, rows in that order): q [hq][rows][d], k [hkv][rows][d]. An additive mask (−∞ =
// masked), if any, comes twice, because the passes meet it from both sides: mask_rows holds
// this rank's query rows against all n keys ([hq][rows][n]), mask_cols all n query rows against
// this rank's keys ([hq][n][rows]).
struct TokenLayer {
  int hq = 1, hkv = 1, d = 0;
  std::span<const float> q, k;
  std::span<const float> mask_rows, mask_cols;
  // Optional float64 q and k (same layout), used instead of q and k when given: float64 inputs
  // keep their precision under Precision::double_precision.
  std::span<const double> q64 = {}, k64 = {};
};

// The chain: n positions; this rank holds `segments` (one run, or two in the zigzag layout).
// With several layers (layer 0 nearest the input) the chain is their product in the order
// attention rollout uses, Ã = A_{L−1} ⋯ A_1 A_0, so one step applies the top layer first.
struct TokenRankProblem {
  std::int64_t n = 0;
  std::vector<Segment> segments;
  std::vector<TokenLayer> layers;
  std::span<const double> teleport;  // this rank's positions, global sum 1; empty: uniform
};

struct TokenRankParams {
  double scale = 0.0;       // 0: 1/sqrt(d) (in float64, so --precision double sees exact scores)
  double softcap = 0.0;     // > 0: score → c·tanh(score/c)
  bool causal = false;      // query i sees keys j ≤ i
  std::int64_t window = 0;  // > 0: causal: i − W < j ≤ i; otherwise |i − j| < W
  int tile_q = 256;
  int tile_k = 512;
  double damping = 0.85;
  double tolerance = 1e-10;
  int max_iterations = 1000;
  Precision precision = Precision::single;
  TokenRankSolver solver = TokenRankSolver::automatic;
  bool rollout = false;  // each layer's chain is (A + I)/2 (Abnar & Zuidema 2020)
  bool verify = false;   // after the solve, one true step from the result: verify_residual
};

struct TokenRankResult {
  std::vector<double> score;       // [hq][rows]: the chain of every head (per layer: same head index)
  std::vector<double> mean_score;  // [rows]: the mean chain (1/H) Σ_h A_h of every layer
  std::vector<double> residual;    // per iteration: the largest ‖x_k − x_{k−1}‖₁ over the chains
  int iterations = 0;
  bool converged = false;
  TokenRankSolver solver = TokenRankSolver::power;  // the one that ran
  std::string note;                                 // why the answer is what it is, when that needs saying
  double lse_seconds = 0.0;                         // the LSE pass
  double solve_seconds = 0.0;                       // iterations or the triangular sweep
  double verify_residual = -1.0;                    // with params.verify: ‖F(π) − π‖₁, the largest over the chains
  double verify_seconds = 0.0;
};

// Collective. Every rank passes its part of the same problem.
TokenRankResult tokenrank(const TokenRankProblem& problem, const TokenRankParams& params, const Comm& comm,
                          const IterationObserver& observe = {});

// Collective: personalized TokenRank, batched. One chain per teleport t_v (this rank's
// positions of a vector whose global sum is 1: a query position's one-hot vector for "which
// tokens matter to this token", or a set of seeds), all of the mean chain Ā (per layer
// (1/H)·Σ_h A_h, layers multiplied as in `tokenrank`): π_v = α·π_v·Ã + (1 − α)·t_v, i.e.
// (1 − α)·t_v·(I − αÃ)⁻¹ up to the mass that rows seeing no key hand back to t_v. The k chains
// advance together: each tile's scores and exponentials are computed once per step for all
// of them, and the k products are one DGEMM; a causal single layer is one backward sweep
// with k right-hand sides. Returns score [k][rows] (mean_score empty); the residual is the
// largest over the chains, and the block runs until every chain meets the tolerance.
TokenRankResult tokenrank_personalized(const TokenRankProblem& problem, std::span<const std::vector<double>> teleports,
                                       const TokenRankParams& params, const Comm& comm, const IterationObserver& observe = {});

// The same for many chains, `block` at a time: the LSE pass (which the teleports do not touch)
// runs once, then for each block teleports(first, count) gives its teleports (this rank's
// positions) and on_block(first, result) receives its result (score [count][rows]; the first
// block's lse_seconds is the pass's). Returns the LSE pass's seconds.
using TeleportBlockFn = std::function<std::vector<std::vector<double>>(std::size_t first, std::size_t count)>;
using ChainBlockFn = std::function<void(std::size_t first, const TokenRankResult& block)>;
double tokenrank_personalized(const TokenRankProblem& problem, std::size_t chains, std::size_t block,
                              const TeleportBlockFn& teleports, const ChainBlockFn& on_block, const TokenRankParams& params,
                              const Comm& comm, const IterationObserver& observe = {});

// Collective: one undamped step of every chain from the uniform vector, x·Ã with x = 1/n: the
// attention each position receives through the chain, normalised (a row that sees no key gives
// its mass back uniformly): the one-step shortcut that TokenRank's fixed point refines. With
// params.rollout, the mean over query rows of the rollout product Π (A_l + I)/2 (Abnar &
// Zuidema 2020), as n×1 products, never n×n. Returns score [heads][rows] and mean_score.
TokenRankResult tokenrank_one_step(const TokenRankProblem& problem, const TokenRankParams& params, const Comm& comm);

// The positional null of TokenRank (tokenrank_baselines.cpp): the TokenRank of the same chain
// (mask shape, window, number of layers, rollout, damping, teleport) with uniform attention
// over the keys each query sees, U_ij = 1/|V_i| for j ∈ V_i. On a causal model uniform TokenRank
// is mostly position (token 0 gets about 1 − α^… of the mass whatever the content), and this is
// exactly that part: score / null shows what the content adds. x·U costs O(n) by running sums
// (V_i is an interval: [i − W + 1, i] causal, (i − W, i + W) windowed, everything otherwise), so
// the null is exact in O(n·layers) a step: a causal single layer by the backward sweep, else
// power iteration to 1e-15. `teleport` is the whole vector (empty: uniform); returns [n].
std::vector<double> tokenrank_null(std::int64_t n, int layers, const TokenRankParams& params, std::span<const double> teleport);

// Collective: score / null, normalised to sum 1 over every rank (0 where the null is 0): the
// relative score; both spans are this rank's rows.
std::vector<double> relative_to_null(std::span<const double> score, std::span<const double> null, const Comm& comm);

// The `top_k` strongest attention edges i → j of every query i of this rank, weight A_ij, of one
// head (head ≥ 0) or of the mean chain (head = −1), for layer `layer`; top_k ≥ n gives every
// edge with A_ij > 0. Edges of a row come by decreasing weight, ties by key position.
struct AttentionEdges {
  std::vector<VertexId> src, dst;
  std::vector<double> weight;
};
AttentionEdges attention_top_k(const TokenRankProblem& problem, std::size_t layer, const TokenRankParams& params, int head,
                               std::int64_t top_k, const Comm& comm);

}  // namespace perron
