#pragma once
// Pieces shared by the blocked attention kernels (attention.cpp, tokenrank.cpp): which keys a
// query sees, a vectorisable e^x, the row kernels and the online-softmax primitive over them,
// the score GEMM in either precision, and the ring pass that walks every rank's block past
// every rank.
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "perron/algo/attention.hpp"
#include "perron/comm/comm.hpp"
#include "target_clones.hpp"

namespace perron::kernels {

// memcpy of `bytes` bytes that allows an empty source: a rank that owns no rows packs
// nothing, and its empty vectors' data() may be null (memcpy's arguments must not be, even
// for zero bytes).
inline void copy_bytes(void* to, const void* from, std::size_t bytes) {
  if (bytes > 0) std::memcpy(to, from, bytes);
}

// Which keys a query may see (causal / sliding window), by global position.
struct Visibility {
  bool causal;
  std::int64_t window;
  bool sees(std::int64_t i, std::int64_t j) const {
    if (causal && j > i) return false;
    if (window > 0) return causal ? j > i - window : (j > i - window && j < i + window);
    return true;
  }
  // Whether any query in [q0, q1) sees any key in [k0, k1): tiles that fail are skipped.
  bool any(std::int64_t q0, std::int64_t q1, std::int64_t k0, std::int64_t k1) const {
    if (causal && k0 > q1 - 1) return false;
    if (window > 0) {
      if (k1 - 1 <= q0 - window) return false;
      if (!causal && k0 >= q1 - 1 + window) return false;
    }
    return true;
  }
  // The keys of [k0, k1) that query i sees: always one interval [lo, hi) (empty: lo == hi).
  std::pair<std::int64_t, std::int64_t> visible(std::int64_t i, std::int64_t k0, std::int64_t k1) const {
    std::int64_t lo = k0, hi = k1;
    if (causal) hi = std::min(hi, i + 1);
    if (window > 0) {
      lo = std::max(lo, i - window + 1);
      if (!causal) hi = std::min(hi, i + window);
    }
    lo = std::min(lo, k1);
    return {lo, std::max(lo, hi)};
  }
  // Whether every query in [q0, q1) sees every key in [k0, k1) (the corners suffice).
  bool all(std::int64_t q0, std::int64_t q1, std::int64_t k0, std::int64_t k1) const {
    return sees(q0, k0) && sees(q0, k1 - 1) && sees(q1 - 1, k0) && sees(q1 - 1, k1 - 1);
  }
};

// e^x for x ≤ 0 without libm, branch-free so that loops over it vectorise: x = n·ln2 + r with
// |r| ≤ ln2/2 (ln2 in two parts, Cody–Waite), e^r by its Taylor polynomial, 2^n assembled in
// the exponent bits. float: degree 6, relative error < 2e-7, inputs below −87 give 0.
// double: degree 13, relative error < 1e-16 (a few ulp after the rounding of r), below −708 → 0.
// −∞ gives 0; small positive inputs (rounding above a known maximum) are still exact.
inline float exp_nonpositive(float x) {
  // NaN (a score that overflowed: ∞ − ∞) maps to −87 here, so that the conversion to an integer
  // below stays defined, and comes out as NaN: the caller sees the damage, nothing is undefined.
  const float clamped = x >= -87.0f ? std::min(x, 88.0f) : -87.0f;
  constexpr float kRound = 12582912.0f;  // 1.5·2^23: adding and subtracting it rounds to nearest
  const float n = (clamped * 1.44269504088896341f + kRound) - kRound;
  const float r = clamped - n * 0.693145751953125f - n * 1.42860682030941723212e-6f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::int32_t bits = (static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x >= -87.0f ? p * scale : x < -87.0f ? 0.0f : x;
}

inline double exp_nonpositive(double x) {
  const double clamped = x >= -708.0 ? std::min(x, 709.0) : -708.0;  // NaN: as in the float version
  constexpr double kRound = 6755399441055744.0;                      // 1.5·2^52
  const double n = (clamped * 1.4426950408889634074 + kRound) - kRound;
  const double r = clamped - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
  double p = 1.0 / 6227020800.0;  // 1/13!
  constexpr double kInverseFactorial[] = {1.0 / 479001600.0,
                                          1.0 / 39916800.0,
                                          1.0 / 3628800.0,
                                          1.0 / 362880.0,
                                          1.0 / 40320.0,
                                          1.0 / 5040.0,
                                          1.0 / 720.0,
                                          1.0 / 120.0,
                                          1.0 / 24.0,
                                          1.0 / 6.0,
                                          0.5,
                                          1.0,
                                          1.0};
  for (double c : kInverseFactorial) p = p * r + c;
  const std::int64_t bits = (static_cast<std::int64_t>(n) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return x >= -708.0 ? p * scale : x < -708.0 ? 0.0 : x;
}

// ---- Row kernels (softmax_kernels.cpp), compiled per vector width (PERRON_TARGET_CLONES) ----

// max_c row[c]; −∞ for a row of −∞ (every key hidden) or no columns.
float row_max(const float* row, int cols);
double row_max(const double* row, int cols);
// row[c] ← e^(row[c] − shift), returning Σ_c of the new row (one row of P, for P·V).
float exp_row(float* row, int cols, float shift);
double exp_row(double* row, int cols, double shift);
// Σ_c e^(row[c] − shift), the row left as it is (the statistics alone, TokenRank's LSE pass).
float sum_exp(const float* row, int cols, float shift);
double sum_exp(const double* row, int cols, double shift);

// ---- The online softmax: one primitive for attention's tiles and TokenRank's LSE pass -------
//
// A row's softmax over keys that arrive tile by tile (Milakov & Gimelshein 2018, "Online
// normalizer calculation for softmax"; FlashAttention-2, Dao 2023, §3.1) keeps the running max
// m and the running sum l = Σ e^(s − m) over the keys seen so far. A tile of scores s moves it to
//   m' = max(m, max s),  l' = l·e^(m − m') + Σ e^(s − m'),
// and whatever the caller accumulated against the old m (attention's O) is scaled by the same
// e^(m − m'): that factor is what absorb returns. At the end LSE = m + log l.
//
// One convention for a row that sees no key (all masked, or outside its window): its state
// stays m = −∞, l = 0, absorb returns 1 (nothing to rescale) and writes P = 0, and its LSE is
// kEmptyLse = log 0 = −∞, the identity of the LSE merge a ⊕ b = log(e^a + e^b). Where P is
// formed from a finished LSE, probability_shift maps −∞ to +∞, so that e^(s − shift) = 0 for
// every s, −∞ included (s − LSE would be −∞ − (−∞) = NaN).
template <class Real>
inline constexpr Real kEmptyLse = -std::numeric_limits<Real>::infinity();

enum class Probabilities { discard, keep };  // keep: the scores become P = e^(s − m')

template <Probabilities kWhat, class Real>
inline Real absorb(Real& m, Real& l, std::span<Real> scores, Real scores_max) {
  const Real m_new = std::max(m, scores_max);
  if (m_new == kEmptyLse<Real>) {  // nothing visible yet: the state stays empty, P is zero
    if constexpr (kWhat == Probabilities::keep) std::fill(scores.begin(), scores.end(), Real(0));
    return Real(1);
  }
  const Real rescale = m == kEmptyLse<Real> ? Real(0) : std::exp(m - m_new);
  const int cols = static_cast<int>(scores.size());
  const Real sum = kWhat == Probabilities::keep ? exp_row(scores.data(), cols, m_new) : sum_exp(scores.data(), cols, m_new);
  l = l * rescale + sum;
  m = m_new;
  return rescale;
}

// LSE = m + log l, or kEmptyLse for a row that saw no key.
template <class Real>
inline Real finish_lse(Real m, Real l) {
  return l > 0 ? m + std::log(l) : kEmptyLse<Real>;
}

// The shift that turns a row's scores into its probabilities, P = e^(s − shift): its LSE, or
// +∞ for a row that sees no key (P = 0).
template <class Real>
inline Real probability_shift(Real lse) {
  return lse == kEmptyLse<Real> ? std::numeric_limits<Real>::infinity() : lse;
}

// S = scale·A Bᵀ for row-major A [rows][d], B [cols][d] (the score tile): one SGEMM or DGEMM.
inline void gemm_scores(int rows, int cols, int d, float scale, const float* a, const float* b, float* s) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, d, scale, a, d, b, d, 0.0f, s, cols);
}
inline void gemm_scores(int rows, int cols, int d, double scale, const double* a, const double* b, double* s) {
  cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, d, scale, a, d, b, d, 0.0, s, cols);
}

