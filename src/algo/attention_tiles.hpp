#pragma once
// The two tile products of FlashAttention in AVX-512 registers, used instead of cblas_sgemm
// when the CPU has AVX-512F (the BLAS path stays for every other CPU).
//
// Why not SGEMM: each cblas_sgemm call packs both of its operands again. In a tiled attention
// pass the same key tile meets every query tile, and the P tile exists only to be multiplied
// once, so those copies are pure overhead: about a tenth of a pass at d = 128 (perf, N = 8192,
// one thread). Here K and V are packed once per ring block (pack_keys, pack_values), Q and P
// are read where they lie, and the rescaling of O by e^(m_old − m_new) rides on the load of O.
//
// Register blocking (the micro-kernel of BLIS/GotoBLAS, van Zee & van de Geijn 2015): 12 rows ×
// 32 columns of the output in 24 zmm accumulators; each step over the inner dimension loads
// two 16-float vectors of the B operand and broadcasts one element per row, 24 FMAs against
// 14 loads, which keeps one FMA per cycle busy from L1/L2.
#include <cstddef>

namespace perron::kernels {

// Keys per packed panel: two 16-float vectors.
inline constexpr int kKeyPanel = 32;

// Whether this CPU runs the AVX-512 tile kernels (checked once).
bool register_tiles_available();

// Floats that pack_keys writes for `cols` keys of size d: ⌈cols/32⌉·32·d.
std::size_t packed_keys_size(int cols, int d);

// out[p][k][c] = K[32p + c][k] for a key tile K [cols][d] (row-major), zero past cols: each
// panel is the B operand of score_tile, one row of 32 keys per k.
void pack_keys(const float* k, int cols, int d, float* out);

// Floats that pack_values writes for `rows` value rows of size dv: rows·⌈dv/32⌉·32.
std::size_t packed_values_size(int rows, int dv);

// out[p][c][e] = V[c][32p + e] for V [rows][dv] (row-major), zero past dv: panel p (stride
// 32·rows floats) holds output columns 32p..32p+31 of every key, contiguous per key.
void pack_values(const float* v, int rows, int dv, float* out);

// S[r][c] = scale·Σ_k Q[r][k]·K[c][k] for a rows × cols tile; Q row-major [rows][d], K as
// pack_keys left it, S row-major [rows][cols].
void score_tile(const float* q, int rows, int d, const float* packed_k, int cols, float scale, float* s);

// O[r][e] ← rescale[r]·O[r][e] + Σ_c P[r][c]·V[c][e]; P [rows][cols] and O [rows][dv]
// row-major; V packed by pack_values, `packed_v` at key 0 of this tile in panel 0, panels
// `panel_stride` floats apart.
void value_tile(const float* p, int rows, int cols, const float* packed_v, std::size_t panel_stride, int dv, const float* rescale,
                float* o);

// max over row[0, cols) (−∞ for cols = 0), sixteen lanes at a time.
float row_max_avx512(const float* row, int cols);

}  // namespace perron::kernels
