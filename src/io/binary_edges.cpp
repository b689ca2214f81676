#include "perron/io/binary_edges.hpp"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <exception>

#include "perron/core/error.hpp"
#include "perron/core/range.hpp"
#include "perron/io/text_records.hpp"
#include "posix_file.hpp"

namespace perron {

static_assert(std::endian::native == std::endian::little, "binary edge lists assume a little-endian host");

namespace {

template <class Id>
VertexId load_id(const char* p) {
  Id v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <class W>
double load_weight(const char* p) {
  W v;
  std::memcpy(&v, p, sizeof v);
  return static_cast<double>(v);
}

// Reads `bytes` at `offset` into `out` with one pread per thread: on one thread, copying the
// file out of the page cache took most of the reader's time. Throws (outside the parallel
// region) what a read threw, or on a short read.
void read_parallel(const PosixFile& file, char* out, std::uint64_t bytes, std::uint64_t offset) {
  std::uint64_t got = 0;
  std::exception_ptr failed;
#pragma omp parallel reduction(+ : got)
  {
    const auto t = static_cast<std::uint64_t>(omp_get_thread_num()), T = static_cast<std::uint64_t>(omp_get_num_threads());
    const std::uint64_t b = block_begin(bytes, t, T), e = block_begin(bytes, t + 1, T);
    try {
      got += file.read_at(out + b, e - b, offset + b);
    } catch (...) {
#pragma omp critical(perron_read_parallel)
      failed = std::current_exception();
    }
  }
  if (failed) std::rethrow_exception(failed);
  if (got != bytes) throw_input("cannot read " + file.path() + ": short read (the file shrank while being read?)");
}

}  // namespace

EdgeList read_binary_edges(const std::string& path, const BinaryLayout& layout, const Comm& comm) {
  if (layout.id_width != 32 && layout.id_width != 64)
    throw_usage("--binary-id-width must be 32 or 64, got " + std::to_string(layout.id_width));
  const std::uint64_t id_bytes = static_cast<std::uint64_t>(layout.id_width / 8);
  const std::uint64_t weight_bytes = static_cast<std::uint64_t>(layout.weight_width / 8);
  const std::uint64_t record = 2 * id_bytes + weight_bytes;
  const std::string shape = "(src, dst" + std::string(weight_bytes ? ", weight" : "") + ") records of " + std::to_string(record) +
                            " bytes (uint" + std::to_string(layout.id_width) + " ids" +
                            (weight_bytes ? ", float" + std::to_string(layout.weight_width) + " weight" : "") + ")";
  EdgeList edges = EdgeList::packed_ids();
  comm.agree([&] {
    require_readable_file(path, "input");
    const PosixFile in(path);
    const std::uint64_t size = in.size();
    if (size == 0) throw_input(path + " is empty: expected binary " + shape);
    if (size % record != 0)
      throw_input(path + ": size " + std::to_string(size) + " bytes is not a multiple of the " + std::to_string(record) +
                  "-byte record of " + shape + ": truncated file, or wrong --binary-id-width / --binary-weight");
    const std::uint64_t total = size / record;
    const auto P = static_cast<std::uint64_t>(comm.size());
    const auto r = static_cast<std::uint64_t>(comm.rank());
    const std::uint64_t first = block_begin(total, r, P), last = block_begin(total, r + 1, P);
    // Read in blocks of at most kBlockRecords records, each converted before the next is
    // read, so the file's bytes are never held beside the whole edge list.
    constexpr std::uint64_t kBlockRecords = std::uint64_t{1} << 20;
    if (P > 1) edges.reserve(EdgeList::exchange_room(last - first));
    edges.resize_for_overwrite(last - first);  // every edge is set below
    std::vector<char> raw(std::min(last - first, kBlockRecords) * record);
    const auto decode = [&](std::uint64_t k) {
      const char* p = raw.data() + k * record;
      RawEdge e;
      e.src = id_bytes == 8 ? load_id<std::uint64_t>(p) : load_id<std::uint32_t>(p);
      e.dst = id_bytes == 8 ? load_id<std::uint64_t>(p + id_bytes) : load_id<std::uint32_t>(p + id_bytes);
      e.weight = weight_bytes == 0   ? 1.0
                 : weight_bytes == 4 ? load_weight<float>(p + 2 * id_bytes)
                                     : load_weight<double>(p + 2 * id_bytes);
      return e;
    };
    const auto outside = [&](const RawEdge& e) {
      return layout.vertices > 0 && (e.src >= layout.vertices || e.dst >= layout.vertices);
    };
    for (std::uint64_t block = 0; block < edges.size(); block += kBlockRecords) {
      const std::uint64_t count = std::min(kBlockRecords, edges.size() - block);
      read_parallel(in, raw.data(), count * record, (first + block) * record);
      // One parallel pass finds the first bad record (the one the error names, whatever the
      // thread count), whether every id fits a packed list and whether a weight differs from
      // 1; the list widens or takes a weight column once, before the records are set in
      // parallel (EdgeList::set then changes no column's shape).
      std::uint64_t bad = count;
      bool all_fit = true, weighted = false;
#pragma omp parallel for schedule(static) reduction(min : bad) reduction(&& : all_fit) reduction(|| : weighted)
      for (std::uint64_t k = 0; k < count; ++k) {
        const RawEdge e = decode(k);
        if (outside(e) || !std::isfinite(e.weight) || e.weight < 0) bad = std::min(bad, k);
        all_fit = all_fit && EdgeList::fits(e.src, e.dst);
        weighted = weighted || e.weight != 1.0;
      }
      if (bad < count) {
        const RawEdge e = decode(bad);
        const std::string at = path + ": record " + std::to_string(first + block + bad) + " (byte " +
                               std::to_string((first + block + bad) * record) + ")";
        if (outside(e))
          throw_input(at + ": id " + std::to_string(std::max(e.src, e.dst)) + " is not below the declared vertex count " +
                      std::to_string(layout.vertices));
        throw_input(at + ": weight " + std::to_string(e.weight) + " is not a finite number >= 0");
      }
      if (!all_fit) edges.widen();
      if (weighted && !edges.has_weights()) edges.weights().assign(edges.size(), 1.0);
#pragma omp parallel for schedule(static)
      for (std::uint64_t k = 0; k < count; ++k) edges.set(block + k, decode(k));
    }
  });
  return edges;
}

void write_binary_edges(const std::string& path, const EdgeList& edges, const Comm& comm) {
  std::vector<std::uint64_t> pairs(2 * edges.size());
  for (std::size_t i = 0; i < edges.size(); ++i) {
    const RawEdge e = edges[i];
    pairs[2 * i] = e.src;
    pairs[2 * i + 1] = e.dst;
  }
  const std::uint64_t bytes = pairs.size() * sizeof(std::uint64_t);
  const std::uint64_t offset = comm.exscan_sum(bytes);
  comm.write_file_at_all(path, offset, std::as_bytes(std::span<const std::uint64_t>(pairs)));
}

}  // namespace perron
