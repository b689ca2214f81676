#include "perron/algo/tokenrank.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"
#include "softmax_kernels.hpp"

namespace perron {
namespace {

using kernels::Tile;
using kernels::TileFrame;
using kernels::Visibility;

// ---- Row kernels, cloned per vector width (GCC target_clones) -------------------------------

// row[c] ← e^(row[c] − shift): one row of P = exp(S − LSE). `shift` = +∞ (a row that sees no
// key) gives zeros.
template <class Real>
inline void exp_shift_impl(Real* row, int cols, Real shift) {
#pragma omp simd
  for (int c = 0; c < cols; ++c) row[c] = kernels::exp_nonpositive(row[c] - shift);
}
PERRON_TARGET_CLONES void exp_shift(float* row, int cols, float shift) { exp_shift_impl(row, cols, shift); }
PERRON_TARGET_CLONES void exp_shift(double* row, int cols, double shift) { exp_shift_impl(row, cols, shift); }

// y_a[c] += a·p[c], y_b[c] += b·p[c] in float64, p = e^(s − shift): one row of the tile product
// y_J += Pᵀ x_I for two vectors at once (a head's chain and the mean chain). The products of
// fp32 P and float64 x are summed in float64, so the step is an exactly linear map and the
// iteration converges to the tolerance instead of stalling at fp32 rounding. Fused with the
// exponentials: the score row is read once instead of writing P and reading it back.
template <class Real>
inline void exp_axpy2_impl(const Real* s, int cols, Real shift, double a, double b, double* ya, double* yb) {
#pragma omp simd
  for (int c = 0; c < cols; ++c) {
    const auto v = static_cast<double>(kernels::exp_nonpositive(s[c] - shift));
    ya[c] += a * v;
    yb[c] += b * v;
  }
}
template <class Real>
inline void exp_axpy1_impl(const Real* s, int cols, Real shift, double a, double* y) {
#pragma omp simd
  for (int c = 0; c < cols; ++c) y[c] += a * static_cast<double>(kernels::exp_nonpositive(s[c] - shift));
}
// yb == nullptr: one chain (no mean vector).
template <class Real>
inline void exp_axpy_impl(const Real* s, int cols, Real shift, double a, double b, double* ya, double* yb) {
  if (yb)
    exp_axpy2_impl(s, cols, shift, a, b, ya, yb);
  else
    exp_axpy1_impl(s, cols, shift, a, ya);
}
PERRON_TARGET_CLONES void exp_axpy(const float* s, int cols, float shift, double a, double b, double* ya, double* yb) {
  exp_axpy_impl(s, cols, shift, a, b, ya, yb);
}
PERRON_TARGET_CLONES void exp_axpy(const double* s, int cols, double shift, double a, double b, double* ya, double* yb) {
  exp_axpy_impl(s, cols, shift, a, b, ya, yb);
}

// Two rows at once, each y entry loaded and stored once per pair of rows (the loop is bound by
// those loads and stores as much as by the exponentials). yb == nullptr: one chain.
template <class Real>
inline void exp_axpy_pair2_impl(const Real* s0, const Real* s1, int cols, Real m0, Real m1, double a0, double a1, double b0,
                                double b1, double* ya, double* yb) {
#pragma omp simd
  for (int c = 0; c < cols; ++c) {
    const auto v0 = static_cast<double>(kernels::exp_nonpositive(s0[c] - m0));
    const auto v1 = static_cast<double>(kernels::exp_nonpositive(s1[c] - m1));
    ya[c] += a0 * v0 + a1 * v1;
    yb[c] += b0 * v0 + b1 * v1;
  }
}
template <class Real>
inline void exp_axpy_pair1_impl(const Real* s0, const Real* s1, int cols, Real m0, Real m1, double a0, double a1, double* y) {
#pragma omp simd
  for (int c = 0; c < cols; ++c) {
    const auto v0 = static_cast<double>(kernels::exp_nonpositive(s0[c] - m0));
    const auto v1 = static_cast<double>(kernels::exp_nonpositive(s1[c] - m1));
    y[c] += a0 * v0 + a1 * v1;
  }
}
template <class Real>
inline void exp_axpy_pair_impl(const Real* s0, const Real* s1, int cols, Real m0, Real m1, double a0, double a1, double b0,
                               double b1, double* ya, double* yb) {
  if (yb)
    exp_axpy_pair2_impl(s0, s1, cols, m0, m1, a0, a1, b0, b1, ya, yb);
  else
    exp_axpy_pair1_impl(s0, s1, cols, m0, m1, a0, a1, ya);
}
PERRON_TARGET_CLONES void exp_axpy_pair(const float* s0, const float* s1, int cols, float m0, float m1, double a0, double a1,
                                        double b0, double b1, double* ya, double* yb) {
  exp_axpy_pair_impl(s0, s1, cols, m0, m1, a0, a1, b0, b1, ya, yb);
}
PERRON_TARGET_CLONES void exp_axpy_pair(const double* s0, const double* s1, int cols, double m0, double m1, double a0, double a1,
                                        double b0, double b1, double* ya, double* yb) {
  exp_axpy_pair_impl(s0, s1, cols, m0, m1, a0, a1, b0, b1, ya, yb);
}

// ---- The chain on this rank ---------------------------------------------------------------

template <class Real>
struct Layer {
  int hq = 1, hkv = 1, d = 0, group = 1;
  Real scale = 0;
  std::span<const Real> q, k;        // this rank's rows: [hq][rows][d], [hkv][rows][d]
  std::vector<Real> q_copy, k_copy;  // the inputs converted to Real, when they came in the other type
  std::span<const float> mask_rows, mask_cols;
  std::vector<Real> lse;  // [hq][rows]; kEmptyLse (−∞) for a row that sees no key
};

// The layer's q or k in the precision of the run: the given array of that type as it is, else
// a converted copy (float64 inputs narrowed for a single-precision run, float32 widened).
template <class Real>
std::span<const Real> as_real(std::span<const float> in32, std::span<const double> in64, std::vector<Real>& copy) {
  if constexpr (std::is_same_v<Real, float>) {
    if (in64.empty()) return in32;
    copy.resize(in64.size());
    for (std::size_t i = 0; i < in64.size(); ++i) copy[i] = static_cast<float>(in64[i]);
  } else {
    if (!in64.empty()) return in64;
    copy.assign(in32.begin(), in32.end());
  }
  return copy;
}

// Vectors that advance together: one per head, then the mean chain (when there are ≥ 2 heads);
// or, personalized, k chains of the mean chain, each with its own teleport.
struct Vectors {
  int heads = 1;
  int personalized = 0;  // > 0: k personalized chains of the mean chain
  int count() const { return personalized > 0 ? personalized : heads > 1 ? heads + 1 : 1; }
  int mean() const { return heads > 1 ? heads : 0; }
};

template <class Real>
class Chain {
 public:
  // The chains of every head and the mean, on the problem's teleport, until set_teleports.
  Chain(const TokenRankProblem& problem, const TokenRankParams& params, const Comm& comm)
      : pb_(problem),
        pp_(params),
        comm_(comm),
        vis_{params.causal, params.window},
        softcap_(static_cast<Real>(params.softcap)),
        tq_(std::max(1, params.tile_q)),
        tk_(std::max(1, params.tile_k)) {
    for (const Segment& s : problem.segments) rows_ += s.count;
    vec_.heads = problem.layers.front().hq;
    for (const TokenLayer& in : problem.layers) {
      Layer<Real>& l = layers_.emplace_back();
      l.hq = in.hq, l.hkv = in.hkv, l.d = in.d, l.group = in.hq / in.hkv;
      l.scale = static_cast<Real>(params.scale > 0 ? params.scale : 1.0 / std::sqrt(static_cast<double>(in.d)));
      l.q = as_real<Real>(in.q, in.q64, l.q_copy);
      l.k = as_real<Real>(in.k, in.k64, l.k_copy);
      l.mask_rows = in.mask_rows, l.mask_cols = in.mask_cols;
    }
    const std::int64_t max_rows = comm.allreduce(rows_, ReduceOp::max);
    max_rows_ = static_cast<std::size_t>(max_rows);
    set_teleports({});
  }

