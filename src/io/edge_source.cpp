#include "perron/io/edge_source.hpp"

#include <charconv>
#include <fstream>

#include "perron/core/error.hpp"
#include "perron/io/binary_edges.hpp"
#include "perron/io/text_records.hpp"

namespace perron {
namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// Text or binary, from the first 4 KiB: a NUL byte or other control bytes mean binary.
std::string sniff_format(const std::string& path) {
  require_readable_file(path, "input");
  std::ifstream in(path, std::ios::binary);
  char head[4096];
  in.read(head, sizeof head);
  const auto got = static_cast<std::size_t>(in.gcount());
  if (got == 0) throw_input(path + " is empty: expected an edge list");
  const std::string_view text(head, got);
  if (starts_with(std::string(text.substr(0, 40)), "%%MatrixMarket"))
    throw_input(path + " is a Matrix Market file, which this version does not read yet; use a text edge list");
  if (text.find("graph.") != std::string_view::npos && text.find(".vertex-file") != std::string_view::npos)
    return "evlp";
  for (unsigned char c : text)
    if (c == 0 || (c < 32 && c != '\n' && c != '\r' && c != '\t')) return "binary";
  return "text";
}

}  // namespace

KroneckerParams parse_kronecker_spec(const std::string& spec) {
  KroneckerParams p;
  std::string rest = spec.substr(spec.find(':') == std::string::npos ? spec.size() : spec.find(':') + 1);
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string item = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      throw_usage("in input '" + spec + "': expected key=value, found '" + item + "'");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || ptr != value.data() + value.size())
      throw_usage("in input '" + spec + "': " + key + " must be a non-negative integer, found '" + value + "'");
    if (key == "scale") p.scale = static_cast<int>(std::min<std::uint64_t>(v, 1000));
    else if (key == "edge-factor") p.edge_factor = static_cast<int>(std::min<std::uint64_t>(v, 100000));
    else if (key == "seed") p.seed = v;
    else throw_usage("in input '" + spec + "': unknown key '" + key + "' (known: scale, edge-factor, seed)");
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
      format = starts_with(spec.input, "kronecker") ? "kronecker" : (comm.is_root() ? sniff_format(spec.input) : "");
    if (format == "kronecker") loaded.kronecker = parse_kronecker_spec(spec.input);
  });
  format = comm.bcast_string(format, 0);
  loaded.format = format;
  if (format == "kronecker") {
    share.edges = kronecker_share(*loaded.kronecker, comm);
    share.dense_vertex_count = kronecker_vertices(*loaded.kronecker);
    share.directed = false;  // Graph500 edges are undirected
  } else if (format == "text") {
    TextEdges text = read_text_edges(spec.input, comm, spec.ignore_weights);
    share.edges = std::move(text.edges);
    share.weighted = text.weighted;
  } else if (format == "binary") {
    share.edges = read_binary_edges(spec.input, spec.binary_id_width, comm);
  } else if (format == "evlp") {
    EvlpProperties props;
    comm.agree([&] { props = read_evlp_properties(spec.input); });
    TextIds vertices = read_text_ids(props.vertex_file, comm, 1);
    share.declared.reserve(vertices.records.size());
    for (const IdValue& v : vertices.records) share.declared.push_back(v.id);
    // Graphalytics edge properties (e.g. SSSP weights) are not PageRank weights.
    TextEdges text = read_text_edges(props.edge_file, comm, /*ignore_weights=*/true);
    share.edges = std::move(text.edges);
    share.endpoints_must_be_declared = true;
    share.directed = props.directed;
    loaded.evlp = props;
  } else {
    comm.agree([&] { throw_usage("unknown --format '" + format + "' (known: auto, text, evlp, binary, kronecker)"); });
  }
  return loaded;
}

}  // namespace perron
