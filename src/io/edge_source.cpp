#include "perron/io/edge_source.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <sstream>

#include "perron/core/error.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/range.hpp"
#include "perron/io/binary_edges.hpp"
#include "perron/io/hdf5_file.hpp"
#include "perron/io/text_records.hpp"

namespace perron {
namespace {

// The first i in [0, n) for which bad(i) holds, or n: a parallel scan for the record an error
// message names (the first, whatever the thread count).
template <class Bad>
std::size_t first_where(std::size_t n, Bad bad) {
  std::size_t first = n;
#pragma omp parallel for schedule(static) reduction(min : first)
  for (std::size_t i = 0; i < n; ++i)
    if (bad(i)) first = std::min(first, i);
  return first;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

std::uint64_t to_uint(const std::string& path, const std::string& what, const std::string& token) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || p != token.data() + token.size())
    throw_input(path + ": " + what + " must be a non-negative integer, found '" + token + "'");
  return v;
}

bool is_number(const std::string& token) {
  double v = 0;
  auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  return ec == std::errc() && p == token.data() + token.size();
}

// A vertex count that a file or a flag declares, checked before anything is sized by it: each
// rank holds about count / P vertices, and a vertex costs at least its id, its CSR offset, its
// out-degree and the solver's vectors (about 48 bytes), whatever its edges.
void check_vertex_count(std::uint64_t count, const std::string& source, const Comm& comm) {
  constexpr std::uint64_t kBytesPerVertex = 48;
  const auto P = static_cast<std::uint64_t>(comm.size());
  comm.agree([&] {
    require_memory(saturating_mul(count / P + 1, kBytesPerVertex),
                   source + " declares " + std::to_string(count) + " vertices: the graph");
  });
}

// Ids [first, first + count) split evenly over ranks: this rank's share, to declare vertices.
std::vector<VertexId> declared_range(VertexId first, std::uint64_t count, const Comm& comm) {
  const auto P = static_cast<std::uint64_t>(comm.size());
  const auto r = static_cast<std::uint64_t>(comm.rank());
  const std::uint64_t b = block_begin(count, r, P), e = block_begin(count, r + 1, P);
  std::vector<VertexId> ids(e - b);
  for (std::uint64_t i = 0; i < ids.size(); ++i) ids[i] = first + b + i;
  return ids;
}

// Matrix Market coordinate (pattern | real | integer, general | symmetric), 1-based: the
// header's dimension declares the vertices 1..N; symmetric entries count both ways.
void load_matrix_market(const InputSpec& spec, const Comm& comm, EdgeShare& share) {
  const std::string& path = spec.input;
  std::string field, symmetry;
  comm.agree([&] {
    const std::string head = read_head(path, 1024);
    const std::string banner = head.substr(0, head.find('\n'));
    const auto w = split_words(banner);
    if (w.empty() || w[0] != "%%MatrixMarket")
      throw_input(path + ":1: missing Matrix Market header: expected '%%MatrixMarket matrix coordinate <field> <symmetry>'");
    if (w.size() < 5 || w[1] != "matrix" || w[2] != "coordinate")
      throw_input(path + ":1: only 'matrix coordinate' Matrix Market files hold graphs, found '" + banner + "'");
    field = w[3];
    symmetry = w[4];
    std::transform(field.begin(), field.end(), field.begin(), ::tolower);
    std::transform(symmetry.begin(), symmetry.end(), symmetry.begin(), ::tolower);
    if (field != "pattern" && field != "real" && field != "integer")
      throw_input(path + ":1: Matrix Market field '" + field + "' is not supported (pattern, real, integer)");
    if (symmetry != "general" && symmetry != "symmetric")
      throw_input(path + ":1: Matrix Market symmetry '" + symmetry + "' is not supported (general, symmetric)");
  });
  const std::vector<std::string> size_line = first_data_lines(path, 1, comm);
  std::uint64_t rows = 0, cols = 0, nnz = 0;
  comm.agree([&] {
    const auto w = size_line.empty() ? std::vector<std::string>{} : split_words(size_line[0]);
    if (w.size() != 3) throw_input(path + ": expected the size line 'rows columns entries' after the header");
    rows = to_uint(path, "the row count", w[0]);
    cols = to_uint(path, "the column count", w[1]);
    nnz = to_uint(path, "the entry count", w[2]);
    if (rows != cols)
      throw_input(path + ": a graph's adjacency matrix is square, but the header declares " + w[0] + " x " + w[1]);
  });
  TextSyntax s;
  s.header_lines = 1;
  s.max_fields = field == "pattern" ? 2 : 3;
  s.read_value = field != "pattern" && !spec.ignore_weights;
  s.min_id = 1;
  s.max_id = std::max<std::uint64_t>(rows, 1);
  s.id_name = "Matrix Market index";
  TextFile file = read_text(path, s, comm, spec.progress);
  comm.agree([&] {
    if (file.data_lines != nnz)
      throw_input(path + ": the header declares " + std::to_string(nnz) + " entries, but the file has " +
                  std::to_string(file.data_lines));
  });
  share.edges = std::move(file.records);
  share.weighted = file.valued;
  check_vertex_count(rows, path + " (Matrix Market size line)", comm);
  share.declared = declared_range(1, rows, comm);
  share.directed = symmetry == "general";
}

// METIS graph format: header 'n m [fmt [ncon]]', then line i lists the neighbours of vertex i
// (1-based), with a weight after each when fmt ends in 1. Every undirected edge appears in
// both endpoints' lines, so the arcs are read as they are.
void load_metis(const InputSpec& spec, const Comm& comm, EdgeShare& share) {
  const std::string& path = spec.input;
  const std::vector<std::string> header = first_data_lines(path, 1, comm);
  std::uint64_t n = 0, m = 0;
  TextSyntax s;
  s.format = LineFormat::metis;
  s.header_lines = 1;
  s.blank_lines_are_data = true;
  s.min_id = 1;
  s.id_name = "METIS neighbour";
  comm.agree([&] {
    const auto w = header.empty() ? std::vector<std::string>{} : split_words(header[0]);
    if (w.size() < 2 || w.size() > 4) throw_input(path + ": expected the METIS header 'n m [fmt [ncon]]'");
    n = to_uint(path, "the vertex count", w[0]);
    m = to_uint(path, "the edge count", w[1]);
    std::string fmt = w.size() > 2 ? w[2] : "0";
    if (fmt.size() > 3 || fmt.find_first_not_of("01") != std::string::npos)
      throw_input(path + ": METIS fmt must be up to three 0/1 digits, found '" + fmt + "'");
    fmt = std::string(3 - fmt.size(), '0') + fmt;
    const std::uint64_t ncon = w.size() > 3 ? to_uint(path, "ncon", w[3]) : 1;
    s.metis_edge_weights = fmt[2] == '1';
    s.metis_vertex_weights = (fmt[0] == '1' ? 1 : 0) + (fmt[1] == '1' ? static_cast<int>(ncon) : 0);
    s.read_value = !spec.ignore_weights;
    s.max_id = std::max<std::uint64_t>(n, 1);
  });
  TextFile file = read_text(path, s, comm);
  const std::uint64_t arcs = comm.allreduce<std::uint64_t>(file.records.size(), ReduceOp::sum);
  comm.agree([&] {
    if (file.data_lines != n)
      throw_input(path + ": the METIS header declares " + std::to_string(n) + " vertices, but the file has " +
                  std::to_string(file.data_lines) + " adjacency lines");
    if (arcs != 2 * m)
      throw_input(path + ": the METIS header declares " + std::to_string(m) + " edges (" + std::to_string(2 * m) +
                  " adjacency entries), but the file has " + std::to_string(arcs) + " entries");
  });
  share.edges = std::move(file.records);
  share.weighted = file.valued;
  check_vertex_count(n, path + " (METIS header)", comm);
  share.declared = declared_range(1, n, comm);
}

// HDF5 edge list: 1-D datasets src, dst (integers, same length), optional weight (floats) and
// vertices (declared ids) in a group; optional attributes directed, endpoints_declared.
void load_hdf5(const InputSpec& spec, const Comm& comm, EdgeShare& share) {
  const std::string& path = spec.input;
  std::string g = spec.hdf5_group;
  if (g.empty() || g[0] != '/') g = "/" + g;
  const std::string prefix = g == "/" ? "/" : g + "/";
  comm.agree([&] {
    require_readable_file(path, "input");
    const H5Reader file(path);
    if (g != "/" && !file.exists(g)) throw_input(path + ": no group " + g + " (set --hdf5-group)");
    for (const char* name : {"src", "dst"})
      if (!file.exists(prefix + name))
        throw_input(path + ": no dataset " + prefix + name + ": an HDF5 edge list needs datasets src and dst in group " + g);
    const auto src = file.info(prefix + "src"), dst = file.info(prefix + "dst");
    for (const auto& [name, info] : {std::pair{"src", src}, std::pair{"dst", dst}}) {
      if (info.dims.size() != 1 || !info.is_integer)
        throw_input(path + ": dataset " + prefix + name + " must be a 1-D integer array");
    }
    if (src.dims[0] != dst.dims[0])
      throw_input(path + ": datasets " + prefix + "src and " + prefix + "dst have different lengths (" +
                  std::to_string(src.dims[0]) + " and " + std::to_string(dst.dims[0]) + ")");
    const std::uint64_t total = src.dims[0];
    const bool has_weight = file.exists(prefix + "weight");
    if (has_weight) {
      const auto w = file.info(prefix + "weight");
      if (w.dims.size() != 1 || !(w.is_float || w.is_integer))
        throw_input(path + ": dataset " + prefix + "weight must be a 1-D number array");
      if (w.dims[0] != total)
        throw_input(path + ": dataset " + prefix + "weight has " + std::to_string(w.dims[0]) + " entries for " +
                    std::to_string(total) + " edges");
    }
    const auto P = static_cast<std::uint64_t>(comm.size());
    const auto r = static_cast<std::uint64_t>(comm.rank());
    const std::uint64_t b = block_begin(total, r, P), e = block_begin(total, r + 1, P);
    // Ids into `out` (elements [off, off + out.size()) of the dataset); a signed dataset is read
    // as int64 into the same storage and must hold no negative id.
    auto read_ids = [&](const std::string& name, const H5Reader::DatasetInfo& info, std::uint64_t off,
                        std::span<std::uint64_t> out) {
      if (!info.is_signed) return file.read_slice_into<std::uint64_t>(name, off, out);
      const std::span<std::int64_t> as_signed(reinterpret_cast<std::int64_t*>(out.data()), out.size());
      file.read_slice_into<std::int64_t>(name, off, as_signed);
      const std::size_t first_negative = first_where(out.size(), [&](std::size_t i) { return as_signed[i] < 0; });
      if (first_negative < out.size())
        throw_input(path + ": " + name + "[" + std::to_string(off + first_negative) +
                    "] = " + std::to_string(as_signed[first_negative]) + " is a negative vertex id");
    };
    // Read in blocks into buffers reused block after block, each block converted before the
    // next is read, so the three columns are never held beside the whole edge list.
    constexpr std::uint64_t kBlock = std::uint64_t{1} << 22;
    const bool read_weights = has_weight && !spec.ignore_weights;
    share.edges = EdgeList::packed_ids();
    if (comm.size() > 1) share.edges.reserve(EdgeList::exchange_room(e - b));
    share.edges.resize_for_overwrite(e - b);  // every edge is set below
    if (read_weights) {
      if (comm.size() > 1) share.edges.weights().reserve(EdgeList::exchange_room(e - b));
      share.edges.weights().resize(e - b);
    }
    const std::size_t buffer = static_cast<std::size_t>(std::min(kBlock, e - b));
    std::vector<std::uint64_t> s_ids(buffer), d_ids(buffer);
    for (std::uint64_t off = b; off < e; off += kBlock) {
      const auto cnt = static_cast<std::size_t>(std::min(kBlock, e - off));
      const std::size_t at = static_cast<std::size_t>(off - b);
      read_ids(prefix + "src", src, off, {s_ids.data(), cnt});
      read_ids(prefix + "dst", dst, off, {d_ids.data(), cnt});
      if (read_weights) {
        const std::span<double> w(share.edges.weights().data() + at, cnt);
        file.read_slice_into<double>(prefix + "weight", off, w);
        const std::size_t first_bad = first_where(cnt, [&](std::size_t i) { return !std::isfinite(w[i]) || w[i] < 0; });
        if (first_bad < cnt)
          throw_input(path + ": " + prefix + "weight[" + std::to_string(off + first_bad) + "] = " + std::to_string(w[first_bad]) +
                      " is not a finite number >= 0");
      }
      if (share.edges.packed()) {
        bool all_fit = true;
#pragma omp parallel for schedule(static) reduction(&& : all_fit)
        for (std::size_t i = 0; i < cnt; ++i) all_fit = all_fit && EdgeList::fits(s_ids[i], d_ids[i]);
        if (!all_fit) share.edges.widen();  // (once: the list stays wide)
      }
      if (share.edges.packed()) {
        std::uint64_t* const key = share.edges.keys().data() + at;
#pragma omp parallel for schedule(static)
        for (std::size_t i = 0; i < cnt; ++i) key[i] = EdgeList::key(s_ids[i], d_ids[i]);
      } else {
        std::copy_n(s_ids.begin(), cnt, share.edges.src().begin() + static_cast<std::ptrdiff_t>(at));
        std::copy_n(d_ids.begin(), cnt, share.edges.dst().begin() + static_cast<std::ptrdiff_t>(at));
      }
    }
    share.weighted = has_weight && !spec.ignore_weights;
    if (file.exists(prefix + "vertices")) {
      const auto v = file.info(prefix + "vertices");
      if (v.dims.size() != 1 || !v.is_integer) throw_input(path + ": dataset " + prefix + "vertices must be a 1-D integer array");
      const std::uint64_t nv = v.dims[0];
      const std::uint64_t vb = block_begin(nv, r, P), ve = block_begin(nv, r + 1, P);
      share.declared.resize(ve - vb);
      read_ids(prefix + "vertices", v, vb, share.declared);
    }
    const std::string obj = g;
    if (file.has_attribute(obj, "directed")) share.directed = file.attribute_int(obj, "directed") != 0;
    if (file.has_attribute(obj, "endpoints_declared"))
      share.endpoints_must_be_declared = file.attribute_int(obj, "endpoints_declared") != 0;
  });
}

// Text edge lists: a first line whose first field is not a number is a CSV header.
void load_text(const InputSpec& spec, const Comm& comm, EdgeShare& share) {
  int header = spec.header_lines;
  if (header < 0) {
    const std::vector<std::string> first = first_data_lines(spec.input, 1, comm);
    std::vector<std::string> w;
    if (!first.empty()) {
      std::string line = first[0];
      std::replace(line.begin(), line.end(), ',', ' ');
      w = split_words(line);
    }
    header = !w.empty() && !is_number(w[0]) && w[0][0] != '-' ? 1 : 0;
  }
  TextEdges text = read_text_edges(spec.input, comm, spec.ignore_weights, header, spec.progress);
  share.edges = std::move(text.edges);
  share.weighted = text.weighted;
}

}  // namespace

