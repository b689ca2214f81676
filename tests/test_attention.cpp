// Blocked and ring attention against a dense float64 reference: random shapes with lengths
// not divisible by the tiles or the rank count, d ∈ {16, 64, 128}, causal, window, mask, GQA,
// softcap, cross-attention lengths; relative error < 1e-5 in the output and the LSE.
// The reference promotes the float32 inputs to float64 on purpose, everywhere.
#pragma GCC diagnostic ignored "-Wdouble-promotion"

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <tuple>

#include "perron/algo/attention.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

struct AttnCase {
  int hq, hkv, nq, nk, dq, dv;
  bool causal;
  std::int64_t window;
  float softcap;
  bool mask;
  int tile_q, tile_k;
};

struct Reference {
  std::vector<double> out, lse;  // [hq][nq][dv], [hq][nq]
};

// Dense float64 attention of the whole problem.
Reference reference(const AttnCase& c, const std::vector<float>& q, const std::vector<float>& k, const std::vector<float>& v,
                    const std::vector<float>& mask) {
  Reference r;
  r.out.assign(static_cast<std::size_t>(c.hq) * c.nq * c.dv, 0.0);
  r.lse.assign(static_cast<std::size_t>(c.hq) * c.nq, -INFINITY);
  const double scale = 1.0 / std::sqrt(static_cast<double>(c.dq));
  for (int h = 0; h < c.hq; ++h) {
    const int kvh = h / (c.hq / c.hkv);
    for (int i = 0; i < c.nq; ++i) {
      std::vector<double> s(static_cast<std::size_t>(c.nk), -INFINITY);
      double mx = -INFINITY;
      for (int j = 0; j < c.nk; ++j) {
        bool visible = !(c.causal && j > i);
        if (c.window > 0) visible = visible && (c.causal ? j > i - c.window : std::abs(i - j) < c.window);
        if (!visible) continue;
        double x = 0;
        for (int d = 0; d < c.dq; ++d)
          x += static_cast<double>(q[(static_cast<std::size_t>(h) * c.nq + i) * c.dq + d]) *
               k[(static_cast<std::size_t>(kvh) * c.nk + j) * c.dq + d];
        x *= scale;
        if (c.softcap > 0) x = c.softcap * std::tanh(x / c.softcap);
        if (c.mask) x += mask[(static_cast<std::size_t>(h) * c.nq + i) * c.nk + j];
        s[static_cast<std::size_t>(j)] = x;
        mx = std::max(mx, x);
      }
      if (mx == -INFINITY) continue;
      double sum = 0;
      for (double& x : s) sum += x == -INFINITY ? 0 : std::exp(x - mx);
      r.lse[static_cast<std::size_t>(h) * c.nq + i] = mx + std::log(sum);
      for (int j = 0; j < c.nk; ++j) {
        if (s[static_cast<std::size_t>(j)] == -INFINITY) continue;
        const double p = std::exp(s[static_cast<std::size_t>(j)] - mx) / sum;
        for (int d = 0; d < c.dv; ++d)
          r.out[(static_cast<std::size_t>(h) * c.nq + i) * c.dv + d] += p * v[(static_cast<std::size_t>(kvh) * c.nk + j) * c.dv + d];
      }
    }
  }
  return r;
}

// Every case runs with both tile kernels: SGEMM (blas) and automatic, which is the AVX-512
// register kernel on a CPU that has it (a second implementation of both tile products).
class AttentionTest : public testing::TestWithParam<std::tuple<AttnCase, TileKernel>> {};

