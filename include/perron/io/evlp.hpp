#pragma once
// LDBC Graphalytics EVLP datasets: NAME.properties names the vertex file (.v, one id per
// line) and the edge file (.e, `src dst [properties]`), says whether the graph is directed,
// and gives PageRank's damping factor and iteration count.
#include <optional>
#include <string>

namespace perron {

struct EvlpProperties {
  std::string name;         // the NAME in graph.NAME.*
  std::string vertex_file;  // resolved relative to the .properties file
  std::string edge_file;
  bool directed = true;
  std::optional<double> pr_damping;
  std::optional<int> pr_iterations;
};

// Reads and checks a .properties file (small: every rank reads it).
EvlpProperties read_evlp_properties(const std::string& path);

}  // namespace perron
