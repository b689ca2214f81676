// `perron generate kronecker`: a Graph500 graph as a binary edge list.
#include <fmt/core.h>

#include <cmath>

#include "commands.hpp"
#include "output.hpp"
#include "perron/core/hash.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/timer.hpp"
#include "perron/io/binary_edges.hpp"
#include "perron/io/hdf5_file.hpp"
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
    o.add_required("-o,--output", output_, "binary edge list to write");
    o.add_flag("--overwrite", overwrite_, "replace an existing output file");
  }

  void run(const RunContext&, const Comm& comm) override {
    comm.agree([&] { validate(p_); });
    AtomicOutput output(output_, overwrite_, comm, {options().config_path()});
    const Stopwatch watch;
    const EdgeList edges = kronecker_share(p_, comm);
    write_binary_edges(output.temp_path(), edges, comm);
    output.commit();
    if (comm.is_root())
      fmt::print("wrote {}: Kronecker scale {}, edge factor {}, seed {}: {} vertices, {} undirected edges, {:.2f} s\n", output_,
                 p_.scale, p_.edge_factor, p_.seed, kronecker_vertices(p_), kronecker_edges(p_), watch.seconds());
  }

 private:
  KroneckerParams p_;
  std::string output_;
  bool overwrite_ = false;
};

// Synthetic attention inputs q, k, v [heads, N, d] (float32). Every element comes from a
// counter-based stream keyed by (seed, tensor, head, position, component), so the tensors do
// not depend on the number of ranks. Structures:
//   random    q, k, v ~ N(0, 1);
//   sink      every query leans towards one direction u (q = z + 2u) and key 0 lies along it
//             (k₀ = 3·sqrt(d)·u): token 0 becomes an attention sink (Xiao et al. 2023);
//   clusters  tokens form 8 contiguous segments sharing a centre (q = k = c + z/2): low-rank,
//             block-diagonal attention.
class GenerateQkvCommand final : public Command {
 public:
  explicit GenerateQkvCommand(CLI::App& generate)
      : Command(generate, {"generate", "qkv"}, "Synthetic attention inputs q, k, v [heads, N, d] in HDF5") {
    OptionSet& o = options();
    o.add("--heads", heads_, "query heads");
    o.add("--kv-heads", kv_heads_, "key/value heads (0: as many as query heads; fewer for GQA)");
    o.add("--seq", seq_, "sequence length N");
    o.add("--dim", dim_, "head size d");
    o.add("--seed", seed_, "random seed");
    o.add("--structure", structure_, "random, sink or clusters")->check(CLI::IsMember({"random", "sink", "clusters"}));
    o.add("--layers", layers_, "0: q, k, v at the root; L > 0: layer_0/q ... layer_<L-1>/v (independent draws, same structure)")
        ->check(CLI::NonNegativeNumber);
    o.add_required("-o,--output", output_, "HDF5 file to write");
    o.add_flag("--overwrite", overwrite_, "replace an existing output file");
  }

