// Every format gives the same graph: one random weighted graph written as a text edge list,
// CSV with a header, gzip, Matrix Market, binary (64- and 32-bit ids), HDF5 (perron convert's
// writer) and METIS must give identical PageRank scores. Plus each format's errors, and the
// connected components against Boost.Graph.
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/connected_components.hpp>
#include <boost/graph/strong_components.hpp>
#include <omp.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "perron/algo/components.hpp"
#include "perron/core/error.hpp"
#include "perron/core/range.hpp"
#include "perron/io/edge_source.hpp"
#include "perron/io/hdf5_file.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

std::filesystem::path scratch(const Comm& comm) {
  auto dir = std::filesystem::temp_directory_path() / ("perron_formats_" + std::to_string(comm.size()));
  if (comm.is_root()) std::filesystem::create_directories(dir);
  comm.barrier();
  return dir;
}

// Writes `text` (rank 0) and returns the path on every rank.
std::string put(const Comm& comm, const std::string& name, const std::string& text, bool gzip = false) {
  const auto path = scratch(comm) / name;
  if (comm.is_root()) {
    if (gzip) {
      const std::string plain = path.string() + ".plain";
      std::ofstream(plain, std::ios::binary) << text;
      const std::string cmd = "gzip -c '" + plain + "' > '" + path.string() + "'";
      EXPECT_EQ(std::system(cmd.c_str()), 0);
    } else {
      std::ofstream(path, std::ios::binary) << text;
    }
  }
  comm.barrier();
  return path.string();
}

// A directed weighted graph on 1..n with no isolated vertex (a ring plus random arcs).
std::vector<RawEdge> ring_graph(int n, int extra, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<RawEdge> e;
  for (int v = 1; v <= n; ++v) e.push_back({static_cast<VertexId>(v), static_cast<VertexId>(v % n + 1), 1.0 + v % 3});
  for (int k = 0; k < extra; ++k) e.push_back({rng() % n + 1, rng() % n + 1, 0.25 * static_cast<double>(1 + rng() % 8)});
  return e;
}

TEST(Formats, EveryFormatGivesIdenticalScores) {
  const Comm comm = world();
  const int n = 60;
  const auto edges = ring_graph(n, 240, 5);
  std::ostringstream text, csv, mm, bin64, bin32;
  text << "# a test graph\n";
  csv << "source,target,weight\n";
  mm << "%%MatrixMarket matrix coordinate real general\n% comment\n" << n << " " << n << " " << edges.size() << "\n";
  for (const auto& e : edges) {
    text << e.src << "\t" << e.dst << " " << e.weight << "\n";
    csv << e.src << "," << e.dst << "," << e.weight << "\n";
    mm << e.src << " " << e.dst << " " << e.weight << "\n";
    const std::uint64_t ids[2] = {e.src, e.dst};
    const std::uint32_t ids32[2] = {static_cast<std::uint32_t>(e.src), static_cast<std::uint32_t>(e.dst)};
    bin64.write(reinterpret_cast<const char*>(ids), 16);
    bin64.write(reinterpret_cast<const char*>(&e.weight), 8);
    bin32.write(reinterpret_cast<const char*>(ids32), 8);
    const float w = static_cast<float>(e.weight);
    bin32.write(reinterpret_cast<const char*>(&w), 4);
  }
  const std::string text_path = put(comm, "g.txt", text.str());
  std::vector<std::pair<std::string, InputSpec>> inputs;
  inputs.push_back({"text", input_spec(text_path)});
  inputs.push_back({"csv", input_spec(put(comm, "g.csv", csv.str()))});
  inputs.push_back({"gzip", input_spec(put(comm, "g.txt.gz", text.str(), true))});
  inputs.push_back({"mm", input_spec(put(comm, "g.mtx", mm.str()))});
  InputSpec b64 = input_spec(put(comm, "g64.bin", bin64.str()));
  b64.binary_weight = "f64";
  inputs.push_back({"binary64", b64});
  InputSpec b32 = input_spec(put(comm, "g32.bin", bin32.str()), "binary");
  b32.binary_id_width = 32;
  b32.binary_weight = "f32";  // the weights are multiples of 1/4: exact in float32
  inputs.push_back({"binary32", b32});
  {  // HDF5, written by perron convert's writer from the text input
    LoadedInput in = load_edges(input_spec(text_path), comm);
    const std::string h5 = (scratch(comm) / "g.h5").string();
    {
      H5Writer file(h5, comm);
      write_hdf5_edges(file, "/graph", in.share, in.format, comm);
    }
    InputSpec spec = input_spec(h5);
    spec.hdf5_group = "/graph";
    inputs.push_back({"hdf5", spec});
  }
  PageRankParams p;
  p.tolerance = 1e-13;
  const auto reference = rank_input(inputs[0].second, {}, p);
  ASSERT_EQ(reference.size(), static_cast<std::size_t>(n));
  for (const auto& [name, spec] : inputs) {
    LoadedInput probe = load_edges(spec, comm);
    EXPECT_TRUE(probe.share.weighted) << name;
    EXPECT_EQ(rank_input(spec, {}, p), reference) << name << " (format detected as " << probe.format << ")";
  }
}

