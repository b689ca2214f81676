#include "perron/app/cli.hpp"

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <memory>

#include "commands.hpp"
#include "output.hpp"
#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"
#include "perron/core/version.hpp"

namespace perron {
namespace {

// Parses the arguments, then runs the command on the communicator that start() gives. Only
// where `prints` do --help, --version and usage errors print (every rank parses the same
// arguments).
template <class Start>
int parse_and_run(int argc, char** argv, bool prints, Start start) {
  CLI::App app{"perron: PageRank and attention at cluster scale (MPI + OpenMP, HDF5 results)", "perron"};
  app.set_version_flag("--version", std::string("perron ") + kVersion + " (" + kGitCommit + ")");
  app.require_subcommand(1);
  std::vector<std::unique_ptr<Command>> commands;
  commands.push_back(make_pagerank_command(app));
  CLI::App* generate = app.add_subcommand("generate", "Generate synthetic inputs");
  generate->require_subcommand(1);
  commands.push_back(make_generate_kronecker_command(*generate));
  commands.push_back(make_generate_qkv_command(*generate));
  commands.push_back(make_attention_command(app));
  commands.push_back(make_tokenrank_command(app));
  commands.push_back(make_attention_graph_command(app));
  commands.push_back(make_info_command(app));
  commands.push_back(make_plan_command(app));
  commands.push_back(make_convert_command(app));
  commands.push_back(make_inspect_command(app));
  commands.push_back(make_diff_command(app));
  const std::vector<std::string> sections{"pagerank",  "generate",        "info", "convert",   "inspect", "diff", "attention",
                                          "tokenrank", "attention-graph", "qkv",  "kronecker", "plan"};

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return prints ? app.exit(e) : 0;
  } catch (const CLI::ParseError& e) {
    if (prints)
      fmt::print(stderr, "perron: error: {}\nRun 'perron --help' or 'perron SUBCOMMAND --help' for the options.\n", e.what());
    return 2;
  }
  const Comm comm = start();
  const bool root = comm.is_root();
  try {
    for (auto& command : commands) {
      if (!command->app()->parsed()) continue;
      // Every rank parses the same arguments and file, so these errors are the same everywhere.
      try {
        command->options().apply_config_file(sections);
      } catch (Error& e) {
        e.mark_collective();
        throw;
      }
      command->run(RunContext{join_command_line(argc, argv), iso8601_now()}, comm);
    }
    return 0;
  } catch (const Error& e) {
    if (e.collective()) {
      if (root) fmt::print(stderr, "perron: error: {}\n", e.what());
      return e.exit_code();
    }
    fmt::print(stderr, "perron: error on rank {}: {}\n", comm.rank(), e.what());
    std::fflush(stderr);
    Environment::abort(e.exit_code());
  } catch (const std::exception& e) {
    fmt::print(stderr, "perron: internal error on rank {}: {}\n", comm.rank(), e.what());
    std::fflush(stderr);
    Environment::abort(1);
  }
}

}  // namespace

int run_cli(int argc, char** argv, const Comm& comm) {
  return parse_and_run(argc, argv, comm.is_root(), [&] { return comm; });
}

int run_main(int argc, char** argv) {
  std::unique_ptr<Environment> env;  // ends after the commands, which may hold MPI objects
  const auto start = [&] {
    env = std::make_unique<Environment>(argc, argv);
    return Environment::world();
  };
  try {
    // A process that no launcher started parses its arguments before MPI starts: --help,
    // --version and usage errors need no MPI there (starting Open MPI alone, as a singleton,
    // takes 0.45 s). In a job every process starts MPI first: rank 0 prints, and MPI_Finalize
    // holds the others until it has (one that exited at once with an error would have the
    // launcher kill the job before rank 0's message is out).
    if (!Environment::launched()) return parse_and_run(argc, argv, true, start);
    return run_cli(argc, argv, start());
  } catch (const Error& e) {  // MPI could not start as perron needs it
    fmt::print(stderr, "perron: error: {}\n", e.what());
    return e.exit_code();
  }
}

}  // namespace perron