  std::size_t rows() const { return static_cast<std::size_t>(rows_); }

  // The vectors the next solve advances: with `personal`, one personalized mean chain per
  // teleport; else every head's chain and the mean's, on the problem's teleport. The LSE pass
  // does not depend on them, so one chain serves block after block of personalized teleports.
  void set_teleports(std::span<const std::vector<double>> personal) {
    vec_.personalized = static_cast<int>(personal.size());
    const auto nv = static_cast<std::size_t>(vec_.count());
    teleport_.resize(nv * rows());
    for (std::size_t v = 0; v < nv; ++v)
      for (std::size_t i = 0; i < rows(); ++i)
        teleport_[v * rows() + i] = !personal.empty()      ? personal[v][i]
                                    : pb_.teleport.empty() ? 1.0 / static_cast<double>(pb_.n)
                                                           : pb_.teleport[i];
  }

  // The LSE pass (FlashAttention's softmax statistics without V): Q stays, the K blocks travel
  // around the ring; each (head, query tile) keeps a running max m and sum l,
  // l ← l·e^(m − m') + Σ e^(S − m'), and LSE = m + log l.
  void compute_lse() {
    for (Layer<Real>& l : layers_) {
      const std::size_t hr = static_cast<std::size_t>(l.hq) * rows();
      std::vector<Real> m(hr, kernels::kEmptyLse<Real>), sum(hr, 0);
      const std::vector<Tile> q_tiles = kernels::tiles_of(pb_.segments, tq_);
      const auto items = static_cast<std::int64_t>(l.hq) * static_cast<std::int64_t>(q_tiles.size());
      ring_keys(l, [&](const Real* kb, const kernels::BlockHeader& h, const std::vector<Tile>& k_tiles) {
#pragma omp parallel
        {
          std::vector<Real> s(static_cast<std::size_t>(tq_) * static_cast<std::size_t>(tk_));
#pragma omp for schedule(dynamic, 1)
          for (std::int64_t item = 0; item < items; ++item) {
            const int head = static_cast<int>(item / static_cast<std::int64_t>(q_tiles.size()));
            const Tile& qt = q_tiles[static_cast<std::size_t>(item) % q_tiles.size()];
            const std::size_t row0 = static_cast<std::size_t>(head) * rows() + static_cast<std::size_t>(qt.row);
            for (const Tile& kt : k_tiles) {
              if (!vis_.any(qt.pos, qt.pos + qt.count, kt.pos, kt.pos + kt.count)) continue;
              const Real* k = travelling_keys(l, kb, h, head, kt);
              const float* mask = mask_tile(l, row0, kt);
              const TileFrame f{qt.pos, kt.pos, qt.count, kt.count, mask, pb_.n};
              kernels::gemm_scores(qt.count, kt.count, l.d, l.scale, l.q.data() + row0 * static_cast<std::size_t>(l.d), k,
                                   s.data());
              kernels::shape_scores(s.data(), f, softcap_, vis_);
              for (int r = 0; r < qt.count; ++r) {
                const std::span<Real> row(s.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(kt.count),
                                          static_cast<std::size_t>(kt.count));
                const std::size_t i = row0 + static_cast<std::size_t>(r);
                kernels::absorb<kernels::Probabilities::discard>(m[i], sum[i], row, kernels::row_max(row.data(), kt.count));
              }
            }
          }
        }
      });
      l.lse.resize(hr);
      for (std::size_t i = 0; i < hr; ++i) l.lse[i] = kernels::finish_lse(m[i], sum[i]);
    }
  }

