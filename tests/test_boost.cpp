// Boost.Graph as an oracle: its page_rank under its own convention, and its algorithms run
// directly on a rank's local CSR through the concept adapter.
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/page_rank.hpp>
#include <boost/graph/strong_components.hpp>

#include "perron/graph/bgl_adapter.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

// A graph without dangling vertices, duplicates or self-loops: the case where Boost's
// convention (r = (1−d) + d Σ r(u)/o(u), unnormalised, dangling mass dropped) equals ours
// up to the factor n.
TestGraph no_dangling_graph(std::uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  std::set<std::pair<VertexId, VertexId>> arcs;
  for (int v = 0; v < n; ++v) arcs.insert({static_cast<VertexId>(v), static_cast<VertexId>((v + 1) % n)});
  for (int k = 0; k < 4 * n; ++k) {
    const auto u = rng() % static_cast<VertexId>(n), v = rng() % static_cast<VertexId>(n);
    if (u != v) arcs.insert({u, v});
  }
  TestGraph g;
  for (const auto& [u, v] : arcs) g.edges.push_back({u * 7 + 3, v * 7 + 3, 1.0});  // sparse ids
  return g;
}

TEST(BoostOracle, PageRankMatchesBoostGraph) {
  const Comm comm = world();
  const int n = 200;
  const TestGraph g = no_dangling_graph(21, n);
  using BGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS>;
  BGraph bg(static_cast<std::size_t>(n));
  for (const auto& e : g.edges) boost::add_edge((e.src - 3) / 7, (e.dst - 3) / 7, bg);
  std::vector<double> rank(static_cast<std::size_t>(n));
  boost::graph::page_rank(bg, boost::make_iterator_property_map(rank.begin(), get(boost::vertex_index, bg)),
                          boost::graph::n_iterations(300), 0.85, static_cast<std::size_t>(n));
  const DistGraph graph = build_graph(share_of(g, comm), {}, comm);
  PageRankParams p;
  p.tolerance = 1e-15;
  p.max_iterations = 300;
  const auto ours = gather_by_id(graph, pagerank(graph, p, {}, {}, comm).score, comm);
  std::map<VertexId, double> boost_scores;
  for (int v = 0; v < n; ++v) boost_scores[static_cast<VertexId>(v) * 7 + 3] = rank[static_cast<std::size_t>(v)] / n;
  EXPECT_LT(l1_distance(ours, boost_scores), 1e-10);
}

// On one rank the local CSR is the whole (transposed) graph: BGL's strong_components on the
// adapter must count the same components as on an adjacency_list of the original graph.
TEST(BoostAdapter, StrongComponentsOnLocalCsr) {
  const Comm comm = world();
  const Comm self = comm.split(comm.rank(), 0);  // a one-rank communicator per rank
  const TestGraph g = random_graph(22, 120, 150, false);
  const DistGraph graph = build_graph(share_of(g, self), {}, self);
  BOOST_CONCEPT_ASSERT((boost::IncidenceGraphConcept<CsrGraphView>));
  BOOST_CONCEPT_ASSERT((boost::VertexListGraphConcept<CsrGraphView>));
  BOOST_CONCEPT_ASSERT((boost::AdjacencyGraphConcept<CsrGraphView>));
  const CsrGraphView view{&graph.in};
  ASSERT_EQ(num_vertices(view), graph.stats.n);  // one rank: no ghosts
  std::vector<LocalId> comp(num_vertices(view));
  const auto ours =
      boost::strong_components(view, boost::make_iterator_property_map(comp.begin(), get(boost::vertex_index, view)));

  using BGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS>;
  std::vector<VertexId> ids = graph.ids.slice_ids();
  BGraph bg(ids.size());
  auto idx = [&](VertexId v) { return static_cast<std::size_t>(std::lower_bound(ids.begin(), ids.end(), v) - ids.begin()); };
  for (const auto& e : g.edges) boost::add_edge(idx(e.src), idx(e.dst), bg);
  std::vector<std::size_t> comp2(ids.size());
  const auto expected =
      boost::strong_components(bg, boost::make_iterator_property_map(comp2.begin(), get(boost::vertex_index, bg)));
  EXPECT_EQ(static_cast<std::size_t>(ours), static_cast<std::size_t>(expected));
  EXPECT_GT(static_cast<std::size_t>(expected), 1u);
}

}  // namespace
}  // namespace perron::test
