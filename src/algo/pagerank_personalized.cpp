// Batched personalized PageRank (personalized.hpp): power iteration and per-vector conjugate
// gradients over one SpMM per step.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "pagerank_layout.hpp"
#include "pagerank_step.hpp"
#include "perron/algo/personalized.hpp"
#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"

namespace perron {

namespace pagerank_detail {
struct BatchLayout {
  WorkOrder order;              // by reads, no elimination: every row kept
  LocalCsr csr;                 // all rows, work order
  HaloPlan halo;                // ghosts landing in work order
  std::vector<double> inv_out;  // 1/o per row (0 for a dangling one)
  std::vector<double> degree;   // CG's D: o per row, 1 for an isolated one
  std::vector<double> self;     // the weight of a row's self-loops
};
}  // namespace pagerank_detail

PersonalizedPlan::PersonalizedPlan(const DistGraph& graph, const Comm& comm)
    : layout_(std::make_unique<pagerank_detail::BatchLayout>()) {
  layout_->order = pagerank_detail::make_work_order(graph, nullptr, true);
  layout_->csr = pagerank_detail::work_rows(graph.in, layout_->order, 0, graph.rows());
  layout_->halo = graph.halo.relabeled(layout_->order.position, layout_->order.ghost_column, comm);
  const LocalCsr& csr = layout_->csr;
  const LocalId rows = graph.rows();
  layout_->inv_out.resize(rows);
  layout_->degree.resize(rows);
  layout_->self.assign(rows, 0.0);
  for (LocalId w = 0; w < rows; ++w) {
    const double o = graph.out_weight[layout_->order.vertex[w]];
    layout_->inv_out[w] = o > 0.0 ? 1.0 / o : 0.0;
    layout_->degree[w] = o > 0.0 ? o : 1.0;
    for (EdgeIndex e = csr.row_start[w]; e < csr.row_start[w + 1]; ++e)
      if (csr.column[e] == w) layout_->self[w] += csr.weight.empty() ? 1.0 : csr.weight[e];
  }
}
PersonalizedPlan::PersonalizedPlan(PersonalizedPlan&&) noexcept = default;
PersonalizedPlan::~PersonalizedPlan() = default;
std::uint64_t PersonalizedPlan::bytes() const {
  const LocalCsr& c = layout_->csr;
  return c.row_start.capacity() * sizeof(EdgeIndex) + c.column.capacity() * sizeof(LocalId) +
         c.weight.capacity() * sizeof(double) + layout_->halo.bytes() +
         (layout_->inv_out.capacity() + layout_->degree.capacity() + layout_->self.capacity()) * sizeof(double) +
         (layout_->order.vertex.capacity() + layout_->order.position.capacity() + layout_->order.ghost_column.capacity()) *
             sizeof(LocalId);
}

using pagerank_detail::block_count;
using pagerank_detail::kBlock;
using pagerank_detail::prefetch_distance;

std::vector<SparseTeleport> sparse_teleports(std::span<const VertexId> ids, std::span<const double> weights,
                                             std::span<const std::size_t> set_start, const DistGraph& graph, const Comm& comm,
                                             const std::function<std::string(std::size_t)>& where) {
  const auto sets = comm.bcast_value<std::uint64_t>(set_start.empty() ? 0 : set_start.size() - 1, 0);
  const std::vector<GlobalId> dense = graph.ids.to_dense(ids, comm);
  struct Entry {
    GlobalId id;
    std::uint64_t set;
    double weight;
  };
  std::vector<Entry> entries;
  comm.agree([&] {
    for (std::size_t s = 0; s + 1 < set_start.size(); ++s) {
      double total = 0.0;
      for (std::size_t i = set_start[s]; i < set_start[s + 1]; ++i) total += weights[i];
      for (std::size_t i = set_start[s]; i < set_start[s + 1]; ++i) {
        if (dense[i] == kMissingId) throw_input(where(s) + ": vertex " + std::to_string(ids[i]) + " is not in the graph");
        entries.push_back(Entry{dense[i], s, weights[i] / total});
      }
    }
  });
  const Buckets<Entry> b =
      bucket_by_owner<Entry>(entries, comm.size(), [&](const Entry& e) { return graph.partition.owner(e.id); });
  const std::vector<Entry> mine = comm.alltoallv<Entry>(b.send, b.counts);
  std::vector<SparseTeleport> out(sets);
  for (const Entry& e : mine) {
    out[e.set].row.push_back(static_cast<LocalId>(e.id - graph.first));
    out[e.set].weight.push_back(e.weight);
  }
  return out;
}

PageRankSolver choose_personalized_solver(const DistGraph& graph, const PersonalizedParams& params, const Comm& comm) {
  PageRankSolver solver = params.solver;
  comm.agree([&] {
    if (solver == PageRankSolver::anderson || solver == PageRankSolver::bicgstab)
      throw_usage(
          "--seed-sets runs the solvers power and cg (and auto, which picks one of them); anderson and bicgstab "
          "have no batched form here");
  });
  const bool krylov_possible = params.fixed_iterations == 0 && params.damping < 1.0;
  if (solver == PageRankSolver::automatic)
    return krylov_possible && is_symmetric(graph, comm) ? PageRankSolver::cg : PageRankSolver::power;
  if (solver == PageRankSolver::cg) {
    const bool symmetric = is_symmetric(graph, comm);
    comm.agree([&] {
      if (!krylov_possible) throw_usage("solver cg needs damping < 1 and no --iterations; solver power takes both");
      if (!symmetric)
        throw_usage("solver cg needs a symmetric graph; --solver auto runs power on a directed graph with --seed-sets");
    });
  }
  return solver;
}

namespace {

// Values kept per vertex for a block of b vectors: b rounded up to a power of two, so the
// inner loop over the block has a width the compiler knows (padding vectors stay zero).
int padded_width(int b) {
  int width = 1;
  while (width < b) width *= 2;
  return width;
}
static_assert(kMaxBlockVectors == 16, "with_width instantiates the kernels for widths 1 to 16");

// Calls f(std::integral_constant<int, S>) for the padded width S.
template <class F>
void with_width(int width, F&& f) {
  switch (width) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 4:
      return f(std::integral_constant<int, 4>{});
    case 8:
      return f(std::integral_constant<int, 8>{});
    case 16:
      return f(std::integral_constant<int, 16>{});
    default:
      throw Error(ErrorKind::internal, "personalized PageRank: no kernel for width " + std::to_string(width));
  }
}

// Requests the S values at p (S·8 bytes, one cache line per 8 values) into the cache.
template <int S>
inline void prefetch_values(const double* p) {
  for (int line = 0; line < (S * 8 + 63) / 64; ++line) __builtin_prefetch(p + line * 8);
}

// The SpMM pull, the whole cost of a step: for every owned row v,
//   acc(j) = Σ_{u→v} w(u,v)·c(u, j),  j < S,
// over the CSR's in-edges, with c vertex-major (S values per column, ghosts after the owned
// rows). One edge reads its source's S values in one contiguous run, so a block of vectors
// costs one pass over the edges and the index array. finish(block, v, acc) turns the sums into
// the row's values and adds the block's reductions; rows go in the fixed blocks of the single
// kernel (kBlock), so reductions are ordered and every vector sums its row as a single run does.
template <int S, bool kWeighted, class Finish>
void pull_block(const LocalCsr& csr, const double* c, const Finish& finish) {
  const LocalId rows = csr.rows;
  const EdgeIndex* start = csr.row_start.data();
  const LocalId* col = csr.column.data();
  const double* w = csr.weight.data();
  const EdgeIndex edges = start[rows];
#pragma omp parallel for schedule(dynamic, 1)
  for (LocalId b = 0; b < block_count(rows); ++b) {
    for (LocalId v = b * kBlock; v < std::min(rows, (b + 1) * kBlock); ++v) {
      alignas(64) double acc[S] = {};
      for (EdgeIndex e = start[v]; e < start[v + 1]; ++e) {
        if (e + prefetch_distance<S> < edges) prefetch_values<S>(c + static_cast<std::size_t>(col[e + prefetch_distance<S>]) * S);
        const double* src = c + static_cast<std::size_t>(col[e]) * S;
        if constexpr (kWeighted) {
          const double weight = w[e];
          for (int j = 0; j < S; ++j) acc[j] += weight * src[j];
        } else {
          for (int j = 0; j < S; ++j) acc[j] += src[j];
        }
      }
      finish(b, v, acc);
    }
  }
}

// A block of vectors, vertex-major, on huge pages (gathered at random along every edge).
using BlockVector = HugeVector<double>;

// One block's vectors and the buffers its steps reuse; rows and columns in the plan's work
// order, the results put back in dense order as each vector freezes.
struct Batch {
  const DistGraph& graph;
  const pagerank_detail::BatchLayout& layout;
  const PersonalizedParams& params;
  const Comm& comm;
  int vectors, width;  // b vectors, padded to S values per vertex
  LocalId rows, columns;
  const std::vector<double>& inv_out;
  std::vector<LocalId> tele_start;  // per row: its teleport entries (vector, weight), CSR-like
  std::vector<int> tele_vector;
  std::vector<double> tele_weight;
  std::vector<double> block_sum;  // blocks × S × 3 partial reductions
  PersonalizedBlock out;
  std::vector<std::uint8_t> active;

