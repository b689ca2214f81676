#pragma once
// The HDF5 layouts of perron's results (docs/hdf5-layout.md), each written and read in one
// place: the commands write through these functions, `inspect` and `diff` read through them,
// so a field cannot be renamed on one side only. (The checkpoint's layout lives the same way
// in checkpoint.cpp, beside its reader.)
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "perron/algo/attention.hpp"
#include "perron/algo/pagerank.hpp"
#include "perron/algo/tokenrank.hpp"
#include "perron/algo/top_k.hpp"
#include "perron/io/hdf5_file.hpp"

namespace perron {

// ---- writing (collective; the caller adds /provenance and publishes the file) --------------

// What a built graph is, as attributes of `group`: n, m, dangling, self_loops,
// duplicates_collapsed, weighted (a PageRank result and a prepared graph both carry them).
void write_graph_statistics(H5Writer& file, const std::string& group, const DistGraph& graph);

// /pagerank: the scores by original id, the history, the top k, and what the run was.
struct PageRankRecord {
  const DistGraph& graph;
  const PageRankParams& params;
  const PageRankResult& result;
  std::span<const VertexId> top_id;  // original ids, best first
  std::span<const double> top_score;
  std::string solver, kernel, convention, dangling_vector, input_format;  // as the user named them
  bool personalized = false;
  std::uint64_t iterating_rss = 0;  // this rank's resident memory while iterating
  double verify_residual = -1.0;    // --verify: ‖F(x) − x‖₁ of one true step; < 0: not verified
  std::string initial;              // --initial: the result the run started from ("" for none)
  std::uint64_t initial_ignored = 0, initial_new_vertices = 0;
};
void write_pagerank_result(H5Writer& file, const PageRankRecord& record, const Comm& comm);

// /attention: out and lse of this rank's runs of query positions, for every batch entry.
struct AttentionRecord {
  bool batched = false;
  std::uint64_t batch = 1, heads = 1, kv_heads = 1, query_length = 0, key_length = 0, value_dim = 0;
  std::span<const Segment> runs;    // this rank's query positions
  std::span<const float> out, lse;  // [batch][heads][rows][dv], [batch][heads][rows]
  bool zigzag = false, causal = false;
  double scale = 0.0, softcap = 0.0;
  std::int64_t window = 0;
  std::string mask, kernel, kernel_used;
};
void write_attention_result(H5Writer& file, const AttentionRecord& record);

// /tokenrank: every head's chain and the mean chain for this rank's runs of positions.
struct TokenRankRecord {
  const TokenRankParams& params;
  const TokenRankResult& result;
  std::uint64_t n = 0, heads = 1;
  std::span<const Segment> runs;
  std::span<const ScoredVertex> top;  // positions of the mean chain, best first
  std::string solver, teleport;
  std::span<const std::string> tokens;  // the input's /tokens (one per position), or none
  // The baselines: one step of the chain from uniform (column sums), of the rollout chain (null
  // for a single layer), the positional null [N] and the scores relative to it ([heads][rows],
  // [rows]; empty: none).
  const TokenRankResult* column_sum = nullptr;
  const TokenRankResult* rollout = nullptr;
  std::span<const double> null_score, relative_score, mean_relative_score;
  std::function<void(H5Writer&, const std::string& group)> chain_attributes;  // which chain it is
};
void write_tokenrank_result(H5Writer& file, const TokenRankRecord& record);

// ---- reading (one rank; small parts of a file) ---------------------------------------------

enum class ResultKind { pagerank, tokenrank, checkpoint, graph, attention, edges };
// The kind of file perron wrote, from its top-level group (an HDF5 edge list, as `convert` and
// `attention-graph` write by default: /src and /dst); an input error otherwise.
ResultKind result_kind(const H5Reader& file, const std::string& path);
// "pagerank", "tokenrank", "checkpoint", "graph", "attention"; "" for an edge list (its
// attributes sit on the root group).
std::string result_group(ResultKind kind);

// The top list a result records (empty for a checkpoint), and what its ids are.
struct TopList {
  std::vector<std::uint64_t> id;
  std::vector<double> score;
  std::string id_name;             // "vertex_id" or "position"
  std::vector<std::string> token;  // TokenRank with tokens: /tokenrank/top_token (else empty)
};
TopList read_top(const H5Reader& file, ResultKind kind);

// A batch of personalized vectors (pagerank --seed-sets, tokenrank --per-query): how many,
// and for the first `vectors` of them what they are personalized on and their top K, from the
// top lists when the file has only those, else from their rows of the matrix.
struct PersonalizedTops {
  std::uint64_t vectors = 0;       // 0: the file is no batch
  std::vector<std::string> label;  // the seed set as read, or "query P [token]"
  std::vector<TopList> top;
};
PersonalizedTops read_personalized_tops(const H5Reader& file, ResultKind kind, std::size_t vectors, std::size_t k);

// Every score with its id, by increasing id: PageRank by original vertex id, TokenRank's mean
// chain by position. What `diff` compares.
struct RankedScores {
  std::vector<std::uint64_t> id;
  std::vector<double> score;
  std::string id_name = "vertex_id";  // or "position" (TokenRank)
  std::vector<std::string> token;     // TokenRank with tokens: /tokens, one per position (else empty)
};
RankedScores read_ranked_scores(const std::string& path);

// Collective: this rank's share of a PageRank result's scores (/pagerank/vertex_id and
// /pagerank/score, an even slice each), for a warm start. Throws an input error naming the
// file for anything else (a missing or non-HDF5 file, an attention or TokenRank result, a
// checkpoint, a prepared graph) and naming the dataset for a score that is negative or not
// finite.
RankedScores read_pagerank_slice(const std::string& path, const Comm& comm);
// The same refusals, on one rank, from the file's groups alone (before a run loads its input).
void require_pagerank_result(const H5Reader& file, const std::string& path);

}  // namespace perron