std::string detect_format(const std::string& path) {
  require_readable_file(path, "input");
  const std::string raw = read_head(path, 8);
  if (raw.size() >= 8 && std::memcmp(raw.data(), "\x89HDF\r\n\x1a\n", 8) == 0) return "hdf5";
  const std::string head = read_head(path, 4096);
  if (head.empty()) throw_input(path + " is empty: expected a graph");
  if (starts_with(head, "%%MatrixMarket")) return "mm";
  if (head.find("graph.") != std::string::npos && head.find(".vertex-file") != std::string::npos) return "evlp";
  for (unsigned char c : head)
    if (c == 0 || (c < 32 && c != '\n' && c != '\r' && c != '\t')) return "binary";
  return "text";
}

KroneckerParams parse_kronecker_spec(const std::string& spec) {
  KroneckerParams p;
  std::string rest = spec.substr(spec.find(':') == std::string::npos ? spec.size() : spec.find(':') + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw_usage("in input '" + spec + "': expected key=value, found '" + item + "'");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || ptr != value.data() + value.size())
      throw_usage("in input '" + spec + "': " + key + " must be a non-negative integer, found '" + value + "'");
    if (key == "scale")
      p.scale = static_cast<int>(std::min<std::uint64_t>(v, 1000));
    else if (key == "edge-factor")
      p.edge_factor = static_cast<int>(std::min<std::uint64_t>(v, 100000));
    else if (key == "seed")
      p.seed = v;
    else
      throw_usage("in input '" + spec + "': unknown key '" + key + "' (known: scale, edge-factor, seed)");
  }
  validate(p);
  return p;
}