  Batch(const DistGraph& g, const pagerank_detail::BatchLayout& l, const PersonalizedParams& p,
        std::span<const SparseTeleport> teleports, const Comm& c)
      : graph(g),
        layout(l),
        params(p),
        comm(c),
        vectors(static_cast<int>(teleports.size())),
        width(padded_width(vectors)),
        rows(g.rows()),
        columns(g.in.columns),
        inv_out(l.inv_out),
        tele_start(rows + 1, 0) {
    for (const SparseTeleport& t : teleports)
      for (LocalId r : t.row) ++tele_start[l.order.position[r] + 1];
    for (LocalId v = 0; v < rows; ++v) tele_start[v + 1] += tele_start[v];
    tele_vector.resize(tele_start[rows]);
    tele_weight.resize(tele_start[rows]);
    std::vector<LocalId> fill(tele_start.begin(), tele_start.end() - 1);
    for (int j = 0; j < vectors; ++j)
      for (std::size_t i = 0; i < teleports[j].row.size(); ++i) {
        const LocalId at = fill[l.order.position[teleports[j].row[i]]]++;
        tele_vector[at] = j;
        tele_weight[at] = teleports[j].weight[i];
      }
    out.score.assign(static_cast<std::size_t>(vectors) * rows, 0.0);
    out.iterations.assign(vectors, 0);
    out.residual.assign(vectors, 0.0);
    out.converged.assign(vectors, 0);
    active.assign(vectors, 1);
  }

