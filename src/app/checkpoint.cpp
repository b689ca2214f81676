#include "checkpoint.hpp"

#include <fmt/core.h>

#include <bit>
#include <cmath>
#include <cstdio>
#include <limits>

#include "output.hpp"
#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/hash.hpp"
#include "perron/core/timer.hpp"
#include "perron/core/version.hpp"
#include "perron/io/hdf5_file.hpp"

namespace perron {
namespace {

// Σ over this rank's vertices of mix(id, value bits): order-independent, so rank-count
// invariant once summed over ranks. A uniform vector has no values: 0 here, flagged apart.
std::uint64_t vector_hash(const VertexDistribution& d, const DistGraph& g) {
  std::uint64_t h = 0;
  if (d.uniform()) return h;
  for (LocalId v = 0; v < g.rows(); ++v)
    h += mix64((g.first + v) * 0x9E3779B97F4A7C15ull ^ std::bit_cast<std::uint64_t>(d.values[v]));
  return h;
}

}  // namespace

RunFingerprint fingerprint(const DistGraph& g, double damping, const VertexDistribution& teleport,
                           const VertexDistribution& dangling, const Comm& comm) {
  std::uint64_t local[3] = {g.edge_checksum, vector_hash(teleport, g), vector_hash(dangling, g)};
  comm.allreduce_inplace<std::uint64_t>(local, ReduceOp::sum);  // integer sums: exact in any order
  RunFingerprint fp;
  fp.graph = mix64(local[0] ^ mix64(g.stats.n) ^ mix64(g.stats.m * 31));
  fp.params = mix64(std::bit_cast<std::uint64_t>(damping) ^ mix64(local[1] + (teleport.uniform() ? 1 : 0)) ^
                    mix64(local[2] + (dangling.uniform() ? 3 : 2)));
  return fp;
}

namespace {

// Σ_i mix64(i, bits of x_i) over the whole vector: a checksum that does not depend on how the
// vector is split over ranks (integer sums commute), and that any flipped bit, swapped pair
// or truncated slice changes (mix64 scatters every input bit over the output).
std::uint64_t slice_checksum(std::span<const double> x, std::uint64_t first) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sum += mix64(mix64(first + i + 1) ^ std::bit_cast<std::uint64_t>(x[i]));
  return sum;
}
// The same over a vector distributed by slices (collective).
std::uint64_t vector_checksum(std::span<const double> x, std::uint64_t first, const Comm& comm) {
  return comm.allreduce(slice_checksum(x, first), ReduceOp::sum);
}

}  // namespace

void write_checkpoint(const std::string& path, const DistGraph& g, int iteration, std::span<const double> x,
                      std::span<const double> residual, const RunFingerprint& fp, const Comm& comm) {
  const std::uint64_t x_sum = vector_checksum(x, g.first, comm);
  const std::uint64_t residual_sum = slice_checksum(residual, 0);
  TempFile temp(path, comm);  // this job's own temporary, removed if anything below fails
  {
    H5Writer file(temp.path(), comm);
    file.create_group("/checkpoint");
    file.write_distributed<double>("/checkpoint/x", x, g.first, g.stats.n);
    file.write_replicated<double>("/checkpoint/residual", residual);
    file.set_attribute("/checkpoint", "iteration", static_cast<std::int64_t>(iteration));
    file.set_attribute("/checkpoint", "graph_fingerprint", fp.graph);
    file.set_attribute("/checkpoint", "params_fingerprint", fp.params);
    file.set_attribute("/checkpoint", "x_checksum", x_sum);
    file.set_attribute("/checkpoint", "residual_checksum", residual_sum);
    file.set_attribute("/checkpoint", "n", g.stats.n);
    file.set_attribute("/checkpoint", "m", g.stats.m);
    file.set_attribute("/checkpoint", "ranks", static_cast<std::int64_t>(comm.size()));
    file.set_attribute("/checkpoint", "perron_version", kVersion);
    file.set_attribute("/checkpoint", "git_commit", kGitCommit);
    file.set_attribute("/checkpoint", "written", iso8601_now());
    file.close();
  }
  temp.publish(path, true);  // the run's checkpoint path was checked before it started
}

PageRankState read_checkpoint(const std::string& path, const DistGraph& g, const RunFingerprint& expected, const Comm& comm) {
  PageRankState state;
  std::uint64_t stored_x_sum = 0, stored_residual_sum = 0;
  comm.agree([&] {
    if (!inspect_path(path).exists) throw_input("--restart: " + path + " does not exist");
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
    if (!file.has_attribute("/checkpoint", "x_checksum") || !file.has_attribute("/checkpoint", "residual_checksum"))
      throw_input(path + " has no checksum (/checkpoint@x_checksum): it was written by an older perron; start afresh");
    stored_x_sum = file.attribute_uint("/checkpoint", "x_checksum");
    stored_residual_sum = file.attribute_uint("/checkpoint", "residual_checksum");
    const std::int64_t iteration = file.attribute_int("/checkpoint", "iteration");
    if (iteration < 0 || iteration > std::numeric_limits<int>::max())
      throw_input(path + ": /checkpoint@iteration is " + std::to_string(iteration) + ", expected a count >= 0");
    state.iteration = static_cast<int>(iteration);
    if (file.info("/checkpoint/x").dims != std::vector<std::uint64_t>{g.stats.n})
      throw_input(path + ": /checkpoint/x must hold " + std::to_string(g.stats.n) + " values");
    if (file.info("/checkpoint/residual").dims != std::vector<std::uint64_t>{static_cast<std::uint64_t>(iteration)})
      throw_input(path + ": the residual history (/checkpoint/residual) does not match the iteration count " +
                  std::to_string(iteration));
    state.x = file.read_slice<double>("/checkpoint/x", g.first, g.rows());
    state.residual = file.read_doubles("/checkpoint/residual");
  });
  // Damage that the fingerprints cannot see: the stored values themselves.
  const bool x_intact = vector_checksum(state.x, g.first, comm) == stored_x_sum;
  const bool residual_intact = slice_checksum(state.residual, 0) == stored_residual_sum;
  std::uint64_t bad = 0;
  double sum = 0.0;
  for (double v : state.x) {
    if (!std::isfinite(v) || v < 0.0)
      ++bad;
    else
      sum += v;
  }
  bad = comm.allreduce(bad, ReduceOp::sum);
  sum = comm.allreduce(sum, ReduceOp::sum);
  comm.agree([&] {
    if (!x_intact || !residual_intact)
      throw_input(path + ": checksum mismatch in " + (x_intact ? "/checkpoint/residual" : "/checkpoint/x") +
                  ": the file is damaged; restart from an earlier checkpoint or start afresh");
    if (bad > 0)
      throw_input(path + ": /checkpoint/x holds " + std::to_string(bad) + " values that are negative, NaN or infinite");
    if (!(std::abs(sum - 1.0) <= 1e-9))
      throw_input(path + ": /checkpoint/x sums to " + fmt::format("{:.17g}", sum) + ", expected 1 within 1e-9");
  });
  return state;
}

std::string default_checkpoint_path(const std::string& output) {
  const std::string suffix = ".h5";
  if (output.size() > suffix.size() && output.compare(output.size() - suffix.size(), suffix.size(), suffix) == 0)
    return output.substr(0, output.size() - suffix.size()) + ".ckpt.h5";
  return output + ".ckpt.h5";
}

}  // namespace perron