  // Whether every head of every layer lets position 0 see some key (for the causal e₀ answer).
  bool first_row_sees_keys() const {
    int ok = 1;
    for (const Segment& s : pb_.segments)
      if (s.begin == 0 && s.count > 0)
        for (const Layer<Real>& l : layers_)
          for (int h = 0; h < l.hq; ++h)
            if (std::isinf(l.lse[static_cast<std::size_t>(h) * rows()])) ok = 0;
    return comm_.allreduce(ok, ReduceOp::min) == 1;
  }

  // One application of layer l's chain to all vectors: z ← z·A_l (z·(A_l + I)/2 with rollout),
  // z as [vectors][rows]. The (Q, LSE, z) blocks travel around the ring; each rank accumulates
  // y for its own keys, items = its key tiles, so no two threads touch the same y.
  void apply_layer(const Layer<Real>& l, std::vector<double>& z) const {
    const auto nv = static_cast<std::size_t>(vec_.count());
    kernels::BlockLayout layout;
    const std::size_t q_at =
        layout.add(static_cast<std::size_t>(l.hq) * max_rows_ * static_cast<std::size_t>(l.d) * sizeof(Real));
    const std::size_t lse_at = layout.add(static_cast<std::size_t>(l.hq) * max_rows_ * sizeof(Real));
    const std::size_t x_at = layout.add(nv * max_rows_ * sizeof(double));
    std::vector<std::byte> current(layout.size()), next(layout.size());
    write_header(current, pb_.segments);
    kernels::copy_bytes(current.data() + q_at, l.q.data(), l.q.size_bytes());
    kernels::copy_bytes(current.data() + lse_at, l.lse.data(), l.lse.size() * sizeof(Real));
    kernels::copy_bytes(current.data() + x_at, z.data(), z.size() * sizeof(double));
    std::vector<double> y(z.size(), 0.0);
    const std::vector<Tile> k_tiles = kernels::tiles_of(pb_.segments, tk_);
    kernels::ring_pass(comm_, current, next, [&](const std::vector<std::byte>& block) {
      const kernels::BlockHeader h = kernels::read_header(block);
      const auto brows = static_cast<std::size_t>(h.rows());
      const std::vector<Tile> q_tiles = kernels::tiles_of(h.runs(), tq_);
      const auto* qb = reinterpret_cast<const Real*>(block.data() + q_at);
      const auto* lb = reinterpret_cast<const Real*>(block.data() + lse_at);
      const auto* xb = reinterpret_cast<const double*>(block.data() + x_at);
#pragma omp parallel
      {
        std::vector<Real> s(static_cast<std::size_t>(tq_) * static_cast<std::size_t>(tk_));
        std::vector<double> p64;
#pragma omp for schedule(dynamic, 1)
        for (std::size_t item = 0; item < k_tiles.size(); ++item) {
          const Tile& kt = k_tiles[item];
          for (int head = 0; head < l.hq; ++head)
            for (const Tile& qt : q_tiles) {
              if (!vis_.any(qt.pos, qt.pos + qt.count, kt.pos, kt.pos + kt.count)) continue;
              const std::size_t qrow0 = static_cast<std::size_t>(head) * brows + static_cast<std::size_t>(qt.row);
              scores(l, head, qb + qrow0 * static_cast<std::size_t>(l.d), qt, kt, s.data());
              accumulate_exp(s.data(), lb + qrow0, qt, kt, head, xb, brows, y, p64);
            }
        }
      }
    });
    if (pp_.rollout)
      for (std::size_t i = 0; i < y.size(); ++i) y[i] = 0.5 * y[i] + 0.5 * z[i];
    z.swap(y);
  }

  // One damped step of every chain, y = α·x·Ã + (1 − Σ α·x·Ã)·t (x, y as [vectors][rows]);
  // returns the largest ‖y − x‖₁ over the chains, summed over ranks in rank order.
  double step(const std::vector<double>& x, std::vector<double>& y) const {
    const auto nv = static_cast<std::size_t>(vec_.count());
    y = x;
    for (auto l = layers_.rbegin(); l != layers_.rend(); ++l) apply_layer(*l, y);
    std::vector<double> sums(2 * nv, 0.0);  // mass, then residual, per vector
    for (std::size_t v = 0; v < nv; ++v)
      for (std::size_t i = 0; i < rows(); ++i) sums[v] += pp_.damping * y[v * rows() + i];
    comm_.sum_ordered(std::span<double>(sums.data(), nv));
    for (std::size_t v = 0; v < nv; ++v)
      for (std::size_t i = 0; i < rows(); ++i) {
        double& yi = y[v * rows() + i];
        yi = pp_.damping * yi + (1.0 - sums[v]) * teleport_[v * rows() + i];
        sums[nv + v] += std::abs(yi - x[v * rows() + i]);
      }
    comm_.sum_ordered(std::span<double>(sums.data() + nv, nv));
    return *std::max_element(sums.begin() + static_cast<std::ptrdiff_t>(nv), sums.end());
  }

  // The verifier (GAPBS's kind): one true step from the result, whatever solver made it;
  // ‖F(π) − π‖₁, the largest over the chains.
  double verify(const TokenRankResult& res) const {
    std::vector<double> x(static_cast<std::size_t>(vec_.count()) * rows());
    std::copy(res.score.begin(), res.score.end(), x.begin());
    if (vec_.heads > 1 && vec_.personalized == 0)
      std::copy(res.mean_score.begin(), res.mean_score.end(),
                x.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(vec_.mean()) * rows()));
    std::vector<double> y;
    return step(x, y);
  }

