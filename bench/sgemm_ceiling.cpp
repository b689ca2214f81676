// The sgemm ceiling of bench/attention.sh: GFLOP/s of one cblas_sgemm on 2048³ at one BLAS
// thread (the best of 3), the rate the attention kernel's tile products can reach at most.
#include <cblas.h>

#include <chrono>
#include <cstdio>
#include <vector>

int main() {
  const int n = 2048;
  std::vector<float> a(static_cast<std::size_t>(n) * n, 1.0f), b(a), c(a);
  openblas_set_num_threads(1);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0 && 2.0 * n * n * n / s / 1e9 > best) best = 2.0 * n * n * n / s / 1e9;  // rep 0 warms up
  }
  std::printf("%.2f\n", best);
}
