#pragma once
// `perron pagerank --seed-sets FILE|all-vertices`: the batch of personalized vectors, block
// after block (kMaxBlockVectors at a time), each vector written (and ranked) as it converges,
// so memory holds one block's iterates, never n×k.
#include <cstdint>
#include <string>
#include <vector>

#include "commands.hpp"
#include "perron/algo/personalized.hpp"
#include "perron/io/hdf5_file.hpp"
#include "perron/io/seed_sets.hpp"
#include "report.hpp"

namespace perron {

// `--seed-sets all-vertices`: one vector per vertex, up to this many vertices (the full
// influence matrix: 65536² × 8 bytes = 32 GiB written, or with --top-k only k × K).
inline constexpr std::uint64_t kAllVerticesLimit = 65536;
inline constexpr const char* kAllVertices = "all-vertices";

struct PersonalizedOptions {
  std::string seed_sets;  // a file, or kAllVertices
  PersonalizedParams params;
  std::size_t top_k = 0;  // K: the top vertices recorded per vector
  bool top_only = false;  // --top-k given: the top lists only, no [k, n] matrix
  bool quiet = false;
};

// Collective: rank 0 reads the seed-set file (every rank gets its errors); all-vertices reads
// nothing. Other ranks get an empty SeedSets.
SeedSets read_seed_sets_on_root(const std::string& spec, const Comm& comm);

struct PersonalizedSummary {
  std::uint64_t vectors = 0;
  int blocks = 0, steps = 0;  // steps: summed over the blocks
  int min_iterations = 0, max_iterations = 0;
  std::uint64_t not_converged = 0;
  double plan_seconds = 0.0, seconds = 0.0, write_seconds = 0.0;
  std::uint64_t iterating_rss = 0, block_bytes = 0;
  PageRankSolver solver = PageRankSolver::power;
  std::vector<std::string> first_sets;                              // the first few sets, as read
  std::vector<std::vector<std::pair<VertexId, double>>> first_top;  // and their top 3
};

// Collective: checks the batch against the graph (all-vertices' size, the memory of one
// block), solves block after block and, with `file`, writes /pagerank/personalized (or the
// top lists), /pagerank/seed_set, the per-vector iterations and residuals, the history and
// the attributes of the run.
PersonalizedSummary run_personalized(const DistGraph& graph, const PersonalizedOptions& options, const SeedSets& sets,
                                     H5Writer* file, Reporter& report, const Comm& comm);

}  // namespace perron
