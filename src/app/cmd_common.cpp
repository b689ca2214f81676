#include <cblas.h>
#include <fmt/core.h>
#include <omp.h>
#include <sched.h>

#include <algorithm>
#include <cstdlib>

#include "commands.hpp"
#include "perron/core/error.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/timer.hpp"
#include "perron/io/hdf5_file.hpp"
#include "prepared_graph.hpp"

namespace perron {

Command::Command(CLI::App& parent, std::vector<std::string> section, const std::string& help)
    : app_(parent.add_subcommand(section.back(), help)), section_(std::move(section)) {
  options_ = std::make_unique<OptionSet>(*app_, section_);
}

Provenance Command::provenance_of(const RunContext& context, std::vector<std::pair<std::string, double>> timings,
                                  std::vector<std::pair<std::string, std::uint64_t>> memory) {
  return {context.command_line, options().effective_toml(), context.start_time, std::move(timings), std::move(memory)};
}

void add_input_options(OptionSet& options, InputConfig& config) {
  InputSpec& in = config.spec;
  options.add(
      "-i,--input", in.input,
      "graph: a file (format from its content), NAME.properties (Graphalytics), or kronecker:scale=S[,edge-factor=F,seed=X]");
  options
      .add("--format", in.format,
           "input format: auto (from the content), text, mm, metis, evlp, binary, hdf5, kronecker, graph (prepared)")
      ->check(CLI::IsMember({"auto", "text", "mm", "metis", "evlp", "binary", "hdf5", "kronecker", "graph"}));
  options.add("--header-lines", in.header_lines, "text: non-comment lines before the edges (-1: detect a CSV header)");
  options.add("--binary-id-width", in.binary_id_width, "binary: bits per id, 32 or 64")->check(CLI::IsMember({32, 64}));
  options.add("--binary-weight", in.binary_weight, "binary: weight after each (src, dst): none, f32 or f64")
      ->check(CLI::IsMember({"none", "f32", "f64"}));
  options.add("--binary-vertices", in.binary_vertices, "binary: declare vertices 0..N-1 (0: the ids in edges)");
  options.add("--hdf5-group", in.hdf5_group, "HDF5 edge list: the group holding src, dst[, weight][, vertices]");
  options.add("--vertices", in.vertices_file, "file of vertex ids (one per line) to add to the vertex set");
  options.add_flag("--ignore-weights", in.ignore_weights, "read a weight column but treat every edge as weight 1");
  options.add_flag("--undirected", config.graph.undirected, "count every edge in both directions");
  options.add_flag("--drop-self-loops", config.graph.drop_self_loops, "remove edges u -> u (default: keep them)");
  options.add_flag("--keep-duplicates", config.graph.keep_duplicates,
                   "keep repeated edges as multi-edges (their weights add up); default: collapse them into one");
  options.add("--threads", config.threads, "OpenMP threads per rank (0: OMP_NUM_THREADS, else the node's cores / its ranks)")
      ->check(CLI::NonNegativeNumber);
}

namespace {
constexpr int kMaxTile = 8192;
}  // namespace

void add_score_options(OptionSet& o, ScoreConfig& c, const std::string& input_help) {
  o.add("-i,--input", c.input, input_help);
  o.add("--q", c.q, "dataset of the queries in the input");
  o.add("--k", c.k, "dataset of the keys");
  o.add("--mask", c.mask,
        "dataset of a mask: boolean (true = attend) or float (added to the scores); "
        "[Nq, Nk] or [batch|1, heads|1, Nq, Nk]");
  o.add_flag("--causal", c.causal,
             "query i sees keys j <= i (upper-left aligned); default: the input's root attribute 'causal', else off");
  o.add_flag("--no-causal", c.no_causal, "every query sees every key, whatever the input's attribute 'causal' says");
  o.add("--window", c.window, "sliding window W > 0: i - W < j <= i with --causal, |i - j| < W without (default: none)")
      ->check(CLI::NonNegativeNumber);
  o.add("--scale", c.scale, "score scale (0: the input's root attribute 'scale', else 1/sqrt(d))")->check(CLI::NonNegativeNumber);
  o.add("--softcap", c.softcap, "c > 0: score -> c * tanh(score / c), before masking (0: none)")->check(CLI::NonNegativeNumber);
  // A tile's scores are tile-q x tile-k floats per thread: 256 x 512 is 512 kB; the bound keeps
  // a typo from asking for gigabytes.
  o.add("--tile-q", c.tile_q, "query rows per tile (1-8192)")->check(CLI::Range(1, kMaxTile));
  o.add("--tile-k", c.tile_k, "key rows per tile (1-8192)")->check(CLI::Range(1, kMaxTile));
  o.add("--threads", c.threads, "OpenMP threads per rank (0: OMP_NUM_THREADS, else the node's cores / its ranks)")
      ->check(CLI::NonNegativeNumber);
}

void apply_input_attributes(const OptionSet& options, ScoreConfig& c, const Comm& comm) {
  // Rank 0 reads the root attributes; an unreadable input is left for the loader to name.
  double said[2] = {-1.0, 0.0};  // causal (-1: not said, else 0 or 1), scale (0: not said)
  if (comm.is_root()) {
    try {
      const H5Reader file(c.input);
      for (const H5Reader::Attribute& a : file.attributes("/")) {
        const bool integer =
            a.kind == H5Reader::Attribute::Kind::integer || a.kind == H5Reader::Attribute::Kind::unsigned_integer;
        if (a.name == "causal" && integer) said[0] = (a.i != 0 || a.u != 0) ? 1.0 : 0.0;
        if (a.name == "scale" && a.kind == H5Reader::Attribute::Kind::real && a.d > 0.0) said[1] = a.d;
      }
    } catch (const Error&) {}
  }
  said[0] = comm.bcast_value(said[0], 0);
  said[1] = comm.bcast_value(said[1], 0);
  if (said[0] >= 0.0) {
    const bool file_causal = said[0] > 0.0;
    const bool flagged = options.given("causal") || options.given("no-causal");
    if (!flagged) c.causal = file_causal;
    if (flagged && c.causal != file_causal && comm.is_root())
      fmt::print(stderr, "perron: warning: {} says causal = {}; {} overrides it\n", c.input, file_causal,
                 c.causal ? "--causal" : "--no-causal");
  }
  if (said[1] > 0.0) {
    if (!options.given("scale")) c.scale = said[1];
    if (options.given("scale") && c.scale != said[1] && comm.is_root())
      fmt::print(stderr, "perron: warning: {} says scale = {}; --scale {} overrides it\n", c.input, said[1], c.scale);
  }
}

void check_score_options(const OptionSet& options, const ScoreConfig& c, const Comm& comm) {
  comm.agree([&] {
    if (c.input.empty()) throw_usage("needs --input FILE.h5");
    if (c.causal && c.no_causal) throw_usage("give --causal or --no-causal, not both");
    if ((options.given("window") && c.window <= 0) || c.window < 0)
      throw_usage("--window must be a positive number of positions, got " + std::to_string(c.window));
    if (c.scale < 0 || c.softcap < 0) throw_usage("--scale and --softcap must be >= 0");
    // Each OpenMP thread holds one tile of scores (float64 at most): checked here, because an
    // allocation that fails inside a parallel region cannot be reported, only abort.
    require_memory(
        saturating_mul(saturating_mul(static_cast<std::uint64_t>(omp_get_max_threads()), static_cast<std::uint64_t>(c.tile_q)),
                       saturating_mul(static_cast<std::uint64_t>(c.tile_k), sizeof(double))),
        "--tile-q x --tile-k scores for every thread", ErrorKind::usage);
  });
}

void apply_threads(int threads, const Comm& comm) {
  comm.agree([&] {
    if (threads < 0) throw_usage("--threads must be >= 0");
  });
  // OpenMP owns the cores: the attention kernels call BLAS inside their parallel regions, one
  // tile per thread, so BLAS itself runs on one thread.
  openblas_set_num_threads(1);
  if (threads > 0) {
    omp_set_num_threads(threads);
    return;
  }
  // No explicit choice: share this process's cores among the ranks on the node. Spinning
  // OpenMP threads of several ranks on the same cores slow a step down by orders of magnitude.
  const int ranks_here = comm.ranks_on_node();
  if (std::getenv("OMP_NUM_THREADS") != nullptr) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  int cores = omp_get_num_procs();
  if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
  // A rank bound to its own cores sees only those; an unbound rank sees the whole node.
  const bool bound = cores < omp_get_num_procs();
  omp_set_num_threads(std::max(1, bound ? cores : cores / ranks_here));
}

LoadedGraph load_graph(InputConfig config, const Comm& comm, const ReadProgress& progress) {
  LoadedGraph out;
  out.rss_before = current_rss_bytes();
  if (config.spec.format == "graph" || (config.spec.format == "auto" && is_prepared_graph(config.spec.input, comm))) {
    // A prepared graph is built already: options that shape a build have nothing to act on.
    comm.agree([&] {
      const GraphOptions& g = config.graph;
      const char* shaping = g.undirected                         ? "--undirected"
                            : g.drop_self_loops                  ? "--drop-self-loops"
                            : g.keep_duplicates                  ? "--keep-duplicates"
                            : config.spec.ignore_weights         ? "--ignore-weights"
                            : !config.spec.vertices_file.empty() ? "--vertices"
                                                                 : nullptr;
      if (shaping)
        throw_usage(std::string(shaping) + ": " + config.spec.input +
                    " is a prepared graph, built already; give it to perron convert --to graph when preparing it");
    });
    LoadedPrepared prepared = read_prepared_graph(config.spec.input, comm);
    out.graph = std::move(prepared.graph);
    out.meta.format = "graph";
    out.load_seconds = prepared.read_seconds;
    out.partition_seconds = prepared.assemble_seconds;
    out.check_seconds = prepared.check_seconds;
    out.partition_laps = std::move(prepared.assemble_laps);
    out.build_peak_rss = peak_rss_bytes();
    out.rss_after_build = current_rss_bytes();
    out.graph_bytes = out.graph.bytes();
    return out;
  }
  Stopwatch watch;
  config.spec.progress = progress;
  out.meta = load_edges(config.spec, comm);
  out.load_seconds = watch.seconds();
  watch.restart();
  out.graph = build_graph(std::move(out.meta.share), config.graph, comm, &out.partition_laps);
  // The build's edge lists and exchange buffers are freed by now, but the allocator keeps
  // their pages: hand them back, or the whole run holds them (on 8 ranks, 1.5-4x the graph).
  return_free_memory();
  out.partition_seconds = watch.seconds();
  out.build_peak_rss = peak_rss_bytes();
  out.rss_after_build = current_rss_bytes();
  out.graph_bytes = out.graph.bytes();
  return out;
}

}  // namespace perron
