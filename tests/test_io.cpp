// Readers and the generator: every line read once and in order whatever the rank count,
// errors naming file:line:column on every rank, Kronecker independent of the rank count.
#include <omp.h>

#include <fstream>
#include <set>
#include <sstream>

#include "perron/core/error.hpp"
#include "perron/graph/id_map.hpp"
#include "perron/io/binary_edges.hpp"
#include "perron/io/edge_source.hpp"
#include "perron/io/kronecker.hpp"
#include "perron/io/text_records.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

// A file name shared by all ranks, written by rank 0.
std::string shared_file(const Comm& comm, const std::string& name, const std::string& content) {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("perron_test_" + std::to_string(comm.size()) + "_" + name)).string();
  if (comm.is_root()) std::ofstream(path, std::ios::binary) << content;
  comm.barrier();
  return path;
}

// Weighted lines take the general parser, plain "src dst" lines the fast path; both at one and
// three threads, with comment lines in the middle (the gaps they leave are closed).
TEST(TextReader, EveryLineOnceInOrder) {
  const Comm comm = world();
  const int saved = omp_get_max_threads();
  for (const bool weighted : {true, false}) {
    std::string text = "# header\n% other comment\n\n";
    std::vector<RawEdge> expected;
    for (int i = 0; i < 5000; ++i) {
      const VertexId s = static_cast<VertexId>(i) * 1000003ull % 99991, d = static_cast<VertexId>(i) * 7 + 1;
      const double w = weighted ? 0.5 + i % 5 : 1.0;
      std::ostringstream line;  // (g++ 12 warns falsely on "literal" + std::string chains)
      line << (i % 11 ? "" : " ") << s << (i % 3 ? "\t" : (i % 2 ? "  " : ",")) << d;
      if (weighted)
        line << ' ' << std::to_string(w);
      else if (i % 4 == 0)
        line << ' ';
      line << (i % 7 ? "\n" : "\r\n");
      text += line.str();
      expected.push_back({s, d, w});
      if (i % 100 == 0) text += "# comment in the middle\n";
    }
    const std::string path = shared_file(comm, "lines.txt", text.substr(0, text.size() - 1));  // no final newline
    for (const int threads : {1, 3}) {
      omp_set_num_threads(threads);
      const TextEdges got = read_text_edges(path, comm);
      const std::vector<RawEdge> all = comm.allgatherv<RawEdge>(got.edges.records());
      ASSERT_EQ(all.size(), expected.size()) << (weighted ? "weighted" : "plain") << ", threads " << threads;
      for (std::size_t i = 0; i < all.size(); ++i) {
        EXPECT_EQ(all[i].src, expected[i].src);
        EXPECT_EQ(all[i].dst, expected[i].dst);
        EXPECT_EQ(all[i].weight, expected[i].weight);
      }
      EXPECT_EQ(got.weighted, weighted);
    }
  }
  omp_set_num_threads(saved);
}

TEST(TextReader, ErrorsNameFileLineColumnAndToken) {
  const Comm comm = world();
  std::string text;
  for (int i = 0; i < 4000; ++i) text += std::to_string(i) + " " + std::to_string(i + 1) + "\n";
  const std::string bad = shared_file(comm, "bad_token.txt", text + "12 abc\n" + text);
  expect_error([&] { read_text_edges(bad, comm); }, "bad_token.txt:4001:4: expected a vertex id (integer >= 0), found 'abc'");
  expect_error([&] { read_text_edges(shared_file(comm, "neg.txt", text + "-3 4\n"), comm); },
               ":4001:1: expected a vertex id (integer >= 0), found negative '-3'");
  expect_error([&] { read_text_edges(shared_file(comm, "one.txt", "1 2\n7\n"), comm); },
               "one.txt:2:1: expected 'src dst [weight]', found 1 field");
  expect_error([&] { read_text_edges(shared_file(comm, "four.txt", "1 2 3 4\n"), comm); }, "found more than 3 fields");
  expect_error([&] { read_text_edges(shared_file(comm, "nan.txt", "1 2 0.5\n2 3 nan\n"), comm); },
               "nan.txt:2:5: expected a weight (number), found 'nan'");
  expect_error([&] { read_text_edges(shared_file(comm, "inf.txt", "1 2 inf\n"), comm); }, "weight must be finite, found 'inf'");
  expect_error([&] { read_text_edges(shared_file(comm, "negw.txt", "1 2 -0.5\n"), comm); }, "weight must be >= 0, found '-0.5'");
  expect_error([&] { read_text_edges(shared_file(comm, "big.txt", "1 18446744073709551616\n"), comm); }, "exceeds 2^64-1");
  expect_error([&] { read_text_edges("/nonexistent/graph.txt", comm); }, "cannot open input file /nonexistent/graph.txt");
  expect_error([&] { read_text_edges(std::filesystem::temp_directory_path().string(), comm); }, "is a directory");
}