  // One step from the teleport vector (uniform for the baselines), with the chain's damping:
  // at damping 1, x·Ã, the attention each position receives through the chain.
  void one_step(TokenRankResult& res) const {
    std::vector<double> x = teleport_, y;
    res.residual.push_back(step(x, y));
    res.iterations = 1;
    unpack(y, res);
  }

  // Damped power iteration: x ← α·x·Ã + (1 − Σ α·x·Ã)·t, so the teleport also takes the mass
  // of rows that see no key (dangling) and any rounding leak; stops when every chain's
  // ‖x_k − x_{k−1}‖₁ < tolerance.
  void power(TokenRankResult& res, const IterationObserver& observe) const {
    std::vector<double> x = teleport_;  // x₀ = t, per chain
    for (int it = 1; it <= pp_.max_iterations; ++it) {
      const Stopwatch watch;
      std::vector<double> y;
      const double residual = step(x, y);
      x.swap(y);
      res.residual.push_back(residual);
      res.iterations = it;
      if (observe) observe({it, residual, watch.seconds()});
      if (residual < pp_.tolerance) {
        res.converged = true;
        break;
      }
    }
    unpack(x, res);
  }

  // The exact causal solve, one backward sweep over query tiles in decreasing position:
  //   π_j = [(1−α)·t_j + α·y_j] / (1 − α·A_jj),  y_j = Σ_{i>j} π_i A_ij,
  // then π/Σπ (rows that see no key drop their mass; the normalisation returns it, exactly as
  // the teleport does in power iteration). The owner of a tile solves its diagonal block in
  // place, broadcasts (Q, LSE, π) of the tile, and every rank adds the tile's contributions to
  // the y of its own earlier keys, in parallel over its key tiles.
  void triangular(TokenRankResult& res) const {
    const Layer<Real>& l = layers_.front();
    const auto nv = static_cast<std::size_t>(vec_.count());
    const auto T = static_cast<std::size_t>(tq_);
    std::vector<double> y(nv * rows(), 0.0), pi(nv * rows(), 0.0);
    const std::vector<Tile> own = kernels::tiles_of(pb_.segments, tq_);
    // Every tile of every rank, by decreasing position.
    struct Owned {
      Tile tile;
      int rank;
    };
    std::vector<Owned> order;
    const std::vector<kernels::BlockHeader> headers = comm_.allgather(kernels::header_of(pb_.segments));
    for (int r = 0; r < comm_.size(); ++r)
      for (const Tile& t : kernels::tiles_of(headers[static_cast<std::size_t>(r)].runs(), tq_)) order.push_back({t, r});
    std::sort(order.begin(), order.end(), [](const Owned& a, const Owned& b) { return a.tile.pos > b.tile.pos; });

    kernels::BlockLayout layout;
    const std::size_t q_at = layout.add(static_cast<std::size_t>(l.hq) * T * static_cast<std::size_t>(l.d) * sizeof(Real));
    const std::size_t lse_at = layout.add(static_cast<std::size_t>(l.hq) * T * sizeof(Real));
    const std::size_t x_at = layout.add(nv * T * sizeof(double));
    std::vector<std::byte> block(layout.size());
    const double w = pp_.rollout ? 0.5 : 1.0;  // (A + I)/2: off-diagonal weight, diagonal w·A_jj + (1 − w)
    std::vector<Real> s(T * T);
    for (const Owned& o : order) {
      const Tile& bt = o.tile;
      const auto cnt = static_cast<std::size_t>(bt.count);
      if (o.rank == comm_.rank()) {
        // Diagonal block: every head's P, the mean's as their average; personalized chains all
        // solve with the mean's (one block, which is the head's own with one head); solve
        // j = cnt−1 … 0.
        const bool personal = vec_.personalized > 0;
        std::vector<double> diag((personal ? 1 : nv) * cnt * cnt, 0.0);  // [vector][query j][key j']
        for (int head = 0; head < l.hq; ++head) {
          const std::size_t row0 = static_cast<std::size_t>(head) * rows() + static_cast<std::size_t>(bt.row);
          probabilities(l, head, l.q.data() + row0 * static_cast<std::size_t>(l.d), l.lse.data() + row0, bt, bt, s.data());
          for (std::size_t e = 0; e < cnt * cnt; ++e) {
            const auto p = static_cast<double>(s[e]);
            if (personal) {
              diag[e] += p / vec_.heads;
              continue;
            }
            if (vec_.heads > 1) diag[static_cast<std::size_t>(vec_.mean()) * cnt * cnt + e] += p / vec_.heads;
            diag[static_cast<std::size_t>(head) * cnt * cnt + e] = p;
          }
        }
        for (std::size_t v = 0; v < nv; ++v) {
          const double* a = diag.data() + (personal ? 0 : v) * cnt * cnt;
          double* yv = y.data() + v * rows() + static_cast<std::size_t>(bt.row);
          double* pv = pi.data() + v * rows() + static_cast<std::size_t>(bt.row);
          const double* tv = teleport_.data() + v * rows() + static_cast<std::size_t>(bt.row);
          for (std::size_t j = cnt; j-- > 0;) {
            const double ajj = w * a[j * cnt + j] + (1.0 - w);
            pv[j] = ((1.0 - pp_.damping) * tv[j] + pp_.damping * yv[j]) / (1.0 - pp_.damping * ajj);
            for (std::size_t jj = 0; jj < j; ++jj) yv[jj] += w * pv[j] * a[j * cnt + jj];
          }
        }
        write_header(block, std::vector<Segment>{{bt.pos, bt.count}});
        for (int head = 0; head < l.hq; ++head) {
          const std::size_t row0 = static_cast<std::size_t>(head) * rows() + static_cast<std::size_t>(bt.row);
          std::memcpy(block.data() + q_at + static_cast<std::size_t>(head) * cnt * static_cast<std::size_t>(l.d) * sizeof(Real),
                      l.q.data() + row0 * static_cast<std::size_t>(l.d), cnt * static_cast<std::size_t>(l.d) * sizeof(Real));
          std::memcpy(block.data() + lse_at + static_cast<std::size_t>(head) * cnt * sizeof(Real), l.lse.data() + row0,
                      cnt * sizeof(Real));
        }
        for (std::size_t v = 0; v < nv; ++v)
          std::memcpy(block.data() + x_at + v * cnt * sizeof(double), pi.data() + v * rows() + static_cast<std::size_t>(bt.row),
                      cnt * sizeof(double));
      }
      comm_.bcast(std::span<std::byte>(block), o.rank);
      // This tile's rows (positions ≥ bt.pos) into every earlier key of this rank, with π
      // scaled by the off-diagonal weight w first (rollout), so they add straight into y.
      const auto* qb = reinterpret_cast<const Real*>(block.data() + q_at);
      const auto* lb = reinterpret_cast<const Real*>(block.data() + lse_at);
      auto* xb = reinterpret_cast<double*>(block.data() + x_at);
      if (w != 1.0)
        for (std::size_t e = 0; e < nv * cnt; ++e) xb[e] *= w;
      const Tile query{0, bt.pos, bt.count};
#pragma omp parallel
      {
        std::vector<Real> st(T * static_cast<std::size_t>(tq_));
        std::vector<double> p64;
#pragma omp for schedule(dynamic, 1)
        for (std::size_t item = 0; item < own.size(); ++item) {
          const Tile& kt = own[item];
          if (kt.pos >= bt.pos || !vis_.any(query.pos, query.pos + query.count, kt.pos, kt.pos + kt.count)) continue;
          for (int head = 0; head < l.hq; ++head) {
            const std::size_t qrow0 = static_cast<std::size_t>(head) * cnt;
            scores(l, head, qb + qrow0 * static_cast<std::size_t>(l.d), query, kt, st.data());
            accumulate_exp(st.data(), lb + qrow0, query, kt, head, xb, cnt, y, p64);
          }
        }
      }
    }
    // π/Σπ per vector.
    std::vector<double> mass(nv, 0.0);
    for (std::size_t v = 0; v < nv; ++v)
      for (std::size_t i = 0; i < rows(); ++i) mass[v] += pi[v * rows() + i];
    comm_.sum_ordered(std::span<double>(mass));
    for (std::size_t v = 0; v < nv; ++v)
      for (std::size_t i = 0; i < rows(); ++i) pi[v * rows() + i] /= mass[v];
    res.converged = true;
    unpack(pi, res);
  }