  std::size_t at(LocalId v, int j) const { return static_cast<std::size_t>(v) * width + j; }
  int limit() const { return params.fixed_iterations > 0 ? params.fixed_iterations : params.max_iterations; }
  bool below_tolerance(double r) const { return params.fixed_iterations == 0 && r < params.tolerance; }
  bool any_active() const { return std::find(active.begin(), active.end(), 1) != active.end(); }

  // t_j as a block (vertex-major), scaled by `scale(v)` per row.
  template <class Scale>
  void teleport_block(BlockVector& x, Scale scale) const {
    x.assign(static_cast<std::size_t>(rows) * width, 0.0);
    for (LocalId v = 0; v < rows; ++v)
      for (LocalId i = tele_start[v]; i < tele_start[v + 1]; ++i) x[at(v, tele_vector[i])] += tele_weight[i] * scale(v);
  }

  // Ordered sums of `per` reductions per vector: the blocks' partial sums in block order,
  // then over ranks in rank order.
  std::vector<double> reduce(int per) {
    std::vector<double> total(static_cast<std::size_t>(width) * per, 0.0);
    for (LocalId b = 0; b < block_count(rows); ++b)
      for (std::size_t i = 0; i < total.size(); ++i) total[i] += block_sum[b * total.size() + i];
    comm.sum_ordered(total);
    return total;
  }

  // Ordered sums over the rows, `per` of them per vector: body(v, sums) adds row v's part to its
  // block's width·per slots (vector j at sums[per·j ..]); then reduce(per).
  template <class Body>
  std::vector<double> row_sums(int per, const Body& body) {
    const std::size_t slots = static_cast<std::size_t>(width) * per;
    block_sum.assign(block_count(rows) * slots, 0.0);
#pragma omp parallel for schedule(static)
    for (LocalId b = 0; b < block_count(rows); ++b)
      for (LocalId v = b * kBlock; v < std::min(rows, (b + 1) * kBlock); ++v) body(v, block_sum.data() + b * slots);
    return reduce(per);
  }

