#pragma once
// One entry point for every input: a file, whose format is detected from its content (or
// forced with `format`), or a generator spec such as `kronecker:scale=20,edge-factor=16,seed=1`.
// Each rank comes back with its share of the edges in original ids and what the source
// declares about the vertex set; no rank ever holds the whole graph.
//
// Formats: text edge lists (SNAP, plain, CSV with a header line), Matrix Market coordinate,
// METIS adjacency, LDBC Graphalytics EVLP, binary (src, dst[, weight]) records, HDF5 edge
// lists (datasets src, dst[, weight][, vertices] in a group), gzip-compressed text.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"
#include "perron/io/evlp.hpp"
#include "perron/io/hdf5_file.hpp"
#include "perron/io/kronecker.hpp"
#include "perron/io/text_records.hpp"

namespace perron {

struct InputSpec {
  std::string input;                   // path, NAME.properties, or kronecker:key=value,...
  std::string format = "auto";         // auto | text | mm | metis | evlp | binary | hdf5 | kronecker
  int binary_id_width = 64;            // binary: bits per id
  std::string binary_weight = "none";  // binary: none | f32 | f64 after each (src, dst)
  std::uint64_t binary_vertices = 0;   // binary: > 0 declares vertices 0..N-1 (ids must be < N)
  std::string hdf5_group = "/";        // HDF5 edge lists: the group holding src, dst, ...
  int header_lines = -1;               // text: non-comment lines before the edges (-1: detect a CSV header)
  bool ignore_weights = false;
  std::string vertices_file;  // optional file of vertex ids to add to the vertex set
  ReadProgress progress;      // called on rank 0 while long text inputs are read
};

// An input as loaded: the edge share plus what the source said about itself.
struct LoadedInput {
  EdgeShare share;
  std::string format;  // the format actually read
  std::optional<EvlpProperties> evlp;
  std::optional<KroneckerParams> kronecker;
};

LoadedInput load_edges(const InputSpec& spec, const Comm& comm);

// "kronecker:scale=20,edge-factor=8,seed=3" → parameters; throws a usage error otherwise.
KroneckerParams parse_kronecker_spec(const std::string& spec);

// The format of a file from its first bytes (rank-local; may throw).
std::string detect_format(const std::string& path);

// Collective: writes `share` as an HDF5 edge list into `group` of an open file (`perron convert`,
// `perron attention-graph`), chunked and compressed, so that load_edges(format hdf5) gives back
// the same share.
void write_hdf5_edges(H5Writer& file, const std::string& group, const EdgeShare& share, const std::string& source_format,
                      const Comm& comm);

}  // namespace perron