// A score tile's positions: query rows [q0, q0 + rows) meet key columns [k0, k0 + cols).
// The additive mask, if any, points at the tile's (q0, k0) element with row stride mask_stride.
struct TileFrame {
  std::int64_t q0, k0;
  int rows, cols;
  const float* mask;
  std::int64_t mask_stride;
};

// The scores as the softmax sees them: softcap c·tanh(s/c), then the additive mask, then −∞
// for keys the query may not see (outside its visible interval, so two fills per row).
// Returns false (and leaves s as it is) when there is nothing to do, the common case.
template <class Real>
bool shape_scores(Real* s, const TileFrame& f, Real softcap, const Visibility& vis) {
  if (softcap <= 0 && !f.mask && vis.all(f.q0, f.q0 + f.rows, f.k0, f.k0 + f.cols)) return false;
  constexpr Real kNegInf = -std::numeric_limits<Real>::infinity();
  for (int r = 0; r < f.rows; ++r) {
    Real* row = s + static_cast<std::ptrdiff_t>(r) * f.cols;
    if (softcap > 0)
      for (int c = 0; c < f.cols; ++c) row[c] = softcap * std::tanh(row[c] / softcap);
    if (f.mask) {
      const float* mask = f.mask + static_cast<std::ptrdiff_t>(r) * f.mask_stride;
      for (int c = 0; c < f.cols; ++c) row[c] += static_cast<Real>(mask[c]);
    }
    const auto [lo, hi] = vis.visible(f.q0 + r, f.k0, f.k0 + f.cols);
    std::fill(row, row + (lo - f.k0), kNegInf);
    std::fill(row + (hi - f.k0), row + f.cols, kNegInf);
  }
  return true;
}