TEST_P(AttentionTest, MatchesDenseFloat64) {
  const AttnCase c = std::get<0>(GetParam());
  const Comm comm = world();
  std::mt19937 rng(static_cast<unsigned>(c.nq * 31 + c.dq));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](std::size_t n) {
    std::vector<float> x(n);
    for (auto& e : x) e = normal(rng);
    return x;
  };
  const auto q = fill(static_cast<std::size_t>(c.hq) * c.nq * c.dq);
  const auto k = fill(static_cast<std::size_t>(c.hkv) * c.nk * c.dq);
  const auto v = fill(static_cast<std::size_t>(c.hkv) * c.nk * c.dv);
  std::vector<float> mask;
  if (c.mask) {  // random −∞ (a third) and small biases; every tenth query row fully masked
    mask.resize(static_cast<std::size_t>(c.hq) * c.nq * c.nk);
    for (std::size_t e = 0; e < mask.size(); ++e) {
      const auto row = static_cast<int>(e / static_cast<std::size_t>(c.nk)) % c.nq;
      mask[e] = row % 10 == 3 || rng() % 3 == 0 ? -std::numeric_limits<float>::infinity() : 0.1f * normal(rng);
    }
  }
  const Reference ref = reference(c, q, k, v, mask);

  // Causal self-attention on several ranks uses the zigzag layout, everything else contiguous
  // blocks: both layouts meet the same reference.
  const auto P = static_cast<std::int64_t>(comm.size()), r = static_cast<std::int64_t>(comm.rank());
  const bool zigzag = c.causal && c.nq == c.nk && P > 1;
  const std::vector<Segment> qseg = zigzag ? zigzag_segments(c.nq, comm.rank(), comm.size())
                                           : std::vector<Segment>{{c.nq * r / P, c.nq * (r + 1) / P - c.nq * r / P}};
  const std::vector<Segment> kseg = zigzag ? qseg : std::vector<Segment>{{c.nk * r / P, c.nk * (r + 1) / P - c.nk * r / P}};
  std::int64_t nq_local = 0, nk_local = 0;
  for (const Segment& sg : qseg) nq_local += sg.count;
  for (const Segment& sg : kseg) nk_local += sg.count;
  const auto lq = gather_rows(q, c.hq, c.nq, c.dq, qseg);
  const auto lk = gather_rows(k, c.hkv, c.nk, c.dq, kseg), lv = gather_rows(v, c.hkv, c.nk, c.dv, kseg);
  const auto lm = c.mask ? gather_rows(mask, c.hq, c.nq, c.nk, qseg) : std::vector<float>{};
  AttentionBlock b{c.hq, c.hkv, c.dq, c.dv, nq_local, 0, nk_local, 0, c.nk, lq, lk, lv, lm, qseg, kseg};
  AttentionParams p;
  p.causal = c.causal;
  p.window = c.window;
  p.softcap = c.softcap;
  p.tile_q = c.tile_q;
  p.tile_k = c.tile_k;
  p.kernel = std::get<1>(GetParam());
  const AttentionResult got = attention(b, p, comm);
  EXPECT_NE(got.kernel, TileKernel::automatic) << "the result names the kernel that ran";
  if (p.kernel == TileKernel::blas) {
    EXPECT_EQ(got.kernel, TileKernel::blas);
  }

  double err = 0, norm = 0, lse_err = 0, lse_norm = 0;
  std::vector<std::int64_t> position;  // global position of each local query row
  for (const Segment& sg : qseg)
    for (std::int64_t i = 0; i < sg.count; ++i) position.push_back(sg.begin + i);
  for (int h = 0; h < c.hq; ++h)
    for (std::size_t li = 0; li < position.size(); ++li) {
      const std::size_t gr = static_cast<std::size_t>(h) * c.nq + static_cast<std::size_t>(position[li]);
      const std::size_t lr = static_cast<std::size_t>(h) * position.size() + li;
      for (int d = 0; d < c.dv; ++d) {
        const double e = got.out[lr * c.dv + d] - ref.out[gr * c.dv + d];
        ASSERT_TRUE(std::isfinite(got.out[lr * c.dv + d])) << "position " << position[li];
        err += e * e;
        norm += ref.out[gr * c.dv + d] * ref.out[gr * c.dv + d];
      }
      if (ref.lse[gr] == -INFINITY) {
        EXPECT_EQ(got.lse[lr], -INFINITY) << "fully masked row " << position[li];
        continue;
      }
      lse_err += (got.lse[lr] - ref.lse[gr]) * (got.lse[lr] - ref.lse[gr]);
      lse_norm += ref.lse[gr] * ref.lse[gr];
    }
  double sums[4] = {err, norm, lse_err, lse_norm};
  comm.sum_ordered(sums);
  EXPECT_LT(std::sqrt(sums[0] / sums[1]), 1e-5) << "relative output error";
  EXPECT_LT(std::sqrt(sums[2] / std::max(sums[3], 1e-30)), 1e-5) << "relative LSE error";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionTest,
    testing::Combine(testing::Values(AttnCase{2, 2, 77, 77, 16, 16, false, 0, 0, false, 16, 32},
                    AttnCase{4, 2, 130, 130, 64, 64, true, 0, 0, false, 32, 64},
                    AttnCase{3, 1, 101, 101, 128, 64, false, 0, 0, false, 128, 256},
                    AttnCase{2, 2, 95, 95, 64, 32, true, 17, 0, false, 16, 16},
                    AttnCase{2, 1, 83, 83, 16, 16, false, 9, 0, false, 16, 16},
                    AttnCase{2, 2, 61, 61, 64, 64, false, 0, 5.0f, false, 16, 32},
                    AttnCase{2, 2, 70, 70, 16, 24, false, 0, 0, true, 16, 16},
                    AttnCase{2, 2, 70, 70, 16, 16, true, 0, 2.5f, true, 32, 16},
                    AttnCase{2, 1, 45, 103, 32, 32, true, 0, 0, false, 16, 16},
                    AttnCase{2, 2, 103, 45, 32, 32, false, 0, 0, false, 16, 16},
                                     AttnCase{2, 1, 300, 300, 40, 72, false, 0, 0, false, 100, 90},
                                     // windows narrower than the key tiles: tiles cut on the left by whole panels
                                     AttnCase{2, 1, 300, 300, 64, 64, true, 70, 0, false, 64, 128},
                                     AttnCase{1, 1, 260, 260, 32, 48, false, 40, 0, true, 48, 160}),
                     testing::Values(TileKernel::blas, TileKernel::automatic)),
    [](const auto& param_info) {
      const AttnCase& c = std::get<0>(param_info.param);
      std::ostringstream name;
      name << "h" << c.hq << "x" << c.hkv << "_n" << c.nq << "x" << c.nk << "_d" << c.dq << (c.causal ? "_causal" : "")
           << (c.window ? "_window" : "") << (c.softcap > 0 ? "_softcap" : "") << (c.mask ? "_mask" : "")
           << (std::get<1>(param_info.param) == TileKernel::blas ? "_blas" : "_auto");
      return name.str();
    });

