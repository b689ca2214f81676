#pragma once
// Parallel reading of line-oriented text files (edge lists, vertex files, personalization
// files). Rank r of P owns the lines that *start* in bytes [r·S/P, (r+1)·S/P) of a file of S
// bytes, so no rank reads the whole file and every line is read exactly once. Inside a rank
// the file streams through a bounded buffer and each buffer is parsed by OpenMP threads.
//
// Syntax: fields separated by spaces, tabs or commas; lines starting with '#' or '%' (after
// leading blanks) and blank lines are comments. A malformed line is reported as
// "file:line:column: what was expected, found 'token'" from one rank, for the first bad line
// of the file, and the call throws on every rank.
#include <cstdint>
#include <string>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"

namespace perron {

// One vertex id with an optional value (vertex files, personalization vectors).
struct IdValue {
  VertexId id;
  double value;
};

struct TextEdges {
  std::vector<RawEdge> edges;  // this rank's lines, in file order
  bool weighted = false;       // a weight column appeared on any rank
  std::uint64_t lines = 0;     // lines in the whole file (all ranks)
};

struct TextIds {
  std::vector<IdValue> records;  // this rank's lines, in file order
  bool valued = false;           // a value column appeared on any rank
};

// Edge lines: `src dst [weight]`. Weights must be finite and >= 0; without a weight column
// an edge weighs 1. With ignore_weights a third column is accepted and not read.
TextEdges read_text_edges(const std::string& path, const Comm& comm, bool ignore_weights = false);

// Vertex-id lines: `id` (max_fields == 1) or `id [value]` (max_fields == 2).
TextIds read_text_ids(const std::string& path, const Comm& comm, int max_fields);

// Throws an input error unless `path` names a readable regular file; `what` says what the
// file was for ("input", "personalization file").
void require_readable_file(const std::string& path, const std::string& what);

}  // namespace perron
