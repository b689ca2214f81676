#include "perron/io/binary_edges.hpp"

#include <bit>
#include <cstring>
#include <fstream>

#include "perron/core/error.hpp"
#include "perron/io/text_records.hpp"

namespace perron {

static_assert(std::endian::native == std::endian::little, "binary edge lists assume a little-endian host");

std::vector<RawEdge> read_binary_edges(const std::string& path, int id_width, const Comm& comm) {
  if (id_width != 32 && id_width != 64)
    throw_usage("--binary-id-width must be 32 or 64, got " + std::to_string(id_width));
  const std::uint64_t record = 2u * static_cast<std::uint64_t>(id_width / 8);
  std::vector<RawEdge> edges;
  comm.agree([&] {
    require_readable_file(path, "input");
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) throw_input("cannot open " + path);
    const auto size = static_cast<std::uint64_t>(in.tellg());
    if (size == 0) throw_input(path + " is empty: expected binary (src, dst) records");
    if (size % record != 0)
      throw_input(path + ": size " + std::to_string(size) + " bytes is not a multiple of the " +
                  std::to_string(record) + "-byte record of uint" + std::to_string(id_width) +
                  " (src, dst) pairs: truncated file or wrong --binary-id-width");
    const std::uint64_t total = size / record;
    const auto P = static_cast<std::uint64_t>(comm.size());
    const auto r = static_cast<std::uint64_t>(comm.rank());
    const std::uint64_t first = total / P * r + std::min(r, total % P);
    const std::uint64_t last = total / P * (r + 1) + std::min(r + 1, total % P);
    std::vector<char> raw((last - first) * record);
    in.seekg(static_cast<std::streamoff>(first * record));
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (static_cast<std::uint64_t>(in.gcount()) != raw.size()) throw_input("cannot read " + path + ": short read");
    edges.resize(last - first);
    for (std::uint64_t i = 0; i < edges.size(); ++i) {
      if (id_width == 64) {
        std::uint64_t ids[2];
        std::memcpy(ids, raw.data() + i * record, sizeof ids);
        edges[i] = RawEdge{ids[0], ids[1], 1.0};
      } else {
        std::uint32_t ids[2];
        std::memcpy(ids, raw.data() + i * record, sizeof ids);
        edges[i] = RawEdge{ids[0], ids[1], 1.0};
      }
    }
  });
  return edges;
}

void write_binary_edges(const std::string& path, const std::vector<RawEdge>& edges, const Comm& comm) {
  std::vector<std::uint64_t> pairs(2 * edges.size());
  for (std::size_t i = 0; i < edges.size(); ++i) {
    pairs[2 * i] = edges[i].src;
    pairs[2 * i + 1] = edges[i].dst;
  }
  const std::uint64_t bytes = pairs.size() * sizeof(std::uint64_t);
  const std::uint64_t offset = comm.exscan_sum(bytes);
  comm.write_file_at_all(path, offset, std::as_bytes(std::span<const std::uint64_t>(pairs)));
}

}  // namespace perron
