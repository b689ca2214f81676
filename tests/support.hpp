#pragma once
// Shared test helpers: deterministic random graphs (the same on every rank), the dense
// float64 PageRank oracle, and gathering distributed results.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "perron/algo/attention.hpp"
#include "perron/algo/pagerank.hpp"
#include "perron/comm/comm.hpp"
#include "perron/core/error.hpp"
#include "perron/graph/dist_graph.hpp"
#include "perron/io/edge_source.hpp"

namespace perron::test {

inline Comm world() { return Environment::world(); }

// Where the conformance data lives: $PERRON_SHARED_DATA, else ../shared/data beside the
// source tree. Empty if missing: tests then skip loudly.
inline std::string shared_data() {
  const char* env = std::getenv("PERRON_SHARED_DATA");
  const std::filesystem::path p =
      env ? std::filesystem::path(env) : std::filesystem::path(PERRON_SOURCE_DIR) / ".." / "shared" / "data";
  return std::filesystem::is_directory(p) ? p.string() : std::string();
}

#define PERRON_REQUIRE_SHARED_DATA(dir)                  \
  const std::string dir = ::perron::test::shared_data(); \
  if (dir.empty()) GTEST_SKIP() << "SKIPPED LOUDLY: conformance data ../shared/data not found (set PERRON_SHARED_DATA)"

// An input spec for a file, as `--input PATH [--format F]` gives it.
inline InputSpec input_spec(const std::string& path, const std::string& format = "auto") {
  InputSpec spec;
  spec.input = path;
  spec.format = format;
  return spec;
}

// A graph in original ids, identical on every rank.
struct TestGraph {
  std::vector<RawEdge> edges;
  std::vector<VertexId> extra_vertices;  // declared isolated vertices
  bool weighted = false;
};

// Random multigraph with sparse ids, dangling vertices, self-loops, duplicates and isolated
// vertices. Same seed → same graph on every rank.
inline TestGraph random_graph(std::uint64_t seed, int n, int m, bool weighted) {
  std::mt19937_64 rng(seed);
  std::vector<VertexId> ids(static_cast<std::size_t>(n));
  std::set<VertexId> used;
  for (auto& id : ids) {
    do id = rng() % 1000000007ull;
    while (!used.insert(id).second);
  }
  TestGraph g;
  g.weighted = weighted;
  std::uniform_int_distribution<int> pick(0, n - 1);
  std::uniform_real_distribution<double> w(0.1, 3.0);
  const int sinks = std::max(1, n / 8);  // the last `sinks` vertices have no out-edges
  const int isolated = std::max(1, n / 16);
  const int active = n - isolated;
  for (int e = 0; e < m; ++e) {
    int s = pick(rng) % (active - sinks);
    int d = pick(rng) % active;
    if (e % 17 == 0) d = s;  // self-loops
    g.edges.push_back({ids[static_cast<std::size_t>(s)], ids[static_cast<std::size_t>(d)], weighted ? w(rng) : 1.0});
    if (e % 11 == 0) g.edges.push_back(g.edges.back());  // duplicates
  }
  for (int i = active; i < n; ++i) g.extra_vertices.push_back(ids[static_cast<std::size_t>(i)]);
  return g;
}

// This rank's share of a TestGraph: a strided subset, so that nothing arrives where it belongs.
inline EdgeShare share_of(const TestGraph& g, const Comm& comm) {
  EdgeShare s;
  for (std::size_t i = 0; i < g.edges.size(); ++i)
    if (static_cast<int>(i % static_cast<std::size_t>(comm.size())) == comm.rank()) s.edges.push_back(g.edges[i]);
  for (std::size_t i = 0; i < g.extra_vertices.size(); ++i)
    if (static_cast<int>(i % static_cast<std::size_t>(comm.size())) == comm.rank()) s.declared.push_back(g.extra_vertices[i]);
  s.weighted = g.weighted;
  return s;
}

// Dense float64 oracle: solves (I − αPᵀ − α δ dᵀ) x = (1−α) t by Gaussian elimination with
// partial pivoting, where P_uv = w(u,v)/o(u) after collapsing duplicates (largest weight),
// d marks dangling vertices and δ = t. Returns x by original id.
inline std::map<VertexId, double> dense_pagerank(const TestGraph& g, double alpha,
                                                 const std::map<VertexId, double>& personalization = {}) {
  std::set<VertexId> vs(g.extra_vertices.begin(), g.extra_vertices.end());
  for (const auto& e : g.edges) {
    vs.insert(e.src);
    vs.insert(e.dst);
  }
  const std::vector<VertexId> ids(vs.begin(), vs.end());
  const std::size_t n = ids.size();
  auto idx = [&](VertexId v) { return static_cast<std::size_t>(std::lower_bound(ids.begin(), ids.end(), v) - ids.begin()); };
  std::map<std::pair<std::size_t, std::size_t>, double> w;  // collapsed edges
  for (const auto& e : g.edges) {
    double& x = w[{idx(e.src), idx(e.dst)}];
    x = std::max(x, e.weight);
  }
  std::vector<double> out(n, 0.0), t(n, 1.0 / static_cast<double>(n));
  for (const auto& [uv, x] : w) out[uv.first] += x;
  if (!personalization.empty()) {
    double total = 0;
    for (const auto& [id, v] : personalization) total += v;
    std::fill(t.begin(), t.end(), 0.0);
    for (const auto& [id, v] : personalization) t[idx(id)] += v / total;
  }
  std::vector<double> a(n * n, 0.0), b(n);
  for (std::size_t i = 0; i < n; ++i) {
    a[i * n + i] = 1.0;
    b[i] = (1 - alpha) * t[i];
  }
  for (const auto& [uv, x] : w) a[uv.second * n + uv.first] -= alpha * x / out[uv.first];
  for (std::size_t u = 0; u < n; ++u)
    if (out[u] == 0.0)
      for (std::size_t v = 0; v < n; ++v) a[v * n + u] -= alpha * t[v];
  for (std::size_t c = 0; c < n; ++c) {
    std::size_t p = c;
    for (std::size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    for (std::size_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[p * n + k]);
    std::swap(b[c], b[p]);
    for (std::size_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      if (f == 0.0) continue;
      for (std::size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
      b[r] -= f * b[c];
    }
  }
  std::vector<double> x(n);
  for (std::size_t i = n; i-- > 0;) {
    double s = b[i];
    for (std::size_t k = i + 1; k < n; ++k) s -= a[i * n + k] * x[k];
    x[i] = s / a[i * n + i];
  }
  std::map<VertexId, double> result;
  for (std::size_t i = 0; i < n; ++i) result[ids[i]] = x[i];
  return result;
}

// Every rank gets the whole score vector, by original id.
inline std::map<VertexId, double> gather_by_id(const DistGraph& g, const std::vector<double>& score, const Comm& comm) {
  const std::vector<double> all = comm.allgatherv<double>(score);
  const std::vector<VertexId> slice = g.ids.slice_ids();
  const std::vector<VertexId> ids = comm.allgatherv<VertexId>(slice);
  std::map<VertexId, double> out;
  for (std::size_t i = 0; i < all.size(); ++i) out[ids[i]] = all[i];
  return out;
}

// A teleport or dangling vector from weights by original id (empty: uniform).
inline VertexDistribution distribution_of(const std::map<VertexId, double>& weights, const DistGraph& graph, const Comm& comm) {
  if (weights.empty()) return {};
  std::vector<VertexId> ids;
  std::vector<double> values;
  if (comm.is_root())  // one rank contributes every pair
    for (const auto& [id, v] : weights) ids.push_back(id), values.push_back(v);
  return distribution_from_weights(ids, values, graph, comm, "test");
}

// Loads an input and ranks it; teleport/dangling by original id (empty: uniform / teleport).
inline std::map<VertexId, double> rank_input(const InputSpec& spec, const GraphOptions& options, PageRankParams params,
                                             const std::map<VertexId, double>& teleport = {},
                                             const std::map<VertexId, double>& dangling = {}) {
  const Comm comm = world();
  LoadedInput in = load_edges(spec, comm);
  const DistGraph graph = build_graph(std::move(in.share), options, comm);
  const VertexDistribution t = distribution_of(teleport, graph, comm);
  const VertexDistribution delta = dangling.empty() ? t : distribution_of(dangling, graph, comm);
  return gather_by_id(graph, pagerank(graph, params, t, delta, comm).score, comm);
}

// The rows of the runs `segs` of a [heads][rows][dim] array, per head one run after the
// other: what a rank holding those positions passes to attention() or tokenrank().
inline std::vector<float> gather_rows(const std::vector<float>& a, int heads, int rows, int dim,
                                      const std::vector<Segment>& segs) {
  std::vector<float> out;
  for (int h = 0; h < heads; ++h)
    for (const Segment& sg : segs) {
      const auto at = a.begin() + static_cast<std::ptrdiff_t>((static_cast<std::size_t>(h) * static_cast<std::size_t>(rows) +
                                                               static_cast<std::size_t>(sg.begin)) *
                                                              static_cast<std::size_t>(dim));
      out.insert(out.end(), at,
                 at + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(sg.count) * static_cast<std::size_t>(dim)));
    }
  return out;
}

// Runs f, expects a collective perron::Error whose message contains `needle`.
template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing: " << needle;
  } catch (const Error& e) {
    EXPECT_TRUE(e.collective()) << e.what();
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

inline double l1_distance(const std::map<VertexId, double>& a, const std::map<VertexId, double>& b) {
  EXPECT_EQ(a.size(), b.size());
  double d = 0;
  for (const auto& [id, v] : a) {
    auto it = b.find(id);
    if (it == b.end()) {
      ADD_FAILURE() << "vertex " << id << " missing";
      return INFINITY;
    }
    d += std::abs(v - it->second);
  }
  return d;
}

}  // namespace perron::test