  // Every vector e₀: the undamped causal chain's only stationary distribution.
  void first_token(TokenRankResult& res) const {
    std::vector<double> x(static_cast<std::size_t>(vec_.count()) * rows(), 0.0);
    for (std::size_t row = 0; const Segment& s : pb_.segments) {
      if (s.begin == 0 && s.count > 0)
        for (int v = 0; v < vec_.count(); ++v) x[static_cast<std::size_t>(v) * rows() + row] = 1.0;
      row += static_cast<std::size_t>(s.count);
    }
    res.converged = true;
    unpack(x, res);
  }

  // The `top_k` largest A_ij of every query row of this rank for one head (or the mean, head
  // −1) of layer `li`: the K blocks travel; each row keeps its candidates, pruned to top_k
  // whenever they reach 2·top_k.
  AttentionEdges top_edges(std::size_t li, int head, std::int64_t top_k) const {
    const Layer<Real>& l = layers_.at(li);
    struct Candidate {
      double weight;
      std::int64_t key;
    };
    const auto better = [](const Candidate& a, const Candidate& b) {
      return a.weight > b.weight || (a.weight == b.weight && a.key < b.key);
    };
    const auto keep = static_cast<std::size_t>(std::min<std::int64_t>(top_k, pb_.n));
    std::vector<std::vector<Candidate>> best(rows());
    const std::vector<Tile> q_tiles = kernels::tiles_of(pb_.segments, tq_);
    const int first = head < 0 ? 0 : head, last = head < 0 ? l.hq : head + 1;
    ring_keys(l, [&](const Real* kb, const kernels::BlockHeader& h, const std::vector<Tile>& k_tiles) {
#pragma omp parallel
      {
        std::vector<Real> s(static_cast<std::size_t>(tq_) * static_cast<std::size_t>(tk_));
        std::vector<double> a(s.size());
#pragma omp for schedule(dynamic, 1)
        for (std::size_t item = 0; item < q_tiles.size(); ++item) {
          const Tile& qt = q_tiles[item];
          for (const Tile& kt : k_tiles) {
            if (!vis_.any(qt.pos, qt.pos + qt.count, kt.pos, kt.pos + kt.count)) continue;
            const std::size_t cells = static_cast<std::size_t>(qt.count) * static_cast<std::size_t>(kt.count);
            std::fill(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(cells), 0.0);
            for (int hd = first; hd < last; ++hd) {
              const std::size_t row0 = static_cast<std::size_t>(hd) * rows() + static_cast<std::size_t>(qt.row);
              const Real* k = travelling_keys(l, kb, h, hd, kt);
              const float* mask = mask_tile(l, row0, kt);
              kernels::gemm_scores(qt.count, kt.count, l.d, l.scale, l.q.data() + row0 * static_cast<std::size_t>(l.d), k,
                                   s.data());
              kernels::shape_scores(s.data(), TileFrame{qt.pos, kt.pos, qt.count, kt.count, mask, pb_.n}, softcap_, vis_);
              for (int r = 0; r < qt.count; ++r)
                exp_shift(s.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(kt.count), kt.count,
                          kernels::probability_shift(l.lse[row0 + static_cast<std::size_t>(r)]));
              for (std::size_t e = 0; e < cells; ++e) a[e] += static_cast<double>(s[e]) / (last - first);
            }
            for (int r = 0; r < qt.count; ++r) {
              std::vector<Candidate>& list = best[static_cast<std::size_t>(qt.row + r)];
              for (int c = 0; c < kt.count; ++c) {
                const double weight =
                    a[static_cast<std::size_t>(r) * static_cast<std::size_t>(kt.count) + static_cast<std::size_t>(c)];
                if (weight > 0) list.push_back({weight, kt.pos + c});
              }
              if (list.size() >= 2 * keep) {
                std::nth_element(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(keep), list.end(), better);
                list.resize(keep);
              }
            }
          }
        }
      }
    });
    AttentionEdges edges;
    const std::vector<Tile> row_positions = kernels::tiles_of(pb_.segments, 1);
    for (std::size_t r = 0; r < rows(); ++r) {
      std::vector<Candidate>& list = best[r];
      std::sort(list.begin(), list.end(), better);
      if (list.size() > keep) list.resize(keep);
      for (const Candidate& c : list) {
        edges.src.push_back(static_cast<VertexId>(row_positions[r].pos));
        edges.dst.push_back(static_cast<VertexId>(c.key));
        edges.weight.push_back(c.weight);
      }
    }
    return edges;
  }