  // Runs the pull over c (owned values filled; ghosts exchanged here) with `finish`.
  template <class Finish>
  void pull(BlockVector& c, const Finish& finish) {
    layout.halo.exchange_block(std::span<const double>(c).first(static_cast<std::size_t>(rows) * width),
                               std::span<double>(c).subspan(static_cast<std::size_t>(rows) * width), width, comm);
    with_width(width, [&](auto s) {
      constexpr int S = decltype(s)::value;
      if (graph.weighted)
        pull_block<S, true>(layout.csr, c.data(), finish);
      else
        pull_block<S, false>(layout.csr, c.data(), finish);
    });
  }

  // The PageRank step of every vector, y_j = F_j(x_j) (RowFinish's formula per vector, the
  // dangling mass d_j of x_j going where t_j does); returns per vector {‖y_j − x_j‖₁, d_j of
  // y_j, Σ y_j}. `contrib` holds columns × S values.
  std::vector<double> power_step(const BlockVector& x, const std::vector<double>& dangling, BlockVector& y,
                                 BlockVector& contrib) {
    const double alpha = params.damping;
#pragma omp parallel for schedule(static)
    for (LocalId u = 0; u < rows; ++u)
      for (int j = 0; j < width; ++j) contrib[at(u, j)] = x[at(u, j)] * inv_out[u];
    const std::size_t per_block = static_cast<std::size_t>(width) * 3;
    block_sum.assign(block_count(rows) * per_block, 0.0);
    pull(contrib, [&](LocalId b, LocalId v, const double* acc) {
      double tele[kMaxBlockVectors];
      std::fill_n(tele, width, 0.0);
      for (LocalId i = tele_start[v]; i < tele_start[v + 1]; ++i) tele[tele_vector[i]] += tele_weight[i];
      double* sums = block_sum.data() + b * per_block;
      for (int j = 0; j < width; ++j) {
        const double t = tele[j];
        const double yv = alpha * acc[j] + alpha * dangling[j] * t + (1.0 - alpha) * t;
        sums[3 * j] += std::abs(yv - x[at(v, j)]);
        if (inv_out[v] == 0.0) sums[3 * j + 1] += yv;
        sums[3 * j + 2] += yv;
        y[at(v, j)] = yv;
      }
    });
    return reduce(3);
  }

  // Σ over dangling u of x_j(u), per vector.
  std::vector<double> dangling_mass(const BlockVector& x) {
    return row_sums(1, [&](LocalId v, double* sums) {
      if (inv_out[v] == 0.0)
        for (int j = 0; j < width; ++j) sums[j] += x[at(v, j)];
    });
  }

  // Vector j is done: its values from y (vertex-major) are its result.
  void freeze(int j, const BlockVector& y, int iteration, double residual) {
    active[j] = 0;
    out.iterations[j] = iteration;
    out.residual[j] = residual;
    out.converged[j] = residual < params.tolerance && params.fixed_iterations == 0 ? 1 : 0;
    double* dst = out.score.data() + static_cast<std::size_t>(j) * rows;
    for (LocalId w = 0; w < rows; ++w) dst[layout.order.vertex[w]] = y[at(w, j)];
  }

  void record(double seconds, const IterationObserver& observe, double largest) {
    out.history.push_back(largest);
    if (observe) observe(IterationReport{static_cast<int>(out.history.size()), largest, seconds});
  }

  // Power iteration from x₀ = t_j; each vector is frozen at the step that meets the tolerance.
  void power(const IterationObserver& observe) {
    BlockVector x, y(static_cast<std::size_t>(rows) * width), contrib(static_cast<std::size_t>(columns) * width);
    teleport_block(x, [](LocalId) { return 1.0; });
    std::vector<double> dangling = dangling_mass(x);
    for (int it = 1; it <= limit() && any_active(); ++it) {
      const Stopwatch watch;
      const std::vector<double> sums = power_step(x, dangling, y, contrib);
      double largest = 0.0;
      for (int j = 0; j < vectors; ++j) {
        if (!active[j]) continue;
        largest = std::max(largest, sums[3 * j]);
        if (below_tolerance(sums[3 * j]) || it == limit()) freeze(j, y, it, sums[3 * j]);
      }
      x.swap(y);
      for (int j = 0; j < width; ++j) dangling[j] = sums[3 * j + 1];
      record(watch.seconds(), observe, largest);
    }
  }

