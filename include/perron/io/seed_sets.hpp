#pragma once
// Seed-set files for batched personalized ranking: one seed set a line, vertex ids (or
// positions) separated by commas and/or blanks, each optionally `id:weight` (weight 1 when
// absent). A line starting with '#' is a comment. Read by one rank: a batch is at most a few
// thousand sets.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "perron/core/types.hpp"

namespace perron {

struct SeedSets {
  std::vector<VertexId> id;         // every set's ids, set after set
  std::vector<double> weight;       // one per id: positive and finite
  std::vector<std::size_t> start;   // sets + 1 offsets into id / weight
  std::vector<std::string> text;    // each set as read (the line, trimmed)
  std::vector<std::uint64_t> line;  // each set's line number (1-based)
  std::size_t sets() const { return text.size(); }
  // Where set s came from, for errors: "FILE:LINE".
  std::string where(const std::string& path, std::size_t s) const { return path + ":" + std::to_string(line[s]); }
};

// Parses a seed-set file. Throws an input error naming the file and line for an empty set (a
// blank line), an id that is not a non-negative integer, a weight that is not a number > 0
// and finite, and for a file with no set at all.
SeedSets read_seed_sets(const std::string& path);

// Parses one inline list, e.g. `--seeds 5,17` or `--per-query 0,3,9`, into a single set;
// `what` names the option in errors.
SeedSets parse_seed_list(const std::string& list, const std::string& what);

}  // namespace perron
