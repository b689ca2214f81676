#include "attention_tiles.hpp"

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <utility>

// Every function that touches a zmm register carries the target attribute, so the file builds
// for baseline x86-64 and the caller decides at run time (register_tiles_available).
#define PERRON_AVX512 __attribute__((target("avx512f")))

namespace perron::kernels {
namespace {

constexpr int kBlockRows = 12;  // 12 × 2 accumulators + 2 B vectors + 1 broadcast ≤ 32 zmm

// Lanes of the two 16-float halves of a 32-wide panel that hold real columns.
struct PanelMasks {
  __mmask16 lo, hi;
};
PanelMasks panel_masks(int width) {
  auto mask = [](int w) { return static_cast<__mmask16>(w >= 16 ? 0xffff : (1u << std::max(w, 0)) - 1u); };
  return {mask(width), mask(width - 16)};
}

// The register block: R rows × 32 columns of a product in 2R zmm accumulators.
template <int R>
struct Accumulators {
  __m512 lo[R], hi[R];
};

// acc = A·B for one R×32 block: A row-major (R rows of n, `lda` apart), B a packed panel of n
// rows of 32 floats. Each step loads B's row once and broadcasts one element of each A row:
// 2R FMAs against R + 2 loads. The sums run in order of the inner index, from zero.
template <int R>
PERRON_AVX512 __attribute__((always_inline)) inline Accumulators<R> block_product(const float* a, std::ptrdiff_t lda, int n,
                                                                                  const float* panel) {
  Accumulators<R> acc;
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) acc.lo[r] = acc.hi[r] = _mm512_setzero_ps();
  for (int k = 0; k < n; ++k) {
    const __m512 b_lo = _mm512_loadu_ps(panel + static_cast<std::ptrdiff_t>(k) * kKeyPanel);
    const __m512 b_hi = _mm512_loadu_ps(panel + static_cast<std::ptrdiff_t>(k) * kKeyPanel + 16);
#pragma GCC unroll 12
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + k]);
      acc.lo[r] = _mm512_fmadd_ps(x, b_lo, acc.lo[r]);
      acc.hi[r] = _mm512_fmadd_ps(x, b_hi, acc.hi[r]);
    }
  }
  return acc;
}

// One 12×32 (or R×32) block of S = scale·Q Kᵀ over the whole inner dimension d.
template <int R>
PERRON_AVX512 void score_block(const float* q, int d, const float* panel, float scale, float* s, int lds, PanelMasks m) {
  const Accumulators<R> acc = block_product<R>(q, d, d, panel);
  const __m512 sc = _mm512_set1_ps(scale);
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float* row = s + static_cast<std::ptrdiff_t>(r) * lds;
    _mm512_mask_storeu_ps(row, m.lo, _mm512_mul_ps(acc.lo[r], sc));
    _mm512_mask_storeu_ps(row + 16, m.hi, _mm512_mul_ps(acc.hi[r], sc));
  }
}

// One R×32 block of O ← diag(rescale)·O + P V over `cols` keys, V as one packed 32-wide
// panel (pack_values). The products sum from zero and join O once at the end (as SGEMM with
// β = 1 does): adding each of them to the running O instead tripled the rounding error.
template <int R>
PERRON_AVX512 void value_block(const float* p, int ldp, int cols, const float* panel, int dv, const float* rescale, float* o,
                               PanelMasks m) {
  const Accumulators<R> acc = block_product<R>(p, ldp, cols, panel);
#pragma GCC unroll 12
  for (int r = 0; r < R; ++r) {
    float* orow = o + static_cast<std::ptrdiff_t>(r) * dv;
    const __m512 f = _mm512_set1_ps(rescale[r]);
    _mm512_mask_storeu_ps(orow, m.lo, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m.lo, orow), f, acc.lo[r]));
    _mm512_mask_storeu_ps(orow + 16, m.hi, _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m.hi, orow + 16), f, acc.hi[r]));
  }
}

// Blocks of 1..12 rows by row count, so the last rows of a tile get a kernel of their own.
using ScoreBlock = void (*)(const float*, int, const float*, float, float*, int, PanelMasks);
using ValueBlock = void (*)(const float*, int, int, const float*, int, const float*, float*, PanelMasks);
template <std::size_t... I>
constexpr std::array<ScoreBlock, sizeof...(I)> score_blocks(std::index_sequence<I...>) {
  return {&score_block<static_cast<int>(I) + 1>...};
}
template <std::size_t... I>
constexpr std::array<ValueBlock, sizeof...(I)> value_blocks(std::index_sequence<I...>) {
  return {&value_block<static_cast<int>(I) + 1>...};
}
constexpr auto kScoreBlocks = score_blocks(std::make_index_sequence<kBlockRows>{});
constexpr auto kValueBlocks = value_blocks(std::make_index_sequence<kBlockRows>{});

}  // namespace