TEST(Formats, MetisEqualsTheUndirectedEdgeList) {
  const Comm comm = world();
  // Undirected weighted graph on 1..5 with vertex 5 isolated (a blank METIS line).
  const std::string metis = "% comment\n5 4 1\n2 1 3 2\n1 1 3 1 4 5\n1 2 2 1\n2 5\n\n";
  const std::string edges = "1 2 1\n1 3 2\n2 3 1\n2 4 5\n";
  InputSpec m = input_spec(put(comm, "g.metis", metis), "metis");
  InputSpec t = input_spec(put(comm, "g_und.txt", edges));
  t.vertices_file = put(comm, "g_und.v", "5\n");
  PageRankParams p;
  p.tolerance = 1e-13;
  const auto a = rank_input(m, {}, p);
  const auto b = rank_input(t, GraphOptions{true, false, false}, p);
  ASSERT_EQ(a.size(), 5u);
  EXPECT_LE(l1_distance(a, b), 1e-15);
  expect_error([&] { load_edges(input_spec(put(comm, "short.metis", "5 4\n2 3\n1\n"), "metis"), comm); },
               "declares 5 vertices, but the file has 2 adjacency lines");
  expect_error([&] { load_edges(input_spec(put(comm, "arcs.metis", "2 2\n2\n1\n"), "metis"), comm); },
               "declares 2 edges (4 adjacency entries), but the file has 2 entries");
  expect_error([&] { load_edges(input_spec(put(comm, "range.metis", "2 1\n3\n1\n"), "metis"), comm); },
               "range.metis:2:1: METIS neighbour 3 is outside the declared range 1..2");
}

TEST(Formats, MatrixMarketDeclaresVerticesAndChecksItsHeader) {
  const Comm comm = world();
  const std::string sym = "%%MatrixMarket matrix coordinate pattern symmetric\n6 6 3\n2 1\n3 2\n3 3\n";
  LoadedInput in = load_edges(input_spec(put(comm, "sym.mtx", sym)), comm);
  EXPECT_EQ(in.format, "mm");
  const DistGraph g = build_graph(std::move(in.share), {}, comm);
  EXPECT_EQ(g.stats.n, 6u);  // the dimension declares isolated vertices 4, 5, 6
  EXPECT_EQ(g.stats.m, 5u);  // 1-2, 2-1, 2-3, 3-2, 3-3
  expect_error([&] { load_edges(input_spec(put(comm, "nobanner.mtx", "3 3 1\n1 2\n"), "mm"), comm); },
               "missing Matrix Market header");
  expect_error(
      [&] {
        load_edges(input_spec(put(comm, "count.mtx", "%%MatrixMarket matrix coordinate pattern general\n3 3 3\n1 2\n")), comm);
      },
      "the header declares 3 entries, but the file has 1");
  expect_error(
      [&] {
        load_edges(input_spec(put(comm, "dim.mtx", "%%MatrixMarket matrix coordinate pattern general\n3 3 1\n1 7\n")), comm);
      },
      "dim.mtx:3:3: Matrix Market index 7 is outside the declared range 1..3");
  expect_error(
      [&] {
        load_edges(input_spec(put(comm, "rect.mtx", "%%MatrixMarket matrix coordinate pattern general\n3 4 1\n1 2\n")), comm);
      },
      "square");
  expect_error(
      [&] { load_edges(input_spec(put(comm, "arr.mtx", "%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n")), comm); },
      "only 'matrix coordinate'");
}

