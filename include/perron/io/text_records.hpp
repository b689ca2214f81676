#pragma once
// Parallel reading of line-oriented text files: edge lists (SNAP, plain, CSV), the data part of
// Matrix Market and METIS files, vertex files and personalization files; plain or gzip.
//
// Plain files: rank r of P owns the lines that *start* in bytes [b + r·S/P, b + (r+1)·S/P) of
// the data region [b, b + S) (b skips header lines), so no rank reads the whole file and every
// line is read once; each rank streams its range through a bounded buffer parsed by OpenMP
// threads. Gzip files cannot be split: every rank decompresses the stream and parses the
// 64 MiB blocks b with b mod P = r, counting the lines of the others for line numbers.
//
// Syntax: fields separated by spaces, tabs or commas; lines starting with '#' or '%' (after
// leading blanks) and blank lines are comments (METIS: a blank line is a vertex without
// neighbours). A malformed line is reported as "file:line:column: what was expected, found
// 'token'" from one rank, for the first bad line, and the call throws on every rank.
#include <cstdint>
#include <functional>
#include <limits>
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

enum class LineFormat {
  edge,   // src dst [weight]
  id,     // id [value]
  metis,  // the neighbours (and weights) of vertex (data line index + 1)
};

struct TextSyntax {
  LineFormat format = LineFormat::edge;
  int max_fields = 3;                 // edge: 2 or 3 (3 = optional weight); id: 1 or 2
  bool read_value = true;             // parse the optional value column (else ignore it)
  const char* value_name = "weight";  // for messages
  VertexId min_id = 0;                // ids outside [min_id, max_id] are errors
  VertexId max_id = std::numeric_limits<VertexId>::max();
  const char* id_name = "vertex id";  // for messages: "row index", ...
  int header_lines = 0;               // non-comment lines before the data (kept in TextFile::header)
  bool blank_lines_are_data = false;  // METIS
  int metis_vertex_weights = 0;       // METIS: values to skip at the start of each line
  bool metis_edge_weights = false;    // METIS: neighbours come with a weight each
};

struct TextFile {
  EdgeList records;                 // this rank's records (id files: id in src, value in weight)
  bool valued = false;              // a value column appeared on any rank
  std::uint64_t data_lines = 0;     // non-comment lines after the header, all ranks
  std::vector<std::string> header;  // the header lines, the same on every rank
  bool gzip = false;
};

// Progress of a long read, reported by rank 0 for its own share: bytes done of total.
using ReadProgress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// Collective. Reads `path` with the given syntax.
TextFile read_text(const std::string& path, const TextSyntax& syntax, const Comm& comm, const ReadProgress& progress = {});

// Collective. Up to `count` first non-comment lines of the (decompressed) file, on every rank:
// what format detection and header parsing look at.
std::vector<std::string> first_data_lines(const std::string& path, int count, const Comm& comm);

// Convenience forms of read_text.
struct TextEdges {
  EdgeList edges;
  bool weighted = false;
};
TextEdges read_text_edges(const std::string& path, const Comm& comm, bool ignore_weights = false, int header_lines = 0,
                          const ReadProgress& progress = {});
struct TextIds {
  std::vector<IdValue> records;
  bool valued = false;
};
TextIds read_text_ids(const std::string& path, const Comm& comm, int max_fields);

// Throws an input error unless `path` names a readable regular file; `what` says what the
// file was for ("input", "personalization").
void require_readable_file(const std::string& path, const std::string& what);

// True if the file starts with the gzip magic bytes.
bool is_gzip(const std::string& path);

// Up to `bytes` first bytes of the file, decompressed if it is gzip (format detection).
std::string read_head(const std::string& path, std::size_t bytes);

}  // namespace perron
