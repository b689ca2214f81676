#include "pagerank_anderson.hpp"

#include <algorithm>
#include <cmath>

#include "pagerank_step.hpp"

namespace perron::pagerank_detail {

AndersonMixer::AndersonMixer(std::size_t rows, int depth)
    : slots_(static_cast<std::size_t>(std::max(depth, 1)) + 1),
      y_(slots_, std::vector<double>(rows)),
      g_(slots_, std::vector<double>(rows)),
      gram_(slots_ * slots_, 0.0) {}

void AndersonMixer::mix(std::vector<double>& x, const std::vector<double>& y, const Comm& comm) {
  const std::size_t rows = x.size();
  std::size_t slot = 0;  // a free slot, or the oldest one
  if (order_.size() == slots_) {
    slot = order_.front();
    order_.erase(order_.begin());
  } else {
    while (std::find(order_.begin(), order_.end(), slot) != order_.end()) ++slot;
  }
  order_.push_back(slot);
  std::vector<double>& gs = g_[slot];
  std::vector<double>& ys = y_[slot];
#pragma omp parallel for schedule(static)
  for (std::size_t v = 0; v < rows; ++v) {
    gs[v] = y[v] - x[v];
    ys[v] = y[v];
  }
  update_gram(slot, comm);
  const std::vector<double> gamma = coefficients();
  if (gamma.empty()) {  // no history (or a singular system): the plain step
    order_.erase(order_.begin(), order_.end() - 1);
    x = y;
    return;
  }
  // x' = Y_c − Σ_i γ_i (Y_{i+1} − Y_i) = Σ_j w_j Y_j over the stored steps, oldest first.
  const std::size_t c = order_.size() - 1;
  std::vector<double> w(c + 1, 0.0);
  w[c] = 1.0;
  for (std::size_t i = 0; i < c; ++i) w[i + 1] -= gamma[i], w[i] += gamma[i];
#pragma omp parallel for schedule(static)
  for (std::size_t v = 0; v < rows; ++v) {
    double xv = 0.0;
    for (std::size_t j = 0; j <= c; ++j) xv += w[j] * y_[order_[j]][v];
    x[v] = xv;
  }
}

void AndersonMixer::update_gram(std::size_t slot, const Comm& comm) {
  const std::size_t c = order_.size();
  const auto rows = static_cast<LocalId>(g_[slot].size());
  const LocalId blocks = block_count(rows);
  std::vector<double> block_sum(static_cast<std::size_t>(blocks) * c, 0.0);
  const double* gs = g_[slot].data();
#pragma omp parallel for schedule(static)
  for (LocalId b = 0; b < blocks; ++b) {
    double* out = block_sum.data() + static_cast<std::size_t>(b) * c;
    for (std::size_t j = 0; j < c; ++j) {
      const double* gj = g_[order_[j]].data();
      double sum = 0.0;
      for (LocalId v = b * kBlock; v < std::min(rows, (b + 1) * kBlock); ++v) sum += gs[v] * gj[v];
      out[j] = sum;
    }
  }
  std::vector<double> dots(c, 0.0);
  for (LocalId b = 0; b < blocks; ++b)
    for (std::size_t j = 0; j < c; ++j) dots[j] += block_sum[static_cast<std::size_t>(b) * c + j];
  comm.sum_ordered(std::span<double>(dots));
  for (std::size_t j = 0; j < c; ++j) gram_[slot * slots_ + order_[j]] = gram_[order_[j] * slots_ + slot] = dots[j];
}

std::vector<double> AndersonMixer::coefficients() const {
  if (order_.size() < 2) return {};
  const std::size_t c = order_.size() - 1;
  auto m = [&](std::size_t i, std::size_t j) { return gram_[order_[i] * slots_ + order_[j]]; };
  std::vector<double> a(c * (c + 1), 0.0);
  double scale = 0.0;
  for (std::size_t i = 0; i < c; ++i) {
    for (std::size_t j = 0; j < c; ++j) a[i * (c + 1) + j] = m(i + 1, j + 1) - m(i + 1, j) - m(i, j + 1) + m(i, j);
    a[i * (c + 1) + c] = m(i + 1, c) - m(i, c);
    scale = std::max(scale, a[i * (c + 1) + i]);
  }
  if (!(scale > 0.0) || !std::isfinite(scale)) return {};
  for (std::size_t i = 0; i < c; ++i) a[i * (c + 1) + i] += 1e-12 * scale;
  for (std::size_t col = 0; col < c; ++col) {  // Gaussian elimination, partial pivoting
    std::size_t piv = col;
    for (std::size_t r = col + 1; r < c; ++r)
      if (std::abs(a[r * (c + 1) + col]) > std::abs(a[piv * (c + 1) + col])) piv = r;
    if (a[piv * (c + 1) + col] == 0.0) return {};
    for (std::size_t j = 0; j <= c; ++j) std::swap(a[col * (c + 1) + j], a[piv * (c + 1) + j]);
    for (std::size_t r = col + 1; r < c; ++r) {
      const double f = a[r * (c + 1) + col] / a[col * (c + 1) + col];
      for (std::size_t j = col; j <= c; ++j) a[r * (c + 1) + j] -= f * a[col * (c + 1) + j];
    }
  }
  std::vector<double> gamma(c);
  for (std::size_t i = c; i-- > 0;) {
    double v = a[i * (c + 1) + c];
    for (std::size_t j = i + 1; j < c; ++j) v -= a[i * (c + 1) + j] * gamma[j];
    gamma[i] = v / a[i * (c + 1) + i];
    if (!std::isfinite(gamma[i])) return {};
  }
  return gamma;
}

}  // namespace perron::pagerank_detail
