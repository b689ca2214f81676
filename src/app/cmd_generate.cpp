// `perron generate kronecker`: a Graph500 graph as a binary edge list.
#include <fmt/core.h>

#include "commands.hpp"
#include "output.hpp"
#include "perron/core/timer.hpp"
#include "perron/io/binary_edges.hpp"
#include "perron/io/kronecker.hpp"

namespace perron {
namespace {

class GenerateKroneckerCommand final : public Command {
 public:
  explicit GenerateKroneckerCommand(CLI::App& generate)
      : Command(generate, {"generate", "kronecker"},
                "Graph500 Kronecker graph as a binary edge list of uint64 (src, dst) pairs; "
                "the edges are undirected: read it back with --undirected") {
    OptionSet& o = options();
    o.add("--scale", p_.scale, "log2 of the number of vertices");
    o.add("--edge-factor", p_.edge_factor, "edges per vertex");
    o.add("--seed", p_.seed, "random seed (the graph does not depend on the number of ranks)");
    o.add("-o,--output", output_, "binary edge list to write")->required();
    o.add_flag("--overwrite", overwrite_, "replace an existing output file");
  }

  void run(const RunContext&, const Comm& comm) override {
    comm.agree([&] { validate(p_); });
    AtomicOutput output(output_, overwrite_, comm);
    const Stopwatch watch;
    const std::vector<RawEdge> edges = kronecker_share(p_, comm);
    write_binary_edges(output.temp_path(), edges, comm);
    output.commit();
    if (comm.is_root())
      fmt::print("wrote {}: Kronecker scale {}, edge factor {}, seed {}: {} vertices, {} undirected edges, {:.2f} s\n",
                 output_, p_.scale, p_.edge_factor, p_.seed, kronecker_vertices(p_), kronecker_edges(p_), watch.seconds());
  }

 private:
  KroneckerParams p_;
  std::string output_;
  bool overwrite_ = false;
};

}  // namespace

std::unique_ptr<Command> make_generate_kronecker_command(CLI::App& generate) {
  return std::make_unique<GenerateKroneckerCommand>(generate);
}

}  // namespace perron