  void run(const RunContext& context, const Comm& comm) override {
    const int kv = kv_heads_ > 0 ? kv_heads_ : heads_;
    comm.agree([&] {
      if (heads_ < 1 || seq_ < 1 || dim_ < 1) throw_usage("--heads, --seq and --dim must be >= 1");
      if (kv < 1 || heads_ % kv != 0) throw_usage("--kv-heads must divide --heads");
      // The largest tensor's share on one rank, before anything is allocated.
      const std::uint64_t elements = saturating_mul(
          saturating_mul(static_cast<std::uint64_t>(heads_), static_cast<std::uint64_t>(seq_)), static_cast<std::uint64_t>(dim_));
      require_memory(saturating_mul(elements / static_cast<std::uint64_t>(comm.size()) + 1, sizeof(float)),
                     "--heads x --seq x --dim", ErrorKind::usage);
    });
    AtomicOutput output(output_, overwrite_, comm, {options().config_path()});
    const auto P = static_cast<std::uint64_t>(comm.size()), r = static_cast<std::uint64_t>(comm.rank());
    const std::uint64_t n = static_cast<std::uint64_t>(seq_), d = static_cast<std::uint64_t>(dim_);
    const std::uint64_t first = n * r / P, rows = n * (r + 1) / P - first;
    H5Writer file(output.temp_path(), comm);
    const int layers = std::max(layers_, 1);
    for (int layer = 0; layer < layers; ++layer) {
      const std::string group = layers_ > 0 ? "/layer_" + std::to_string(layer) : std::string();
      if (!group.empty()) file.create_group(group);
      for (int t = 0; t < 3; ++t) {
        const std::uint64_t h = static_cast<std::uint64_t>(t == 0 ? heads_ : kv);
        const int stream = 3 * layer + t;  // layer 0 draws what a single-layer file holds
        std::vector<float> x(h * rows * d);
#pragma omp parallel for schedule(static)
        for (std::uint64_t hh = 0; hh < h; ++hh)
          for (std::uint64_t i = 0; i < rows; ++i)
            for (std::uint64_t c = 0; c < d; ++c) x[(hh * rows + i) * d + c] = element(t, stream, hh, first + i, c, n, d);
        file.write_block<float>(group + (t == 0 ? "/q" : t == 1 ? "/k" : "/v"), {h, n, d}, {0, first, 0}, {h, rows, d}, x);
      }
    }
    file.set_attribute("/", "structure", structure_);
    file.set_attribute("/", "seed", seed_);
    file.set_attribute("/", "generator", context.command_line);
    file.set_attribute("/", "layers", static_cast<std::int64_t>(layers_));
    write_provenance(file, provenance_of(context, {}), comm);
    file.close();
    verify_dataset(output.temp_path(), (layers_ > 0 ? "/layer_0" : "") + std::string("/q"),
                   {static_cast<std::uint64_t>(heads_), n, d}, comm);
    output.commit();
    if (comm.is_root())
      fmt::print("wrote {}: q [{}, {}, {}], k and v [{}, {}, {}], structure {}\n", output_, heads_, seq_, dim_, kv, seq_, dim_,
                 structure_);
  }

 private:
  // A standard normal number for (stream, index) by Box–Muller over two SplitMix64 draws.
  double normal(std::uint64_t stream, std::uint64_t index) const {
    std::uint64_t state = mix64(seed_ ^ mix64(stream)) ^ mix64(index * 0x9E3779B97F4A7C15ull + 1);
    const double u1 = (static_cast<double>(splitmix64(state) >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1.0p-53;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

  // Element c of head `head` at `pos` of tensor 0 (q), 1 (k) or 2 (v), from random stream `stream`.
  float element(int tensor, int stream, std::uint64_t head, std::uint64_t pos, std::uint64_t c, std::uint64_t n,
                std::uint64_t d) const {
    const std::uint64_t idx = (head * n + pos) * d + c;
    const double z = normal(static_cast<std::uint64_t>(stream) + 1, idx);
    if (structure_ == "sink" && tensor < 2) {
      // u: a unit-length direction per KV head, shared by queries and key 0.
      const std::uint64_t kvh =
          tensor == 0 ? head / static_cast<std::uint64_t>(heads_ / (kv_heads_ > 0 ? kv_heads_ : heads_)) : head;
      double norm = 0;
      for (std::uint64_t j = 0; j < d; ++j) norm += std::pow(normal(100, kvh * d + j), 2);
      const double u = normal(100, kvh * d + c) / std::sqrt(norm);
      if (tensor == 0) return static_cast<float>(z + 2.0 * u * std::sqrt(static_cast<double>(d)) / 2.0);
      if (pos == 0) return static_cast<float>(3.0 * std::sqrt(static_cast<double>(d)) * u);
    }
    if (structure_ == "clusters" && tensor < 2) {
      const std::uint64_t cluster = pos * 8 / n;
      const std::uint64_t kvh =
          tensor == 0 ? head / static_cast<std::uint64_t>(heads_ / (kv_heads_ > 0 ? kv_heads_ : heads_)) : head;
      return static_cast<float>(1.5 * normal(200, (kvh * 8 + cluster) * d + c) + 0.5 * z);
    }
    return static_cast<float>(z);
  }

  int heads_ = 4, kv_heads_ = 0, seq_ = 1024, dim_ = 64, layers_ = 0;
  std::uint64_t seed_ = 1;
  std::string structure_ = "random";
  std::string output_;
  bool overwrite_ = false;
};

}  // namespace

std::unique_ptr<Command> make_generate_qkv_command(CLI::App& generate) { return std::make_unique<GenerateQkvCommand>(generate); }

std::unique_ptr<Command> make_generate_kronecker_command(CLI::App& generate) {
  return std::make_unique<GenerateKroneckerCommand>(generate);
}

}  // namespace perron
