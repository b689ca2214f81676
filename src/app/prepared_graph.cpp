#include "prepared_graph.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/range.hpp"
#include "perron/core/timer.hpp"
#include "perron/io/text_records.hpp"
#include "result_files.hpp"

namespace perron {
namespace {

constexpr const char* kGroup = "/graph";

// Sources as stored: 32-bit while every dense id fits (half the file), else 64-bit.
bool narrow_sources(std::uint64_t n) { return n <= std::uint64_t{std::numeric_limits<std::uint32_t>::max()} + 1; }

// This rank's in-edges as global dense source ids, in row order.
std::vector<GlobalId> global_sources(const DistGraph& g) {
  const LocalCsr& csr = g.in;
  std::vector<GlobalId> src(csr.edges());
#pragma omp parallel for schedule(static)
  for (std::size_t e = 0; e < src.size(); ++e) src[e] = g.global_id(csr.column[e]);
  return src;
}

// The facts a loader needs before it reads a slice, every rank reading them itself.
struct Header {
  std::uint64_t n = 0, m = 0;
  bool weighted = false;
  GraphStats stats;
};

Header read_header(const H5Reader& f, const std::string& path) {
  const std::string at = path + ": ";
  if (!f.exists(kGroup)) throw_input(at + "no /graph group: not a prepared graph (perron convert --to graph makes one)");
  if (!f.has_attribute(kGroup, "layout_version"))
    throw_input(at + "/graph has no layout_version attribute: not a prepared graph written by perron");
  const std::int64_t version = f.attribute_int(kGroup, "layout_version");
  if (version != kPreparedGraphLayout)
    throw_input(at + "/graph@layout_version is " + std::to_string(version) + ", this perron reads version " +
                std::to_string(kPreparedGraphLayout) + (version > kPreparedGraphLayout ? " (a newer perron wrote it)" : ""));
  Header h;
  h.n = f.attribute_uint(kGroup, "n");
  h.m = f.attribute_uint(kGroup, "m");
  h.weighted = f.attribute_int(kGroup, "weighted") != 0;
  h.stats.input_edges = f.attribute_uint(kGroup, "input_edges");
  h.stats.duplicates = f.attribute_uint(kGroup, "duplicates_collapsed");
  h.stats.undirected = f.attribute_int(kGroup, "undirected") != 0;
  h.stats.n = h.n;
  if (h.n == 0) throw_input(at + "/graph@n is 0: the graph is empty");
  auto expect = [&](const std::string& name, std::uint64_t size) {
    const std::string dataset = std::string(kGroup) + "/" + name;
    if (!f.exists(dataset)) throw_input(at + "missing dataset " + dataset);
    const H5Reader::DatasetInfo info = f.info(dataset);
    if (info.dims.size() != 1 || info.dims[0] != size)
      throw_input(at + dataset + " must be 1-D with " + std::to_string(size) + " elements (n = " + std::to_string(h.n) +
                  ", m = " + std::to_string(h.m) + "), found " +
                  (info.dims.size() == 1 ? std::to_string(info.dims[0]) + " elements"
                                         : std::to_string(info.dims.size()) + " dimensions"));
    if (name != "in_weights" && name != "out_weight" && !info.is_integer) throw_input(at + dataset + " must hold integers");
  };
  expect("vertex_id", h.n);
  expect("in_offsets", h.n + 1);
  expect("in_sources", h.m);
  expect("out_degree", h.n);
  if (h.weighted) expect("in_weights", h.m);
  return h;
}

// Every row's sources below n and increasing, every weight finite and >= 0 (one parallel pass);
// the first row at fault, in row order, named with the entry that fails.
template <class Src>
void check_rows(const std::string& path, std::span<const std::uint64_t> start, std::span<const Src> src,
                std::span<const double> weight, std::uint64_t n, GlobalId first_row, std::uint64_t first_edge) {
  const std::uint64_t rows = start.size() - 1;
  std::uint64_t bad_row = kMissingId;
  const auto row_ok = [&](std::uint64_t v) {
    for (std::uint64_t e = start[v]; e < start[v + 1]; ++e)
      if (src[e] >= n || (e > start[v] && src[e] <= src[e - 1]) ||
          (!weight.empty() && !(std::isfinite(weight[e]) && weight[e] >= 0)))
        return false;
    return true;
  };
#pragma omp parallel for schedule(dynamic, 1024) reduction(min : bad_row)
  for (std::uint64_t v = 0; v < rows; ++v)
    if (!row_ok(v)) bad_row = std::min<std::uint64_t>(bad_row, v);
  if (bad_row == kMissingId) return;
  for (std::uint64_t e = start[bad_row]; e < start[bad_row + 1]; ++e) {
    const std::uint64_t s = src[e];
    if (s >= n)
      throw_input(path + ": /graph/in_sources entry " + std::to_string(first_edge + e) + " is " + std::to_string(s) +
                  ", not a vertex (n = " + std::to_string(n) + ")");
    if (e > start[bad_row] && s <= src[e - 1])
      throw_input(path + ": /graph/in_sources must increase within a row, but entry " + std::to_string(first_edge + e) +
                  " (row " + std::to_string(first_row + bad_row) + ") is not above the one before it");
  }
  throw_input(path + ": /graph/in_weights must be finite and >= 0; row " + std::to_string(first_row + bad_row) +
              " has one that is not");
}

}  // namespace

void write_prepared_graph(H5Writer& file, const DistGraph& g, const PreparedSource& source, const Comm& comm) {
  const std::uint64_t n = g.stats.n, m = g.stats.m;
  const LocalCsr& csr = g.in;
  file.create_group(kGroup);
  const std::vector<VertexId> ids = g.ids.slice_ids();
  file.write_distributed<VertexId>("/graph/vertex_id", ids, g.ids.slice_begin(), n, true);
  // Offsets of this rank's rows in the global edge order; the last rank adds the end, m.
  const std::uint64_t first_edge = comm.exscan_sum<std::uint64_t>(csr.edges());
  std::vector<std::uint64_t> offsets(csr.rows + (comm.rank() + 1 == comm.size() ? 1 : 0));
  for (LocalId v = 0; v < csr.rows; ++v) offsets[v] = first_edge + csr.row_start[v];
  if (offsets.size() > csr.rows) offsets.back() = m;
  file.write_distributed<std::uint64_t>("/graph/in_offsets", offsets, g.first, n + 1, true);
  std::vector<GlobalId> sources = global_sources(g);
  if (narrow_sources(n)) {
    const std::vector<std::uint32_t> narrow(sources.begin(), sources.end());
    std::vector<GlobalId>().swap(sources);
    file.write_distributed<std::uint32_t>("/graph/in_sources", narrow, first_edge, m, true);
  } else {
    file.write_distributed<GlobalId>("/graph/in_sources", sources, first_edge, m, true);
  }
  if (g.weighted) {
    file.write_distributed<double>("/graph/in_weights", csr.weight, first_edge, m, true);
    file.write_distributed<double>("/graph/out_weight", g.out_weight, g.first, n, true);
  }
  file.write_distributed<std::uint64_t>("/graph/out_degree", g.out_degree_count, g.first, n, true);
  file.set_attribute(kGroup, "layout_version", kPreparedGraphLayout);
  write_graph_statistics(file, kGroup, g);
  file.set_attribute(kGroup, "undirected", g.stats.undirected);
  file.set_attribute(kGroup, "drop_self_loops", source.options.drop_self_loops);
  file.set_attribute(kGroup, "keep_duplicates", source.options.keep_duplicates);
  file.set_attribute(kGroup, "input_edges", g.stats.input_edges);
  file.set_attribute(kGroup, "max_in_degree", g.stats.max_in_degree);
  file.set_attribute(kGroup, "max_out_degree", g.stats.max_out_degree);
  file.set_attribute(kGroup, "source", source.input);
  file.set_attribute(kGroup, "source_format", source.format);
  file.set_attribute(kGroup, "fingerprint", source.fingerprint);
}

bool is_prepared_graph(const std::string& path, const Comm& comm) {
  bool prepared = false;
  comm.agree([&] {
    if (!comm.is_root()) return;
    if (path.rfind("kronecker:", 0) == 0 || inspect_path(path).directory) return;  // a generator, or for load_edges to refuse
    std::string head;
    try {
      head = read_head(path, 8);
    } catch (const Error&) {
      return;  // unreadable: load_edges says so in its own words
    }
    if (head != std::string("\x89HDF\r\n\x1a\n", 8)) return;
    // The group and its layout version: an HDF5 edge list may well sit in a group named graph.
    const H5Reader f(path);
    prepared = f.exists(kGroup) && f.has_attribute(kGroup, "layout_version");
  });
  return comm.bcast_value<int>(prepared ? 1 : 0, 0) == 1;
}

LoadedPrepared read_prepared_graph(const std::string& path, const Comm& comm) {
  const Stopwatch total;
  Header h;
  comm.agree([&] {
    require_readable_file(path, "prepared graph");
    h = read_header(H5Reader(path), path);
  });
  const auto P = static_cast<std::uint64_t>(comm.size()), r = static_cast<std::uint64_t>(comm.rank());
  double check_seconds = 0.0;
  // 1. The numbering: vertex ids in uniform runs, already sorted (checked, and checked across
  //    the runs' borders).
  const std::uint64_t ub = block_begin(h.n, r, P), ue = block_begin(h.n, r + 1, P);
  std::vector<VertexId> run;
  std::vector<std::uint64_t> uniform_offsets;
  comm.agree([&] {
    require_memory(saturating_mul(ue - ub, 16), path + " (vertex ids and offsets of this rank)");
    const H5Reader f(path);
    run = f.read_slice<VertexId>("/graph/vertex_id", ub, ue - ub);
    uniform_offsets = f.read_slice<std::uint64_t>("/graph/in_offsets", ub, ue - ub + 1);
    const Stopwatch watch;
    for (std::size_t i = 1; i < run.size(); ++i)
      if (run[i] <= run[i - 1])
        throw_input(path + ": /graph/vertex_id must increase (dense order is sorted order), but entry " + std::to_string(ub + i) +
                    " is " + std::to_string(run[i]) + " after " + std::to_string(run[i - 1]));
    for (std::size_t i = 1; i < uniform_offsets.size(); ++i)
      if (uniform_offsets[i] < uniform_offsets[i - 1] || uniform_offsets[i] > h.m)
        throw_input(path + ": /graph/in_offsets must rise from 0 to m = " + std::to_string(h.m) + ", but entry " +
                    std::to_string(ub + i) + " is " + std::to_string(uniform_offsets[i]) + " after " +
                    std::to_string(uniform_offsets[i - 1]));
    if (r == 0 && uniform_offsets.front() != 0)
      throw_input(path + ": /graph/in_offsets must start at 0, found " + std::to_string(uniform_offsets.front()));
    if (r + 1 == P && uniform_offsets.back() != h.m)
      throw_input(path + ": /graph/in_offsets must end at m = " + std::to_string(h.m) + ", found " +
                  std::to_string(uniform_offsets.back()));
    check_seconds += watch.seconds();
  });
  const std::vector<VertexId> firsts = comm.allgather<VertexId>(run.empty() ? 0 : run.front());
  const std::vector<std::uint64_t> sizes = comm.allgather<std::uint64_t>(run.size());
  comm.agree([&] {
    for (std::uint64_t q = r + 1; q < P && !run.empty(); ++q)
      if (sizes[q] > 0) {
        if (firsts[q] <= run.back())
          throw_input(path + ": /graph/vertex_id must increase, but entry " + std::to_string(block_begin(h.n, q, P)) +
                      " is not above the one before it");
        break;
      }
  });
  IdMap ids = IdMap::from_sorted_runs(std::move(run), comm);
  // 2. The partition pagerank's build chooses: balanced on in-degrees, as the offsets give them.
  std::vector<std::uint64_t> in_degree(ue - ub);
  for (std::size_t i = 0; i < in_degree.size(); ++i) in_degree[i] = uniform_offsets[i + 1] - uniform_offsets[i];
  std::vector<std::uint64_t>().swap(uniform_offsets);
  Partition partition = balance_on_in_degree(ub, in_degree, h.n, comm);
  std::vector<std::uint64_t>().swap(in_degree);
  comm.agree([&] {
    if (partition.count(comm.rank()) > std::numeric_limits<LocalId>::max())
      throw_input(path + ": a rank would own more than 2^32 vertices: use more ranks");
  });
  // 3. This rank's rows: offsets, sources (checked below n and increasing within a row) and
  //    weights.
  const GlobalId pb = partition.begin(comm.rank()), pe = partition.end(comm.rank());
  PreparedRows rows;
  comm.agree([&] {
    const H5Reader f(path);
    rows.start = f.read_slice<std::uint64_t>("/graph/in_offsets", pb, pe - pb + 1);
    const std::uint64_t e0 = rows.start.front(), e1 = rows.start.back();
    require_memory(saturating_mul(e1 - e0, h.weighted ? 16 : 8), path + " (in-edges of this rank)");
    const bool narrow = narrow_sources(h.n);
    if (narrow) {
      rows.src32.resize(e1 - e0);
      f.read_slice_into<std::uint32_t>("/graph/in_sources", e0, rows.src32);
    } else {
      rows.src.resize(e1 - e0);
      f.read_slice_into<GlobalId>("/graph/in_sources", e0, rows.src);
    }
    if (h.weighted) rows.weight = f.read_slice<double>("/graph/in_weights", e0, e1 - e0);
    const Stopwatch watch;
    for (std::uint64_t& s : rows.start) s -= e0;
    if (narrow)
      check_rows(path, rows.start, std::span<const std::uint32_t>(rows.src32), rows.weight, h.n, pb, e0);
    else
      check_rows(path, rows.start, std::span<const GlobalId>(rows.src), rows.weight, h.n, pb, e0);
    check_seconds += watch.seconds();
  });
  const double read_seconds = total.seconds();
  const Stopwatch assemble;
  Laps laps;
  LoadedPrepared out{assemble_graph(std::move(rows), std::move(ids), std::move(partition), h.stats, h.weighted, comm, &laps),
                     read_seconds, check_seconds, 0.0, std::move(laps)};
  out.assemble_seconds = assemble.seconds();
  // 4. The stored out-degrees against the edges (assemble_graph counted them), read only now:
  //    the build's peak memory is then over.
  comm.agree([&] {
    const DistGraph& g = out.graph;
    const std::vector<std::uint64_t> stored_degree = H5Reader(path).read_slice<std::uint64_t>("/graph/out_degree", pb, pe - pb);
    for (LocalId v = 0; v < g.rows(); ++v)
      if (g.out_degree_count[v] != stored_degree[v])
        throw_input(path + ": /graph/out_degree of vertex " + std::to_string(g.first + v) + " is " +
                    std::to_string(stored_degree[v]) + ", but " + std::to_string(g.out_degree_count[v]) + " edges leave it");
  });
  return out;
}

}  // namespace perron