  // Per-vector preconditioned conjugate gradients on M u = (1 − α) t with M = D − αW (D the
  // out-weights, 1 for an isolated vertex; W the symmetric weights) and Jacobi's m = diag(M).
  // The product q = M p is one SpMM over p with its ghosts: q(v) = D(v)p(v) − α Σ_{u→v} w p(u).
  // Each vector keeps its own scalars; a frozen or padding vector gets step lengths 0, so it
  // stays put while the block goes on. Once every vector still going estimates its PageRank
  // residual ‖r_j‖₁/Σz_j (z = D u; the residual of (I − αP)z = (1 − α)t) below its target,
  // a confirming power step from x_j = z_j/Σz_j measures the true one: a vector below the
  // tolerance takes that step as its result (as single cg does, confirm_step), the others
  // shrink their target by the ratio of estimate to truth and go on.
  void cg(const IterationObserver& observe) {
    const double alpha = params.damping;
    const std::size_t owned = static_cast<std::size_t>(rows) * width;
    const std::vector<double>& d = layout.degree;
    std::vector<double> m(rows);
    for (LocalId v = 0; v < rows; ++v) m[v] = d[v] - alpha * layout.self[v];
    BlockVector u(owned, 0.0), r, q(owned), p(static_cast<std::size_t>(columns) * width, 0.0);
    teleport_block(r, [&](LocalId) { return 1.0 - alpha; });  // r₀ = b − M·0
    std::vector<double> target(width, params.tolerance);
    // p₀ = s₀ = r₀/m; rs = ⟨r, s⟩.
    std::vector<double> rs = row_sums(1, [&](LocalId v, double* sums) {
      for (int j = 0; j < width; ++j) {
        p[at(v, j)] = r[at(v, j)] / m[v];
        sums[j] += r[at(v, j)] * p[at(v, j)];
      }
    });
    std::vector<double> estimate(width, 1.0);
    BlockVector x, y(owned), contrib;
    for (int it = 1; it <= limit() && any_active(); ++it) {
      const Stopwatch watch;
      if (all_below(estimate, target) || it == limit()) {
        confirm_step(it, u, d, x, y, contrib, estimate, target, watch, observe);
        continue;
      }
      // q = M p, ⟨p, q⟩.
      block_sum.assign(block_count(rows) * width, 0.0);
      pull(p, [&](LocalId b, LocalId v, const double* acc) {
        double* sums = block_sum.data() + b * width;
        for (int j = 0; j < width; ++j) {
          const double qv = d[v] * p[at(v, j)] - alpha * acc[j];
          q[at(v, j)] = qv;
          sums[j] += p[at(v, j)] * qv;
        }
      });
      const std::vector<double> pq = reduce(1);
      std::vector<double> a(width, 0.0);
      for (int j = 0; j < vectors; ++j)
        if (active[j] && pq[j] > 0.0 && std::isfinite(rs[j] / pq[j])) a[j] = rs[j] / pq[j];
      // u += a p, r −= a q, then ⟨r, s⟩ with s = r/m, ‖r‖₁ and Σz = Σ D u.
      const std::vector<double> sums = row_sums(3, [&](LocalId v, double* block) {
        for (int j = 0; j < width; ++j) {
          u[at(v, j)] += a[j] * p[at(v, j)];
          const double rv = r[at(v, j)] - a[j] * q[at(v, j)];
          r[at(v, j)] = rv;
          block[3 * j] += rv * rv / m[v];
          block[3 * j + 1] += std::abs(rv);
          block[3 * j + 2] += d[v] * u[at(v, j)];
        }
      });
      std::vector<double> beta(width, 0.0);
      double largest = 0.0;
      for (int j = 0; j < vectors; ++j) {
        if (!active[j]) continue;
        if (rs[j] > 0.0 && a[j] != 0.0) beta[j] = sums[3 * j] / rs[j];
        rs[j] = sums[3 * j];
        estimate[j] = sums[3 * j + 2] > 0.0 ? sums[3 * j + 1] / sums[3 * j + 2] : 1.0;
        largest = std::max(largest, estimate[j]);
      }
      // p = s + β p.
#pragma omp parallel for schedule(static)
      for (LocalId v = 0; v < rows; ++v)
        for (int j = 0; j < width; ++j) p[at(v, j)] = r[at(v, j)] / m[v] + beta[j] * p[at(v, j)];
      record(watch.seconds(), observe, largest);
    }
  }