LoadedInput load_edges(const InputSpec& spec, const Comm& comm) {
  LoadedInput loaded;
  EdgeShare& share = loaded.share;
  std::string format = spec.format;
  comm.agree([&] {  // every rank sees the same spec; rank 0 alone looks at the file
    if (spec.input.empty()) throw_usage("no input given: use --input FILE or --input kronecker:scale=S");
    if (format == "auto")
      format = starts_with(spec.input, "kronecker") ? "kronecker" : (comm.is_root() ? detect_format(spec.input) : "");
    if (format == "kronecker") loaded.kronecker = parse_kronecker_spec(spec.input);
    static const char* known[] = {"text", "mm", "metis", "evlp", "binary", "hdf5", "kronecker"};
    if (comm.is_root() &&
        std::find_if(std::begin(known), std::end(known), [&](const char* k) { return format == k; }) == std::end(known))
      throw_usage("unknown --format '" + format + "' (known: auto, text, mm, metis, evlp, binary, hdf5, kronecker)");
    if (spec.binary_weight != "none" && spec.binary_weight != "f32" && spec.binary_weight != "f64")
      throw_usage("--binary-weight must be none, f32 or f64, got '" + spec.binary_weight + "'");
  });
  format = comm.bcast_string(format, 0);
  loaded.format = format;
  if (format == "kronecker") {
    share.edges = kronecker_share(*loaded.kronecker, comm);
    share.dense_vertex_count = kronecker_vertices(*loaded.kronecker);
    share.directed = false;  // Graph500 edges are undirected
  } else if (format == "text") {
    load_text(spec, comm, share);
  } else if (format == "mm") {
    load_matrix_market(spec, comm, share);
  } else if (format == "metis") {
    load_metis(spec, comm, share);
  } else if (format == "hdf5") {
    load_hdf5(spec, comm, share);
  } else if (format == "binary") {
    if (spec.binary_vertices > 0) check_vertex_count(spec.binary_vertices, "--binary-vertices", comm);
    const BinaryLayout layout{spec.binary_id_width,
                              spec.binary_weight == "f32"   ? 32
                              : spec.binary_weight == "f64" ? 64
                                                            : 0,
                              spec.binary_vertices};
    share.edges = read_binary_edges(spec.input, layout, comm);
    share.weighted = layout.weight_width > 0 && !spec.ignore_weights;
    if (spec.ignore_weights) share.edges.clear_weights();
    if (spec.binary_vertices > 0) share.dense_vertex_count = spec.binary_vertices;
  } else {  // evlp
    EvlpProperties props;
    comm.agree([&] { props = read_evlp_properties(spec.input); });
    TextIds vertices = read_text_ids(props.vertex_file, comm, 1);
    share.declared.reserve(vertices.records.size());
    for (const IdValue& v : vertices.records) share.declared.push_back(v.id);
    // Graphalytics edge properties (e.g. SSSP weights) are not PageRank weights.
    TextEdges text = read_text_edges(props.edge_file, comm, /*ignore_weights=*/true);
    share.edges = std::move(text.edges);
    share.endpoints_must_be_declared = true;
    share.edge_source = props.edge_file;
    share.vertex_source = props.vertex_file;
    share.directed = props.directed;
    loaded.evlp = props;
  }
  if (!spec.vertices_file.empty()) {
    const TextIds extra = read_text_ids(spec.vertices_file, comm, 1);
    comm.agree([&] {
      if (share.dense_vertex_count)
        for (const IdValue& v : extra.records)
          if (v.id >= *share.dense_vertex_count)
            throw_input(spec.vertices_file + ": vertex " + std::to_string(v.id) + " is not below the declared vertex count " +
                        std::to_string(*share.dense_vertex_count));
    });
    for (const IdValue& v : extra.records) share.declared.push_back(v.id);
  }
  // Messages of the graph build name the input they are about.
  if (share.edge_source.empty()) share.edge_source = spec.input;
  if (share.vertex_source.empty() && !spec.vertices_file.empty()) share.vertex_source = spec.vertices_file;
  return loaded;
}

