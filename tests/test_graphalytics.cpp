// LDBC Graphalytics conformance: the four PageRank validation sets in ../shared/data, run
// with --convention graphalytics (damping and fixed iterations from the .properties file),
// checked with Graphalytics' own rule: |expected − actual| ≤ 1e-4·|expected| per vertex.
#include <fstream>
#include <sstream>

#include "perron/io/edge_source.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

class Graphalytics : public testing::TestWithParam<std::string> {};

TEST_P(Graphalytics, MatchesExpectedOutput) {
  PERRON_REQUIRE_SHARED_DATA(data);
  const Comm comm = world();
  const std::string base = data + "/graphalytics/" + GetParam();
  LoadedInput in = load_edges(input_spec(base + ".properties"), comm);
  ASSERT_EQ(in.format, "evlp");
  ASSERT_TRUE(in.evlp && in.evlp->pr_damping && in.evlp->pr_iterations);
  const DistGraph graph = build_graph(std::move(in.share), {}, comm);
  PageRankParams p;
  p.damping = *in.evlp->pr_damping;
  p.fixed_iterations = *in.evlp->pr_iterations;
  const auto got = gather_by_id(graph, pagerank(graph, p, {}, {}, comm).score, comm);

  std::ifstream expected_file(base + "-PR");
  ASSERT_TRUE(expected_file) << base << "-PR";
  std::size_t count = 0;
  VertexId id;
  double value;
  while (expected_file >> id >> value) {
    ++count;
    auto it = got.find(id);
    ASSERT_NE(it, got.end()) << "vertex " << id;
    EXPECT_LE(std::abs(it->second - value), 1e-4 * std::abs(value)) << GetParam() << " vertex " << id;
  }
  EXPECT_EQ(count, got.size());
  EXPECT_GT(count, 0u);
}

INSTANTIATE_TEST_SUITE_P(Sets, Graphalytics,
                         testing::Values("example-directed", "example-undirected", "test-pr-directed", "test-pr-undirected"),
                         [](const auto& param_info) {
                           std::string s = param_info.param;
                           std::replace(s.begin(), s.end(), '-', '_');
                           return s;
                         });

// An EVLP edge whose endpoint the .v file does not declare is refused.
TEST(GraphalyticsInput, UndeclaredEndpointIsAnError) {
  const Comm comm = world();
  const auto dir = std::filesystem::temp_directory_path() / ("perron_evlp_" + std::to_string(comm.size()));
  if (comm.is_root()) {
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "g.properties") << "graph.g.vertex-file = g.v\ngraph.g.edge-file = g.e\ngraph.g.directed = true\n";
    std::ofstream(dir / "g.v") << "1\n2\n3\n";
    std::ofstream(dir / "g.e") << "1 2\n2 3\n3 42\n";
  }
  comm.barrier();
  try {
    LoadedInput in = load_edges(input_spec((dir / "g.properties").string()), comm);
    build_graph(std::move(in.share), {}, comm);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("g.e: edge endpoint 42 is not declared in "), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace perron::test