  bool all_below(const std::vector<double>& estimate, const std::vector<double>& target) const {
    for (int j = 0; j < vectors; ++j)
      if (active[j] && !(estimate[j] < target[j])) return false;
    return true;
  }

  // CG's confirming power step (see cg): x_j = z_j/Σz_j, y = F(x), the true residuals.
  void confirm_step(int it, const BlockVector& u, const std::vector<double>& d, BlockVector& x, BlockVector& y,
                    BlockVector& contrib, std::vector<double>& estimate, std::vector<double>& target, const Stopwatch& watch,
                    const IterationObserver& observe) {
    const std::size_t owned = static_cast<std::size_t>(rows) * width;
    x.resize(owned);
    contrib.resize(static_cast<std::size_t>(columns) * width);
    const std::vector<double> mass = row_sums(1, [&](LocalId v, double* sums) {
      for (int j = 0; j < width; ++j) sums[j] += d[v] * u[at(v, j)];
    });
#pragma omp parallel for schedule(static)
    for (LocalId v = 0; v < rows; ++v)
      for (int j = 0; j < width; ++j) x[at(v, j)] = mass[j] > 0.0 ? d[v] * u[at(v, j)] / mass[j] : 0.0;
    const std::vector<double> dangling = dangling_mass(x);
    const std::vector<double> sums = power_step(x, dangling, y, contrib);
    double largest = 0.0;
    for (int j = 0; j < vectors; ++j) {
      if (!active[j]) continue;
      const double truth = sums[3 * j];
      largest = std::max(largest, truth);
      if (below_tolerance(truth) || it == limit())
        freeze(j, y, it, truth);
      else
        target[j] = 0.5 * params.tolerance * estimate[j] / truth;
    }
    record(watch.seconds(), observe, largest);
  }
};

}  // namespace

std::uint64_t personalized_block_bytes(const DistGraph& graph, PageRankSolver solver, int vectors) {
  const std::uint64_t width = static_cast<std::uint64_t>(padded_width(vectors));
  const std::uint64_t rows = graph.rows(), columns = graph.in.columns;
  const std::uint64_t vector_rows = solver == PageRankSolver::cg ? 5 * rows + 2 * columns : 2 * rows + columns;
  return (vector_rows * width + rows * static_cast<std::uint64_t>(vectors)) * sizeof(double);
}

PersonalizedBlock personalized_pagerank(const DistGraph& graph, const PersonalizedPlan& plan, const PersonalizedParams& params,
                                        std::span<const SparseTeleport> teleports, const Comm& comm,
                                        const IterationObserver& observe) {
  if (teleports.empty() || teleports.size() > static_cast<std::size_t>(kMaxBlockVectors))
    throw Error(ErrorKind::internal, "personalized_pagerank: a block holds 1 to " + std::to_string(kMaxBlockVectors) +
                                         " vectors, got " + std::to_string(teleports.size()));
  if (params.solver != PageRankSolver::power && params.solver != PageRankSolver::cg)
    throw Error(ErrorKind::internal, "personalized_pagerank: the solver must be power or cg (choose_personalized_solver)");
  if (plan.layout().order.vertex.size() != graph.rows())
    throw Error(ErrorKind::internal, "personalized_pagerank: the plan was built for another graph");
  Batch batch(graph, plan.layout(), params, teleports, comm);
  const Stopwatch watch;
  if (params.solver == PageRankSolver::cg)
    batch.cg(observe);
  else
    batch.power(observe);
  batch.out.seconds = watch.seconds();
  batch.out.solver = params.solver;
  batch.out.halo_bytes_sent_per_iteration =
      plan.layout().halo.values_sent() * static_cast<std::uint64_t>(batch.width) * sizeof(double);
  return std::move(batch.out);
}

}  // namespace perron
