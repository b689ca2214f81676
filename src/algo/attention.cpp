#include "perron/algo/attention.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>

#include "perron/core/error.hpp"

namespace perron {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

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
};

// e^x for x ≤ 0 without libm, branch-free so that the compiler vectorises loops over it:
// x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6 polynomial (relative error < 2e-7),
// 2^n assembled in the exponent bits. Inputs below −87 (and −∞) give exactly 0.
inline float exp_nonpositive(float x) {
  const float clamped = std::max(x, -87.0f);
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
  return x < -87.0f ? 0.0f : p * scale;
}

// row[c] ← e^(row[c] − shift) for a whole score row: the hottest loop outside the SGEMMs.
// Cloned for AVX-512, AVX2 and the baseline, chosen at run time by the CPU (GCC target_clones),
// so the binary runs on any x86-64 host and uses the widest vectors it has.
// Returns the row's sum. `omp simd reduction` lets the sum and max vectorise (in a fixed order
// for a given build and CPU).
__attribute__((target_clones("avx512f", "avx2", "default"))) float exp_row(float* row, int cols, float shift) {
  float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
  for (int c = 0; c < cols; ++c) {
    row[c] = exp_nonpositive(row[c] - shift);
    sum += row[c];
  }
  return sum;
}

__attribute__((target_clones("avx512f", "avx2", "default"))) float row_max(const float* row, int cols) {
  float m = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : m)
  for (int c = 0; c < cols; ++c) m = std::max(m, row[c]);
  return m;
}

// The running softmax state of the rows of one query tile (FlashAttention-2): row max m,
// row sum l, unnormalised output o.
struct RowState {
  float* m;
  float* l;
  float* o;  // [rows][dv]
};

// One query tile against one key tile: S = s·Q Kᵀ (SGEMM), softcap, masks, then the online
// softmax update m' = max(m, max S), l' = l·e^(m−m') + Σ e^(S−m'), O' = O·e^(m−m') + e^(S−m')V.
void attend_tile(const float* q, int rows, std::int64_t q_pos, const float* k, const float* v, int cols,
                 std::int64_t k_pos, int dq, int dv, float scale, float softcap, const Visibility& vis,
                 const float* mask, std::int64_t mask_stride, RowState st, float* s) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, dq, scale, q, dq, k, dq, 0.0f, s, cols);
  // Most tiles need no per-element work before the softmax: every key visible to every query,
  // no mask, no softcap. They take the plain, vectorisable path.
  const bool plain = softcap <= 0 && !mask && vis.sees(q_pos, k_pos + cols - 1) && vis.sees(q_pos + rows - 1, k_pos) &&
                     vis.sees(q_pos, k_pos) && vis.sees(q_pos + rows - 1, k_pos + cols - 1);
  for (int r = 0; r < rows; ++r) {
    float* row = s + static_cast<std::ptrdiff_t>(r) * cols;
    const std::int64_t i = q_pos + r;
    float max_score = kNegInf;
    if (plain) {
      max_score = row_max(row, cols);
    } else {
      for (int c = 0; c < cols; ++c) {
        float x = row[c];
        if (softcap > 0) x = softcap * std::tanh(x / softcap);
        if (mask) x += mask[static_cast<std::ptrdiff_t>(r) * mask_stride + c];
        if (!vis.sees(i, k_pos + c)) x = kNegInf;
        row[c] = x;
        max_score = std::max(max_score, x);
      }
    }
    const float m_new = std::max(st.m[r], max_score);
    if (m_new == kNegInf) {  // nothing visible yet: P is all zero, the state stays empty
      std::fill(row, row + cols, 0.0f);
      continue;
    }
    const float rescale = st.m[r] == kNegInf ? 0.0f : std::exp(st.m[r] - m_new);
    const float sum = exp_row(row, cols, m_new);  // −∞ → 0
    st.l[r] = st.l[r] * rescale + sum;
    st.m[r] = m_new;
    float* o = st.o + static_cast<std::ptrdiff_t>(r) * dv;
    for (int d = 0; d < dv; ++d) o[d] *= rescale;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, dv, cols, 1.0f, s, cols, v, dv, 1.0f, st.o, dv);
}