TEST(TextReader, IdsUpToTwoToTheSixtyFourMinusOne) {
  const Comm comm = world();
  const std::string path = shared_file(comm, "maxid.txt", "18446744073709551615 0\n0 18446744073709551614\n");
  EdgeShare share;
  share.edges = read_text_edges(path, comm).edges;
  const DistGraph g = build_graph(share, {}, comm);
  EXPECT_EQ(g.stats.n, 3u);
  EXPECT_EQ(comm.allgatherv<VertexId>(g.ids.slice_ids()),
            (std::vector<VertexId>{0, 18446744073709551614ull, 18446744073709551615ull}));
}

// Readers keep ids packed (8 bytes an edge) until one needs more than 32 bits, then widen the
// list once and go on: every edge before and after the first wide id reads back the same, in
// text (the wide id late in the file, so earlier blocks of lines went in packed) and binary.
TEST(TextReader, PackedIdsWidenAtTheFirstIdBeyond32Bits) {
  const Comm comm = world();
  std::string text;
  std::vector<RawEdge> expected;
  for (int i = 0; i < 3000; ++i) {
    const VertexId s = static_cast<VertexId>(i) * 7919 % 4294967291ull, d = 4294967295ull - static_cast<VertexId>(i);
    expected.push_back({s, d, 1.0});
  }
  expected[2500] = {std::uint64_t{1} << 40, 3, 1.0};
  for (const RawEdge& e : expected) text += std::to_string(e.src) + " " + std::to_string(e.dst) + "\n";
  const std::string path = shared_file(comm, "widen.txt", text);
  const int saved = omp_get_max_threads();
  for (const int threads : {1, 3}) {
    omp_set_num_threads(threads);
    const TextEdges got = read_text_edges(path, comm);
    const std::vector<RawEdge> all = comm.allgatherv<RawEdge>(got.edges.records());
    ASSERT_EQ(all.size(), expected.size());
    for (std::size_t i = 0; i < all.size(); ++i) EXPECT_TRUE(all[i].src == expected[i].src && all[i].dst == expected[i].dst) << i;
    // The rank holding the wide id widened; the others stayed packed.
    bool holds_wide = false;
    for (const RawEdge& e : got.edges) holds_wide = holds_wide || !EdgeList::fits(e.src, e.dst);
    EXPECT_EQ(got.edges.packed(), !holds_wide);
  }
  omp_set_num_threads(saved);
  // Binary: the same edges, widened by the reader's own set() at the record that needs it.
  EdgeList list;
  for (const RawEdge& e : expected) list.push_back(e);
  const EdgeList mine = comm.is_root() ? list : EdgeList();
  const std::string bin =
      (std::filesystem::temp_directory_path() / ("perron_test_widen_" + std::to_string(comm.size()))).string();
  write_binary_edges(bin, mine, comm);
  const auto back = comm.allgatherv<RawEdge>(read_binary_edges(bin, BinaryLayout{}, comm).records());
  ASSERT_EQ(back.size(), expected.size());
  for (std::size_t i = 0; i < back.size(); ++i)
    EXPECT_TRUE(back[i].src == expected[i].src && back[i].dst == expected[i].dst) << i;
}

// The packed list itself: keys hold (src, dst) exactly, push_back and set widen on the first
// id beyond 32 bits, keep_if and weights work in both forms, pack() returns to 8 bytes.
TEST(EdgeListTest, PackedAndWideHoldTheSameEdges) {
  EdgeList list = EdgeList::packed_ids();
  list.push_back({4294967295ull, 0, 1.0});
  list.push_back({7, 9, 2.5});
  EXPECT_TRUE(list.packed());
  EXPECT_EQ(list.keys()[0], 0xffffffff00000000ull);
  EXPECT_THROW(list.src(), std::logic_error);
  list.push_back({1, 1, 1.0});
  EXPECT_EQ(list.keep_if([](const RawEdge& e) { return e.src != e.dst; }), 1u);
  list.push_back({std::uint64_t{1} << 32, 5, 1.0});
  EXPECT_FALSE(list.packed());
  const std::vector<RawEdge> all = list.records();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_TRUE(all[0].src == 4294967295ull && all[0].dst == 0 && all[0].weight == 1.0);
  EXPECT_TRUE(all[1].src == 7 && all[1].dst == 9 && all[1].weight == 2.5);
  EXPECT_TRUE(all[2].src == (std::uint64_t{1} << 32) && all[2].dst == 5);
  EdgeList small = EdgeList::packed_ids();
  small.resize(2);
  small.set(1, {3, 4, 1.0});
  small.set(0, {std::uint64_t{1} << 33, 2, 1.0});
  EXPECT_FALSE(small.packed());
  EXPECT_TRUE(small[1].src == 3 && small[1].dst == 4 && small[0].src == (std::uint64_t{1} << 33));
  EdgeList wide{{1, 2, 1.0}, {3, 4, 1.0}};
  wide.pack();
  EXPECT_TRUE(wide.packed());
  EXPECT_TRUE(wide[1].src == 3 && wide[1].dst == 4);
}

