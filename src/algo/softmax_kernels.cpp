// The row kernels of softmax_kernels.hpp: the hottest loops outside the GEMMs. Each is cloned
// for AVX-512, AVX2 and the baseline and chosen at load time by the CPU (GCC target_clones), so
// the binary runs on any x86-64 host and uses the widest vectors it has. `omp simd reduction`
// lets the sums and maxima vectorise, in a fixed order for a given build and CPU.
#include "softmax_kernels.hpp"

namespace perron::kernels {
namespace {

// The comparison form, unlike std::max, lets `omp simd reduction(max)` vectorise.
template <class Real>
inline Real max_impl(const Real* row, int cols) {
  Real m = -std::numeric_limits<Real>::infinity();
#pragma omp simd reduction(max : m)
  for (int c = 0; c < cols; ++c) m = row[c] > m ? row[c] : m;
  return m;
}

template <class Real>
inline Real exp_row_impl(Real* row, int cols, Real shift) {
  Real sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int c = 0; c < cols; ++c) {
    row[c] = exp_nonpositive(row[c] - shift);
    sum += row[c];
  }
  return sum;
}

template <class Real>
inline Real sum_exp_impl(const Real* row, int cols, Real shift) {
  Real sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int c = 0; c < cols; ++c) sum += exp_nonpositive(row[c] - shift);
  return sum;
}

}  // namespace

PERRON_TARGET_CLONES float row_max(const float* row, int cols) { return max_impl(row, cols); }
PERRON_TARGET_CLONES double row_max(const double* row, int cols) { return max_impl(row, cols); }
PERRON_TARGET_CLONES float exp_row(float* row, int cols, float shift) { return exp_row_impl(row, cols, shift); }
PERRON_TARGET_CLONES double exp_row(double* row, int cols, double shift) { return exp_row_impl(row, cols, shift); }
PERRON_TARGET_CLONES float sum_exp(const float* row, int cols, float shift) { return sum_exp_impl(row, cols, shift); }
PERRON_TARGET_CLONES double sum_exp(const double* row, int cols, double shift) { return sum_exp_impl(row, cols, shift); }

}  // namespace perron::kernels
