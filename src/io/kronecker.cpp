#include "perron/io/kronecker.hpp"

#include <string>

#include "perron/core/error.hpp"
#include "perron/core/hash.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/range.hpp"

namespace perron {
namespace {

// A bijection of [0, 2^bits): odd multiplications and xor-shifts, each invertible mod 2^bits,
// keyed by the seed. It scrambles ids without an O(n) permutation table.
struct IdScrambler {
  std::uint64_t mask, k1, k2, k3, k4;
  int shift;
  IdScrambler(int bits, std::uint64_t seed) {
    mask = bits >= 64 ? ~0ull : (1ull << bits) - 1;
    std::uint64_t s = seed ^ 0x5DEECE66Dull;
    k1 = splitmix64(s) | 1;
    k2 = splitmix64(s);
    k3 = splitmix64(s) | 1;
    k4 = splitmix64(s);
    shift = bits / 2 + 1;
  }
  std::uint64_t operator()(std::uint64_t x) const {
    x = (x * k1 + k2) & mask;
    x ^= x >> shift;
    x = (x * k3 + k4) & mask;
    x ^= x >> shift;
    return x & mask;
  }
};

}  // namespace

void validate(const KroneckerParams& p) {
  if (p.scale < 1 || p.scale > 40) throw_usage("kronecker scale must be in 1..40, got " + std::to_string(p.scale));
  if (p.edge_factor < 1 || p.edge_factor > 1024)
    throw_usage("kronecker edge factor must be in 1..1024, got " + std::to_string(p.edge_factor));
}

std::uint64_t kronecker_vertices(const KroneckerParams& p) { return 1ull << p.scale; }
std::uint64_t kronecker_edges(const KroneckerParams& p) {
  return kronecker_vertices(p) * static_cast<std::uint64_t>(p.edge_factor);
}

EdgeList kronecker_edges(const KroneckerParams& p, std::uint64_t first, std::uint64_t last) {
  // Initiator thresholds as 53-bit fixed point: A, A+B, A+B+C.
  constexpr double kA = 0.57, kB = 0.19, kC = 0.19;
  const IdScrambler scramble(p.scale, p.seed);
  EdgeList edges = p.scale <= 32 ? EdgeList::packed_ids() : EdgeList();  // ids below 2^scale
  edges.resize(last - first);
  std::uint64_t* const key = edges.packed() ? edges.keys().data() : nullptr;
  VertexId* const src_col = edges.packed() ? nullptr : edges.src().data();
  VertexId* const dst_col = edges.packed() ? nullptr : edges.dst().data();
#pragma omp parallel for schedule(static)
  for (std::uint64_t e = first; e < last; ++e) {
    // SplitMix64 keyed by (seed, e): every edge has its own stream, so the graph does not
    // depend on which rank generates which edges.
    std::uint64_t state = p.seed * 0xD1B54A32D192ED03ull ^ (e * 0x9E3779B97F4A7C15ull);
    splitmix64(state);
    std::uint64_t src = 0, dst = 0;
    for (int level = 0; level < p.scale; ++level) {
      const double u = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
      const std::uint64_t row = u >= kA + kB ? 1 : 0;                                   // C or D quadrant
      const std::uint64_t col = (u >= kA && u < kA + kB) || u >= kA + kB + kC ? 1 : 0;  // B or D
      src = (src << 1) | row;
      dst = (dst << 1) | col;
    }
    if (key) {
      key[e - first] = EdgeList::key(scramble(src), scramble(dst));
    } else {
      src_col[e - first] = scramble(src);
      dst_col[e - first] = scramble(dst);
    }
  }
  return edges;
}

EdgeList kronecker_share(const KroneckerParams& p, const Comm& comm) {
  const std::uint64_t m = kronecker_edges(p);
  const auto P = static_cast<std::uint64_t>(comm.size());
  const auto r = static_cast<std::uint64_t>(comm.rank());
  // 16 bytes an edge while generated (a packed list is 8, but the widest case decides).
  comm.agree([&] {
    require_memory(saturating_mul(m / P + 1, 16),
                   "kronecker scale " + std::to_string(p.scale) + ", edge factor " + std::to_string(p.edge_factor) + " (" +
                       std::to_string(m) + " edges)",
                   ErrorKind::usage);
  });
  return kronecker_edges(p, block_begin(m, r, P), block_begin(m, r + 1, P));
}

}  // namespace perron
