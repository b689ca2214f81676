#pragma once
// Checkpoint and restart of a PageRank run. A checkpoint holds the iterate x_k (by dense id,
// so any number of ranks can resume it), k, the residual history, and fingerprints of the
// graph and of the parameters that shape the iteration (damping, teleport, dangling vector).
// A restart refuses a checkpoint whose fingerprints differ. Files are written collectively
// under a temporary name and renamed, so the last good checkpoint survives any crash.
#include <cstdint>
#include <span>
#include <string>

#include "perron/algo/pagerank.hpp"
#include "perron/comm/comm.hpp"
#include "perron/graph/dist_graph.hpp"

namespace perron {

struct RunFingerprint {
  std::uint64_t graph = 0;   // order-independent hash of (dst, src, weight) over all edges, n, m
  std::uint64_t params = 0;  // damping, teleport and dangling vectors
};

// Collective; the same on every rank and for every rank count.
RunFingerprint fingerprint(const DistGraph& graph, double damping, const VertexDistribution& teleport,
                           const VertexDistribution& dangling, const Comm& comm);

// Collective. `path` is replaced atomically.
void write_checkpoint(const std::string& path, const DistGraph& graph, int iteration, std::span<const double> x,
                      std::span<const double> residual, const RunFingerprint& fp, const Comm& comm);

// Collective. Throws an input error naming the file if it is not a checkpoint of this run.
PageRankState read_checkpoint(const std::string& path, const DistGraph& graph, const RunFingerprint& expected, const Comm& comm);

// The default checkpoint path of an output: out.h5 → out.ckpt.h5.
std::string default_checkpoint_path(const std::string& output);

}  // namespace perron