 private:
  // The K blocks of every rank travel past this one (Q stays): visit(K block, its header, its
  // key tiles) once per rank, this rank's own first.
  template <class Visit>
  void ring_keys(const Layer<Real>& l, Visit&& visit) const {
    kernels::BlockLayout layout;
    const std::size_t k_at =
        layout.add(static_cast<std::size_t>(l.hkv) * max_rows_ * static_cast<std::size_t>(l.d) * sizeof(Real));
    std::vector<std::byte> current(layout.size()), next(layout.size());
    write_header(current, pb_.segments);
    kernels::copy_bytes(current.data() + k_at, l.k.data(), l.k.size_bytes());
    kernels::ring_pass(comm_, current, next, [&](const std::vector<std::byte>& block) {
      const kernels::BlockHeader h = kernels::read_header(block);
      visit(reinterpret_cast<const Real*>(block.data() + k_at), h, kernels::tiles_of(h.runs(), tk_));
    });
  }

  static void write_header(std::vector<std::byte>& block, std::span<const Segment> runs) {
    const kernels::BlockHeader h = kernels::header_of(runs);
    std::memcpy(block.data(), &h, sizeof h);
  }

  // One tile of shaped scores for `head`: query rows qt (their Q given) against this rank's
  // keys kt; the mask comes from mask_cols (query position, local key row).
  void scores(const Layer<Real>& l, int head, const Real* q, const Tile& qt, const Tile& kt, Real* s) const {
    const Real* k = l.k.data() + (static_cast<std::size_t>(head / l.group) * rows() + static_cast<std::size_t>(kt.row)) *
                                     static_cast<std::size_t>(l.d);
    const float* mask =
        l.mask_cols.empty()
            ? nullptr
            : l.mask_cols.data() +
                  (static_cast<std::size_t>(head) * static_cast<std::size_t>(pb_.n) + static_cast<std::size_t>(qt.pos)) * rows() +
                  static_cast<std::size_t>(kt.row);
    kernels::gemm_scores(qt.count, kt.count, l.d, l.scale, q, k, s);
    kernels::shape_scores(s, TileFrame{qt.pos, kt.pos, qt.count, kt.count, mask, rows_}, softcap_, vis_);
  }

  // The tile of P = exp(S − LSE) itself (the diagonal blocks of the causal sweep).
  void probabilities(const Layer<Real>& l, int head, const Real* q, const Real* lse, const Tile& qt, const Tile& kt,
                     Real* s) const {
    scores(l, head, q, qt, kt, s);
    for (int r = 0; r < qt.count; ++r)
      exp_shift(s + static_cast<std::size_t>(r) * static_cast<std::size_t>(kt.count), kt.count,
                kernels::probability_shift(lse[r]));
  }

  // y_J += Pᵀ x_I with P = exp(S − LSE) formed on the fly, for the head's own chain, and
  // (1/H)·Pᵀ x̄_I for the mean chain; x rows of the block are [vector][brows], y [vector][rows].
  // Personalized chains take the tile's exponentials once for all k of them: P in float64
  // (`p64`, the thread's scratch), then Y_J += (1/H)·X_I·P, one DGEMM of k rows, so a step
  // costs the scores and exponentials of one chain plus 2k flops per score.
  void accumulate_exp(Real* s, const Real* lse, const Tile& qt, const Tile& kt, int head, const double* x, std::size_t brows,
                      std::vector<double>& y, std::vector<double>& p64) const {
    if (vec_.personalized > 0) return accumulate_exp_batch(s, lse, qt, kt, x, brows, y, p64);
    const auto hv = static_cast<std::size_t>(head), mv = static_cast<std::size_t>(vec_.mean());
    double* yh = y.data() + hv * rows() + static_cast<std::size_t>(kt.row);
    double* ym = vec_.heads > 1 ? y.data() + mv * rows() + static_cast<std::size_t>(kt.row) : nullptr;
    const double* xh = x + hv * brows + static_cast<std::size_t>(qt.row);
    const double* xm = x + mv * brows + static_cast<std::size_t>(qt.row);
    const auto cols = static_cast<std::size_t>(kt.count);
    auto mean_weight = [&](int r) { return ym ? xm[r] / vec_.heads : 0.0; };
    int r = 0;
    for (; r + 1 < qt.count; r += 2)
      exp_axpy_pair(s + static_cast<std::size_t>(r) * cols, s + static_cast<std::size_t>(r + 1) * cols, kt.count,
                    kernels::probability_shift(lse[r]), kernels::probability_shift(lse[r + 1]), xh[r], xh[r + 1], mean_weight(r),
                    mean_weight(r + 1), yh, ym);
    if (r < qt.count)
      exp_axpy(s + static_cast<std::size_t>(r) * cols, kt.count, kernels::probability_shift(lse[r]), xh[r], mean_weight(r), yh,
               ym);
  }