// The K/V block that travels around the ring: the positions it holds (up to two runs), then K
// and V as [kv heads][rows][d].
constexpr int kMaxSegments = 2;
struct BlockHeader {
  std::int64_t segments;
  Segment segment[kMaxSegments];
  std::int64_t rows() const { return segment[0].count + (segments > 1 ? segment[1].count : 0); }
};
static_assert(sizeof(BlockHeader) % sizeof(float) == 0);

// A query tile: its first local row, first position and row count.
struct QueryTile {
  std::int64_t row, pos;
  int rows;
};

}  // namespace

void merge_attention(PartialAttention a, std::span<const float> out_b, std::span<const float> lse_b, int dv) {
  for (std::size_t r = 0; r < a.lse.size(); ++r) {
    const float la = a.lse[r], lb = lse_b[r];
    if (lb == kNegInf) continue;  // b saw no keys
    float* oa = a.out.data() + r * static_cast<std::size_t>(dv);
    const float* ob = out_b.data() + r * static_cast<std::size_t>(dv);
    if (la == kNegInf) {
      std::copy(ob, ob + dv, oa);
      a.lse[r] = lb;
      continue;
    }
    const float hi = std::max(la, lb);
    const float lse = hi + std::log1p(std::exp(-std::abs(la - lb)));
    const float wa = std::exp(la - lse), wb = std::exp(lb - lse);
    for (int d = 0; d < dv; ++d) oa[d] = wa * oa[d] + wb * ob[d];
    a.lse[r] = lse;
  }
}

std::vector<Segment> zigzag_segments(std::int64_t n, int rank, int ranks) {
  const std::int64_t chunks = 2 * static_cast<std::int64_t>(ranks);
  auto chunk = [&](std::int64_t c) { return Segment{n * c / chunks, n * (c + 1) / chunks - n * c / chunks}; };
  return {chunk(rank), chunk(chunks - 1 - rank)};
}

