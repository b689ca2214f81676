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
#include "softmax_kernels.hpp"
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
          r.out[(static_cast<std::size_t>(h) * c.nq + i) * c.dv + d] +=
              p * v[(static_cast<std::size_t>(kvh) * c.nk + j) * c.dv + d];
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

// The online-softmax primitive (softmax_kernels.hpp) against float64 sums: absorbing a row's
// keys in tiles of any split gives the same LSE, and the weights it leaves, e^(m − LSE) per
// tile, recombine the tiles' softmax outputs. A row that sees no key follows the one convention.
TEST(OnlineSoftmax, AnySplitOfTheKeysGivesTheSameLse) {
  const std::vector<double> scores = {0.3, -1.2, 4.0, 2.5, -30.0, 0.0, 7.25, -2.0, 1.0, 3.5};
  double ref_max = -std::numeric_limits<double>::infinity(), ref_sum = 0;
  for (double s : scores) ref_max = std::max(ref_max, s);
  for (double s : scores) ref_sum += std::exp(s - ref_max);
  const double ref_lse = ref_max + std::log(ref_sum);
  for (std::size_t tile : {std::size_t{1}, std::size_t{3}, std::size_t{4}, scores.size()}) {
    double m = kernels::kEmptyLse<double>, l = 0;
    std::vector<double> rescales;
    for (std::size_t k0 = 0; k0 < scores.size(); k0 += tile) {
      std::vector<double> s(scores.begin() + static_cast<std::ptrdiff_t>(k0),
                            scores.begin() + static_cast<std::ptrdiff_t>(std::min(scores.size(), k0 + tile)));
      const double rescale = kernels::absorb<kernels::Probabilities::keep>(
          m, l, std::span<double>(s), kernels::row_max(s.data(), static_cast<int>(s.size())));
      rescales.push_back(rescale);
      for (std::size_t c = 0; c < s.size(); ++c) EXPECT_NEAR(s[c], std::exp(scores[k0 + c] - m), 1e-15);  // P
    }
    EXPECT_EQ(rescales.front(), 0.0);  // nothing to rescale before the first key
    EXPECT_NEAR(kernels::finish_lse(m, l), ref_lse, 1e-13) << "tile " << tile;
  }
  // No key: the state stays empty, P is 0, the LSE is kEmptyLse, and its probability shift
  // turns any score, −∞ included, into a zero probability.
  double m = kernels::kEmptyLse<double>, l = 0;
  std::vector<double> hidden(4, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(kernels::absorb<kernels::Probabilities::keep>(m, l, std::span<double>(hidden), kernels::row_max(hidden.data(), 4)),
            1.0);
  EXPECT_EQ(hidden, std::vector<double>(4, 0.0));
  EXPECT_EQ(kernels::finish_lse(m, l), kernels::kEmptyLse<double>);
  const double shift = kernels::probability_shift(kernels::finish_lse(m, l));
  EXPECT_EQ(kernels::exp_nonpositive(-std::numeric_limits<double>::infinity() - shift), 0.0);
  EXPECT_EQ(kernels::exp_nonpositive(5.0 - shift), 0.0);
}

// The merge of partial results (O_a, LSE_a) ⊕ (O_b, LSE_b) over disjoint key sets, the
// combination that Ring Attention implementations without a running state apply per step
// (ring-flash-attention): LSE = log(e^LSE_a + e^LSE_b), O = e^(LSE_a − LSE)·O_a + e^(LSE_b − LSE)·O_b,
// kEmptyLse the identity. perron's ring keeps the running (m, l, O) instead, so this is the
// reference that the running state must agree with: any grouping of the key sets gives the
// attention over all of them.
struct Partial {
  std::vector<double> out;
  double lse;
};

Partial merged(const Partial& a, const Partial& b) {
  if (b.lse == kernels::kEmptyLse<double>) return a;
  if (a.lse == kernels::kEmptyLse<double>) return b;
  const double lse = std::max(a.lse, b.lse) + std::log1p(std::exp(-std::abs(a.lse - b.lse)));
  Partial r{std::vector<double>(a.out.size()), lse};
  for (std::size_t d = 0; d < a.out.size(); ++d) r.out[d] = std::exp(a.lse - lse) * a.out[d] + std::exp(b.lse - lse) * b.out[d];
  return r;
}

// The attention of one query over keys [k0, k1): scores s, values v [keys][dv].
Partial attend(const std::vector<double>& s, const std::vector<double>& v, int dv, std::size_t k0, std::size_t k1) {
  double m = kernels::kEmptyLse<double>, l = 0;
  std::vector<double> p(s.begin() + static_cast<std::ptrdiff_t>(k0), s.begin() + static_cast<std::ptrdiff_t>(k1));
  kernels::absorb<kernels::Probabilities::keep>(m, l, std::span<double>(p),
                                                kernels::row_max(p.data(), static_cast<int>(p.size())));
  Partial r{std::vector<double>(static_cast<std::size_t>(dv), 0.0), kernels::finish_lse(m, l)};
  for (std::size_t k = 0; k < p.size(); ++k)
    for (int d = 0; d < dv; ++d)
      r.out[static_cast<std::size_t>(d)] += p[k] / l * v[(k0 + k) * static_cast<std::size_t>(dv) + static_cast<std::size_t>(d)];
  return r;
}

TEST(AttentionMerge, IsAssociativeAndMatchesTheWhole) {
  const int dv = 3;
  const std::vector<double> s = {1.0, 2.0, -0.5, 3.0, 12.0, -4.0, 0.25, 2.0, -60.0};
  std::vector<double> v(s.size() * dv);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.7 * static_cast<double>(i)) + 0.1 * static_cast<double>(i % 5);
  const Partial whole = attend(s, v, dv, 0, s.size());
  const Partial a = attend(s, v, dv, 0, 2), b = attend(s, v, dv, 2, 5), c = attend(s, v, dv, 5, s.size());
  const Partial left = merged(merged(a, b), c), right = merged(a, merged(b, c));
  const Partial empty{std::vector<double>(dv, 0.0), kernels::kEmptyLse<double>};
  const Partial with_empty = merged(merged(empty, a), merged(merged(b, empty), c));
  for (const Partial* r : {&left, &right, &with_empty}) {
    EXPECT_NEAR(r->lse, whole.lse, 1e-13);
    for (int d = 0; d < dv; ++d) EXPECT_NEAR(r->out[static_cast<std::size_t>(d)], whole.out[static_cast<std::size_t>(d)], 1e-13);
  }
  for (int d = 0; d < dv; ++d)
    EXPECT_NEAR(left.out[static_cast<std::size_t>(d)], right.out[static_cast<std::size_t>(d)], 1e-14);  // to rounding
  const Partial identity = merged(empty, a);
  EXPECT_EQ(identity.out, a.out);
  EXPECT_EQ(identity.lse, a.lse);
}

}  // namespace
}  // namespace perron::test
