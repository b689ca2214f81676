#pragma once
// One entry point for every input: a file (format detected from its content, or forced) or a
// generator spec such as `kronecker:scale=20,edge-factor=16,seed=1`. Each rank comes back
// with its share of the edges in original ids, plus what the source declares about the
// vertex set; no rank ever holds the whole graph.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/types.hpp"
#include "perron/io/evlp.hpp"
#include "perron/io/kronecker.hpp"

namespace perron {

struct InputSpec {
  std::string input;           // path, NAME.properties, or kronecker:key=value,...
  std::string format = "auto"; // auto | text | evlp | binary | kronecker
  int binary_id_width = 64;
  bool ignore_weights = false;
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

}  // namespace perron