AttentionResult attention(const AttentionBlock& b, const AttentionParams& p, const Comm& comm) {
  comm.agree([&] {
    if (b.dq <= 0 || b.dv <= 0) throw_input("attention: head sizes must be > 0 (d = " + std::to_string(b.dq) + ")");
    if (b.hkv <= 0 || b.hq % b.hkv != 0)
      throw_input("attention: " + std::to_string(b.hq) + " query heads are not a multiple of " + std::to_string(b.hkv) + " key/value heads");
    if (p.window < 0) throw_usage("--window must be > 0, got " + std::to_string(p.window));
    if (b.q_segments.size() > kMaxSegments || b.k_segments.size() > kMaxSegments)
      throw Error(ErrorKind::internal, "attention: at most two position segments per rank");
  });
  const std::vector<Segment> q_segments = b.q_segments.empty() ? std::vector<Segment>{{b.q_begin, b.nq}} : b.q_segments;
  const std::vector<Segment> k_segments = b.k_segments.empty() ? std::vector<Segment>{{b.k_begin, b.nk}} : b.k_segments;
  openblas_set_num_threads(1);  // OpenMP owns the cores; one BLAS thread per tile
  const float scale = p.scale > 0 ? p.scale : 1.0f / std::sqrt(static_cast<float>(b.dq));
  const Visibility vis{p.causal, p.window};
  const int group = b.hq / b.hkv;
  const auto nq = static_cast<std::size_t>(b.nq);
  std::vector<float> m(static_cast<std::size_t>(b.hq) * nq, kNegInf), l(m.size(), 0.0f);
  AttentionResult res;
  res.out.assign(m.size() * static_cast<std::size_t>(b.dv), 0.0f);

  // Double-buffered K/V blocks of the largest size any rank holds.
  const std::int64_t max_nk = comm.allreduce(b.nk, ReduceOp::max);
  const std::size_t kv_floats = static_cast<std::size_t>(b.hkv) * static_cast<std::size_t>(max_nk) *
                                static_cast<std::size_t>(b.dq + b.dv);
  constexpr std::size_t kHeaderFloats = sizeof(BlockHeader) / sizeof(float);
  const std::size_t floats = kHeaderFloats + kv_floats;
  const std::size_t bytes = floats * sizeof(float);
  auto cur = std::make_unique<float[]>(floats), next = std::make_unique<float[]>(floats);
  {
    BlockHeader h{static_cast<std::int64_t>(k_segments.size()), {}};
    for (std::size_t i = 0; i < k_segments.size(); ++i) h.segment[i] = k_segments[i];
    std::memcpy(cur.get(), &h, sizeof h);
    std::copy(b.k.begin(), b.k.end(), cur.get() + kHeaderFloats);
    std::copy(b.v.begin(), b.v.end(), cur.get() + kHeaderFloats + b.k.size());
  }
  const int tq = std::max(1, p.tile_q), tk = std::max(1, p.tile_k);
  std::vector<QueryTile> tiles;
  for (std::int64_t row = 0; const Segment& seg : q_segments) {
    for (std::int64_t r0 = 0; r0 < seg.count; r0 += tq)
      tiles.push_back({row + r0, seg.begin + r0, static_cast<int>(std::min<std::int64_t>(tq, seg.count - r0))});
    row += seg.count;
  }
  const auto q_tiles = static_cast<std::int64_t>(tiles.size());
  for (int step = 0; step < comm.size(); ++step) {
    std::optional<Comm::RingShift> shift;
    if (step + 1 < comm.size()) shift.emplace(comm, cur.get(), next.get(), bytes);
    BlockHeader h{};
    std::memcpy(static_cast<void*>(&h), cur.get(), sizeof h);
    const float* kblock = cur.get() + kHeaderFloats;
    const std::int64_t block_rows = h.rows();
    const float* vblock = kblock + static_cast<std::size_t>(b.hkv) * static_cast<std::size_t>(block_rows) * static_cast<std::size_t>(b.dq);
    // Work items: (query head, query tile); each owns its rows of the state, so no races.
#pragma omp parallel
    {
      std::vector<float> s(static_cast<std::size_t>(tq) * static_cast<std::size_t>(tk));
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t item = 0; item < static_cast<std::int64_t>(b.hq) * q_tiles; ++item) {
        const int head = static_cast<int>(item / q_tiles);
        const QueryTile& tile = tiles[static_cast<std::size_t>(item % q_tiles)];
        const int rows = tile.rows;
        const int kvh = head / group;
        const std::size_t row0 = static_cast<std::size_t>(head) * nq + static_cast<std::size_t>(tile.row);
        const RowState st{m.data() + row0, l.data() + row0, res.out.data() + row0 * static_cast<std::size_t>(b.dv)};
        const float* q = b.q.data() + row0 * static_cast<std::size_t>(b.dq);
        for (std::int64_t seg = 0, seg_row = 0; seg < h.segments; seg_row += h.segment[seg].count, ++seg) {
          const Segment& ks = h.segment[seg];
          for (std::int64_t c0 = 0; c0 < ks.count; c0 += tk) {
            const int cols = static_cast<int>(std::min<std::int64_t>(tk, ks.count - c0));
            if (!vis.any(tile.pos, tile.pos + rows, ks.begin + c0, ks.begin + c0 + cols)) continue;
            const std::size_t kv_row = static_cast<std::size_t>(kvh) * static_cast<std::size_t>(block_rows) +
                                       static_cast<std::size_t>(seg_row + c0);
            const float* mask = b.mask.empty() ? nullptr
                                               : b.mask.data() + row0 * static_cast<std::size_t>(b.nk_total) +
                                                     static_cast<std::size_t>(ks.begin + c0);
            attend_tile(q, rows, tile.pos, kblock + kv_row * static_cast<std::size_t>(b.dq),
                        vblock + kv_row * static_cast<std::size_t>(b.dv), cols, ks.begin + c0, b.dq, b.dv, scale,
                        p.softcap, vis, mask, b.nk_total, st, s.data());
          }
        }
      }
    }
    if (shift) {
      shift->wait();
      cur.swap(next);
    }
  }
  res.lse.assign(m.size(), kNegInf);
  for (std::size_t r = 0; r < m.size(); ++r) {
    float* o = res.out.data() + r * static_cast<std::size_t>(b.dv);
    if (l[r] > 0) {
      for (int d = 0; d < b.dv; ++d) o[d] /= l[r];
      res.lse[r] = m[r] + std::log(l[r]);
    } else {  // every key masked: zeros, never NaN
      std::fill(o, o + b.dv, 0.0f);
    }
  }
  return res;
}

}  // namespace perron
