// Conjugate gradients on the Schur complement: PageRank's solver for symmetric graphs.
#include <algorithm>
#include <cmath>
#include <limits>

#include "pagerank_step.hpp"
#include "perron/core/timer.hpp"

namespace perron::pagerank_detail {

// Conjugate gradients (Hestenes & Stiefel 1952) for a symmetric graph. With A symmetric, O the
// diagonal of out-weights and P = A·O⁻¹, the matrix M = I − αP has O⁻¹M = O⁻¹ − α·O⁻¹AO⁻¹
// symmetric, and positive definite for α < 1 (P's eigenvalues are those of O^-½AO^-½, in
// [−1, 1]). So M is self-adjoint and positive in ⟨u, w⟩ = Σ u(v)w(v)/o(v) (weight 1 on an
// isolated vertex: its row and column are empty), and CG in that inner product solves
// Mz = b, b = (1 − α)t, with the pull kernel as the product: the linear-system view of Gleich,
// Zhukov & Berkhin (2004), for which the weighted inner product gives a short recurrence. When
// the dangling vector is t, (I − αP)x = c·t for the PageRank x, so x = z/Σz.
// CG reduces the error over the spectrum of M like a Chebyshev polynomial, (√κ − 1)/(√κ + 1)
// per product, against α·|λ₂| for power iteration.
//
// Elimination (the Schur complement; cg_eliminate). With C an independent set of low-degree
// vertices (independent_low_degree_set) and F the rest, M's block on C is the identity, so
// Mz = b splits into z_C = b_C + αP_CF z_F and
//   S z_F = b_F + αP_FC b_C,   S = I − αP_FF − α²P_FC P_CF,
// S being the Schur complement of O⁻¹M (symmetric) times O_F: self-adjoint and positive in the
// same inner product on F. CG runs on S. Its product is one step of the operator's two phases
// (C rows pull from F, F rows from everything), one pass over the edges like M's, with vectors
// over F only; and CG converges faster on it (docs/benchmarks.md has the counts). The full
// system's residual at (z_F, z_C) is S's, r_F (r_C = 0), and Σz = Σ_F z(1 + α·share) + Σ_C b,
// share(v) the part of v's out-weight going to C, so the stopping estimate ‖r‖₁/Σz costs no
// extra pass. S's diagonal spans [1 − α², 1] (a hub whose neighbours are mostly eliminated
// leaves is near 1 − α²), so CG on S is preconditioned by it (Jacobi; a diagonal is
// self-adjoint in the weighted inner product), which saves about a quarter of the products.
// Without elimination M's diagonal is 1 but for self-loops, and Jacobi there measured no
// better, so it is not used.
//
// A product is one pull plus two vector passes. When the estimate falls below the tolerance,
// one power step from x = z/Σz measures the true residual ‖F(x) − x‖₁ and becomes the result
// if it is below the tolerance; else CG goes on, asking its estimate for correspondingly less.
double cg_solve(const Solve& s, std::vector<double>& x, int first, bool resume, PageRankResult& result) {
  const StepOperator& op = s.op;
  const LocalId rows = op.rows(), kept = op.kept_rows();
  const double alpha = s.params.damping;
  const std::span<const double> inv_out = op.inv_out(), share = op.eliminated_share();
  std::vector<double> weight(kept), rhs(kept), z(kept), r(kept), p(kept), q(kept), y(rows);
  for (LocalId v = 0; v < kept; ++v) weight[v] = inv_out[v] > 0.0 ? inv_out[v] : 1.0;
  // Jacobi preconditioner on S (1 without elimination, where M's diagonal is 1 but for
  // self-loops): h = r/diag(S).
  const std::span<const double> diagonal = op.schur_diagonal();
  auto precondition = [&](LocalId v) { return diagonal.empty() ? 1.0 : 1.0 / diagonal[v]; };
  auto b = [&](LocalId v) { return (1.0 - alpha) * (s.teleport.uniform() ? s.n_inv : s.teleport.values[v]); };
  auto mass = [&](LocalId v) { return share.empty() ? 1.0 : 1.0 + alpha * share[v]; };
  // rhs = b_F + αP_FC b_C (a pull over the edges from eliminated vertices only; b_F alone when
  // b_C = 0), and Σ_C b.
  double eliminated_b = 0.0;
  if (op.eliminates() && s.teleport_on_eliminated()) {
    const auto add_b = [&](LocalId v, double sum, std::array<double, 3>&) { return b(v) + alpha * sum; };
    op.pull_from_eliminated(b, add_b, rhs, s.buffers, s.comm);
  } else {
    for (LocalId v = 0; v < kept; ++v) rhs[v] = b(v);
  }
  if (op.eliminates())
    eliminated_b = ordered_sums(rows - kept, s.buffers.block_sum, s.comm,
                                [&](LocalId i, std::array<double, 3>& acc) { acc[0] += b(kept + i); })[0];
  // The eliminated rows of S's product send α·(their sum); the solve's kept values are z's.
  const auto schur = [alpha](LocalId, double sum, std::array<double, 3>&) { return alpha * sum; };
  // x = z/Σz: z/Σz on the kept rows and b/Σz on the eliminated ones, which the eliminated
  // phase of a pull completes to z_C/Σz by adding α·P_CF x_F (complete_x). Before any step
  // (Σz = 0), the start x₀ = t, complete as it is. Returns whether a step was taken.
  auto kept_x = [&](double total, std::vector<double>& out) {
    const bool started = total > 0.0;
    for (LocalId v = 0; v < rows; ++v) out[v] = !started ? b(v) / (1.0 - alpha) : v < kept ? z[v] / total : b(v) / total;
    return started;
  };
  auto complete_x = [alpha](bool started, std::vector<double>& out, LocalId v, double sum) {
    if (started) out[v] += alpha * sum;
    return out[v];
  };
  // The true step from x = z/Σz, completing x on the eliminated rows in its first phase,
  // before they send or finish. A dangling vertex of a symmetric graph has no weighted
  // in-edges, so its x and the dangling mass are known before the step.
  std::vector<double> xn(rows);
  auto true_step = [&](double total) {
    const bool started = kept_x(total, xn);
    const double dangling_sum = s.comm.sum_ordered(dangling_mass(xn, inv_out, s.buffers.block_scalar));
    const RowFinish finish(alpha, dangling_sum, s.n_inv, s.teleport, s.dangling, xn, inv_out);
    const auto eliminated_row = [&](LocalId v, double sum, std::array<double, 3>& acc) {
      complete_x(started, xn, v, sum);
      y[v] = finish(v, sum, acc);
      return xn[v];
    };
    return op.apply_to([&](std::size_t u) { return xn[u]; }, eliminated_row, finish, y, s.buffers, s.comm);
  };
  // x = z/Σz over every row, by the eliminated phase alone (for a snapshot or a stop).
  auto normalized = [&](double total) {
    std::vector<double> out(rows);
    const bool started = kept_x(total, out);
    if (started && op.eliminates()) {
      const auto recover = [&](LocalId v, double sum, std::array<double, 3>&) { return complete_x(true, out, v, sum); };
      op.pull_eliminated([&](std::size_t u) { return out[u]; }, recover, s.buffers, s.comm);
    }
    return out;
  };
  // r = rhs − Sz (and p = r, from β = 0). A fresh run starts from z = 0, where r = rhs, and
  // its first step moves to the best multiple of rhs. A resumed run starts from its iterate's
  // kept part and pays one product for the residual.
  double rz = 0.0, z_sum = 0.0, beta = 0.0, final_mass = 1.0;
  double estimate = std::numeric_limits<double>::infinity(), target = s.params.tolerance;
  if (resume) {
    std::copy(x.begin(), x.begin() + kept, z.begin());
  } else {
    rz = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId v, std::array<double, 3>& acc) {
      r[v] = rhs[v];
      acc[1] += r[v] * weight[v] * r[v] * precondition(v);
    })[1];
  }
  bool residual_known = !resume;
  const bool single = single_precision_directions(s.params.tolerance, s.params.fixed_iterations);
  for (int it = first; it <= s.limit(); ++it) {
    const Stopwatch watch;
    if (!residual_known) {
      op.apply_to([&](std::size_t u) { return z[u]; }, schur, ApplyShifted{alpha, z, weight}, q, s.buffers, s.comm);
      const auto sums = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId v, std::array<double, 3>& acc) {
        r[v] = rhs[v] - q[v];
        acc[0] += std::abs(r[v]);
        acc[1] += r[v] * weight[v] * r[v] * precondition(v);
        acc[2] += z[v] * mass(v);
      });
      rz = sums[1], z_sum = sums[2] + eliminated_b, estimate = sums[0] / z_sum;
      residual_known = true;
    } else if (it == s.limit() || (s.params.fixed_iterations == 0 && estimate < target)) {  // the true step
      const Confirmed c = confirm_step(s, it, true_step(z_sum), watch.seconds(), estimate, target, x, y, final_mass, result,
                                       [&] { return op.to_dense(xn); });
      if (c == Confirmed::done) return final_mass;
      if (c == Confirmed::stopped) break;
      continue;
    } else {  // one CG step: p = h + β·p (on the way into the product), q = Sp, z += a·p, r −= a·q
      const auto direction = [&](std::size_t u) {
        const double d = r[u] * precondition(static_cast<LocalId>(u)) + beta * p[u];
        return p[u] = single ? single_precision_direction(d, inv_out[u]) : d;
      };
      const double pq = op.apply_to(direction, schur, ApplyShifted{alpha, p, weight}, q, s.buffers, s.comm)[0];
      const double a = pq > 0.0 ? rz / pq : 0.0;
      const auto sums = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId v, std::array<double, 3>& acc) {
        z[v] += a * p[v];
        r[v] -= a * q[v];
        acc[0] += std::abs(r[v]);
        acc[1] += r[v] * weight[v] * r[v] * precondition(v);
        acc[2] += z[v] * mass(v);
      });
      beta = rz > 0.0 ? sums[1] / rz : 0.0;
      rz = sums[1], z_sum = sums[2] + eliminated_b;
      // A zero step (p·Sp = 0: r is already 0) leaves the estimate at 0, which ends the loop.
      estimate = a > 0.0 ? sums[0] / z_sum : 0.0;
    }
    if (!s.record(result, it, estimate, watch.seconds(), false, [&] { return op.to_dense(normalized(z_sum)); })) break;
  }
  // Stopped by the hook: hand out the normalized iterate.
  x = normalized(z_sum);
  return final_mass;
}

}  // namespace perron::pagerank_detail
