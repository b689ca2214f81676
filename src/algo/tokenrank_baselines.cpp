// TokenRank's baselines: the positional null (uniform attention over the visible keys).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "perron/algo/tokenrank.hpp"
#include "perron/core/error.hpp"

namespace perron {
namespace {

// The keys query i sees, [first(i), last(i)]: an interval for every mask shape the null covers.
struct Visible {
  std::int64_t n, window;
  bool causal;
  std::int64_t first(std::int64_t i) const { return window <= 0 ? 0 : std::max<std::int64_t>(0, i - window + 1); }
  std::int64_t last(std::int64_t i) const {
    if (causal) return i;
    return window <= 0 ? n - 1 : std::min<std::int64_t>(n - 1, i + window - 1);
  }
  double count(std::int64_t i) const { return static_cast<double>(last(i) - first(i) + 1); }
};

// y = x·U, y_j = Σ_{i : j ∈ V_i} x_i/|V_i|: every x_i/|V_i| is spread over the interval V_i by
// a difference array (add at first, subtract after last), then one prefix sum. O(n).
void uniform_step(const Visible& v, std::span<const double> x, std::span<double> y, std::vector<double>& diff) {
  diff.assign(static_cast<std::size_t>(v.n) + 1, 0.0);
  for (std::int64_t i = 0; i < v.n; ++i) {
    const double share = x[i] / v.count(i);
    diff[v.first(i)] += share;
    diff[v.last(i) + 1] -= share;
  }
  double run = 0.0;
  for (std::int64_t j = 0; j < v.n; ++j) y[j] = run += diff[j];
}

}  // namespace

// π = α·π·Ũ + (1 − α)·t with Ũ the product of `layers` copies of U (or of (U + I)/2 with
// rollout). A causal single layer without rollout is lower triangular: the backward sweep
// π_j (1 − α/|V_j|) = α Σ_{i > j, j ∈ V_i} π_i/|V_i| + (1 − α) t_j is exact, the inner sum a
// sliding window over i ∈ (j, j + W) kept as a running sum. Anything else iterates: the step is
// O(n·layers) and contracts by α, so 1e-15 in L1 takes a few hundred steps.
std::vector<double> tokenrank_null(std::int64_t n, int layers, const TokenRankParams& params, std::span<const double> teleport) {
  if (n <= 0 || layers < 1) throw Error(ErrorKind::internal, "tokenrank_null: needs n > 0 and a layer");
  const Visible v{n, params.window, params.causal};
  const double alpha = params.damping;
  auto t = [&](std::int64_t j) { return teleport.empty() ? 1.0 / static_cast<double>(n) : teleport[j]; };
  std::vector<double> pi(static_cast<std::size_t>(n));
  if (params.causal && layers == 1 && !params.rollout && alpha < 1.0) {
    double window_sum = 0.0;  // Σ π_i/|V_i| over the later queries i that see key j
    for (std::int64_t j = n - 1; j >= 0; --j) {
      // Queries i > j see j while i − W + 1 ≤ j, i.e. i < j + W: drop the one that stops.
      if (params.window > 0 && j + params.window < n) window_sum -= pi[j + params.window] / v.count(j + params.window);
      pi[j] = (alpha * window_sum + (1.0 - alpha) * t(j)) / (1.0 - alpha / v.count(j));
      window_sum += pi[j] / v.count(j);
    }
  } else {
    std::vector<double> x(pi.size()), y(pi.size()), stepped(pi.size()), diff;
    for (std::int64_t j = 0; j < n; ++j) x[j] = t(j);
    for (int it = 0; it < 100000; ++it) {
      std::copy(x.begin(), x.end(), y.begin());
      for (int l = 0; l < layers; ++l) {
        uniform_step(v, y, stepped, diff);
        if (params.rollout)
          for (std::int64_t j = 0; j < n; ++j) stepped[j] = 0.5 * (stepped[j] + y[j]);
        y.swap(stepped);
      }
      double change = 0.0;
      for (std::int64_t j = 0; j < n; ++j) {
        const double next = alpha * y[j] + (1.0 - alpha) * t(j);
        change += std::abs(next - x[j]);
        x[j] = next;
      }
      if (change < 1e-15) break;
    }
    pi.swap(x);
  }
  const double total = std::accumulate(pi.begin(), pi.end(), 0.0);
  for (double& p : pi) p /= total;
  return pi;
}

std::vector<double> relative_to_null(std::span<const double> score, std::span<const double> null, const Comm& comm) {
  std::vector<double> out(score.size());
  double local = 0.0;
  for (std::size_t j = 0; j < score.size(); ++j) local += out[j] = null[j] > 0.0 ? score[j] / null[j] : 0.0;
  const double total = comm.sum_ordered(local);
  if (total > 0.0)
    for (double& r : out) r /= total;
  return out;
}

}  // namespace perron