void write_hdf5_edges(H5Writer& file, const std::string& group, const EdgeShare& share, const std::string& source_format,
                      const Comm& comm) {
  std::string g = group.empty() ? "/" : group;
  if (g[0] != '/') g = "/" + g;
  const std::string prefix = g == "/" ? "/" : g + "/";
  if (g != "/") file.create_group(g);
  const std::uint64_t m = comm.allreduce<std::uint64_t>(share.edges.size(), ReduceOp::sum);
  const std::uint64_t offset = comm.exscan_sum<std::uint64_t>(share.edges.size());
  const EdgeList& edges = share.edges;
  if (edges.packed()) {  // unpacked one column at a time
    std::vector<std::uint64_t> column(edges.size());
    for (std::size_t i = 0; i < column.size(); ++i) column[i] = edges.keys()[i] >> 32;
    file.write_distributed<std::uint64_t>(prefix + "src", column, offset, m, true);
    for (std::size_t i = 0; i < column.size(); ++i) column[i] = edges.keys()[i] & 0xffffffffu;
    file.write_distributed<std::uint64_t>(prefix + "dst", column, offset, m, true);
  } else {
    file.write_distributed<std::uint64_t>(prefix + "src", edges.src(), offset, m, true);
    file.write_distributed<std::uint64_t>(prefix + "dst", edges.dst(), offset, m, true);
  }
  if (share.weighted) {
    std::vector<double> w(share.edges.size());
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = share.edges.weight(i);
    file.write_distributed<double>(prefix + "weight", w, offset, m, true);
  }
  std::vector<VertexId> declared = share.declared;
  if (share.dense_vertex_count) declared = declared_range(0, *share.dense_vertex_count, comm);
  const std::uint64_t nv = comm.allreduce<std::uint64_t>(declared.size(), ReduceOp::sum);
  if (nv > 0)
    file.write_distributed<VertexId>(prefix + "vertices", declared, comm.exscan_sum<std::uint64_t>(declared.size()), nv, true);
  file.set_attribute(g, "directed", share.directed);
  file.set_attribute(g, "endpoints_declared", share.endpoints_must_be_declared);
  file.set_attribute(g, "source_format", source_format);
}

}  // namespace perron