// The (out, lse) merge: merging two halves equals attention over all keys, and is associative.
TEST(AttentionMerge, HalvesMergeToTheWhole) {
  const int dv = 3;
  // Row with scores {1, 2} over values {(1,0,0), (0,1,0)} and {3} over (0,0,1).
  const double l1 = std::log(std::exp(1.0) + std::exp(2.0)), l2 = 3.0, lall = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  std::vector<float> oa = {static_cast<float>(std::exp(1 - l1)), static_cast<float>(std::exp(2 - l1)), 0};
  std::vector<float> la = {static_cast<float>(l1)};
  const std::vector<float> ob = {0, 0, 1}, lb = {static_cast<float>(l2)};
  merge_attention({oa, la}, ob, lb, dv);
  EXPECT_NEAR(la[0], lall, 1e-6);
  EXPECT_NEAR(oa[0], std::exp(1 - lall), 1e-6);
  EXPECT_NEAR(oa[2], std::exp(3 - lall), 1e-6);
  std::vector<float> empty_o = {0, 0, 0}, empty_l = {-std::numeric_limits<float>::infinity()};
  merge_attention({empty_o, empty_l}, oa, la, dv);  // −∞ is the identity
  EXPECT_EQ(empty_o, oa);
  EXPECT_EQ(empty_l, la);
}

}  // namespace
}  // namespace perron::test
