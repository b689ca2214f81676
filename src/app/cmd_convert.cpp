// `perron convert`: any input to an HDF5 edge list (chunked, compressed, written
// collectively), so a graph parsed once loads fast ever after; or, with --to graph, to a
// prepared graph, built once, that any number of ranks loads without building.
#include <fmt/core.h>

#include "checkpoint.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"
#include "prepared_graph.hpp"

namespace perron {
namespace {

class ConvertCommand final : public Command {
 public:
  explicit ConvertCommand(CLI::App& parent)
      : Command(parent, {"convert"},
                "Convert any input graph to an HDF5 edge list (src, dst[, weight], vertices) or, with --to graph, a prepared "
                "graph") {
    add_input_options(options(), c_);
    options().add_choice("--to", to_, ChoiceTable<ConvertTarget>(kConvertTargets),
                         "edges (an HDF5 edge list, the default) or graph (the built graph: its CSR, loaded by slices "
                         "without a parse, a remap or an edge exchange)");
    options().add_required("-o,--output", output_, "HDF5 file to write");
    options().add("--group", group_, "group of the output file that holds the datasets");
    options().add_flag("--overwrite", overwrite_, "replace an existing output file");
  }

  void run(const RunContext& context, const Comm& comm) override {
    apply_threads(c_.threads, comm);
    AtomicOutput output(output_, overwrite_, comm, {c_.spec.input, c_.spec.vertices_file, options().config_path()});
    if (to_ == ConvertTarget::graph) return prepare(context, output, comm);
    const bool prepared = is_prepared_graph(c_.spec.input, comm);
    comm.agree([&] {
      if (prepared)
        throw_usage(c_.spec.input +
                    " is a prepared graph: convert writes an edge list from the input it was prepared from "
                    "(its /graph@source), or --to graph again");
    });
    const Stopwatch watch;
    LoadedInput in = load_edges(c_.spec, comm);
    EdgeShare& share = in.share;
    // What --undirected and --drop-self-loops say is applied now, so the file holds the graph
    // the user meant; duplicates stay, as the file is an edge list.
    if (c_.graph.undirected) share.directed = false;
    if (c_.graph.drop_self_loops) share.edges.keep_if([](const RawEdge& e) { return e.src != e.dst; });
    const std::uint64_t m = comm.allreduce<std::uint64_t>(share.edges.size(), ReduceOp::sum);
    const double load_s = watch.seconds();
    H5Writer file(output.temp_path(), comm);
    write_hdf5_edges(file, group_, share, in.format, comm);
    write_provenance(file, provenance_of(context, {{"load_s", load_s}, {"write_s", watch.seconds() - load_s}}), comm);
    file.close();
    const std::string group = group_.empty() || group_ == "/" ? "" : (group_[0] == '/' ? "" : "/") + group_;
    verify_dataset(output.temp_path(), group + "/src", {m}, comm);
    output.commit();
    if (comm.is_root())
      fmt::print("wrote {}: {} edges from {} ({}), {}directed, {:.2f} s\n", output_, m, c_.spec.input, in.format,
                 share.directed ? "" : "un", watch.seconds());
  }

 private:
  // --to graph: the graph as pagerank builds it, written as its CSR.
  void prepare(const RunContext& context, AtomicOutput& output, const Comm& comm) {
    const LoadedGraph loaded = load_graph(c_, comm);
    const DistGraph& g = loaded.graph;
    const std::uint64_t graph_fingerprint = fingerprint(g, 0.0, {}, {}, comm).graph;
    const Stopwatch watch;
    H5Writer file(output.temp_path(), comm);
    write_prepared_graph(file, g, {c_.spec.input, loaded.meta.format, c_.graph, graph_fingerprint}, comm);
    write_provenance(
        file,
        provenance_of(context,
                      {{"load_s", loaded.load_seconds}, {"partition_s", loaded.partition_seconds}, {"write_s", watch.seconds()}}),
        comm);
    file.close();
    verify_dataset(output.temp_path(), "/graph/in_offsets", {g.stats.n + 1}, comm);
    output.commit();
    if (comm.is_root())
      fmt::print(
          "wrote {}: prepared graph of {} vertices, {} edges from {} ({}), load {:.2f} s, build {:.2f} s, write {:.2f} s\n",
          output_, g.stats.n, g.stats.m, c_.spec.input, loaded.meta.format, loaded.load_seconds, loaded.partition_seconds,
          watch.seconds());
  }

  InputConfig c_;
  ConvertTarget to_ = ConvertTarget::edges;
  std::string output_;
  std::string group_ = "/";
  bool overwrite_ = false;
};

}  // namespace

std::unique_ptr<Command> make_convert_command(CLI::App& parent) { return std::make_unique<ConvertCommand>(parent); }

}  // namespace perron
