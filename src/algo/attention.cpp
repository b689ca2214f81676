#include "perron/algo/attention.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>

#include "attention_tiles.hpp"
#include "perron/core/error.hpp"
#include "softmax_kernels.hpp"

namespace perron {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
using kernels::exp_nonpositive;
using kernels::Visibility;

// The running softmax state of the rows of one query tile (FlashAttention-2): row max m,
// row sum l, unnormalised output o.
struct RowState {
  float* m;
  float* l;
  float* o;  // [rows][dv]
};

// A tile's operands: K and V row-major for SGEMM or, when packed_k is non-null, packed for the
// AVX-512 kernels (pack_keys; pack_values, panels v_panel_stride floats apart).
struct KeyTile {
  const float* k;
  const float* v;
  const float* packed_k = nullptr;
  const float* packed_v = nullptr;
  std::size_t v_panel_stride = 0;
};

// One query tile against one key tile: S = s·Q Kᵀ, softcap and masks, then the online
// softmax update m' = max(m, max S), l' = l·e^(m−m') + Σ e^(S−m'), O' = O·e^(m−m') + e^(S−m')V.
// `s` holds rows × cols floats, `rescale` rows.
void attend_tile(const float* q, const KeyTile& kt, const kernels::TileFrame& f, int dq, int dv, float scale, float softcap,
                 const Visibility& vis, RowState st, float* s, float* rescale) {
  const int rows = f.rows, cols = f.cols;
  const bool registers = kt.packed_k != nullptr;
  if (registers) {
    kernels::score_tile(q, rows, dq, kt.packed_k, cols, scale, s);
  } else {
    kernels::gemm_scores(rows, cols, dq, scale, q, kt.k, s);
  }
  kernels::shape_scores(s, f, softcap, vis);  // most tiles: nothing to do
  for (int r = 0; r < rows; ++r) {
    const std::span<float> row(s + static_cast<std::ptrdiff_t>(r) * cols, static_cast<std::size_t>(cols));
    const float row_max = registers ? kernels::row_max_avx512(row.data(), cols) : kernels::row_max(row.data(), cols);
    rescale[r] = kernels::absorb<kernels::Probabilities::keep>(st.m[r], st.l[r], row, row_max);  // row becomes P
  }
  if (registers) {
    kernels::value_tile(s, rows, cols, kt.packed_v, kt.v_panel_stride, dv, rescale, st.o);  // rescales O as it loads it
    return;
  }
  for (int r = 0; r < rows; ++r) {
    float* o = st.o + static_cast<std::ptrdiff_t>(r) * dv;
    for (int d = 0; d < dv; ++d) o[d] *= rescale[r];
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, dv, cols, 1.0f, s, cols, kt.v, dv, 1.0f, st.o, dv);
}

// The part of key tile `kt` that some query of `qt` sees. Visible keys form one interval per
// query whose ends grow with the query's position, so the tile's is [lo(first), hi(last)).
// The right end is cut exactly (on the causal diagonal this halves the tile); the left only
// by whole panels of kKeyPanel keys, so the packed keys stay aligned.
kernels::Tile visible_part(const kernels::Tile& kt, const kernels::Tile& qt, const Visibility& vis) {
  const std::int64_t lo = vis.visible(qt.pos, kt.pos, kt.pos + kt.count).first;
  const std::int64_t hi = vis.visible(qt.pos + qt.count - 1, kt.pos, kt.pos + kt.count).second;
  const std::int64_t skip = (lo - kt.pos) / kernels::kKeyPanel * kernels::kKeyPanel;
  return {kt.row + skip, kt.pos + skip, static_cast<int>(std::max(hi - kt.pos - skip, std::int64_t{0}))};
}

// The kernel that runs for a request: automatic → avx512 where the CPU has AVX-512F.
TileKernel resolve_kernel(TileKernel requested) {
  if (requested == TileKernel::automatic) return kernels::register_tiles_available() ? TileKernel::avx512 : TileKernel::blas;
  if (requested == TileKernel::avx512 && !kernels::register_tiles_available())
    throw_usage("attention kernel avx512: this CPU has no AVX-512F (use auto or blas)");
  return requested;
}

}  // namespace

std::vector<Segment> zigzag_segments(std::int64_t n, int rank, int ranks) {
  const std::int64_t chunks = 2 * static_cast<std::int64_t>(ranks);
  auto chunk = [&](std::int64_t c) { return Segment{n * c / chunks, n * (c + 1) / chunks - n * c / chunks}; };
  return {chunk(rank), chunk(chunks - 1 - rank)};
}