TEST(Formats, GzipErrorsAndLineNumbers) {
  const Comm comm = world();
  std::string big;
  for (int i = 0; i < 2000; ++i) big += std::to_string(i) + " " + std::to_string(i + 1) + "\n";
  const std::string bad = put(comm, "bad.txt.gz", big + "7 x\n", true);
  expect_error([&] { load_edges(input_spec(bad), comm); }, "bad.txt.gz:2001:3: expected a vertex id (integer >= 0), found 'x'");
  const std::string full = put(comm, "trunc_src.gz", big, true);
  const std::string cut = (scratch(comm) / "trunc.txt.gz").string();
  if (comm.is_root()) {
    std::ifstream in(full, std::ios::binary);
    std::string bytes(std::filesystem::file_size(full) / 2, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::ofstream(cut, std::ios::binary) << bytes;
  }
  comm.barrier();
  expect_error([&] { load_edges(input_spec(cut), comm); }, "corrupt gzip stream");
}

TEST(Formats, Hdf5EdgeListErrors) {
  const Comm comm = world();
  EdgeShare share;
  if (comm.is_root()) share.edges = {{1, 2, 1.0}, {2, 3, 1.0}};
  const std::string path = (scratch(comm) / "e.h5").string();
  {
    H5Writer file(path, comm);
    write_hdf5_edges(file, "/g", share, "text", comm);
  }
  InputSpec spec = input_spec(path);
  spec.hdf5_group = "/other";
  expect_error([&] { load_edges(spec, comm); }, "no group /other");
  spec.hdf5_group = "/";
  expect_error([&] { load_edges(spec, comm); }, "no dataset /src");
  // Mismatched lengths: a file whose dst is shorter than src.
  const std::string bad = (scratch(comm) / "bad.h5").string();
  {
    H5Writer w(bad, comm);
    const std::vector<std::uint64_t> three{1, 2, 3}, two{2, 3};
    w.write_replicated<std::uint64_t>("/src", three);
    w.write_replicated<std::uint64_t>("/dst", two);
    w.close();
  }
  expect_error([&] { load_edges(input_spec(bad), comm); }, "have different lengths (3 and 2)");
}

// perron's own chunk decoders (every thread at once) against HDF5's (H5Dread) on the columns
// perron convert writes: integer ids with scale-offset, float weights shuffled and deflated.
// The ids exercise every scale-offset case: spread ids (22 bits), 0 (the fill value's code),
// a constant chunk (0 bits), and a chunk spanning 0 .. 2^64 - 1 (stored as it is). Slices
// start and end inside chunks, and the last chunk is partial.
TEST(Formats, Hdf5ChunksDecodedOnEveryThreadMatchHdf5) {
  const Comm comm = world();
  constexpr std::uint64_t kChunk = std::uint64_t{1} << 20;  // H5Writer's chunk size
  const std::uint64_t total = 3 * kChunk + 12345;
  auto id_at = [&](std::uint64_t i) -> std::uint64_t {
    if (i / kChunk == 1) return 777;  // one chunk of a single value
    if (i / kChunk == 2) return i % 3 == 0 ? ~std::uint64_t{0} : i % 3 == 1 ? 0 : i;
    return i % 1000 == 0 ? 0 : (i * 2654435761u) % (std::uint64_t{1} << 22);
  };
  const auto P = static_cast<std::uint64_t>(comm.size()), r = static_cast<std::uint64_t>(comm.rank());
  const std::uint64_t b = total * r / P, e = total * (r + 1) / P;
  std::vector<std::uint64_t> ids(e - b);
  std::vector<std::int64_t> signed_ids(e - b);
  std::vector<double> weights(e - b);
  for (std::uint64_t i = b; i < e; ++i) {
    ids[i - b] = id_at(i);
    signed_ids[i - b] = static_cast<std::int64_t>(id_at(i) % 100000) - 50000;
    weights[i - b] = 1.0 / static_cast<double>(i % 977 + 1);
  }
  const std::string path = (scratch(comm) / "chunks.h5").string();
  {
    H5Writer file(path, comm);
    file.write_distributed<std::uint64_t>("/ids", ids, b, total, true);
    file.write_distributed<std::int64_t>("/signed", signed_ids, b, total, true);
    file.write_distributed<double>("/weight", weights, b, total, true);
    file.close();
  }
  const H5Reader fast(path), library(path, H5Reader::ChunkDecoding::library);
  EXPECT_TRUE(fast.decodes_in_parallel<std::uint64_t>("/ids"));
  EXPECT_TRUE(fast.decodes_in_parallel<std::int64_t>("/signed"));
  EXPECT_TRUE(fast.decodes_in_parallel<double>("/weight"));
  EXPECT_FALSE(fast.decodes_in_parallel<std::uint64_t>("/signed"));  // conversions are HDF5's
  const std::vector<std::pair<std::uint64_t, std::uint64_t>> slices = {
      {0, total}, {b, e - b}, {kChunk - 5, kChunk + 17}, {2 * kChunk + 1, kChunk}, {total - 7, 7}};
  for (const auto& [offset, count] : slices) {
    SCOPED_TRACE("slice at " + std::to_string(offset) + " of " + std::to_string(count));
    const auto got = fast.read_slice<std::uint64_t>("/ids", offset, count);
    EXPECT_EQ(got, library.read_slice<std::uint64_t>("/ids", offset, count));
    for (std::uint64_t i = 0; i < count; i += 4099) ASSERT_EQ(got[i], id_at(offset + i)) << "element " << offset + i;
    EXPECT_EQ(fast.read_slice<std::int64_t>("/signed", offset, count),
              library.read_slice<std::int64_t>("/signed", offset, count));
    EXPECT_EQ(fast.read_slice<double>("/weight", offset, count), library.read_slice<double>("/weight", offset, count));
  }
}

TEST(Formats, BinaryVertexCountAndWeights) {
  const Comm comm = world();
  const std::uint64_t rec[2] = {1, 9};
  const std::string path = put(comm, "v.bin", std::string(reinterpret_cast<const char*>(rec), 16));
  InputSpec spec = input_spec(path, "binary");
  spec.binary_vertices = 5;
  expect_error([&] { load_edges(spec, comm); }, "id 9 is not below the declared vertex count 5");
  spec.binary_vertices = 12;
  LoadedInput in = load_edges(spec, comm);
  EXPECT_EQ(build_graph(std::move(in.share), {}, comm).stats.n, 12u);
  const double bad_w = -1.0;
  const std::string wpath = put(
      comm, "w.bin", std::string(reinterpret_cast<const char*>(rec), 16) + std::string(reinterpret_cast<const char*>(&bad_w), 8));
  InputSpec ws = input_spec(wpath, "binary");
  ws.binary_weight = "f64";
  expect_error([&] { load_edges(ws, comm); }, "is not a finite number >= 0");
}

// The binary reader converts each block of 2^20 records in parallel: over more than one
// block, a weight other than 1 and an id past 2^32 that first appear in the second block must
// give the list its weight column and its wide ids then, with every edge as written; and of
// two bad records the error names the first, whatever the thread count.
TEST(Formats, BinaryBlocksWidenAndNameTheFirstBadRecord) {
  const Comm comm = world();
  constexpr std::uint64_t kRecords = (std::uint64_t{1} << 20) + 3000, kWide = (std::uint64_t{1} << 20) + 1500;
  const auto edge_at = [](std::uint64_t i) {
    const VertexId dst = i == kWide ? (std::uint64_t{1} << 40) + 3 : (i * 7919) % 50021;
    return RawEdge{i % 65537, dst, i > (std::uint64_t{1} << 20) + 100 && i % 3 == 0 ? 2.5 : 1.0};
  };
  const auto file_of = [&](const std::vector<std::pair<std::uint64_t, float>>& bad_weights) {
    std::string bytes;
    for (std::uint64_t i = 0; i < kRecords; ++i) {
      const RawEdge e = edge_at(i);
      auto w = static_cast<float>(e.weight);
      for (const auto& [at, value] : bad_weights)
        if (at == i) w = value;
      bytes.append(reinterpret_cast<const char*>(&e.src), 8).append(reinterpret_cast<const char*>(&e.dst), 8);
      bytes.append(reinterpret_cast<const char*>(&w), 4);
    }
    return bytes;
  };
  for (const int threads : {1, 2, 3}) {
    SCOPED_TRACE(std::to_string(threads) + " threads");
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    InputSpec spec = input_spec(put(comm, "blocks.bin", file_of({})), "binary");
    spec.binary_weight = "f32";
    const LoadedInput in = load_edges(spec, comm);
    const EdgeList& got = in.share.edges;
    const auto P = static_cast<std::uint64_t>(comm.size()), r = static_cast<std::uint64_t>(comm.rank());
    const std::uint64_t first = block_begin(kRecords, r, P), last = block_begin(kRecords, r + 1, P);
    ASSERT_EQ(got.size(), last - first);
    EXPECT_EQ(got.packed(), !(first <= kWide && kWide < last));
    std::uint64_t wrong = 0;
    for (std::uint64_t i = first; i < last; ++i) {
      const RawEdge want = edge_at(i), e = got[i - first];
      wrong += e.src != want.src || e.dst != want.dst || e.weight != want.weight ? 1 : 0;
    }
    EXPECT_EQ(wrong, 0u);
    InputSpec bad = input_spec(put(comm, "bad.bin", file_of({{kRecords - 10, -1.0f}, {kWide + 7, NAN}})), "binary");
    bad.binary_weight = "f32";
    const std::uint64_t named = kWide + 7;  // both bad records lie in the last rank's share (1-4 ranks)
    ASSERT_GE(kWide + 7, block_begin(kRecords, P - 1, P));
    expect_error([&] { load_edges(bad, comm); },
                 "record " + std::to_string(named) + " (byte " + std::to_string(named * 20) + ")");
    omp_set_num_threads(saved);
  }
}

TEST(Graph, KeepDuplicatesAddsWeights) {
  const Comm comm = world();
  TestGraph g;
  g.edges = {{1, 2, 1}, {1, 2, 1}, {1, 3, 1}, {2, 1, 1}, {3, 1, 1}};
  const DistGraph kept = build_graph(share_of(g, comm), GraphOptions{false, false, true}, comm);
  // With multiplicity, 1 sends 2/3 of its mass to 2 and 1/3 to 3: the oracle with weight 2.
  TestGraph w;
  w.edges = {{1, 2, 2}, {1, 3, 1}, {2, 1, 1}, {3, 1, 1}};
  w.weighted = true;
  PageRankParams p;
  p.tolerance = 1e-14;
  EXPECT_LT(l1_distance(gather_by_id(kept, pagerank(kept, p, {}, {}, comm).score, comm), dense_pagerank(w, 0.85)), 1e-12);
}

// Components against Boost.Graph on the whole graph.
TEST(Components, MatchBoostGraph) {
  const Comm comm = world();
  for (std::uint64_t seed : {41u, 42u, 43u}) {
    const TestGraph t = random_graph(seed, 200, 260, false);
    const DistGraph g = build_graph(share_of(t, comm), {}, comm);
    const ComponentCounts cc = count_components(g, comm);
    const std::vector<VertexId> ids = comm.allgatherv<VertexId>(g.ids.slice_ids());
    auto idx = [&](VertexId v) { return static_cast<std::size_t>(std::lower_bound(ids.begin(), ids.end(), v) - ids.begin()); };
    boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS> directed(ids.size());
    boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS> undirected(ids.size());
    for (const auto& e : t.edges) {
      boost::add_edge(idx(e.src), idx(e.dst), directed);
      boost::add_edge(idx(e.src), idx(e.dst), undirected);
    }
    std::vector<std::size_t> c1(ids.size()), c2(ids.size());
    const auto weak = boost::connected_components(undirected, c1.data());
    const auto strong =
        boost::strong_components(directed, boost::make_iterator_property_map(c2.begin(), get(boost::vertex_index, directed)));
    EXPECT_EQ(cc.weak, static_cast<std::uint64_t>(weak)) << "seed " << seed;
    EXPECT_EQ(cc.strong, static_cast<std::uint64_t>(strong)) << "seed " << seed;
    std::vector<std::size_t> sizes(ids.size(), 0);
    for (auto c : c1) ++sizes[c];
    std::size_t largest = 0;  // (a loop: GCC's -Wnull-dereference flags *max_element here)
    for (const std::size_t size : sizes) largest = std::max(largest, size);
    EXPECT_EQ(cc.largest_weak, largest);
  }
}

}  // namespace
}  // namespace perron::test