TEST(TextReader, OnlyCommentsGivesAnEmptyGraphError) {
  const Comm comm = world();
  const std::string path = shared_file(comm, "comments.txt", "# nothing\n% here\n\n");
  const TextEdges got = read_text_edges(path, comm);
  EXPECT_EQ(comm.allreduce<std::uint64_t>(got.edges.size(), ReduceOp::sum), 0u);
  EdgeShare share;
  share.edges = got.edges;
  expect_error([&] { build_graph(share, {}, comm); }, "the graph is empty");
}

TEST(Kronecker, SameGraphForAnyRankCount) {
  const Comm comm = world();
  const KroneckerParams p{10, 8, 42};
  const std::vector<RawEdge> mine = kronecker_share(p, comm).records();
  const std::vector<RawEdge> all = comm.allgatherv<RawEdge>(mine);
  const std::vector<RawEdge> serial = kronecker_edges(p, 0, kronecker_edges(p)).records();
  ASSERT_EQ(all.size(), serial.size());
  ASSERT_EQ(serial.size(), 8u * 1024u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_EQ(all[i].src, serial[i].src);
    ASSERT_EQ(all[i].dst, serial[i].dst);
    ASSERT_LT(all[i].src, 1024u);
  }
  // Skewed like R-MAT: the most frequent source carries far more than the mean degree 8.
  std::map<VertexId, int> degree;
  for (const auto& e : serial) ++degree[e.src];
  int max_degree = 0;
  for (const auto& [v, d] : degree) max_degree = std::max(max_degree, d);
  EXPECT_GT(max_degree, 40);
  // Another seed gives another graph.
  EXPECT_NE(kronecker_edges({10, 8, 43}, 0, 16)[0].src * 1024 + kronecker_edges({10, 8, 43}, 0, 16)[0].dst,
            serial[0].src * 1024 + serial[0].dst);
}

TEST(IdMap, DenseIdsFollowSortedOriginalIds) {
  const Comm comm = world();
  std::vector<VertexId> all;
  for (VertexId i = 0; i < 3000; ++i) all.push_back(i * i * 2654435761ull % 1000000000039ull);
  std::vector<VertexId> mine;
  for (std::size_t i = 0; i < all.size(); ++i)
    if (static_cast<int>(i % 5) % comm.size() == comm.rank()) mine.push_back(all[i]);  // with duplicates across ranks
  const IdMap map = IdMap::build(mine, comm);
  std::vector<VertexId> sorted = all;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  EXPECT_EQ(map.size(), sorted.size());
  const std::vector<VertexId> query{sorted[17], sorted.back(), sorted[0], 5};  // 5 is not an id
  const std::vector<GlobalId> dense = map.to_dense(query, comm);
  EXPECT_EQ(dense[0], 17u);
  EXPECT_EQ(dense[1], sorted.size() - 1);
  EXPECT_EQ(dense[2], 0u);
  EXPECT_EQ(dense[3], kMissingId);
  const std::vector<VertexId> back = map.to_original(std::vector<GlobalId>{17, 0, sorted.size() - 1}, comm);
  EXPECT_EQ(back, (std::vector<VertexId>{sorted[17], sorted[0], sorted.back()}));
  EXPECT_EQ(comm.allgatherv<VertexId>(map.slice_ids()), sorted);
}

TEST(BinaryEdges, RoundTripAndTruncation) {
  const Comm comm = world();
  const KroneckerParams p{8, 4, 7};
  const EdgeList mine = kronecker_share(p, comm);
  const std::string path = (std::filesystem::temp_directory_path() / ("perron_test_bin_" + std::to_string(comm.size()))).string();
  write_binary_edges(path, mine, comm);
  const EdgeList back = read_binary_edges(path, BinaryLayout{}, comm);
  const auto a = comm.allgatherv<RawEdge>(mine.records()), b = comm.allgatherv<RawEdge>(back.records());
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].src == b[i].src && a[i].dst == b[i].dst);
  const std::string truncated = shared_file(comm, "trunc.bin", std::string(20, '\1'));
  expect_error([&] { read_binary_edges(truncated, BinaryLayout{}, comm); }, "is not a multiple of the 16-byte record");
}

TEST(InputSpec, KroneckerSpecParsing) {
  const KroneckerParams p = parse_kronecker_spec("kronecker:scale=12,edge-factor=4,seed=9");
  EXPECT_EQ(p.scale, 12);
  EXPECT_EQ(p.edge_factor, 4);
  EXPECT_EQ(p.seed, 9u);
  EXPECT_THROW(parse_kronecker_spec("kronecker:scael=3"), Error);
  EXPECT_THROW(parse_kronecker_spec("kronecker:scale=x"), Error);
  EXPECT_THROW(parse_kronecker_spec("kronecker:scale=99"), Error);
}

}  // namespace
}  // namespace perron::test
