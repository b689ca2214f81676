#pragma once
// Decoders for the HDF5 filters perron's edge lists use, so that the chunks of a dataset can
// be decoded on every thread at once: the parallel HDF5 build is not thread-safe, and its own
// filter pipeline runs on the calling thread only. Private to io. Each decoder reads the
// filter's format as the HDF5 library (1.8–1.14) writes it and returns false, never throws,
// on input that does not decode to exactly the expected size: the caller then falls back to
// the library, which reports the damage.
//
// Buffers handed to a decoder as input carry kInputSlack readable bytes past their end (any
// value), so that the bit unpacker may load whole 64-bit words.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace perron::chunk {

inline constexpr std::size_t kInputSlack = 16;

// HDF5 filter identifiers (H5Zpublic.h) of the filters decoded here.
inline constexpr unsigned kDeflate = 1, kShuffle = 2, kScaleOffset = 6;
// Scale-offset's chunk header: minbits (4 bytes), the minimum's size (1), the minimum (8), reserved.
inline constexpr std::size_t kScaleOffsetHeader = 21;

struct Filter {
  unsigned id = 0;
  std::vector<unsigned> cd;  // the filter's client data as stored in the dataset's pipeline
};

// Whether every filter of `pipeline` is one decoded here, with parameters it handles.
bool decodable(const std::vector<Filter>& pipeline);

// Undoes `pipeline` (filters in the order they were applied on writing) on one chunk: its
// bytes as stored (followed by kInputSlack readable bytes) become exactly out.size() bytes in
// `out`. Bit i of `skipped` set means filter i was not applied to this chunk (HDF5's filter
// mask). The scratch buffers hold the stages in between, and are reused from call to call.
bool decode_chunk(const std::vector<Filter>& pipeline, unsigned skipped, std::span<const std::byte> stored,
                  std::span<std::byte> out, std::vector<std::byte>& scratch_a, std::vector<std::byte>& scratch_b);

// The single filters, exposed for tests.
// A zlib stream (HDF5 "deflate", RFC 1950) that inflates to at most out.size() bytes.
bool inflate_into(std::span<const std::byte> in, std::span<std::byte> out, std::size_t& produced);
// HDF5 "shuffle": byte b of element i was stored at b * n + i (n = whole elements); trailing
// bytes that make no whole element are stored as they are.
void unshuffle(std::span<const std::byte> in, std::span<std::byte> out, std::size_t elem_size);
// HDF5 "scaleoffset" for integers: each value stored as value − min in `minbits` bits.
bool scaleoffset_decode(std::span<const std::byte> in, std::span<std::byte> out, const std::vector<unsigned>& cd);

}  // namespace perron::chunk