// The ring pass of Ring Attention (Liu et al. 2023): every rank's block visits every rank once,
// this rank's own first; the next block moves (non-blocking, double-buffered) while `visit`
// reads the current one. Blocks are read-only during the pass; both buffers must be large
// enough for the largest block of any rank.
template <class Visit>
void ring_pass(const Comm& comm, std::vector<std::byte>& current, std::vector<std::byte>& next, Visit&& visit) {
  for (int step = 0; step < comm.size(); ++step) {
    std::optional<Comm::RingShift> shift;
    if (step + 1 < comm.size()) shift.emplace(comm, current.data(), next.data(), current.size());
    visit(static_cast<const std::vector<std::byte>&>(current));
    if (shift) {
      shift->wait();
      current.swap(next);
    }
  }
}

// Positions of the block that travels: at most two runs (the zigzag layout), then the payload
// arrays at 8-byte aligned offsets.
constexpr int kMaxSegments = 2;
struct BlockHeader {
  std::int64_t segments = 0;
  Segment segment[kMaxSegments] = {};
  std::int64_t rows() const { return segment[0].count + (segments > 1 ? segment[1].count : 0); }
  std::span<const Segment> runs() const { return {segment, static_cast<std::size_t>(segments)}; }
};

inline BlockHeader header_of(std::span<const Segment> runs) {
  BlockHeader h;
  h.segments = static_cast<std::int64_t>(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) h.segment[i] = runs[i];
  return h;
}

inline BlockHeader read_header(const std::vector<std::byte>& block) {
  BlockHeader h;
  std::memcpy(static_cast<void*>(&h), block.data(), sizeof h);
  return h;
}

// Byte offsets of a block's parts: the header first, then each added array 8-byte aligned.
class BlockLayout {
 public:
  std::size_t add(std::size_t bytes) {
    const std::size_t at = size_;
    size_ += (bytes + 7) / 8 * 8;
    return at;
  }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_ = sizeof(BlockHeader);
};

// A tile of consecutive positions inside a block: its first row in the block, its first
// position and its row count. Tiles never cross a run.
struct Tile {
  std::int64_t row, pos;
  int count;
};

inline std::vector<Tile> tiles_of(std::span<const Segment> runs, int size) {
  std::vector<Tile> tiles;
  std::int64_t row = 0;
  for (const Segment& run : runs) {
    for (std::int64_t r0 = 0; r0 < run.count; r0 += size)
      tiles.push_back({row + r0, run.begin + r0, static_cast<int>(std::min<std::int64_t>(size, run.count - r0))});
    row += run.count;
  }
  return tiles;
}

}  // namespace perron::kernels
