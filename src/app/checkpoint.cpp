#include "checkpoint.hpp"

#include <atomic>
#include <bit>
#include <csignal>
#include <cstdio>

#include "perron/core/error.hpp"
#include "perron/core/hash.hpp"
#include "perron/core/timer.hpp"
#include "perron/core/version.hpp"
#include "perron/io/hdf5_file.hpp"

namespace perron {
namespace {

// The one piece of process-wide state: what a signal handler may touch.
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "a signal handler needs a lock-free flag");

extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal, std::memory_order_relaxed); }

// Σ over this rank's vertices of mix(id, value bits): order-independent, so rank-count
// invariant once summed over ranks. A uniform vector has no values: 0 here, flagged apart.
std::uint64_t vector_hash(const VertexDistribution& d, const DistGraph& g) {
  std::uint64_t h = 0;
  if (d.uniform()) return h;
  for (LocalId v = 0; v < g.rows(); ++v) h += mix64((g.first + v) * 0x9E3779B97F4A7C15ull ^ std::bit_cast<std::uint64_t>(d.values[v]));
  return h;
}

}  // namespace

RunFingerprint fingerprint(const DistGraph& g, double damping, const VertexDistribution& teleport,
                           const VertexDistribution& dangling, const Comm& comm) {
  std::uint64_t local[3] = {0, vector_hash(teleport, g), vector_hash(dangling, g)};
  const LocalCsr& csr = g.in;
  for (LocalId v = 0; v < csr.rows; ++v)
    for (EdgeIndex e = csr.row_start[v]; e < csr.row_start[v + 1]; ++e) {
      const LocalId c = csr.column[e];
      const GlobalId src = c < csr.rows ? g.first + c : g.ghost_ids[c - csr.rows];
      const std::uint64_t w = csr.weight.empty() ? 0 : std::bit_cast<std::uint64_t>(csr.weight[e]);
      local[0] += mix64(mix64(g.first + v) ^ (src * 0xC2B2AE3D27D4EB4Full) ^ w);
    }
  comm.allreduce_inplace<std::uint64_t>(local, ReduceOp::sum);  // integer sums: exact in any order
  RunFingerprint fp;
  fp.graph = mix64(local[0] ^ mix64(g.stats.n) ^ mix64(g.stats.m * 31));
  fp.params = mix64(std::bit_cast<std::uint64_t>(damping) ^ mix64(local[1] + (teleport.uniform() ? 1 : 0)) ^
                    mix64(local[2] + (dangling.uniform() ? 3 : 2)));
  return fp;
}

void write_checkpoint(const std::string& path, const DistGraph& g, int iteration, std::span<const double> x,
                      std::span<const double> residual, const RunFingerprint& fp, const Comm& comm) {
  const std::string temp = path + ".tmp";
  {
    H5Writer file(temp, comm);
    file.create_group("/checkpoint");
    file.write_distributed<double>("/checkpoint/x", x, g.first, g.stats.n);
    file.write_replicated<double>("/checkpoint/residual", residual);
    file.set_attribute("/checkpoint", "iteration", static_cast<std::int64_t>(iteration));
    file.set_attribute("/checkpoint", "graph_fingerprint", fp.graph);
    file.set_attribute("/checkpoint", "params_fingerprint", fp.params);
    file.set_attribute("/checkpoint", "n", g.stats.n);
    file.set_attribute("/checkpoint", "m", g.stats.m);
    file.set_attribute("/checkpoint", "ranks", static_cast<std::int64_t>(comm.size()));
    file.set_attribute("/checkpoint", "perron_version", kVersion);
    file.set_attribute("/checkpoint", "git_commit", kGitCommit);
    file.set_attribute("/checkpoint", "written", iso8601_now());
    file.close();
  }
  comm.barrier();
  comm.agree([&] {
    if (comm.is_root() && std::rename(temp.c_str(), path.c_str()) != 0)
      throw_output("cannot rename checkpoint " + temp + " to " + path);
  });
}

PageRankState read_checkpoint(const std::string& path, const DistGraph& g, const RunFingerprint& expected,
                              const Comm& comm) {
  PageRankState state;
  comm.agree([&] {
    const H5Reader file(path);
    if (!file.exists("/checkpoint/x") || !file.has_attribute("/checkpoint", "graph_fingerprint"))
      throw_input(path + " is not a perron checkpoint (no /checkpoint/x)");
    const auto n = file.attribute_uint("/checkpoint", "n");
    const auto graph_fp = file.attribute_uint("/checkpoint", "graph_fingerprint");
    const auto params_fp = file.attribute_uint("/checkpoint", "params_fingerprint");
    if (n != g.stats.n || graph_fp != expected.graph)
      throw_input(path + " was written for another graph (" + std::to_string(n) + " vertices, fingerprint " +
                  std::to_string(graph_fp) + "; this run: " + std::to_string(g.stats.n) + " vertices, fingerprint " +
                  std::to_string(expected.graph) + "): check --input and the graph options");
    if (params_fp != expected.params)
      throw_input(path + " was written with other parameters (damping, personalization or dangling vector differ)");
    state.iteration = static_cast<int>(file.attribute_int("/checkpoint", "iteration"));
    state.x = file.read_slice<double>("/checkpoint/x", g.first, g.rows());
    state.residual = file.read_doubles("/checkpoint/residual");
    if (state.residual.size() != static_cast<std::size_t>(state.iteration))
      throw_input(path + ": the residual history does not match the iteration count");
  });
  return state;
}

std::string default_checkpoint_path(const std::string& output) {
  const std::string suffix = ".h5";
  if (output.size() > suffix.size() && output.compare(output.size() - suffix.size(), suffix.size(), suffix) == 0)
    return output.substr(0, output.size() - suffix.size()) + ".ckpt.h5";
  return output + ".ckpt.h5";
}

void install_stop_signal_handlers() {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
}

int stop_signal() { return g_stop_signal.load(std::memory_order_relaxed); }

}  // namespace perron