  void accumulate_exp_batch(Real* s, const Real* lse, const Tile& qt, const Tile& kt, const double* x, std::size_t brows,
                            std::vector<double>& y, std::vector<double>& p64) const {
    const auto cols = static_cast<std::size_t>(kt.count), qrows = static_cast<std::size_t>(qt.count);
    for (std::size_t r = 0; r < qrows; ++r) exp_shift(s + r * cols, kt.count, kernels::probability_shift(lse[r]));
    const double* p = nullptr;
    if constexpr (std::is_same_v<Real, double>) {
      p = s;
    } else {
      p64.assign(s, s + qrows * cols);
      p = p64.data();
    }
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, vec_.personalized, kt.count, qt.count, 1.0 / vec_.heads,
                x + static_cast<std::size_t>(qt.row), static_cast<int>(brows), p, kt.count, 1.0,
                y.data() + static_cast<std::size_t>(kt.row), static_cast<int>(rows()));
  }

  // The keys of tile `kt` for query head `head` in a travelling K block (header h).
  const Real* travelling_keys(const Layer<Real>& l, const Real* kb, const kernels::BlockHeader& h, int head,
                              const Tile& kt) const {
    const std::size_t kv_row =
        static_cast<std::size_t>(head / l.group) * static_cast<std::size_t>(h.rows()) + static_cast<std::size_t>(kt.row);
    return kb + kv_row * static_cast<std::size_t>(l.d);
  }

  // The mask's entries for the query rows from `row0` (head-major) against key tile `kt`, or null.
  const float* mask_tile(const Layer<Real>& l, std::size_t row0, const Tile& kt) const {
    if (l.mask_rows.empty()) return nullptr;
    return l.mask_rows.data() + row0 * static_cast<std::size_t>(pb_.n) + static_cast<std::size_t>(kt.pos);
  }

  void unpack(const std::vector<double>& x, TokenRankResult& res) const {
    if (vec_.personalized > 0) {
      res.score = x;  // [k][rows]
      return;
    }
    const auto h = static_cast<std::size_t>(vec_.heads);
    res.score.assign(x.begin(), x.begin() + static_cast<std::ptrdiff_t>(h * rows()));
    const auto m = static_cast<std::size_t>(vec_.mean());
    res.mean_score.assign(x.begin() + static_cast<std::ptrdiff_t>(m * rows()),
                          x.begin() + static_cast<std::ptrdiff_t>((m + 1) * rows()));
  }

  const TokenRankProblem& pb_;
  const TokenRankParams& pp_;
  const Comm& comm_;
  Visibility vis_;
  Real softcap_;
  int tq_, tk_;
  std::int64_t rows_ = 0;
  std::size_t max_rows_ = 0;
  Vectors vec_;
  std::vector<Layer<Real>> layers_;
  std::vector<double> teleport_;
};

void check_problem(const TokenRankProblem& pb, const TokenRankParams& p, const Comm& comm) {
  comm.agree([&] {
    if (pb.layers.empty()) throw_input("tokenrank: no layers");
    for (const TokenLayer& l : pb.layers) {
      if (l.d <= 0) throw_input("tokenrank: head size must be > 0");
      if (l.hkv <= 0 || l.hq % l.hkv != 0)
        throw_input("tokenrank: " + std::to_string(l.hq) + " query heads are not a multiple of " + std::to_string(l.hkv) +
                    " key heads");
      if (l.hq != pb.layers.front().hq) throw_input("tokenrank: every layer needs the same number of query heads");
    }
    if (pb.segments.size() > static_cast<std::size_t>(kernels::kMaxSegments))
      throw Error(ErrorKind::internal, "tokenrank: at most two position segments per rank");
    if (!(p.damping >= 0 && p.damping <= 1)) throw_usage("damping must be in [0, 1], got " + std::to_string(p.damping));
    if (!(p.tolerance > 0)) throw_usage("tolerance must be > 0");
    if (p.max_iterations < 1) throw_usage("max-iterations must be >= 1");
    if (p.window < 0) throw_usage("window must be >= 0 (0: no window)");
    if (p.solver == TokenRankSolver::triangular && !p.causal)
      throw_usage("solver triangular needs a causal chain (causal): only then is I − αA triangular");
    if (p.solver == TokenRankSolver::triangular && pb.layers.size() > 1)
      throw_usage("solver triangular solves one layer; the product of several layers needs solver power");
  });
}

