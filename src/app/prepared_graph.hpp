#pragma once
// Prepared graphs (`perron convert --to graph`; docs/hdf5-layout.md#prepared-graph): a graph
// built once and stored as its CSR of in-edges by dense id, which any number of ranks loads by
// slices, each rank reading only its rows: no parse, no id remap, no edge exchange. Nothing in
// the file depends on the rank count that wrote it. The layout is a contract with users'
// scripts; /graph@layout_version says which one a file follows.
#include <string>

#include "perron/comm/comm.hpp"
#include "perron/graph/dist_graph.hpp"
#include "perron/io/hdf5_file.hpp"

namespace perron {

inline constexpr std::int64_t kPreparedGraphLayout = 1;

// What the graph was built from and how, recorded beside it.
struct PreparedSource {
  std::string input;          // the input it was built from
  std::string format;         // that input's format
  GraphOptions options;       // as built
  std::uint64_t fingerprint;  // the graph's fingerprint (the one checkpoints carry)
};

// Collective: writes `graph` under /graph of `file` (the caller adds /provenance).
void write_prepared_graph(H5Writer& file, const DistGraph& graph, const PreparedSource& source, const Comm& comm);

// Collective: whether `path` is an HDF5 file holding a prepared graph.
bool is_prepared_graph(const std::string& path, const Comm& comm);

// Collective: loads a prepared graph, each rank reading its slices, and checks it in one pass:
// the layout version, every dataset's shape, offsets from 0 to m and monotone, sources below n
// and increasing within a row, vertex ids increasing, weights finite and ≥ 0, and the stored
// out-degrees against the edges. Any failure is an input error naming the file and dataset.
struct LoadedPrepared {
  DistGraph graph;
  double read_seconds = 0.0;      // reading the slices, checks included
  double check_seconds = 0.0;     // of which the checks
  double assemble_seconds = 0.0;  // columns, ghosts, halo plan, out-weights
  Laps assemble_laps;             // its sub-phases (assemble_graph)
};
LoadedPrepared read_prepared_graph(const std::string& path, const Comm& comm);

}  // namespace perron