bool register_tiles_available() {
  static const bool available = __builtin_cpu_supports("avx512f") != 0;
  return available;
}

namespace {

// The one packing both operands use: panels of 32 "lanes" (keys of K, output columns of V),
// each panel `lines` rows of 32 floats, zero past the last lane. Element (lane, line) is read
// at a[lane·lane_stride + line·line_stride].
std::size_t panels_size(int lanes, int lines) {
  const auto panels = static_cast<std::size_t>((lanes + kKeyPanel - 1) / kKeyPanel);
  return panels * kKeyPanel * static_cast<std::size_t>(lines);
}

void pack_panels(const float* a, int lanes, int lines, std::ptrdiff_t lane_stride, std::ptrdiff_t line_stride, float* out) {
  for (int p0 = 0; p0 < lanes; p0 += kKeyPanel) {
    float* panel = out + static_cast<std::ptrdiff_t>(p0) * lines;
    const int width = std::min(kKeyPanel, lanes - p0);
    for (int line = 0; line < lines; ++line) {
      float* row = panel + static_cast<std::ptrdiff_t>(line) * kKeyPanel;
      for (int j = 0; j < width; ++j) row[j] = a[(p0 + j) * lane_stride + line * line_stride];
      std::fill(row + width, row + kKeyPanel, 0.0f);
    }
  }
}

}  // namespace

std::size_t packed_keys_size(int cols, int d) { return panels_size(cols, d); }

void pack_keys(const float* k, int cols, int d, float* out) { pack_panels(k, cols, d, d, 1, out); }

std::size_t packed_values_size(int rows, int dv) { return panels_size(dv, rows); }

void pack_values(const float* v, int rows, int dv, float* out) { pack_panels(v, dv, rows, 1, dv, out); }

// Panels outer, row blocks inner: one 32-key panel (32·d floats, 16 KB at d = 128) stays in
// L1 while the query rows stream past it.
void score_tile(const float* q, int rows, int d, const float* packed_k, int cols, float scale, float* s) {
  for (int c0 = 0; c0 < cols; c0 += kKeyPanel) {
    const PanelMasks m = panel_masks(cols - c0);
    const float* panel = packed_k + static_cast<std::ptrdiff_t>(c0) * d;
    for (int r0 = 0; r0 < rows; r0 += kBlockRows) {
      const int r = std::min(kBlockRows, rows - r0);
      kScoreBlocks[static_cast<std::size_t>(r - 1)](q + static_cast<std::ptrdiff_t>(r0) * d, d, panel, scale,
                                                    s + static_cast<std::ptrdiff_t>(r0) * cols + c0, cols, m);
    }
  }
}

// Row blocks outer, the dv/32 panels of packed V inner: the block's P rows stay in L1 across
// the panels. V is packed because its rows, dv floats apart (512 bytes at dv = 128), fall into
// few L1 sets: read in place, a panel kept missing L1 and this product ran 20% slower than
// the score product (perf, N = 16384, d = 128).
void value_tile(const float* p, int rows, int cols, const float* packed_v, std::size_t panel_stride, int dv, const float* rescale,
                float* o) {
  for (int r0 = 0; r0 < rows; r0 += kBlockRows) {
    const int r = std::min(kBlockRows, rows - r0);
    for (int e0 = 0; e0 < dv; e0 += kKeyPanel) {
      kValueBlocks[static_cast<std::size_t>(r - 1)](p + static_cast<std::ptrdiff_t>(r0) * cols, cols, cols,
                                                    packed_v + static_cast<std::size_t>(e0 / kKeyPanel) * panel_stride, dv,
                                                    rescale + r0, o + static_cast<std::ptrdiff_t>(r0) * dv + e0,
                                                    panel_masks(dv - e0));
    }
  }
}

// (Masked forms throughout: GCC 12 warns on the undefined source operand of the unmasked
// _mm512_max_ps and _mm512_reduce_max_ps.)
PERRON_AVX512 float row_max_avx512(const float* row, int cols) {
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int c = 0;
  for (; c + 16 <= cols; c += 16) m = _mm512_mask_max_ps(m, 0xffff, m, _mm512_loadu_ps(row + c));
  if (c < cols) {
    const auto tail = static_cast<__mmask16>((1u << (cols - c)) - 1u);
    m = _mm512_mask_max_ps(m, tail, m, _mm512_maskz_loadu_ps(tail, row + c));
  }
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, m);
  return *std::max_element(lanes, lanes + 16);
}

}  // namespace perron::kernels
