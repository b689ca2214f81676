// `perron info`: what a graph is, before ranking it.
#include <fmt/core.h>

#include "commands.hpp"
#include "output.hpp"
#include "perron/algo/components.hpp"

namespace perron {
namespace {

class InfoCommand final : public Command {
 public:
  explicit InfoCommand(CLI::App& parent) : Command(parent, {"info"}, "Print a graph's size and degree statistics") {
    add_input_options(options(), c_);
    app_->add_option("file", c_.spec.input, "the graph (same as --input)");
    options().add_flag("--json", json_, "print one JSON object instead of text");
  }

  void run(const RunContext&, const Comm& comm) override {
    apply_threads(c_.threads, comm);
    const LoadedGraph loaded = load_graph(c_, comm);
    const GraphStats& s = loaded.graph.stats;
    const ComponentCounts cc = count_components(loaded.graph, comm);
    if (!comm.is_root()) return;
    const double mean = s.n ? static_cast<double>(s.m) / static_cast<double>(s.n) : 0.0;
    if (json_) {
      fmt::print(
          "{{\"input\": {}, \"format\": \"{}\", \"n\": {}, \"m\": {}, \"input_edges\": {}, \"dangling\": {}, "
          "\"self_loops\": {}, \"duplicates\": {}, \"weighted\": {}, \"mean_degree\": {}, "
          "\"max_in_degree\": {}, \"max_out_degree\": {}, \"weak_components\": {}, \"largest_weak_component\": {}, "
          "\"strong_components\": {}, \"ranks\": {}}}\n",
          json_quote(c_.spec.input), loaded.meta.format, s.n, s.m, s.input_edges, s.dangling, s.self_loops, s.duplicates,
          loaded.graph.weighted ? "true" : "false", mean, s.max_in_degree, s.max_out_degree, cc.weak, cc.largest_weak, cc.strong,
          comm.size());
      return;
    }
    fmt::print("input          {} ({})\n", c_.spec.input, loaded.meta.format);
    fmt::print("vertices (n)   {}\n", s.n);
    fmt::print("edges (m)      {} directed, after collapsing {} duplicates of {} read\n", s.m, s.duplicates, s.input_edges);
    fmt::print("dangling       {} (no out-edges)\n", s.dangling);
    fmt::print("self-loops     {}\n", s.self_loops);
    fmt::print("weighted       {}\n", loaded.graph.weighted ? "yes" : "no");
    fmt::print("degree         mean {:.3f}, max in {}, max out {}\n", mean, s.max_in_degree, s.max_out_degree);
    fmt::print("components     {} weak (largest {} vertices), {} strong\n", cc.weak, cc.largest_weak, cc.strong);
  }

 private:
  InputConfig c_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_info_command(CLI::App& parent) { return std::make_unique<InfoCommand>(parent); }

}  // namespace perron