// The solve of a chain whose LSE pass is done: e₀ for an undamped causal chain, the triangular
// sweep for a causal single layer (or when asked), else power iteration; into `res`, timed.
template <class Real>
void solve_chain(const Chain<Real>& chain, const TokenRankProblem& pb, const TokenRankParams& p, const IterationObserver& observe,
                 TokenRankResult& res) {
  const Stopwatch watch;
  const bool causal_single = p.causal && pb.layers.size() == 1;
  if (p.causal && p.damping == 1.0 && chain.first_row_sees_keys()) {
    res.solver = p.solver == TokenRankSolver::automatic ? TokenRankSolver::triangular : p.solver;
    res.note =
        "causal chain without damping: token 0 sees only itself (A_00 = 1) and every path leads there, "
        "so the only stationary distribution is e_0; use damping < 1 for an informative ranking";
    chain.first_token(res);
  } else if (p.solver == TokenRankSolver::triangular || (p.solver == TokenRankSolver::automatic && causal_single)) {
    res.solver = TokenRankSolver::triangular;
    chain.triangular(res);
  } else {
    res.solver = TokenRankSolver::power;
    chain.power(res, observe);
  }
  res.solve_seconds = watch.seconds();
}

template <class Real>
TokenRankResult run_tokenrank(const TokenRankProblem& pb, const TokenRankParams& p, const Comm& comm,
                              const IterationObserver& observe) {
  Chain<Real> chain(pb, p, comm);
  TokenRankResult res;
  Stopwatch watch;
  chain.compute_lse();
  res.lse_seconds = watch.seconds();
  solve_chain(chain, pb, p, observe, res);
  if (p.verify) {
    watch.restart();
    res.verify_residual = chain.verify(res);
    res.verify_seconds = watch.seconds();
  }
  return res;
}

}  // namespace

TokenRankResult tokenrank(const TokenRankProblem& problem, const TokenRankParams& params, const Comm& comm,
                          const IterationObserver& observe) {
  check_problem(problem, params, comm);
  return params.precision == Precision::double_precision ? run_tokenrank<double>(problem, params, comm, observe)
                                                         : run_tokenrank<float>(problem, params, comm, observe);
}

namespace {

// One chain, its LSE pass once, then block after block of personalized teleports.
template <class Real>
double run_personalized(const TokenRankProblem& pb, const TokenRankParams& p, const Comm& comm, std::size_t chains,
                        std::size_t block, const TeleportBlockFn& teleports, const ChainBlockFn& on_block,
                        const IterationObserver& observe) {
  Chain<Real> chain(pb, p, comm);
  const Stopwatch watch;
  chain.compute_lse();
  const double lse_seconds = watch.seconds();
  for (std::size_t first = 0; first < chains; first += block) {
    const std::vector<std::vector<double>> t = teleports(first, std::min(block, chains - first));
    comm.agree([&] {
      for (const std::vector<double>& v : t)
        if (v.size() != chain.rows())
          throw Error(ErrorKind::internal, "tokenrank_personalized: a teleport vector does not match this rank's positions");
    });
    chain.set_teleports(t);
    TokenRankResult res;
    res.lse_seconds = first == 0 ? lse_seconds : 0.0;
    solve_chain(chain, pb, p, observe, res);
    on_block(first, res);
  }
  return lse_seconds;
}

}  // namespace

double tokenrank_personalized(const TokenRankProblem& problem, std::size_t chains, std::size_t block,
                              const TeleportBlockFn& teleports, const ChainBlockFn& on_block, const TokenRankParams& params,
                              const Comm& comm, const IterationObserver& observe) {
  check_problem(problem, params, comm);
  comm.agree([&] {
    if (chains == 0 || block == 0) throw Error(ErrorKind::internal, "tokenrank_personalized: no chains, or blocks of none");
  });
  return params.precision == Precision::double_precision
             ? run_personalized<double>(problem, params, comm, chains, block, teleports, on_block, observe)
             : run_personalized<float>(problem, params, comm, chains, block, teleports, on_block, observe);
}

TokenRankResult tokenrank_personalized(const TokenRankProblem& problem, std::span<const std::vector<double>> teleports,
                                       const TokenRankParams& params, const Comm& comm, const IterationObserver& observe) {
  TokenRankResult out;
  const auto all = [&](std::size_t, std::size_t) { return std::vector<std::vector<double>>(teleports.begin(), teleports.end()); };
  tokenrank_personalized(
      problem, teleports.size(), std::max<std::size_t>(teleports.size(), 1), all,
      [&](std::size_t, const TokenRankResult& r) { out = r; }, params, comm, observe);
  return out;
}

TokenRankResult tokenrank_one_step(const TokenRankProblem& problem, const TokenRankParams& params, const Comm& comm) {
  TokenRankProblem uniform = problem;
  uniform.teleport = {};
  TokenRankParams undamped = params;
  undamped.damping = 1.0;
  check_problem(uniform, undamped, comm);
  auto run = [&](auto chain) {
    TokenRankResult res;
    const Stopwatch watch;
    chain.compute_lse();
    chain.one_step(res);
    res.solve_seconds = watch.seconds();
    return res;
  };
  return params.precision == Precision::double_precision ? run(Chain<double>(uniform, undamped, comm))
                                                         : run(Chain<float>(uniform, undamped, comm));
}

AttentionEdges attention_top_k(const TokenRankProblem& problem, std::size_t layer, const TokenRankParams& params, int head,
                               std::int64_t top_k, const Comm& comm) {
  check_problem(problem, params, comm);
  comm.agree([&] {
    if (layer >= problem.layers.size()) throw_usage("layer " + std::to_string(layer) + " is not a layer of the input");
    if (head >= problem.layers.front().hq) throw_usage("head " + std::to_string(head) + " is not a query head of the input");
    if (top_k < 1) throw_usage("top-k must be >= 1");
  });
  auto run = [&](auto chain) {
    chain.compute_lse();
    return chain.top_edges(layer, head, top_k);
  };
  return params.precision == Precision::double_precision ? run(Chain<double>(problem, params, comm))
                                                         : run(Chain<float>(problem, params, comm));
}

}  // namespace perron
