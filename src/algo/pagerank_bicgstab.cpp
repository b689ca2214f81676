// BiCGSTAB on the Schur complement, with the dangling vertices last: PageRank's solver for
// directed graphs.
#include <algorithm>
#include <cmath>
#include <limits>

#include "pagerank_step.hpp"
#include "perron/core/timer.hpp"

namespace perron::pagerank_detail {

// BiCGSTAB (van der Vorst 1992) for a directed graph: the linear-system view of PageRank
// (Gleich, Zhukov & Berkhin 2004, who measured it on web graphs), with the reductions that
// make the system smaller and each product cheaper.
//
// With P = A·O⁻¹ (column u carries u's out-links; zero for a dangling u) and b = (1 − α)t,
// (I − αP)z = b gives PageRank as x = z/Σz when the dangling vector is t. Three classes of
// vertices (StepOperator's work order):
// - D, the dangling vertices, last (Langville & Meyer 2006; Lee, Golub & Zenios 2003): P's
//   columns on D are zero, so nothing depends on z_D, and z_D = b_D + αP_D· z follows in one
//   pass once the rest is solved. Their rows, often most of a web graph's vertices, never
//   enter the iteration, and their values are never exchanged.
// - C, an independent set of low-degree vertices among the rest (no edge between two of them
//   in either direction, no self-loop; independent_low_degree_set): M's block on C is the
//   identity, so z_C = b_C + αP_CF z_F, and on the kept vertices F
//     S z_F = b_F + αP_FC b_C,   S = I − αP_FF − α²P_FC P_CF,
//   exactly, for a non-symmetric P too. A product with S is one pass over the edges of F and
//   C rows (the operator's two phases), with vectors over F only.
// - F, the kept vertices: BiCGSTAB runs on S z_F = rhs.
// Σz needs no extra pass: z_C and z_D are linear in z_F, so Σz = Σ_F weight·z + a constant,
// with weights from the plan (StepOperator::sum_weight).
//
// BiCGSTAB takes two products an iteration; each half leaves an iterate and its residual (s,
// then r), and each product is recorded as a step, so the step counts compare with power
// iteration's one product a step. It is not preconditioned: S's diagonal is 1 but for
// self-loops and two-cycles through C. GMRES(m) took as many products on the graphs of
// docs/benchmarks.md and needs m vectors and a least-squares solve; BiCGSTAB needs six.
// When the estimate ‖r‖₁/Σz falls below the tolerance, one power step from x = z/Σz measures
// the true residual ‖F(x) − x‖₁ and becomes the result if it is below the tolerance; else the
// solve goes on, asking its estimate for correspondingly less (as cg_solve does). A breakdown
// ((r̂, v) = 0 or ω = 0) restarts the recurrence from the current residual.
double bicgstab_solve(const Solve& s, std::vector<double>& x, int first, bool resume, PageRankResult& result) {
  const StepOperator& op = s.op;
  const LocalId rows = op.rows(), kept = op.kept_rows(), trailing = op.trailing_rows();
  const double alpha = s.params.damping;
  const std::span<const double> weight = op.sum_weight();
  std::vector<double> rhs(kept), z(kept, 0.0), r(kept), shadow(kept), p(kept, 0.0), v(kept, 0.0), half(kept), t(kept);
  auto b = [&](LocalId i) { return (1.0 - alpha) * (s.teleport.uniform() ? s.n_inv : s.teleport.values[i]); };
  auto mass = [&](LocalId i) { return weight.empty() ? 1.0 : weight[i]; };
  // rhs = b_F + αP_FC b_C (a pull over the edges from eliminated vertices only; b_F alone when
  // b_C = 0), and the part of Σz that z_F does not change (StepOperator::sum_weight).
  if (op.eliminates() && s.teleport_on_eliminated()) {
    const auto add_b = [&](LocalId i, double sum, std::array<double, 3>&) { return b(i) + alpha * sum; };
    op.pull_from_eliminated(b, add_b, rhs, s.buffers, s.comm);
  } else {
    for (LocalId i = 0; i < kept; ++i) rhs[i] = b(i);
  }
  const double fixed_mass = ordered_sums(rows - kept, s.buffers.block_sum, s.comm, [&](LocalId i, std::array<double, 3>& acc) {
    acc[0] += (kept + i < trailing ? mass(kept + i) : 1.0) * b(kept + i);
  })[0];
  const auto total_of = [&](double kept_mass) { return kept_mass + fixed_mass; };
  // ‖r‖₁/Σz, about the change a step from x = z/Σz would make. At the answer Σz ≥ 1 − α (z ≥
  // 0); an iterate far from it can have a smaller Σz, even a negative one (BiCGSTAB's first
  // steps may be negative), and is then measured against 1 − α, which only overstates.
  double z_sum = total_of(0.0);
  const auto estimate_of = [&](double r_norm) { return r_norm / std::max(z_sum, 1.0 - alpha); };
  // x = z/Σz over every row: kept rows from z, then the eliminated and trailing rows from
  // their in-edges, x(v) = b(v)/Σz + α·sum. The sums' [1] is the dangling mass (the trailing
  // rows are the dangling ones).
  // The iterate is z, or z + a·p between the two halves of an iteration (`at_half`).
  bool at_half = false;
  double step = 1.0;
  auto full_x = [&](double total, std::vector<double>& out) {
    const auto kept_value = [&](std::size_t u) { return out[u] = (at_half ? z[u] + step * p[u] : z[u]) / total; };
    const auto eliminated_row = [&](LocalId i, double sum, std::array<double, 3>&) {
      return out[i] = b(i) / total + alpha * sum;
    };
    const auto trailing_row = [&](LocalId i, double sum, std::array<double, 3>& acc) {
      const double xi = b(i) / total + alpha * sum;
      acc[1] += xi;
      return xi;
    };
    return op.complete(kept_value, eliminated_row, trailing_row, out, s.buffers, s.comm);
  };
  std::vector<double> xn(rows), y(rows);
  // The true step from x = z/Σz: {‖F(x) − x‖₁, dangling mass, Σ F(x)}, F(x) in y.
  auto true_step = [&](double total) {
    const double dangling_sum = full_x(total, xn)[1];
    return s.step(xn, dangling_sum, y);
  };
  auto snapshot = [&](double total) {
    return [&, total] {
      std::vector<double> out(rows);
      full_x(total, out);
      return op.to_dense(out);
    };
  };
  // q = Sp for the kept rows, with p(u) = direction(u) computed on the way into the product;
  // `dots` adds the product's two inner products to the block.
  const auto schur = [alpha](LocalId, double sum, std::array<double, 3>&) { return alpha * sum; };
  auto product = [&](auto direction, std::span<const double> p_of, std::vector<double>& q, auto dots) {
    const auto finish = [&](LocalId i, double sum, std::array<double, 3>& acc) {
      const double qi = p_of[i] - alpha * sum;
      dots(i, qi, acc);
      return qi;
    };
    return op.apply_to(direction, schur, finish, q, s.buffers, s.comm);
  };

  // Start: z = 0, r = rhs (a fresh run); a resumed run from its iterate's kept part scaled to
  // z's scale, Σz = (1 − α)/(1 − α(1 − Σ_D x)), and one product for its residual.
  double rho = 1.0, omega = 1.0, beta = 0.0, final_mass = 1.0;
  double estimate = std::numeric_limits<double>::infinity(), target = s.params.tolerance;
  enum class Next { residual, first_half, second_half };
  Next next = Next::residual;
  // r̂ = r: the shadow residual of a (re)started recurrence, with p = r on the next product.
  auto restart = [&] {
    rho = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId i, std::array<double, 3>& acc) {
      shadow[i] = r[i];
      acc[0] += r[i] * r[i];
    })[0];
    beta = 0.0;
    next = Next::first_half;
  };
  if (resume) {
    const double dangling_x = ordered_sums(rows - trailing, s.buffers.block_sum, s.comm,
                                           [&](LocalId i, std::array<double, 3>& acc) { acc[0] += x[trailing + i]; })[0];
    const double scale = (1.0 - alpha) / (1.0 - alpha * (1.0 - dangling_x));
    for (LocalId i = 0; i < kept; ++i) z[i] = scale * x[i];
  } else {
    std::copy(rhs.begin(), rhs.end(), r.begin());
    restart();
  }
  for (int it = first; it <= s.limit(); ++it) {
    const Stopwatch watch;
    if (next == Next::residual) {  // r = rhs − Sz
      product([&](std::size_t u) { return z[u]; }, z, t, [](LocalId, double, std::array<double, 3>&) {});
      const auto sums = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId i, std::array<double, 3>& acc) {
        r[i] = rhs[i] - t[i];
        acc[0] += std::abs(r[i]);
        acc[1] += z[i] * mass(i);
      });
      z_sum = total_of(sums[1]), estimate = estimate_of(sums[0]);
      restart();
    } else if (it == s.limit() || (s.params.fixed_iterations == 0 && estimate < target)) {  // the true step
      const Confirmed c = confirm_step(s, it, true_step(z_sum), watch.seconds(), estimate, target, x, y, final_mass, result,
                                       [&] { return op.to_dense(xn); });
      if (c == Confirmed::done) return final_mass;
      if (c == Confirmed::stopped) break;
      continue;
    } else if (next == Next::first_half) {  // p = r + β(p − ωv), v = Sp, a = ρ/(r̂, v), s = r − a·v
      const auto direction = [&](std::size_t u) { return p[u] = r[u] + beta * (p[u] - omega * v[u]); };
      const double shadow_v =
          product(direction, p, v, [&](LocalId i, double qi, std::array<double, 3>& acc) { acc[0] += shadow[i] * qi; })[0];
      step = shadow_v != 0.0 ? rho / shadow_v : 0.0;
      const auto sums = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId i, std::array<double, 3>& acc) {
        half[i] = r[i] - step * v[i];
        acc[0] += std::abs(half[i]);
        acc[1] += (z[i] + step * p[i]) * mass(i);
      });
      z_sum = total_of(sums[1]), estimate = estimate_of(sums[0]);
      next = Next::second_half;
      at_half = true;
      if (step == 0.0 || estimate < target) {  // a breakdown, or done at the half: z += a·p, r = s
        for (LocalId i = 0; i < kept; ++i) z[i] += step * p[i], r[i] = half[i];
        at_half = false;
        restart();
      }
    } else {  // t = Ss, ω = (t, s)/(t, t), z += a·p + ω·s, r = s − ω·t, β = (ρ'/ρ)(a/ω)
      const auto dots = [&](LocalId i, double qi, std::array<double, 3>& acc) {
        acc[0] += qi * half[i];
        acc[1] += qi * qi;
      };
      const auto ts = product([&](std::size_t u) { return half[u]; }, half, t, dots);
      omega = ts[1] > 0.0 ? ts[0] / ts[1] : 0.0;
      at_half = false;
      const auto sums = ordered_sums(kept, s.buffers.block_sum, s.comm, [&](LocalId i, std::array<double, 3>& acc) {
        z[i] += step * p[i] + omega * half[i];
        r[i] = half[i] - omega * t[i];
        acc[0] += std::abs(r[i]);
        acc[1] += z[i] * mass(i);
        acc[2] += shadow[i] * r[i];
      });
      z_sum = total_of(sums[1]), estimate = estimate_of(sums[0]);
      if (omega == 0.0 || sums[2] == 0.0) {
        restart();
      } else {
        beta = (sums[2] / rho) * (step / omega);
        rho = sums[2];
        next = Next::first_half;
      }
    }
    if (!s.record(result, it, estimate, watch.seconds(), false, snapshot(z_sum))) break;
  }
  // Stopped by the hook: hand out the normalized iterate.
  full_x(z_sum, x);
  return final_mass;
}

}  // namespace perron::pagerank_detail
