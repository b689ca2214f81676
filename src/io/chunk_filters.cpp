#include "chunk_filters.hpp"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cstring>

namespace perron::chunk {

static_assert(std::endian::native == std::endian::little, "the chunk decoders assume a little-endian host");

namespace {

// Parameters of HDF5's scale-offset filter (H5Zscaleoffset.c: H5Z_SCALEOFFSET_PARM_*).
constexpr std::size_t kSoParams = 20;
constexpr unsigned kSoScaleInt = 2;  // H5Z_SO_INT
constexpr std::size_t kSoType = 0, kSoElements = 2, kSoClass = 3, kSoSize = 4, kSoOrder = 6, kSoFillDefined = 7, kSoFill = 8;

bool scaleoffset_supported(const std::vector<unsigned>& cd) {
  if (cd.size() != kSoParams || cd[kSoType] != kSoScaleInt || cd[kSoClass] != 0 || cd[kSoOrder] != 0) return false;
  const unsigned size = cd[kSoSize];
  return size == 1 || size == 2 || size == 4 || size == 8;
}

std::uint64_t load_le(const std::byte* p, std::size_t bytes) {
  std::uint64_t v = 0;
  std::memcpy(&v, p, bytes);  // little-endian host: the low `bytes` bytes
  return v;
}

// Value i of a bit stream that holds each value in `bits` bits, most significant bit first,
// the stream filling each byte from its most significant bit (H5Z__scaleoffset_compress):
// a big-endian load of the 8 bytes at bit i·bits, shifted; a ninth byte when the value
// straddles it. Needs 9 readable bytes from the value's first byte (the input slack).
std::uint64_t unpack_bits(const std::byte* stream, std::uint64_t i, unsigned bits) {
  const std::uint64_t bit = i * bits;
  const std::byte* p = stream + (bit >> 3);
  const unsigned shift = static_cast<unsigned>(bit & 7);
  std::uint64_t word = __builtin_bswap64(load_le(p, 8)) << shift;
  if (shift + bits > 64) word |= static_cast<std::uint64_t>(p[8]) >> (8 - shift);
  return word >> (64 - bits);
}

// The n values of a scale-offset stream into `out`: code + minimum, or the fill value for the
// all-ones code when one is defined. Everything the loop reads is a local: `out` may alias
// the stream as far as the compiler knows (std::byte), and members would be reloaded on
// every store.
template <class U>
void unpack_values(const std::byte* stream, std::uint64_t n, unsigned bits, std::uint64_t minval, bool fill_defined,
                   std::uint64_t fill, U* out) {
  if (bits == 0) {
    std::fill_n(out, n, static_cast<U>(fill_defined ? fill : minval));
    return;
  }
  const std::uint64_t all_ones = (std::uint64_t{1} << bits) - 1;  // bits < 64 here
  if (fill_defined) {
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::uint64_t code = unpack_bits(stream, i, bits);
      out[i] = static_cast<U>(code == all_ones ? fill : code + minval);
    }
  } else {
    for (std::uint64_t i = 0; i < n; ++i) out[i] = static_cast<U>(unpack_bits(stream, i, bits) + minval);
  }
}

// One stage's output buffer, sized with the slack the next stage may read past its end.
std::span<std::byte> sized(std::vector<std::byte>& buf, std::size_t bytes) {
  buf.resize(bytes + kInputSlack);
  return {buf.data(), bytes};
}

}  // namespace

bool decodable(const std::vector<Filter>& pipeline) {
  for (const Filter& f : pipeline) {
    if (f.id == kDeflate) continue;
    if (f.id == kShuffle && !f.cd.empty() && f.cd[0] > 0) continue;
    if (f.id == kScaleOffset && scaleoffset_supported(f.cd)) continue;
    return false;
  }
  return true;
}

// zlib's one-shot inflate of a whole stream that fits in `out`.
bool inflate_into(std::span<const std::byte> in, std::span<std::byte> out, std::size_t& produced) {
  uLongf out_len = static_cast<uLongf>(out.size());
  uLong in_len = static_cast<uLong>(in.size());
  const int rc = uncompress2(reinterpret_cast<Bytef*>(out.data()), &out_len, reinterpret_cast<const Bytef*>(in.data()), &in_len);
  produced = out_len;
  return rc == Z_OK;
}

