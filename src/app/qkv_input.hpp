#pragma once
// Reading q, k, v and masks from HDF5 for the attention family of commands (attention,
// tokenrank, attention-graph): [heads, N, d] or [batch, heads, N, d] datasets, each rank
// reading only the runs of positions it holds. Every check throws an input error naming the
// file and dataset; NaN or ±∞ names the head, position and component.
#include <cstdint>
#include <string>
#include <vector>

#include "perron/algo/attention.hpp"
#include "perron/io/hdf5_file.hpp"

namespace perron {

// The shape of q/k/v: [heads, N, d] or [batch, heads, N, d].
struct QkvShape {
  std::uint64_t batch = 1, heads = 0, seq = 0, dim = 0;
  bool batched = false;
};

QkvShape qkv_shape(const H5Reader& f, const std::string& path, const std::string& name);

// Rows of the runs of positions of batch entry b, per head one run after the other:
// [heads][Σ counts][dim], checked finite.
std::vector<float> read_qkv_runs(const H5Reader& f, const std::string& path, const std::string& name, const QkvShape& s,
                                 std::uint64_t b, const std::vector<Segment>& runs);
// The same in float64 (float64 datasets keep their precision: tokenrank --precision double).
std::vector<double> read_qkv_runs_double(const H5Reader& f, const std::string& path, const std::string& name, const QkvShape& s,
                                         std::uint64_t b, const std::vector<Segment>& runs);

// A mask dataset: [Nq, Nk] or [batch|1, heads|1, Nq, Nk], boolean (true = attend) or float
// (added to the scores).
struct MaskInfo {
  std::string name;
  std::vector<std::uint64_t> dims;
  bool boolean = false;
};
// Queries and keys that fit together: one layout and batch size, one head size, and query heads
// a multiple of key heads (GQA). `where` starts every message ("file: " or "file: layer: ").
void check_query_key(const QkvShape& qs, const QkvShape& ks, const std::string& where);

MaskInfo check_mask(const H5Reader& f, const std::string& path, const std::string& name, const QkvShape& qs, const QkvShape& ks);

// The mask as additive floats (−∞ where a boolean mask is false) for batch entry b:
// rows: this rank's query runs against all keys, [heads][Σ rows][Nk];
// columns: all queries against this rank's key runs, [heads][Nq][Σ cols].
std::vector<float> read_mask_rows(const H5Reader& f, const std::string& path, const MaskInfo& m, const QkvShape& qs,
                                  const QkvShape& ks, std::uint64_t b, const std::vector<Segment>& runs);
std::vector<float> read_mask_columns(const H5Reader& f, const std::string& path, const MaskInfo& m, const QkvShape& qs,
                                     std::uint64_t b, const std::vector<Segment>& runs);

// The positions a rank holds: one contiguous block, or for causal self-attention on several
// ranks the zigzag layout (chunks r and 2P−1−r of 2P), which gives every rank equal work.
std::vector<Segment> rank_positions(std::uint64_t n, int rank, int ranks, bool zigzag);

std::uint64_t total_rows(const std::vector<Segment>& runs);

// The input's /tokens for batch entry b: the words of the N positions, from a string dataset
// [N] or [batch, N] (perron_torch writes it); empty when the file has none. An input error
// naming the file and dataset for any other shape or a dataset that holds no strings.
std::vector<std::string> read_tokens(const H5Reader& f, const std::string& path, const QkvShape& s, std::uint64_t b);

}  // namespace perron
