#pragma once
// The subcommands of `perron`. Each owns its configuration struct (the built-in defaults),
// registers its options once in an OptionSet, and runs on every rank.
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "options.hpp"
#include "output.hpp"
#include "perron/comm/comm.hpp"
#include "perron/graph/dist_graph.hpp"
#include "perron/io/edge_source.hpp"

namespace perron {

struct RunContext {
  std::string command_line;
  std::string start_time;
};

class Command {
 public:
  virtual ~Command() = default;
  virtual void run(const RunContext& context, const Comm& comm) = 0;
  CLI::App* app() const { return app_; }
  OptionSet& options() { return *options_; }
  // Table path of this command in a config file, e.g. {"generate", "kronecker"}.
  const std::vector<std::string>& section() const { return section_; }

 protected:
  Command(CLI::App& parent, std::vector<std::string> section, const std::string& help);
  // What /provenance records of a result this command writes: its command line, the full
  // effective configuration and the start time, with these timings and memory figures.
  Provenance provenance_of(const RunContext& context, std::vector<std::pair<std::string, double>> timings,
                           std::vector<std::pair<std::string, std::uint64_t>> memory = {});
  CLI::App* app_;
  std::vector<std::string> section_;
  std::unique_ptr<OptionSet> options_;
};

std::unique_ptr<Command> make_pagerank_command(CLI::App& parent);
std::unique_ptr<Command> make_info_command(CLI::App& parent);
std::unique_ptr<Command> make_plan_command(CLI::App& parent);
std::unique_ptr<Command> make_convert_command(CLI::App& parent);
std::unique_ptr<Command> make_inspect_command(CLI::App& parent);
std::unique_ptr<Command> make_diff_command(CLI::App& parent);
std::unique_ptr<Command> make_attention_command(CLI::App& parent);
std::unique_ptr<Command> make_tokenrank_command(CLI::App& parent);
std::unique_ptr<Command> make_attention_graph_command(CLI::App& parent);
std::unique_ptr<Command> make_generate_qkv_command(CLI::App& generate);
std::unique_ptr<Command> make_generate_kronecker_command(CLI::App& generate);

// Options every graph-reading command shares.
struct InputConfig {
  InputSpec spec;
  GraphOptions graph;
  int threads = 0;
};
void add_input_options(OptionSet& options, InputConfig& config);

// Loads and builds the distributed graph, timing both phases.
struct LoadedGraph {
  DistGraph graph;
  LoadedInput meta;  // format, EVLP properties, generator parameters (edges already moved out)
  double load_seconds = 0.0;
  double partition_seconds = 0.0;
  double check_seconds = 0.0;         // a prepared graph: of the load, its checks
  std::uint64_t rss_before = 0;       // this rank's resident memory before the load
  std::uint64_t build_peak_rss = 0;   // its peak resident memory up to the end of the build
  std::uint64_t rss_after_build = 0;  // its resident memory once the build is over
  std::uint64_t graph_bytes = 0;      // what this rank holds for the graph once built (DistGraph::bytes)
  Laps partition_laps;                // the build's sub-phases on this rank (build_graph, assemble_graph)
};
LoadedGraph load_graph(InputConfig config, const Comm& comm, const ReadProgress& progress = {});

// Options every attention-family command shares (attention, tokenrank, attention-graph): the
// input, its q/k datasets, the mask, and what shapes the scores.
struct ScoreConfig {
  std::string input;
  std::string q = "q", k = "k", mask;
  bool causal = false;
  bool no_causal = false;   // --no-causal: not causal, whatever the input's attribute says
  std::int64_t window = 0;  // 0: none
  double scale = 0.0, softcap = 0.0;
  int tile_q = 256, tile_k = 512;  // the fastest measured here (bench/attention.sh)
  int threads = 0;
};
void add_score_options(OptionSet& options, ScoreConfig& config, const std::string& input_help);
// Collective: usage errors for a window, scale or softcap out of range.
void check_score_options(const OptionSet& options, const ScoreConfig& config, const Comm& comm);
// Collective: the input says what it is. Its root attributes `causal` (integer or bool) and
// `scale` (> 0, when not 1/sqrt(d)), as perron_torch.py writes them, set --causal and --scale
// where the user did not (by flag or config file); where the user did and the file disagrees,
// rank 0 prints a warning naming both values, and the user's value holds.
void apply_input_attributes(const OptionSet& options, ScoreConfig& config, const Comm& comm);

// Applies --threads (0 keeps OpenMP's default).
void apply_threads(int threads, const Comm& comm);

}  // namespace perron
