#pragma once
// Exact softmax attention without the N×N matrix (../shared/docs/maths.md).
//
// Inside a rank: FlashAttention-2 (Dao 2023). Query tiles meet key tiles; S = s·Q Kᵀ and the
// tile's P V are two matrix products (SGEMM, or register-blocked AVX-512 kernels that pack
// each key tile once); each query row keeps a running max m, sum l and unnormalised
// output, rescaled by exp(m_old − m_new) when the max grows. At the end O = O/l and
// LSE = m + log l. A row whose every key is masked gives O = 0 and LSE = −∞, never NaN.
//
// Across ranks: Ring Attention (Liu et al. 2023). Rank r holds a contiguous block of query
// rows and of key/value rows; the K/V blocks travel once around the ring with non-blocking,
// double-buffered shifts, so the next block moves while this one is computed; each block
// updates the same running state, exactly as one more key tile would.
#include <cstdint>
#include <span>
#include <vector>

#include "perron/comm/comm.hpp"

namespace perron {

// How a tile's two products run: `blas` through cblas_sgemm (any CPU); `avx512` through
// perron's register-blocked kernels with the keys packed once per ring block (a CPU with
// AVX-512F; fewer copies, see src/algo/attention_tiles.hpp); `automatic` picks avx512 where
// the CPU has it.
enum class TileKernel { automatic, blas, avx512 };

struct AttentionParams {
  float scale = 0.0f;       // 0: 1/sqrt(dq)
  float softcap = 0.0f;     // > 0: score → c·tanh(score/c)
  bool causal = false;      // query i sees keys j ≤ i (upper-left aligned)
  std::int64_t window = 0;  // > 0: causal: i − W < j ≤ i; otherwise |i − j| < W
  int tile_q = 128;
  int tile_k = 256;
  TileKernel kernel = TileKernel::automatic;
};

// A run of consecutive positions held by one rank.
struct Segment {
  std::int64_t begin = 0;
  std::int64_t count = 0;
};

// One rank's part of one batch entry: queries of all query heads for positions
// [q_begin, q_begin + nq), keys and values of all KV heads for [k_begin, k_begin + nk);
// row-major [heads][rows][dim]. An optional additive mask holds, per query head, the rows of
// this rank's queries against all nk_total keys ([hq][nq][nk_total]; −∞ masks).
// With the zigzag layout a rank holds two runs instead: q_segments / k_segments (at most two
// each, rows in that order), and then q_begin / k_begin are not used.
struct AttentionBlock {
  int hq = 1, hkv = 1, dq = 0, dv = 0;
  std::int64_t nq = 0, q_begin = 0;
  std::int64_t nk = 0, k_begin = 0, nk_total = 0;
  std::span<const float> q, k, v;
  std::span<const float> mask;  // empty: no mask
  std::vector<Segment> q_segments, k_segments;
};

// The zigzag layout of causal Ring Attention (Brandon et al. 2023; ring-flash-attention): the
// N positions cut into 2P chunks, rank r holding chunks r and 2P−1−r, so that every rank has
// as many positions early in the sequence (little causal work) as late (much).
std::vector<Segment> zigzag_segments(std::int64_t n, int rank, int ranks);

struct AttentionResult {
  std::vector<float> out;                // [hq][nq][dv]
  std::vector<float> lse;                // [hq][nq]
  TileKernel kernel = TileKernel::blas;  // the kernel that ran (never automatic)
};

// Collective over `comm` (the ring). Every rank passes its block; all ranks must agree on
// hq, hkv, dq, dv and nk_total, and the K/V blocks of ranks 0..P−1 must tile [0, nk_total)
// in rank order.
AttentionResult attention(const AttentionBlock& block, const AttentionParams& params, const Comm& comm);

}  // namespace perron