AttentionResult attention(const AttentionBlock& b, const AttentionParams& p, const Comm& comm) {
  comm.agree([&] {
    if (b.dq <= 0 || b.dv <= 0) throw_input("attention: head sizes must be > 0 (d = " + std::to_string(b.dq) + ")");
    if (b.hkv <= 0 || b.hq % b.hkv != 0)
      throw_input("attention: " + std::to_string(b.hq) + " query heads are not a multiple of " + std::to_string(b.hkv) +
                  " key/value heads");
    if (p.window < 0) throw_usage("window must be >= 0 (0: no window), got " + std::to_string(p.window));
    if (b.q_segments.size() > kernels::kMaxSegments || b.k_segments.size() > kernels::kMaxSegments)
      throw Error(ErrorKind::internal, "attention: at most two position segments per rank");
  });
  TileKernel kernel = TileKernel::blas;
  comm.agree([&] { kernel = resolve_kernel(p.kernel); });
  const std::vector<Segment> q_segments = b.q_segments.empty() ? std::vector<Segment>{{b.q_begin, b.nq}} : b.q_segments;
  const std::vector<Segment> k_segments = b.k_segments.empty() ? std::vector<Segment>{{b.k_begin, b.nk}} : b.k_segments;
  const float scale = p.scale > 0 ? p.scale : 1.0f / std::sqrt(static_cast<float>(b.dq));
  const Visibility vis{p.causal, p.window};
  const int group = b.hq / b.hkv;
  const auto nq = static_cast<std::size_t>(b.nq);
  std::vector<float> m(static_cast<std::size_t>(b.hq) * nq, kNegInf), l(m.size(), 0.0f);
  AttentionResult res;
  res.out.assign(m.size() * static_cast<std::size_t>(b.dv), 0.0f);

  // The travelling block: header, then K and V as [kv heads][rows][d]; buffers sized for the
  // largest block of any rank.
  const std::int64_t max_nk = comm.allreduce(b.nk, ReduceOp::max);
  const auto kv_rows = static_cast<std::size_t>(b.hkv) * static_cast<std::size_t>(max_nk);
  kernels::BlockLayout layout;
  const std::size_t k_at = layout.add(kv_rows * static_cast<std::size_t>(b.dq) * sizeof(float));
  layout.add(kv_rows * static_cast<std::size_t>(b.dv) * sizeof(float));
  std::vector<std::byte> current(layout.size()), next(layout.size());
  {
    const kernels::BlockHeader h = kernels::header_of(k_segments);
    std::memcpy(current.data(), &h, sizeof h);
    std::byte* payload = current.data() + k_at;
    kernels::copy_bytes(payload, b.k.data(), b.k.size_bytes());
    kernels::copy_bytes(payload + b.k.size_bytes(), b.v.data(), b.v.size_bytes());  // V right after this rank's K
  }
  const int tq = std::max(1, p.tile_q), tk = std::max(1, p.tile_k);
  const std::vector<kernels::Tile> tiles = kernels::tiles_of(q_segments, tq);
  const auto q_tiles = static_cast<std::int64_t>(tiles.size());
  std::vector<float> packed;  // avx512: the block's K and V tiles as pack_keys / pack_values lay them out
  kernels::ring_pass(comm, current, next, [&](const std::vector<std::byte>& block) {
    const kernels::BlockHeader h = kernels::read_header(block);
    const std::int64_t block_rows = h.rows();
    const auto* kblock = reinterpret_cast<const float*>(block.data() + k_at);
    const float* vblock =
        kblock + static_cast<std::size_t>(b.hkv) * static_cast<std::size_t>(block_rows) * static_cast<std::size_t>(b.dq);
    const std::vector<kernels::Tile> key_tiles = kernels::tiles_of(h.runs(), tk);
    const auto k_tiles = static_cast<std::int64_t>(key_tiles.size());
    // avx512: K and V of every key tile of every KV head packed once per block, for all query
    // tiles: tile t of head h at h·per_head + at[t] (K) and h·per_head + v_at[t] (V).
    std::vector<std::size_t> packed_at(key_tiles.size() + 1, 0), packed_v_at(key_tiles.size() + 1, 0);
    if (kernel == TileKernel::avx512) {
      for (std::size_t t = 0; t < key_tiles.size(); ++t) {
        packed_at[t + 1] = packed_at[t] + kernels::packed_keys_size(key_tiles[t].count, b.dq);
        packed_v_at[t + 1] = packed_v_at[t] + kernels::packed_values_size(key_tiles[t].count, b.dv);
      }
      for (std::size_t t = 0; t <= key_tiles.size(); ++t) packed_v_at[t] += packed_at.back();
      packed.resize(static_cast<std::size_t>(b.hkv) * packed_v_at.back());
    }
    const std::size_t packed_per_head = packed_v_at.back();
    auto kv_row = [&](int kvh, const kernels::Tile& kt) {
      return static_cast<std::size_t>(kvh) * static_cast<std::size_t>(block_rows) + static_cast<std::size_t>(kt.row);
    };
#pragma omp parallel
    {
      if (kernel == TileKernel::avx512) {
#pragma omp for schedule(static)
        for (std::int64_t item = 0; item < static_cast<std::int64_t>(b.hkv) * k_tiles; ++item) {
          const int kvh = static_cast<int>(item / k_tiles);
          const auto t = static_cast<std::size_t>(item % k_tiles);
          const kernels::Tile& kt = key_tiles[t];
          float* packed_head = packed.data() + static_cast<std::size_t>(kvh) * packed_per_head;
          kernels::pack_keys(kblock + kv_row(kvh, kt) * static_cast<std::size_t>(b.dq), kt.count, b.dq,
                             packed_head + packed_at[t]);
          kernels::pack_values(vblock + kv_row(kvh, kt) * static_cast<std::size_t>(b.dv), kt.count, b.dv,
                               packed_head + packed_v_at[t]);
        }  // the implied barrier: every tile is packed before any is read
      }
      std::vector<float> s(static_cast<std::size_t>(tq) * static_cast<std::size_t>(tk)), rescale(static_cast<std::size_t>(tq));
      // Work items: (query head, query tile); each owns its rows of the state, so no races.
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t item = 0; item < static_cast<std::int64_t>(b.hq) * q_tiles; ++item) {
        const int head = static_cast<int>(item / q_tiles);
        const kernels::Tile& tile = tiles[static_cast<std::size_t>(item % q_tiles)];
        const int kvh = head / group;
        const std::size_t row0 = static_cast<std::size_t>(head) * nq + static_cast<std::size_t>(tile.row);
        const RowState st{m.data() + row0, l.data() + row0, res.out.data() + row0 * static_cast<std::size_t>(b.dv)};
        const float* q = b.q.data() + row0 * static_cast<std::size_t>(b.dq);
        for (std::size_t t = 0; t < key_tiles.size(); ++t) {
          if (!vis.any(tile.pos, tile.pos + tile.count, key_tiles[t].pos, key_tiles[t].pos + key_tiles[t].count)) continue;
          const kernels::Tile kt = visible_part(key_tiles[t], tile, vis);
          const auto skip = static_cast<std::size_t>(kt.row - key_tiles[t].row);  // whole panels
          const std::size_t row = kv_row(kvh, kt);
          KeyTile operands{kblock + row * static_cast<std::size_t>(b.dq), vblock + row * static_cast<std::size_t>(b.dv)};
          if (kernel == TileKernel::avx512) {  // skipped keys are whole panels of K, leading rows of each V panel
            const float* packed_head = packed.data() + static_cast<std::size_t>(kvh) * packed_per_head;
            operands.packed_k = packed_head + packed_at[t] + skip * static_cast<std::size_t>(b.dq);
            operands.packed_v = packed_head + packed_v_at[t] + skip * kernels::kKeyPanel;
            operands.v_panel_stride = static_cast<std::size_t>(key_tiles[t].count) * kernels::kKeyPanel;
          }
          const float* mask =
              b.mask.empty() ? nullptr
                             : b.mask.data() + row0 * static_cast<std::size_t>(b.nk_total) + static_cast<std::size_t>(kt.pos);
          const kernels::TileFrame frame{tile.pos, kt.pos, tile.count, kt.count, mask, b.nk_total};
          attend_tile(q, operands, frame, b.dq, b.dv, scale, p.softcap, vis, st, s.data(), rescale.data());
        }
      }
    }
  });
  res.kernel = kernel;
  res.lse.resize(m.size());
  for (std::size_t r = 0; r < m.size(); ++r) {
    float* o = res.out.data() + r * static_cast<std::size_t>(b.dv);
    if (l[r] > 0) {
      for (int d = 0; d < b.dv; ++d) o[d] /= l[r];
    } else {  // every key masked: zeros, never NaN
      std::fill(o, o + b.dv, 0.0f);
    }
    res.lse[r] = kernels::finish_lse(m[r], l[r]);
  }
  return res;
}

}  // namespace perron