// Shuffle stores byte b of every element together (b·n + i); this is the transpose back.
// Each output element is assembled from `size` streams read in step, which the compiler keeps
// in registers for the common sizes 4 and 8.
void unshuffle(std::span<const std::byte> in, std::span<std::byte> out, std::size_t elem_size) {
  const std::size_t n = in.size() / elem_size;
  const std::byte* src = in.data();
  std::byte* dst = out.data();
  auto transpose = [&](auto size_tag) {
    constexpr std::size_t size = decltype(size_tag)::value;
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t b = 0; b < size; ++b) dst[i * size + b] = src[b * n + i];
  };
  switch (elem_size) {
    case 8:
      transpose(std::integral_constant<std::size_t, 8>{});
      break;
    case 4:
      transpose(std::integral_constant<std::size_t, 4>{});
      break;
    case 2:
      transpose(std::integral_constant<std::size_t, 2>{});
      break;
    default:
      for (std::size_t i = 0; i < n; ++i)
        for (std::size_t b = 0; b < elem_size; ++b) dst[i * elem_size + b] = src[b * n + i];
  }
  const std::size_t tail = n * elem_size;
  std::memcpy(dst + tail, src + tail, in.size() - tail);
}

// Scale-offset (HDF5 User's Guide 5.6.2, H5Zscaleoffset.c): a header of minbits and the
// chunk's minimum, then every value − minimum in minbits bits. minbits equal to the type's
// width means the values follow as they are; 0 means every value is the minimum. With a fill
// value defined, the all-ones code stands for it.
bool scaleoffset_decode(std::span<const std::byte> in, std::span<std::byte> out, const std::vector<unsigned>& cd) {
  if (!scaleoffset_supported(cd) || in.size() < kScaleOffsetHeader) return false;
  const std::size_t size = cd[kSoSize];
  const std::uint64_t n = cd[kSoElements];
  if (n * size != out.size()) return false;
  const auto minbits = static_cast<unsigned>(load_le(in.data(), 4));
  const auto minval_bytes = std::to_integer<std::size_t>(in[4]);
  if (minbits > 8 * size || minval_bytes > 8) return false;
  const std::uint64_t minval = load_le(in.data() + 5, minval_bytes);
  const std::span<const std::byte> payload = in.subspan(kScaleOffsetHeader);
  if (minbits == 8 * size) {
    if (payload.size() < out.size()) return false;
    std::memcpy(out.data(), payload.data(), out.size());
    return true;
  }
  if (payload.size() < (n * minbits + 7) / 8) return false;
  const bool fill_defined = cd[kSoFillDefined] != 0;
  const std::uint64_t fill = cd[kSoFill] | (static_cast<std::uint64_t>(cd[kSoFill + 1]) << 32);
  auto unpack = [&](auto* values) { unpack_values(payload.data(), n, minbits, minval, fill_defined, fill, values); };
  switch (size) {
    case 8:
      unpack(reinterpret_cast<std::uint64_t*>(out.data()));
      break;
    case 4:
      unpack(reinterpret_cast<std::uint32_t*>(out.data()));
      break;
    case 2:
      unpack(reinterpret_cast<std::uint16_t*>(out.data()));
      break;
    default:
      unpack(reinterpret_cast<std::uint8_t*>(out.data()));
      break;
  }
  return true;
}

bool decode_chunk(const std::vector<Filter>& pipeline, unsigned skipped, std::span<const std::byte> stored,
                  std::span<std::byte> out, std::vector<std::byte>& scratch_a, std::vector<std::byte>& scratch_b) {
  std::vector<std::size_t> stages;  // the filters applied to this chunk, last applied first
  for (std::size_t k = pipeline.size(); k-- > 0;)
    if (!(skipped & (1u << k))) stages.push_back(k);
  if (stages.empty()) {
    if (stored.size() != out.size()) return false;
    std::memcpy(out.data(), stored.data(), out.size());
    return true;
  }
  // Each stage reads `in` and writes the next scratch buffer; the last one writes `out`.
  std::span<const std::byte> in = stored;
  std::vector<std::byte>* next = &scratch_a;
  for (std::size_t s = 0; s < stages.size(); ++s) {
    const bool last = s + 1 == stages.size();
    const Filter& f = pipeline[stages[s]];
    std::span<std::byte> to;
    if (f.id == kDeflate) {
      // Inflates to the chunk's size when last; before a scale-offset stage its stream is
      // shorter, and never longer than the header and the values as they are.
      const std::size_t capacity = last ? out.size() : out.size() + kScaleOffsetHeader + 8;
      to = last ? out : sized(*next, capacity);
      std::size_t produced = 0;
      if (!inflate_into(in, to, produced) || (last && produced != out.size())) return false;
      to = to.first(produced);
    } else if (f.id == kShuffle) {
      if (last && in.size() != out.size()) return false;
      to = last ? out : sized(*next, in.size());
      unshuffle(in, to, f.cd[0]);
    } else if (f.id == kScaleOffset) {
      to = last ? out : sized(*next, out.size());
      if (!scaleoffset_decode(in, to, f.cd)) return false;
    } else {
      return false;
    }
    in = to;
    next = next == &scratch_a ? &scratch_b : &scratch_a;
  }
  return true;
}

}  // namespace perron::chunk
