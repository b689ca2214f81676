// Batched personalized PageRank (personalized.hpp): power iteration, and the single solves'
// conjugate gradients and BiCGSTAB per vector, over one SpMM per step.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "pagerank_layout.hpp"
#include "pagerank_step.hpp"
#include "perron/algo/personalized.hpp"
#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"
#include "target_clones.hpp"

namespace perron {

namespace pagerank_detail {
// The vectors of a block (vertex-major, on huge pages: gathered at random along every edge).
struct BatchBuffers {
  using BlockVector = HugeVector<double>;
  BlockVector z, r, p, q, x, contrib;  // x: power's iterate (cg's staging, where it needs one: Batch::cg)
  BlockVector shadow, sp, half, st;    // bicgstab's r̂, Sp, s and Ss (also its confirming x and y)
  HugeVector<float> sent;              // cg's single-precision directions over o (SentColumns);
                                       // where they hold p too (directions_in_sent), no p
  std::uint64_t bytes() const {        // every buffer's capacity
    std::uint64_t total = sent.capacity() * sizeof(float);
    for (const BlockVector* v : {&z, &r, &p, &q, &x, &contrib, &shadow, &sp, &half, &st}) total += v->capacity() * sizeof(double);
    return total;
  }
};
}  // namespace pagerank_detail
using pagerank_detail::BatchBuffers;

namespace {
// The operator of a batch plan: its vertices ordered most read first (WorkColumns), which a
// block of several vectors gains from, or, for a plan of one vector, in the graph's order as a
// single solve's are (its 8 bytes per vertex mostly stay cached; the order would only cost plan
// time).
pagerank_detail::StepOperator plan_operator(const DistGraph& graph, const PersonalizedParams& params, const Comm& comm,
                                            int block_vectors) {
  if (params.solver != PageRankSolver::power && params.solver != PageRankSolver::cg && params.solver != PageRankSolver::bicgstab)
    throw Error(ErrorKind::internal, "PersonalizedPlan: the solver must be power, cg or bicgstab (choose_personalized_solver)");
  PageRankParams single;
  single.damping = params.damping;
  single.solver = params.solver;
  single.kernel = PageRankKernel::csr;
  return pagerank_detail::StepOperator(
      graph, single, comm,
      block_vectors == 1 ? pagerank_detail::WorkColumns::graph_order : pagerank_detail::WorkColumns::most_read_first);
}

// Values kept per vertex for a block of b vectors: b rounded up to a power of two, so the
// inner loop over the block has a width the compiler knows (padding vectors stay zero).
int padded_width(int b) {
  int width = 1;
  while (width < b) width *= 2;
  return width;
}

// Whether cg's products send single-precision directions (single_precision_directions): where
// the tolerance allows it, no dangling row trails, and the plan split the kept rows' entries
// (Phases::kept_split), which the single-precision pulls rely on.
bool single_precision_products(const pagerank_detail::StepOperator& op, const PersonalizedParams& params) {
  return pagerank_detail::single_precision_directions(params.tolerance, params.fixed_iterations) &&
         op.trailing_rows() == op.rows() && (!op.eliminates() || !op.phases().kept_split.empty());
}

// Whether cg's floats sent, f = p/o, are its directions as well, p = f·o (direction_of_sent),
// so that the block holds no p: where its products send floats and every kept row sends one
// (a kept row with o = 0 keeps its p unrounded). The block then holds 8 bytes less per kept
// row and vector: 22.1 bytes per vertex and vector instead of 24.5 on Kronecker 20 (16.5 since
// cg_confirm holds no vector over every row besides the contributions). A step
// reads 4 bytes for each p it read 8 for and writes none; its time did not move (the gather
// is most of it; docs/benchmarks.md).
bool directions_in_sent(const pagerank_detail::StepOperator& op, const PersonalizedParams& params) {
  const std::span<const double> inv_out = op.inv_out().first(op.kept_rows());
  return single_precision_products(op, params) &&
         std::all_of(inv_out.begin(), inv_out.end(), [](double inv) { return inv > 0.0; });
}

// Whether a cg block of `width` values per vertex stages its frozen vectors in a vector over
// every row of its own (x): where the kept rows' contributions hold fewer than rows values
// (Batch::cg_confirm stages them there otherwise).
bool cg_stages_apart(const pagerank_detail::StepOperator& op, int width) {
  return static_cast<std::size_t>(op.kept_rows()) * static_cast<std::size_t>(width) < op.rows();
}

// `values` elements of v, each written once (zero) in a static schedule, as the steps' loops
// over the rows write them: the pages are faulted in here, by the threads that use them.
template <class T>
void claim(HugeVector<T>& v, std::size_t values) {
  v.resize(values);
  T* const data = v.data();
#pragma omp parallel for schedule(static)
  for (std::size_t i = 0; i < values; ++i) data[i] = T{};
}

// Every buffer a block of `width` values per vertex uses with this solver, with its size:
// each(buffer, values) for the contributions over every column, the solver's vectors over the
// kept rows and the one over every row (power's x, bicgstab's Ss: also its confirming step's x
// and y), and cg's single-precision directions over the kept columns. cg's q spans the kept rows
// only (its confirming step keeps the other rows' y in their contributions: Batch::cg_confirm);
// where the kept rows' contributions cannot stage one frozen vector (fewer than rows values),
// x does (rows values). The Batch sizes its buffers through it and the plan claims them through
// it, so no block reallocates one.
template <class Each>
void each_block_buffer(BatchBuffers& buf, const pagerank_detail::StepOperator& op, const PersonalizedParams& params,
                       LocalId columns, int width, const Each& each) {
  const auto w = static_cast<std::size_t>(width);
  const std::size_t kept = op.kept_rows() * w, owned = op.rows() * w;
  each(buf.contrib, columns * w);
  if (params.solver == PageRankSolver::cg) {
    each(buf.z, kept);
    each(buf.r, kept);
    if (!directions_in_sent(op, params)) each(buf.p, kept);
    each(buf.q, kept);
    if (cg_stages_apart(op, width)) each(buf.x, op.rows());
    if (single_precision_products(op, params)) each(buf.sent, (op.kept_rows() + op.phases().kept_ghosts) * w);
  } else if (params.solver == PageRankSolver::bicgstab) {
    for (BatchBuffers::BlockVector* v : {&buf.z, &buf.r, &buf.shadow, &buf.p, &buf.sp, &buf.half}) each(*v, kept);
    each(buf.st, owned);
  } else {
    each(buf.x, owned);
  }
}
}  // namespace

PersonalizedPlan::PersonalizedPlan(const DistGraph& graph, const PersonalizedParams& params, const Comm& comm, int block_vectors,
                                   const BlockCheck& check)
    : op_(std::make_unique<pagerank_detail::StepOperator>(plan_operator(graph, params, comm, block_vectors))),
      buffers_(std::make_unique<BatchBuffers>()),
      solver_(params.solver),
      damping_(params.damping) {
  if (block_vectors <= 0) return;
  const int width = padded_width(std::min(block_vectors, kMaxBlockVectors));
  if (check) {
    std::uint64_t block = 0;
    each_block_buffer(*buffers_, *op_, params, graph.in.columns, width, [&](auto& buffer, std::size_t values) {
      block += values * sizeof(typename std::decay_t<decltype(buffer)>::value_type);
    });
    check(op_->bytes(), block);
  }
  const Stopwatch watch;
  each_block_buffer(*buffers_, *op_, params, graph.in.columns, width,
                    [](auto& buffer, std::size_t values) { claim(buffer, values); });
  claim_seconds_ = watch.seconds();
}
PersonalizedPlan::PersonalizedPlan(PersonalizedPlan&&) noexcept = default;
PersonalizedPlan::~PersonalizedPlan() = default;
std::uint64_t PersonalizedPlan::bytes() const { return op_->bytes(); }
std::uint64_t PersonalizedPlan::block_bytes() const { return buffers_->bytes(); }

using pagerank_detail::block_count;
using pagerank_detail::direction_of_sent;
using pagerank_detail::kBlock;
using pagerank_detail::kPrefetchLines;
using pagerank_detail::prefetch_distance;
using pagerank_detail::single_precision_direction;
using pagerank_detail::single_precision_directions;

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
  const PageRankSolver solver = params.solver;
  comm.agree([&] {
    if (solver == PageRankSolver::anderson)
      throw_usage(
          "--seed-sets runs the solvers power, cg and bicgstab (and auto, which picks one of them); anderson has no "
          "batched form here");
  });
  const bool krylov_possible = params.fixed_iterations == 0 && params.damping < 1.0;
  if (solver == PageRankSolver::automatic) {
    if (!krylov_possible) return PageRankSolver::power;
    return is_symmetric(graph, comm) ? PageRankSolver::cg : PageRankSolver::bicgstab;
  }
  if (solver == PageRankSolver::cg || solver == PageRankSolver::bicgstab) {
    const bool cg_refused = solver == PageRankSolver::cg && krylov_possible && !is_symmetric(graph, comm);
    comm.agree([&] {
      if (!krylov_possible)
        throw_usage(std::string("solver ") + (solver == PageRankSolver::cg ? "cg" : "bicgstab") +
                    " needs damping < 1 and no --iterations; solver power takes both");
      if (cg_refused)
        throw_usage("solver cg needs a symmetric graph; --solver auto runs bicgstab on a directed graph with --seed-sets");
    });
  }
  return solver;
}

namespace {

// Requests the S values at p (S·8 bytes for doubles, S·4 for floats) into the cache.
template <int S, class T>
[[gnu::always_inline]] inline void prefetch_values(const T* p) {
  constexpr int per_line = 64 / static_cast<int>(sizeof(T));
  for (int line = 0; line < (S + per_line - 1) / per_line; ++line) __builtin_prefetch(p + line * per_line);
}

// Columns a pull may skip because they send 0 (the kept ones in the pass that only the
// eliminated columns feed): owned columns below `owned_below` and ghosts in [ghosts_from,
// ghosts_to). Skipping adds nothing that the sum would not have added as +0.
struct SkippedColumns {
  LocalId owned_below = 0, ghosts_from = 0, ghosts_to = 0;
  bool none() const { return owned_below == 0 && ghosts_from == ghosts_to; }
  bool skips(LocalId c) const { return c < owned_below || (c >= ghosts_from && c < ghosts_to); }
};

// The SpMM's inner loop for rows [first, last): acc[(v − first)·S + j] = Σ_{u→v} w(u,v)·c(u, j),
// j < S, over the CSR's in-edges, with c vertex-major (S values per column, ghosts after the
// owned rows). One edge reads its source's S values in one contiguous run, asked for
// prefetch_distance<S> edges ahead; each sum runs over the row's edges in the CSR's order.
template <int S, bool kWeighted, bool kSkip>
[[gnu::always_inline]] inline void gather_rows_of(const LocalCsr& csr, const double* c, SkippedColumns skip, LocalId first,
                                                  LocalId last, double* acc) {
  const EdgeIndex* start = csr.row_start.data();
  const LocalId* col = csr.column.data();
  const double* w = csr.weight.data();
  const EdgeIndex edges = start[csr.rows];
  for (LocalId v = first; v < last; ++v) {
    alignas(64) double sum[S] = {};  // in registers: acc might alias c
    for (EdgeIndex e = start[v]; e < start[v + 1]; ++e) {
      if (e + prefetch_distance<S> < edges) {
        const LocalId ahead = col[e + prefetch_distance<S>];
        if (!kSkip || !skip.skips(ahead)) prefetch_values<S>(c + static_cast<std::size_t>(ahead) * S);
      }
      if constexpr (kSkip)
        if (skip.skips(col[e])) continue;
      const double* src = c + static_cast<std::size_t>(col[e]) * S;
      if constexpr (kWeighted) {
        const double weight = w[e];
        for (int j = 0; j < S; ++j) sum[j] += weight * src[j];
      } else {
        for (int j = 0; j < S; ++j) sum[j] += src[j];
      }
    }
    std::copy_n(sum, S, acc + static_cast<std::size_t>(v - first) * S);
  }
}

template <int S>
[[gnu::always_inline]] inline void gather_rows_of_width(bool weighted, const LocalCsr& csr, const double* c, SkippedColumns skip,
                                                        LocalId first, LocalId last, double* acc) {
  if (weighted && skip.none())
    gather_rows_of<S, true, false>(csr, c, skip, first, last, acc);
  else if (weighted)
    gather_rows_of<S, true, true>(csr, c, skip, first, last, acc);
  else if (skip.none())
    gather_rows_of<S, false, false>(csr, c, skip, first, last, acc);
  else
    gather_rows_of<S, false, true>(csr, c, skip, first, last, acc);
}

// gather_rows_of for the block's padded width, compiled for AVX-512, AVX2 and the baseline and
// chosen at load time (PERRON_TARGET_CLONES): at 16 values an edge is 16 adds, which the
// baseline's 2-wide registers take 8 instructions for.
PERRON_TARGET_CLONES void gather_rows(int width, bool weighted, const LocalCsr& csr, const double* c, SkippedColumns skip,
                                      LocalId first, LocalId last, double* acc) {
  static_assert(kMaxBlockVectors == 16, "gather_rows has kernels for widths 1 to 16");
  switch (width) {
    case 1:
      return gather_rows_of_width<1>(weighted, csr, c, skip, first, last, acc);
    case 2:
      return gather_rows_of_width<2>(weighted, csr, c, skip, first, last, acc);
    case 4:
      return gather_rows_of_width<4>(weighted, csr, c, skip, first, last, acc);
    case 8:
      return gather_rows_of_width<8>(weighted, csr, c, skip, first, last, acc);
    case 16:
      return gather_rows_of_width<16>(weighted, csr, c, skip, first, last, acc);
    default:
      throw Error(ErrorKind::internal, "personalized PageRank: no kernel for width " + std::to_string(width));
  }
}

// A cg product's directions in single precision (single_precision_direction): S floats per kept
// column, at the column's KeptColumns::index. Only kept columns send a direction; the others
// send double values.
struct SentColumns {
  const float* values = nullptr;
  LocalId kept = 0, rows = 0, kept_end = 0;  // kept_end: rows + the kept ghosts
  bool holds(LocalId c) const { return c < kept || (c >= rows && c < kept_end); }
  std::size_t index(LocalId c) const { return c < kept ? c : c - (rows - kept); }
};

// Requests column a's S values, from `sent` if it holds them (every column without kSplit).
template <int S, bool kSplit>
[[gnu::always_inline]] inline void prefetch_column(const SentColumns& sent, const double* c, LocalId a) {
  if (!kSplit || sent.holds(a))
    prefetch_values<S>(sent.values + sent.index(a) * S);
  else
    prefetch_values<S>(c + static_cast<std::size_t>(a) * S);
}

// gather_rows_of for a cg product with single-precision directions. With kSplit, row v's entries
// [start[v], split[v]) come from kept columns and read `sent` (each float widened: the sums stay
// double), and [split[v], start[v + 1]) read c; without it every entry reads `sent` (the
// eliminated rows, whose in-edges all come from kept columns). At 16 vectors a kept column is
// 64 bytes, one cache line, where its doubles take two. Prefetched as gather_rows_of, from
// whichever block holds the column ahead.
template <int S, bool kWeighted, bool kSplit>
[[gnu::always_inline]] inline void gather_sent_rows_of(const LocalCsr& csr, const EdgeIndex* split, SentColumns sent,
                                                       const double* c, LocalId first, LocalId last, double* acc) {
  const EdgeIndex* start = csr.row_start.data();
  const LocalId* col = csr.column.data();
  const double* w = csr.weight.data();
  const EdgeIndex edges = start[csr.rows];
  constexpr EdgeIndex ahead = kPrefetchLines / ((S * static_cast<EdgeIndex>(sizeof(float)) + 63) / 64);
  for (LocalId v = first; v < last; ++v) {
    alignas(64) double sum[S] = {};
    const EdgeIndex middle = kSplit ? split[v] : start[v + 1];
    for (EdgeIndex e = start[v]; e < middle; ++e) {
      if (e + ahead < edges) prefetch_column<S, kSplit>(sent, c, col[e + ahead]);
      const float* src = sent.values + sent.index(col[e]) * S;
      const double weight = kWeighted ? w[e] : 1.0;
      for (int j = 0; j < S; ++j) sum[j] += kWeighted ? weight * static_cast<double>(src[j]) : static_cast<double>(src[j]);
    }
    if constexpr (kSplit)
      for (EdgeIndex e = middle; e < start[v + 1]; ++e) {
        if (e + ahead < edges) prefetch_column<S, kSplit>(sent, c, col[e + ahead]);
        const double* src = c + static_cast<std::size_t>(col[e]) * S;
        const double weight = kWeighted ? w[e] : 1.0;
        for (int j = 0; j < S; ++j) sum[j] += kWeighted ? weight * src[j] : src[j];
      }
    std::copy_n(sum, S, acc + static_cast<std::size_t>(v - first) * S);
  }
}

template <int S>
[[gnu::always_inline]] inline void gather_sent_rows_of_width(bool weighted, const LocalCsr& csr, const EdgeIndex* split,
                                                             SentColumns sent, const double* c, LocalId first, LocalId last,
                                                             double* acc) {
  if (weighted && split)
    gather_sent_rows_of<S, true, true>(csr, split, sent, c, first, last, acc);
  else if (weighted)
    gather_sent_rows_of<S, true, false>(csr, split, sent, c, first, last, acc);
  else if (split)
    gather_sent_rows_of<S, false, true>(csr, split, sent, c, first, last, acc);
  else
    gather_sent_rows_of<S, false, false>(csr, split, sent, c, first, last, acc);
}

// gather_sent_rows_of for the block's padded width, cloned as gather_rows is.
PERRON_TARGET_CLONES void gather_sent_rows(int width, bool weighted, const LocalCsr& csr, const EdgeIndex* split,
                                           SentColumns sent, const double* c, LocalId first, LocalId last, double* acc) {
  switch (width) {
    case 1:
      return gather_sent_rows_of_width<1>(weighted, csr, split, sent, c, first, last, acc);
    case 2:
      return gather_sent_rows_of_width<2>(weighted, csr, split, sent, c, first, last, acc);
    case 4:
      return gather_sent_rows_of_width<4>(weighted, csr, split, sent, c, first, last, acc);
    case 8:
      return gather_sent_rows_of_width<8>(weighted, csr, split, sent, c, first, last, acc);
    case 16:
      return gather_sent_rows_of_width<16>(weighted, csr, split, sent, c, first, last, acc);
    default:
      throw Error(ErrorKind::internal, "personalized PageRank: no kernel for width " + std::to_string(width));
  }
}

// The SpMM pull, the whole cost of a step: every row's `width` in-edge sums (gather(first,
// last, acc): gather_rows or gather_sent_rows), kChunkRows rows at a time, handed to
// finish(block, v, sums), which turns them into the row's values and adds the block's
// reductions. Rows go in the fixed blocks of the single kernel (kBlock) and in order inside
// each, so reductions are ordered and every vector sums its row as a single run does.
template <class Gather, class Finish>
void pull_block(LocalId rows, int width, const Gather& gather, const Finish& finish) {
  constexpr LocalId kChunkRows = 32;  // 4 KiB of sums at 16 values
#pragma omp parallel for schedule(dynamic, 1)
  for (LocalId b = 0; b < block_count(rows); ++b) {
    alignas(64) double acc[kChunkRows * kMaxBlockVectors];
    for (LocalId first = b * kBlock; first < std::min(rows, (b + 1) * kBlock); first += kChunkRows) {
      const LocalId last = std::min({rows, (b + 1) * kBlock, first + kChunkRows});
      gather(first, last, acc);
      for (LocalId v = first; v < last; ++v) finish(b, v, acc + static_cast<std::size_t>(v - first) * width);
    }
  }
}

using BlockVector = BatchBuffers::BlockVector;

// One block's vectors and the buffers its steps reuse, in the plan's work order (kept rows,
// then eliminated ones, then bicgstab's trailing dangling ones); the results go back to dense
// order as each vector freezes. A step or product runs the single solve's phases
// (StepOperator) with S values per vertex: the kept rows send, the eliminated rows pull from
// them and send, the kept rows pull from everything, the trailing rows last. Every reduction is
// ordered as the single solve orders it (the kept rows' blocks, the eliminated rows', the
// trailing rows', then the ranks), and every vector's arithmetic is the single solve's, so each
// vector is the single run to rounding.
struct Batch {
  const pagerank_detail::StepOperator& op;
  const pagerank_detail::StepOperator::Phases phases;
  const PersonalizedParams& params;
  const Comm& comm;
  bool weighted;
  int vectors, width;                     // b vectors, padded to S values per vertex
  LocalId rows, kept, trailing, columns;  // kept rows [0, kept), eliminated [kept, trailing), trailing after
  std::span<const double> inv_out;
  std::vector<LocalId> tele_start;  // per work row: its teleport entries (vector, weight), CSR-like
  std::vector<int> tele_vector;
  std::vector<double> tele_weight;
  BatchBuffers& buf;              // the block's vectors, kept by the plan from block to block
  BlockVector& contrib;           // columns × S: owned rows, kept ghosts, eliminated ghosts
  std::vector<double> block_sum;  // per block (kept rows' blocks, eliminated rows', trailing rows') × S × per
  const FrozenVector& frozen;     // takes each vector as it freezes (or out.score does)
  double frozen_in_step = 0.0;    // seconds in `frozen` during the current step
  PersonalizedBlock out;
  std::vector<std::uint8_t> active;
  std::vector<int> done;  // the vectors frozen at this step, for deliver()
  // cg's products reading its directions as floats (single_precision_products: where the plan
  // split the kept rows' entries; else as doubles, c = p/o, as the single solve reads them): set
  // by cg().
  bool single_directions = false;

  Batch(const DistGraph& g, const pagerank_detail::StepOperator& o, BatchBuffers& buffers, const PersonalizedParams& p,
        std::span<const SparseTeleport> teleports, const FrozenVector& frozen_vector, const Comm& c)
      : op(o),
        phases(o.phases()),
        params(p),
        comm(c),
        weighted(g.weighted),
        vectors(static_cast<int>(teleports.size())),
        width(padded_width(vectors)),
        rows(g.rows()),
        kept(o.kept_rows()),
        trailing(o.trailing_rows()),
        columns(g.in.columns),
        inv_out(o.inv_out()),
        tele_start(rows + 1, 0),
        buf(buffers),
        contrib(buffers.contrib),
        frozen(frozen_vector) {
    for (const SparseTeleport& t : teleports)
      for (LocalId r : t.row) ++tele_start[work_row(r) + 1];
    for (LocalId v = 0; v < rows; ++v) tele_start[v + 1] += tele_start[v];
    tele_vector.resize(tele_start[rows]);
    tele_weight.resize(tele_start[rows]);
    std::vector<LocalId> fill(tele_start.begin(), tele_start.end() - 1);
    for (int j = 0; j < vectors; ++j)
      for (std::size_t i = 0; i < teleports[j].row.size(); ++i) {
        const LocalId at = fill[work_row(teleports[j].row[i])]++;
        tele_vector[at] = j;
        tele_weight[at] = teleports[j].weight[i];
      }
    each_block_buffer(buf, op, params, columns, width, [](auto& buffer, std::size_t values) { buffer.resize(values); });
    if (!frozen) out.score.assign(static_cast<std::size_t>(vectors) * rows, 0.0);
    out.iterations.assign(vectors, 0);
    out.residual.assign(vectors, 0.0);
    out.converged.assign(vectors, 0);
    active.assign(vectors, 1);
  }

  LocalId work_row(LocalId dense) const { return phases.position.empty() ? dense : phases.position[dense]; }
  std::size_t at(LocalId v, int j) const { return static_cast<std::size_t>(v) * width + j; }
  std::size_t owned_values() const { return static_cast<std::size_t>(rows) * width; }
  int limit() const { return params.fixed_iterations > 0 ? params.fixed_iterations : params.max_iterations; }
  bool below_tolerance(double r) const { return params.fixed_iterations == 0 && r < params.tolerance; }
  bool any_active() const { return std::find(active.begin(), active.end(), 1) != active.end(); }

  // t_j(v), and b_j(v) = (1 − α)·t_j(v), the Krylov solves' right-hand side (not stored: a row
  // has few teleport entries, and a block of b would be one more vector per vertex).
  double teleport(LocalId v, int j) const {
    double t = 0.0;
    for (LocalId i = tele_start[v]; i < tele_start[v + 1]; ++i)
      if (tele_vector[i] == j) t += tele_weight[i];
    return t;
  }
  double b_of(LocalId v, int j) const { return (1.0 - params.damping) * teleport(v, j); }

  // Row v's teleport values t_j(v), one per vector, into tele[0, width).
  void teleport_of(LocalId v, double* tele) const {
    std::fill_n(tele, width, 0.0);
    for (LocalId i = tele_start[v]; i < tele_start[v + 1]; ++i) tele[tele_vector[i]] += tele_weight[i];
  }

  // Ordered sums of the block sums, `per` per vector: the blocks in order (the kept rows'
  // first), then the ranks in rank order.
  std::vector<double> reduce(int per) {
    const std::size_t slots = static_cast<std::size_t>(width) * per;
    std::vector<double> total(slots, 0.0);
    for (std::size_t b = 0; b < block_sum.size() / slots; ++b)
      for (std::size_t i = 0; i < slots; ++i) total[i] += block_sum[b * slots + i];
    comm.sum_ordered(total);
    return total;
  }

  // Ordered sums over rows [first, first + count), `per` per vector: body(v, sums) adds row v's
  // part to its block's slots (vector j at sums[per·j ..]); blocks of kBlock rows from `first`.
  template <class Body>
  std::vector<double> row_sums(LocalId first, LocalId count, int per, const Body& body) {
    const std::size_t slots = static_cast<std::size_t>(width) * per;
    block_sum.assign(block_count(count) * slots, 0.0);
#pragma omp parallel for schedule(static)
    for (LocalId b = 0; b < block_count(count); ++b)
      for (LocalId i = b * kBlock; i < std::min(count, (b + 1) * kBlock); ++i) body(first + i, block_sum.data() + b * slots);
    return reduce(per);
  }

  // The SpMM over `csr`'s rows: finish(b, i, acc) gets row i's S in-edge sums (block b of kBlock rows).
  template <class Finish>
  void pull_rows(const LocalCsr& csr, const Finish& finish, SkippedColumns skip = {}) const {
    const double* c = contrib.data();
    pull_block(
        csr.rows, width,
        [&](LocalId first, LocalId last, double* acc) { gather_rows(width, weighted, csr, c, skip, first, last, acc); }, finish);
  }
  // The same in a cg product with single-precision directions: the kept columns read `sent`
  // (every column without `split`, else row v's entries before split[v]).
  template <class Finish>
  void pull_sent_rows(const LocalCsr& csr, const EdgeIndex* split, const Finish& finish) const {
    const double* c = contrib.data();
    const pagerank_detail::KeptColumns kept_columns = op.kept_columns();
    const SentColumns sent{buf.sent.data(), kept_columns.kept, kept_columns.rows, kept_columns.kept_end};
    pull_block(
        csr.rows, width,
        [&](LocalId first, LocalId last, double* acc) {
          gather_sent_rows(width, weighted, csr, split, sent, c, first, last, acc);
        },
        finish);
  }

  // The trailing rows' contributions 0: they send nothing, but an edge of weight 0 may still
  // read one (or its ghost copy), which must not see whatever the reused buffer held.
  void start_contributions() {
    std::fill(contrib.begin() + static_cast<std::ptrdiff_t>(at(trailing, 0)),
              contrib.begin() + static_cast<std::ptrdiff_t>(owned_values()), 0.0);
  }

  // A cg product's kept values in single precision (single_precision_direction): kept u sends
  // value(u, j)/o(u) as a float into `sent`, and its ghosts arrive there.
  template <class Value>
  void send_directions(const Value& value) {
    const std::size_t kept_values = static_cast<std::size_t>(kept) * width;
    float* sent = buf.sent.data();
    const int w = width;
#pragma omp parallel for schedule(static)
    for (LocalId u = 0; u < kept; ++u) {
      // A row's values through a local first: value() may read the row's floats (cg's held
      // directions), which the compiler could not otherwise tell from the ones written.
      alignas(64) float row[kMaxBlockVectors];
      for (int j = 0; j < w; ++j) row[j] = static_cast<float>(value(u, j) * inv_out[u]);
      std::copy_n(row, w, sent + at(u, 0));
    }
    const std::span<float> all(buf.sent);
    phases.kept_halo.exchange_block(all.first(kept_values), all.subspan(kept_values), width, comm);
  }

  // The kept or the eliminated columns' ghosts from their owners, landing in place (the plans
  // are the operator's, in work order: kept ghosts, then eliminated ones).
  void exchange_ghosts(bool eliminated_ones) {
    const std::span<double> c(contrib);
    const std::size_t kept_ghost_values = static_cast<std::size_t>(phases.kept_ghosts) * width;
    if (eliminated_ones)
      phases.eliminated_halo.exchange_block(c.first(owned_values()), c.subspan(owned_values() + kept_ghost_values), width, comm);
    else
      phases.kept_halo.exchange_block(c.first(owned_values()), c.subspan(owned_values(), kept_ghost_values), width, comm);
  }

  // Row callbacks from per-value ones. apply() hands a row's S in-edge sums at once to
  // row(v, s, sums), and an eliminated row also its S contributions to write, x/o; a per-value
  // f(v, j, s_j, sums) is called for each vector j in turn (each_sent: f returns x, sent as
  // x/o). A row callback of its own lets a step's per-row work (the teleport lookup, the
  // dangling test) run once per row and its loop over the vectors vectorise (power_step).
  template <class F>
  auto each_vector(const F& f) const {
    return [this, &f](LocalId v, const double* acc, double* sums) {
      for (int j = 0; j < width; ++j) f(v, j, acc[j], sums);
    };
  }
  template <class F>
  auto each_sent(const F& f) const {
    return [this, &f](LocalId v, const double* acc, double* sums, double* send) {
      for (int j = 0; j < width; ++j) send[j] = f(v, j, acc[j], sums) * inv_out[v];
    };
  }

  // Kept row v gets kept_row(v, s, sums) with its S in-edge sums s (the kept rows' blocks come
  // first in block_sum, `slots` each).
  template <class Kept>
  void pull_kept(std::size_t slots, const Kept& kept_row, SkippedColumns skip = {}) {
    pull_rows(
        phases.kept, [&](LocalId b, LocalId v, const double* acc) { kept_row(v, acc, block_sum.data() + b * slots); }, skip);
  }

  // What apply() runs: a product of the kept rows (phases 1 and 2), a full step (1, 2 and 3), or
  // the rows the kept values determine (1 and 3: bicgstab's iterate completed to every row).
  enum class Pass { product, step, complete };

  // One step or product of the block, in the single solve's phases (StepOperator::apply_to,
  // complete), with `per` block sums per vector. Each callback takes a whole row (each_vector
  // and each_sent adapt per-value ones):
  //   1. kept u sends value(u, j)/o(u); the kept ghosts arrive; eliminated row v, its in-edge
  //      sums s (from kept columns only), sends what eliminated(v, s, sums, send) writes to
  //      send[0, S) (its values over o(v)); the eliminated ghosts arrive;
  //   2. kept row v gets kept(v, s, sums) with its in-edge sums s;
  //   3. trailing row v (bicgstab's dangling rows, which no row reads) gets
  //      trailing(v, s, sums).
  // Returns the ordered sums of every block (the kept rows', the eliminated rows', the trailing
  // rows', then the ranks).
  template <class Value, class Eliminated, class Kept, class Trailing>
  std::vector<double> apply(Pass pass, int per, const Value& value, const Eliminated& eliminated, const Kept& kept_row,
                            const Trailing& trailing_row) {
    const std::size_t slots = static_cast<std::size_t>(width) * per;
    const LocalId kept_blocks = block_count(kept), eliminated_blocks = block_count(trailing - kept);
    block_sum.assign((kept_blocks + eliminated_blocks + block_count(rows - trailing)) * slots, 0.0);
    start_contributions();
    const bool single = pass == Pass::product && single_directions;
    if (single)
      send_directions(value);
    else {
#pragma omp parallel for schedule(static)
      for (LocalId u = 0; u < kept; ++u)
        for (int j = 0; j < width; ++j) contrib[at(u, j)] = value(u, j) * inv_out[u];
      exchange_ghosts(false);
    }
    if (op.eliminates()) {
      const auto eliminated_rows = [&](LocalId b, LocalId i, const double* acc) {
        const LocalId v = kept + i;
        eliminated(v, acc, block_sum.data() + (kept_blocks + b) * slots, contrib.data() + at(v, 0));
      };
      if (single)
        pull_sent_rows(phases.eliminated, nullptr, eliminated_rows);
      else
        pull_rows(phases.eliminated, eliminated_rows);
      exchange_ghosts(true);
    }
    if (single)
      pull_sent_rows(phases.kept, phases.kept_split.empty() ? nullptr : phases.kept_split.data(),
                     [&](LocalId b, LocalId v, const double* acc) { kept_row(v, acc, block_sum.data() + b * slots); });
    else if (pass != Pass::complete)
      pull_kept(slots, kept_row);
    if (pass != Pass::product && trailing < rows)
      pull_rows(phases.trailing, [&](LocalId b, LocalId i, const double* acc) {
        trailing_row(trailing + i, acc, block_sum.data() + (kept_blocks + eliminated_blocks + b) * slots);
      });
    return reduce(per);
  }

  // The Krylov solves' first residual r₀ = b_F + αP_FC b_C on the kept rows, b = (1 − α)t
  // (StepOperator::pull_from_eliminated): eliminated row v sends b(v, j)/o(v) and the kept rows
  // send 0, so the kept rows' pull skips their columns and their ghosts (neither written nor
  // exchanged) and gathers only from the eliminated ones; kept row v gets kept(v, j, r₀(v, j),
  // sums). That pull reads every edge of the kept rows, as much time as a product. When no
  // eliminated row holds teleport mass on any rank (seeds that are all kept, as hubs and most
  // well-linked pages are), b_C = 0 and the pull would add +0 to every b_F value: r₀ = b_F without
  // it, the same bits, its sums in the same blocks and order. The ordered sums of the kept rows.
  template <class Kept>
  std::vector<double> initial_residual(int per, const Kept& kept_row) {
    const double alpha = params.damping;
    const std::uint64_t eliminated_seeds = tele_start[trailing] - tele_start[kept];
    if (comm.allreduce<std::uint64_t>(eliminated_seeds, ReduceOp::sum) == 0)
      return row_sums(0, kept, per, [&](LocalId v, double* sums) {
        for (int j = 0; j < width; ++j) kept_row(v, j, b_of(v, j), sums);
      });
    const std::size_t slots = static_cast<std::size_t>(width) * per;
    block_sum.assign(block_count(kept) * slots, 0.0);
    start_contributions();
#pragma omp parallel for schedule(static)
    for (LocalId v = kept; v < trailing; ++v)
      for (int j = 0; j < width; ++j) contrib[at(v, j)] = b_of(v, j) * inv_out[v];
    if (op.eliminates()) exchange_ghosts(true);
    pull_kept(slots,
              each_vector([&](LocalId v, int j, double sum, double* sums) { kept_row(v, j, b_of(v, j) + alpha * sum, sums); }),
              SkippedColumns{kept, rows, rows + phases.kept_ghosts});
    return reduce(per);
  }

  // A product of the kept rows (Pass::product: no trailing rows), with per-value callbacks:
  // eliminated(v, j, s, sums) returns the value row v sends for vector j, kept(v, j, s, sums).
  template <class Value, class Eliminated, class Kept>
  std::vector<double> product(int per, const Value& value, const Eliminated& eliminated, const Kept& kept_row) {
    return apply(Pass::product, per, value, each_sent(eliminated), each_vector(kept_row), [](LocalId, const double*, double*) {});
  }

  // The PageRank step y = F(x) of every vector (RowFinish per vector: the dangling mass d_j of
  // x_j goes where t_j does) over every row, x complete on the kept and trailing rows; the
  // eliminated rows' x is completed in place by complete(v, s, x_v) from their in-edge sums s
  // (left as it is, or cg's iterate completed by α·s).
  // y overwrites x in place: every row sends x/o before any y is written, and a row's y is
  // written after its own x was read (for |y − x|), so one array of the block does for both (a
  // block of 16 on Kronecker 20 holds 83 MB less).
  // A row is finished whole: its teleport values looked up once (not once per vector) and its
  // S values in one loop that vectorises (`omp simd`: x_v and y_v are the same row, read
  // before written at each j, which the compiler cannot prove). With a callback per value, a
  // power step of 16 vectors on directed Kronecker 20 took 66 ms, now 51 (docs/benchmarks.md,
  // "A row at a time"). Each value is the expression it was, and each sum adds the same terms
  // in the same row order: same bits.
  // Returns ‖y_j − x_j‖₁ at [j] and the dangling mass of y_j at [S + j].
  template <class Complete>
  std::vector<double> power_step(BlockVector& x, const std::vector<double>& dangling, const Complete& complete) {
    const int w = width;
    const double* d = dangling.data();
    const auto finish = [&](LocalId v, const double* sum, double* sums) { step_row(v, sum, d, x.data() + at(v, 0), sums); };
    return apply(
        Pass::step, 2, [&](LocalId u, int j) { return x[at(u, j)]; },
        [&](LocalId v, const double* sum, double* sums, double* send) {
          double* xv = x.data() + at(v, 0);
          complete(v, sum, xv);
          for (int j = 0; j < w; ++j) send[j] = xv[j] * inv_out[v];
          finish(v, sum, sums);
        },
        finish, finish);
  }

  // Row v of a PageRank step, every vector (RowFinish per vector): y_j(v) = α·s_j + α·d_j·t_j(v)
  // + (1 − α)·t_j(v) from its in-edge sums s and the dangling masses d of x, over x_v in `row`;
  // adds |y_j − x_j| at sums[j] and, for a dangling row, y_j at sums[S + j]. Without kSums,
  // only y (row's x is not read, sums not touched): the same expression, the same bits.
  template <bool kSums = true>
  void step_row(LocalId v, const double* sum, const double* d, double* row, double* sums) const {
    const double alpha = params.damping;
    const int w = width;
    alignas(64) double t[kMaxBlockVectors];
    teleport_of(v, t);
#pragma omp simd
    for (int j = 0; j < w; ++j) {
      const double yv = alpha * sum[j] + alpha * d[j] * t[j] + (1.0 - alpha) * t[j];
      if constexpr (kSums) sums[j] += std::abs(yv - row[j]);
      row[j] = yv;
    }
    if constexpr (kSums)
      if (inv_out[v] == 0.0)
        for (int j = 0; j < w; ++j) sums[w + j] += row[j];
  }

  // Σ over dangling u of x_j(u), per vector, row v's values at x(v, scratch) (which may
  // compute them into scratch, S values).
  template <class Row>
  std::vector<double> dangling_mass(const Row& x) {
    return row_sums(0, rows, 1, [&](LocalId v, double* sums) {
      if (inv_out[v] != 0.0) return;
      alignas(64) double scratch[kMaxBlockVectors];
      const double* const row = x(v, scratch);
      for (int j = 0; j < width; ++j) sums[j] += row[j];
    });
  }

  // Vector j is done at this step with the given residual; deliver() hands out its values.
  void freeze(int j, int iteration, double residual) {
    active[j] = 0;
    out.iterations[j] = iteration;
    out.residual[j] = residual;
    out.converged[j] = residual < params.tolerance && params.fixed_iterations == 0 ? 1 : 0;
    done.push_back(j);
  }

  // Row w (work order) of a block vector over every row.
  auto rows_of(const BlockVector& y) const {
    return [this, &y](LocalId w) { return y.data() + at(w, 0); };
  }

  // The vectors frozen at this step take their values from y (y(w): row w's S values, work
  // order) in dense order, as many at once as `staging` holds (rows values each; all of them
  // into out.score): a row's S values share one or two cache lines, which a pass per vector
  // read again for each. For the FrozenVector they land in `staging`, storage that the next
  // product rewrites before it reads any (the contributions, or part of them: cg_confirm), and
  // `frozen` takes them one by one, in the order they froze, on every rank alike.
  // Asking for y's rows ahead took cg's four passes for 16 vectors on Kronecker 20 from 26 ms
  // to 17 (48 rows ahead: the same).
  static constexpr LocalId kDeliverAhead = 16;
  template <class Row>
  void deliver(const Row& y, std::span<double> staging) {
    if (done.empty()) return;
    const std::size_t m = done.size();
    const std::size_t per_pass = frozen && rows > 0 ? staging.size() / rows : m;
    if (per_pass == 0) throw Error(ErrorKind::internal, "personalized PageRank: no room to stage a frozen vector");
    const std::span<const LocalId> position = phases.position;
    for (std::size_t first = 0; first < m; first += per_pass) {
      const std::size_t count = std::min(per_pass, m - first);
      const int* const which = done.data() + first;
      std::vector<double*> to(count);
      for (std::size_t i = 0; i < count; ++i) {
        to[i] = frozen ? staging.data() + i * rows : out.score.data() + static_cast<std::size_t>(which[i]) * rows;
      }
      // In dense order: a row of y read at random (its S values, one or two lines; asked for
      // kDeliverAhead rows ahead) and `count` sequential writes, where the work order's walk
      // wrote them at random per row.
#pragma omp parallel for schedule(static)
      for (LocalId d = 0; d < rows; ++d) {
        if (!position.empty() && d + kDeliverAhead < rows) __builtin_prefetch(y(position[d + kDeliverAhead]) + which[0]);
        const double* const yw = y(position.empty() ? d : position[d]);
        for (std::size_t i = 0; i < count; ++i) to[i][d] = yw[which[i]];
      }
      if (frozen)
        for (std::size_t i = 0; i < count; ++i) {
          const Stopwatch watch;
          frozen(which[i], std::span<const double>(to[i], rows));
          frozen_in_step += watch.seconds();
        }
    }
    done.clear();
  }

  // A step's end; `seconds` since its start, of which the FrozenVector's time is not counted.
  void record(double seconds, const IterationObserver& observe, double largest) {
    out.history.push_back(largest);
    out.frozen_seconds += frozen_in_step;
    seconds -= frozen_in_step;
    frozen_in_step = 0.0;
    if (observe) observe(IterationReport{static_cast<int>(out.history.size()), largest, seconds});
  }

  // Power iteration from x₀ = t_j; each vector is frozen at the step that meets the tolerance.
  // go_on (if any) may stop the block after any step.
  void power(const IterationObserver& observe, const BlockGoOn& go_on) {
    BlockVector& x = buf.x;
#pragma omp parallel for schedule(static)
    for (LocalId v = 0; v < rows; ++v) teleport_of(v, x.data() + at(v, 0));
    std::vector<double> dangling = dangling_mass([&](LocalId v, double*) { return x.data() + at(v, 0); });
    for (int it = 1; it <= limit() && any_active(); ++it) {
      const Stopwatch watch;
      const std::vector<double> sums = power_step(x, dangling, [](LocalId, const double*, double*) {});
      double largest = 0.0;
      for (int j = 0; j < vectors; ++j) {
        if (!active[j]) continue;
        largest = std::max(largest, sums[j]);
        if (below_tolerance(sums[j]) || it == limit()) freeze(j, it, sums[j]);
      }
      deliver(rows_of(x), contrib);
      for (int j = 0; j < width; ++j) dangling[j] = sums[width + j];
      record(watch.seconds(), observe, largest);
      if (go_on && any_active() && !go_on(out.history)) {
        out.stopped = true;
        break;
      }
    }
  }

  // cg_solve (pagerank_cg.cpp) for every vector at once: conjugate gradients on the Schur
  // complement S z_F = b_F + αP_FC b_C in the inner product weighted by 1/o, Jacobi-
  // preconditioned by diag(S), b = (1 − α)t_j; one product q = S p is one apply() over the
  // block. Each vector keeps its own scalars; a frozen or padding vector gets step length 0 and
  // stays put while the block goes on. Once every vector still going estimates its residual
  // ‖r_j‖₁/Σz_j below its target, a confirming power step from x_j = z_j/Σz_j measures the
  // true one: a vector below the tolerance takes that step as its result, the others shrink
  // their target by the ratio of estimate to truth and go on. A vector whose estimate is below
  // its target before the others' waits for that step as it is (z, r, p and its scalars held,
  // step length 0), so the step confirms the very iterate its single run confirms, and a
  // vector that goes on resumes where its single run does: each vector is the single run to
  // rounding at any tolerance, not only where the whole block needs the same steps.
  void cg(const IterationObserver& observe) {
    const double alpha = params.damping;
    const std::span<const double> share = op.eliminated_share(), diagonal = op.schur_diagonal();
    // Per kept row: the inner product's weight 1/o and Jacobi's 1/S(v,v), each computed once
    // (not once per vector and step: a division per value cost 15% of a product's vector work).
    std::vector<double> weight(kept), inverse_diagonal(kept, 1.0);
    for (LocalId v = 0; v < kept; ++v) {
      weight[v] = inv_out[v] > 0.0 ? inv_out[v] : 1.0;
      if (!diagonal.empty()) inverse_diagonal[v] = 1.0 / diagonal[v];
    }
    const auto precondition = [&](LocalId v) { return inverse_diagonal[v]; };
    const auto mass = [&](LocalId v) { return share.empty() ? 1.0 : 1.0 + alpha * share[v]; };
    // The directions rounded as the single solve rounds them (single_precision_direction),
    // where the tolerance allows, whether the products read them as floats or not.
    const bool round_directions = single_precision_directions(params.tolerance, params.fixed_iterations);
    single_directions = single_precision_products(op, params);
    // q over the kept rows: also the confirming step's x and y there (cg_confirm; q is
    // recomputed by the next product).
    BlockVector &z = buf.z, &r = buf.r, &p = buf.p, &q = buf.q;
    if (trailing != rows) throw Error(ErrorKind::internal, "personalized cg: a symmetric graph orders no dangling rows last");
    // Where the confirming step stages frozen vectors: the kept rows' contributions, or x
    // (cg_stages_apart).
    const std::size_t kept_values = static_cast<std::size_t>(kept) * width;
    const std::span<double> staging =
        cg_stages_apart(op, width) ? std::span<double>(buf.x) : std::span<double>(contrib.data(), kept_values);
    // p itself, or where the floats sent are the directions (directions_in_sent) p = f·o
    // rebuilt from them: the same bits that p would hold (single_precision_direction).
    const bool from_sent = directions_in_sent(op, params);
    std::vector<double> out_weight(from_sent ? kept : 0);  // o = 1/inv_out, once per kept row
    for (std::size_t v = 0; v < out_weight.size(); ++v) out_weight[v] = 1.0 / inv_out[v];
    float* const sent = buf.sent.data();
    // Row v's directions, from p or rebuilt into `row` (width values).
    const auto directions_of = [&](LocalId v, double* row) -> const double* {
      if (!from_sent) return p.data() + at(v, 0);
      for (int j = 0; j < width; ++j) row[j] = direction_of_sent(sent[at(v, j)], out_weight[v]);
      return row;
    };
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < kept_values; ++i) {
      z[i] = 0.0;
      if (from_sent)
        sent[i] = 0.0f;
      else
        p[i] = 0.0;
    }
    // r₀ = b_F + αP_FC b_C (the kept columns send 0), ⟨r, h⟩ and Σ_C b.
    std::vector<double> rz = initial_residual(1, [&](LocalId v, int j, double rv, double* sums) {
      r[at(v, j)] = rv;
      sums[j] += rv * weight[v] * rv * precondition(v);
    });
    const std::vector<double> eliminated_b = row_sums(kept, rows - kept, 1, [&](LocalId v, double* sums) {
      for (int j = 0; j < width; ++j) sums[j] += b_of(v, j);
    });
    std::vector<double> beta(width, 0.0), z_sum(width, 0.0), estimate(width, std::numeric_limits<double>::infinity());
    std::vector<double> target(width, params.tolerance);
    for (int it = 1; it <= limit() && any_active(); ++it) {
      const Stopwatch watch;
      if (all_below(estimate, target) || it == limit()) {
        cg_confirm(it, z, z_sum, q, staging, estimate, target, watch, observe);
        continue;
      }
      std::vector<std::uint8_t> waiting(width, 0);
      for (int j = 0; j < width; ++j) {
        if (j >= vectors || !active[j]) beta[j] = 0.0;  // a frozen vector's p stays finite
        waiting[j] = j < vectors && active[j] && estimate[j] < target[j];
      }
      // p = h + β·p on the way into the product (a waiting vector sends its p as it is), rounded
      // and held in p, or where the floats sent are p, rounded with o and held nowhere else (the
      // same bits; no branch on j in either, so the loop over the block vectorises); q = S p (the
      // eliminated rows send α·sum).
      const auto held_direction = [&](LocalId u, int j) {
        const double held = p[at(u, j)];
        const double d = r[at(u, j)] * precondition(u) + beta[j] * held;
        const double next = round_directions ? single_precision_direction(d, inv_out[u]) : d;
        return p[at(u, j)] = waiting[j] != 0 ? held : next;
      };
      const auto sent_direction = [&](LocalId u, int j) {
        const double held = direction_of_sent(sent[at(u, j)], out_weight[u]);
        const double d = r[at(u, j)] * precondition(u) + beta[j] * held;
        return waiting[j] != 0 ? held : single_precision_direction(d, inv_out[u], out_weight[u]);
      };
      const int w = width;
      const auto kept_row = [&](LocalId v, const double* sum, double* sums) {
        alignas(64) double row[kMaxBlockVectors];
        const double* const pv = directions_of(v, row);
        double* const qv = q.data() + at(v, 0);
        const double weight_v = weight[v];
#pragma omp simd
        for (int j = 0; j < w; ++j) {
          qv[j] = pv[j] - alpha * sum[j];
          sums[j] += pv[j] * weight_v * qv[j];
        }
      };
      const auto product_of = [&](const auto& direction) {
        return apply(Pass::product, 1, direction, each_sent([&](LocalId, int, double sum, double*) { return alpha * sum; }),
                     kept_row, [](LocalId, const double*, double*) {});
      };
      const std::vector<double> pq = from_sent ? product_of(sent_direction) : product_of(held_direction);
      std::vector<double> a(width, 0.0);
      for (int j = 0; j < vectors; ++j)
        if (active[j] && !waiting[j] && pq[j] > 0.0) a[j] = rz[j] / pq[j];
      // z += a·p, r −= a·q; ‖r‖₁, ⟨r, h⟩ and Σz on the kept rows, at block[j], block[S + j] and
      // block[2S + j]: a row's S values in one loop that vectorises (each its own slots; the
      // same expressions, and each sum over the rows in their order, as a single run's).
      const double* const step = a.data();
      const std::vector<double> sums = row_sums(0, kept, 3, [&](LocalId v, double* block) {
        alignas(64) double row[kMaxBlockVectors];
        double *const zv = z.data() + at(v, 0), *const rv = r.data() + at(v, 0);
        const double *const pv = directions_of(v, row), *const qv = q.data() + at(v, 0);
        const double weight_v = weight[v], precondition_v = precondition(v), mass_v = mass(v);
#pragma omp simd
        for (int j = 0; j < w; ++j) {
          zv[j] += step[j] * pv[j];
          rv[j] -= step[j] * qv[j];
          block[j] += std::abs(rv[j]);
          block[w + j] += rv[j] * weight_v * rv[j] * precondition_v;
          block[2 * w + j] += zv[j] * mass_v;
        }
      });
      double largest = 0.0;
      for (int j = 0; j < vectors; ++j) {
        if (!active[j]) continue;
        if (waiting[j]) {
          largest = std::max(largest, estimate[j]);
          continue;
        }
        beta[j] = rz[j] > 0.0 ? sums[w + j] / rz[j] : 0.0;
        rz[j] = sums[w + j];
        z_sum[j] = sums[2 * w + j] + eliminated_b[j];
        // A zero step (p·Sp = 0: r is already 0) leaves the estimate at 0, which ends the loop.
        estimate[j] = a[j] > 0.0 ? sums[j] / z_sum[j] : 0.0;
        largest = std::max(largest, estimate[j]);
      }
      record(watch.seconds(), observe, largest);
    }
  }

  // bicgstab_solve (pagerank_bicgstab.cpp) for every vector at once: BiCGSTAB on the Schur
  // complement S z_F = b_F + αP_FC b_C with the dangling vertices last (trailing), one Krylov
  // space per vector. Each product is shared: vector j sends its own input, p_j = r_j + β_j(p_j −
  // ω_j·Sp_j) in the first half of its iteration and s_j in the second, so vectors whose
  // recurrences restarted at different products stay in step with the block. A vector keeps
  // the single solve's scalars, halves, breakdown restarts and early exit at a half; a frozen or
  // padding vector sends its residual and is left alone, and so does one that waits below its
  // target for the others (as in cg). The true step at the end is cg's.
  void bicgstab(const IterationObserver& observe) {
    const double alpha = params.damping;
    const std::span<const double> weight = op.sum_weight();
    const auto mass = [&](LocalId v) { return weight.empty() ? 1.0 : weight[v]; };
    const std::size_t kept_values = static_cast<std::size_t>(kept) * width;
    // Ss over every row: the confirming step's x and y (recomputed by the next second half).
    BlockVector &z = buf.z, &r = buf.r, &shadow = buf.shadow, &p = buf.p, &sp = buf.sp, &half = buf.half, &st = buf.st;
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < kept_values; ++i) z[i] = p[i] = sp[i] = 0.0;
    // r = b_F + αP_FC b_C (the kept columns send 0); the part of Σz that z_F does not change.
    initial_residual(1, [&](LocalId v, int j, double rv, double*) { r[at(v, j)] = rv; });
    const std::vector<double> fixed_mass = row_sums(kept, rows - kept, 1, [&](LocalId v, double* sums) {
      for (int j = 0; j < width; ++j) sums[j] += (v < trailing ? mass(v) : 1.0) * b_of(v, j);
    });
    std::vector<std::uint8_t> live(width, 0), waiting(width, 0), first_half(width, 1), at_half(width, 0), restarting(width, 1),
        collapse(width, 0);
    std::vector<double> rho(width, 1.0), omega(width, 1.0), beta(width, 0.0), step(width, 0.0), z_sum(fixed_mass);
    std::vector<double> estimate(width, std::numeric_limits<double>::infinity()), target(width, params.tolerance);
    // ‖r‖₁/Σz, measured against at least 1 − α (bicgstab_solve's estimate_of).
    const auto estimate_of = [&](int j, double r_norm) { return r_norm / std::max(z_sum[j], 1.0 - alpha); };
    // The vectors marked in `collapse` take z += a·p, r = s (done at a half); those marked in
    // `restarting` start their recurrence again from r: r̂ = r, ρ = (r, r), β = 0, p = r next.
    const auto restart = [&] {
      const std::vector<double> rr = row_sums(0, kept, 1, [&](LocalId v, double* sums) {
        for (int j = 0; j < width; ++j) {
          if (collapse[j]) {
            z[at(v, j)] += step[j] * p[at(v, j)];
            r[at(v, j)] = half[at(v, j)];
          }
          if (!restarting[j]) continue;
          shadow[at(v, j)] = r[at(v, j)];
          sums[j] += r[at(v, j)] * r[at(v, j)];
        }
      });
      for (int j = 0; j < width; ++j) {
        if (restarting[j]) rho[j] = rr[j], beta[j] = 0.0, first_half[j] = 1;
        restarting[j] = collapse[j] = 0;
      }
    };
    restart();
    for (int it = 1; it <= limit() && any_active(); ++it) {
      const Stopwatch watch;
      if (all_below(estimate, target) || it == limit()) {
        confirm_bicgstab(it, z, p, z_sum, step, at_half, st, estimate, target, watch, observe);
        continue;
      }
      // A vector below its target waits for the confirming step as it is (cg's `waiting`): it
      // sends its r, finite, and nothing of its state changes.
      for (int j = 0; j < width; ++j) {
        waiting[j] = j < vectors && active[j] && estimate[j] < target[j];
        live[j] = j < vectors && active[j] && !waiting[j];
        if (!live[j] && !waiting[j]) first_half[j] = 1, beta[j] = 0.0;  // sends p = r, finite, and is left alone
      }
      // First half: p = r + β(p − ω·Sp), Sp, (r̂, Sp). Second half: Ss, (Ss, s), (Ss, Ss).
      const std::vector<double> dots = product(
          2,
          [&](LocalId u, int j) {
            if (waiting[j]) return r[at(u, j)];
            if (!first_half[j]) return half[at(u, j)];
            return p[at(u, j)] = r[at(u, j)] + beta[j] * (p[at(u, j)] - omega[j] * sp[at(u, j)]);
          },
          [&](LocalId, int, double sum, double*) { return alpha * sum; },
          [&](LocalId v, int j, double sum, double* sums) {
            if (waiting[j]) return;
            if (first_half[j]) {
              const double q = p[at(v, j)] - alpha * sum;
              sp[at(v, j)] = q;
              sums[2 * j] += shadow[at(v, j)] * q;
            } else {
              const double q = half[at(v, j)] - alpha * sum;
              st[at(v, j)] = q;
              sums[2 * j] += q * half[at(v, j)];
              sums[2 * j + 1] += q * q;
            }
          });
      for (int j = 0; j < width; ++j) {
        if (!live[j]) continue;
        if (first_half[j])
          step[j] = dots[2 * j] != 0.0 ? rho[j] / dots[2 * j] : 0.0;
        else
          omega[j] = dots[2 * j + 1] > 0.0 ? dots[2 * j] / dots[2 * j + 1] : 0.0;
      }
      // First half: s = r − a·Sp, ‖s‖₁, Σ(z + a·p). Second half: z += a·p + ω·s, r = s − ω·Ss,
      // ‖r‖₁, Σz, (r̂, r).
      const std::vector<double> sums = row_sums(0, kept, 3, [&](LocalId v, double* block) {
        for (int j = 0; j < width; ++j) {
          if (!live[j]) continue;
          const std::size_t i = at(v, j);
          if (first_half[j]) {
            half[i] = r[i] - step[j] * sp[i];
            block[3 * j] += std::abs(half[i]);
            block[3 * j + 1] += (z[i] + step[j] * p[i]) * mass(v);
          } else {
            z[i] += step[j] * p[i] + omega[j] * half[i];
            r[i] = half[i] - omega[j] * st[i];
            block[3 * j] += std::abs(r[i]);
            block[3 * j + 1] += z[i] * mass(v);
            block[3 * j + 2] += shadow[i] * r[i];
          }
        }
      });
      double largest = 0.0;
      for (int j = 0; j < width; ++j) {
        if (waiting[j]) largest = std::max(largest, estimate[j]);
        if (!live[j]) continue;
        z_sum[j] = sums[3 * j + 1] + fixed_mass[j];
        estimate[j] = estimate_of(j, sums[3 * j]);
        largest = std::max(largest, estimate[j]);
        if (first_half[j]) {
          first_half[j] = 0;
          at_half[j] = 1;
          if (step[j] == 0.0 || estimate[j] < target[j]) collapse[j] = restarting[j] = 1, at_half[j] = 0;
        } else {
          at_half[j] = 0;
          if (omega[j] == 0.0 || sums[3 * j + 2] == 0.0) {
            restarting[j] = 1;
          } else {
            beta[j] = (sums[3 * j + 2] / rho[j]) * (step[j] / omega[j]);
            rho[j] = sums[3 * j + 2];
            first_half[j] = 1;
          }
        }
      }
      if (std::find(restarting.begin(), restarting.end(), 1) != restarting.end()) restart();
      record(watch.seconds(), observe, largest);
    }
  }

  // bicgstab's confirming power step (bicgstab_solve's true_step): x_j = z_j/Σz_j on the kept
  // rows (z_j + a_j·p_j between the halves of an iteration), completed to the eliminated and
  // trailing rows by their in-edges, x(v) = b(v)/Σz + α·sum (the trailing rows' x is the
  // dangling mass); then y = F(x) over every row, in x's place. Freezes and targets as cg's
  // cg_confirm.
  void confirm_bicgstab(int it, const BlockVector& z, const BlockVector& p, const std::vector<double>& z_sum,
                        const std::vector<double>& step, const std::vector<std::uint8_t>& at_half, BlockVector& x,
                        const std::vector<double>& estimate, std::vector<double>& target, const Stopwatch& watch,
                        const IterationObserver& observe) {
    const double alpha = params.damping;
    // A padding vector (b = 0) has Σz = 0: it divides by 1 instead, so its lanes stay 0.
    std::vector<double> total(width);
    for (int j = 0; j < width; ++j) total[j] = z_sum[j] != 0.0 ? z_sum[j] : 1.0;
    const auto completed = [&](LocalId v, int j, double sum) { return x[at(v, j)] = b_of(v, j) / total[j] + alpha * sum; };
    const std::vector<double> dangling = apply(
        Pass::complete, 1,
        [&](LocalId u, int j) {
          const std::size_t i = at(u, j);
          return x[i] = (at_half[j] ? z[i] + step[j] * p[i] : z[i]) / total[j];
        },
        each_sent([&](LocalId v, int j, double sum, double*) { return completed(v, j, sum); }),
        [](LocalId, const double*, double*) {},
        each_vector([&](LocalId v, int j, double sum, double* sums) { sums[j] += completed(v, j, sum); }));
    const std::vector<double> sums = power_step(x, dangling, [](LocalId, const double*, double*) {});
    settle(it, rows_of(x), contrib, sums, estimate, target, watch, observe);
  }

  // After a confirming step with y = F(x) (row w at y(w)) and its sums: a vector whose true
  // residual is below the tolerance (or at the last step) freezes with y, delivered through
  // `staging`; the others ask their estimate for less, by the ratio of estimate to truth and
  // half again.
  template <class Row>
  void settle(int it, const Row& y, std::span<double> staging, const std::vector<double>& sums,
              const std::vector<double>& estimate, std::vector<double>& target, const Stopwatch& watch,
              const IterationObserver& observe) {
    double largest = 0.0;
    for (int j = 0; j < vectors; ++j) {
      if (!active[j]) continue;
      const double truth = sums[j];
      largest = std::max(largest, truth);
      if (below_tolerance(truth) || it == limit())
        freeze(j, it, truth);
      else
        target[j] = 0.5 * params.tolerance * estimate[j] / truth;
    }
    deliver(y, staging);
    record(watch.seconds(), observe, largest);
  }

  bool all_below(const std::vector<double>& estimate, const std::vector<double>& target) const {
    for (int j = 0; j < vectors; ++j)
      if (active[j] && !(estimate[j] < target[j])) return false;
    return true;
  }

  // CG's confirming power step (cg_solve's true_step): x_j = z_j/Σz_j on the kept rows and
  // b_j/Σz_j on the eliminated ones, which the step's first phase completes by α·P_CF x_F
  // before they send; before any CG step (Σz_j = 0) x_j = t_j. A dangling vertex of a
  // symmetric graph has no weighted in-edges, so x's dangling mass is known before the step.
  // Then y = F(x) (step_row), and no array over every row besides the contributions: the kept
  // rows' x and y take q's place (q spans the kept rows), an eliminated row's x lives in its
  // row alone as it sends x/o, and its y, which no row reads, is computed again by a second
  // pull of the eliminated rows (their in-edges are few: 7% of Kronecker 20's) into their
  // contributions once every row has read those. The second pull reads the very columns the
  // first did, so y has the bits that one array of x and y over every row held (a block of 16
  // vectors on Kronecker 20 holds 57 MB less). Frozen vectors are staged in the kept rows'
  // contributions (several passes; `staging`: Batch::cg).
  void cg_confirm(int it, const BlockVector& z, const std::vector<double>& z_sum, BlockVector& q, std::span<double> staging,
                  const std::vector<double>& estimate, std::vector<double>& target, const Stopwatch& watch,
                  const IterationObserver& observe) {
    const double alpha = params.damping;
    const int w = width;
    // Row v's x before the step's completion, from its teleport values t (b_j(v) = (1 − α)·t_j(v)).
    const auto start_row = [&](LocalId v, const double* t, double* xv) {
      for (int j = 0; j < w; ++j) {
        const double total = z_sum[j], b = (1.0 - alpha) * t[j];
        xv[j] = !(total > 0.0) ? b / (1.0 - alpha) : v < kept ? z[at(v, j)] / total : b / total;
      }
    };
    // An eliminated row's x, completed from its in-edge sums.
    const auto completed_row = [&](LocalId v, const double* sum, double* xv) {
      alignas(64) double t[kMaxBlockVectors];
      teleport_of(v, t);
      start_row(v, t, xv);
      for (int j = 0; j < w; ++j)
        if (z_sum[j] > 0.0) xv[j] += alpha * sum[j];
    };
#pragma omp parallel for schedule(static)
    for (LocalId v = 0; v < kept; ++v) {
      alignas(64) double t[kMaxBlockVectors];
      teleport_of(v, t);
      start_row(v, t, q.data() + at(v, 0));
    }
    // x's dangling mass: q on the kept rows, the eliminated rows' x before completion.
    const std::vector<double> dangling = dangling_mass([&](LocalId v, double* xv) -> const double* {
      if (v < kept) return q.data() + at(v, 0);
      alignas(64) double t[kMaxBlockVectors];
      teleport_of(v, t);
      start_row(v, t, xv);
      return xv;
    });
    const double* const d = dangling.data();
    const auto kept_row = [&](LocalId v, const double* sum, double* block) { step_row(v, sum, d, q.data() + at(v, 0), block); };
    const std::vector<double> sums = apply(
        Pass::step, 2, [&](LocalId u, int j) { return q[at(u, j)]; },
        [&](LocalId v, const double* sum, double* block, double* send) {
          alignas(64) double xv[kMaxBlockVectors];
          completed_row(v, sum, xv);
          for (int j = 0; j < w; ++j) send[j] = xv[j] * inv_out[v];
          step_row(v, sum, d, xv, block);
        },
        kept_row, kept_row);  // no trailing rows (cg checks)
    if (op.eliminates())
      pull_rows(phases.eliminated, [&](LocalId, LocalId i, const double* sum) {
        const LocalId v = kept + i;
        step_row<false>(v, sum, d, contrib.data() + at(v, 0), nullptr);
      });
    const auto y = [&](LocalId v) { return (v < kept ? q.data() : contrib.data()) + at(v, 0); };
    settle(it, y, staging, sums, estimate, target, watch, observe);
  }
};

}  // namespace

std::uint64_t personalized_block_bytes(const DistGraph& graph, PageRankSolver solver, int vectors) {
  const std::uint64_t width = static_cast<std::uint64_t>(padded_width(vectors));
  const std::uint64_t rows = graph.rows(), columns = graph.in.columns;
  // power: x (y takes its place) and the contributions with ghosts; cg: z, r, p, q (q and the
  // contributions also hold the confirming step's x and y), the contributions and the
  // single-precision directions (p counted although a plan whose floats are the directions
  // holds none: directions_in_sent; the staging vector, where a narrow block claims one, within
  // p's and q's count);
  // bicgstab: z, r, r̂, p, Sp, s, Ss (also the confirming x and y) and the contributions (the
  // solvers' vectors over the kept rows only: counted as all rows). The frozen vectors pass
  // through the contributions (deliver()).
  const std::uint64_t vector_rows = solver == PageRankSolver::cg         ? 4 * rows + columns
                                    : solver == PageRankSolver::bicgstab ? 7 * rows + columns
                                                                         : rows + columns;
  const std::uint64_t directions = solver == PageRankSolver::cg ? columns * sizeof(float) : 0;
  return (vector_rows * sizeof(double) + directions) * width;
}

std::uint64_t personalized_block_bytes_at_least(const DistGraph& graph, int vectors) {
  return static_cast<std::uint64_t>(graph.in.columns) * static_cast<std::uint64_t>(padded_width(vectors)) * sizeof(double);
}

PersonalizedBlock personalized_pagerank(const DistGraph& graph, const PersonalizedPlan& plan, const PersonalizedParams& params,
                                        std::span<const SparseTeleport> teleports, const Comm& comm,
                                        const IterationObserver& observe, const BlockGoOn& go_on, const FrozenVector& frozen) {
  if (teleports.empty() || teleports.size() > static_cast<std::size_t>(kMaxBlockVectors))
    throw Error(ErrorKind::internal, "personalized_pagerank: a block holds 1 to " + std::to_string(kMaxBlockVectors) +
                                         " vectors, got " + std::to_string(teleports.size()));
  if (params.solver != plan.solver() || params.damping != plan.damping())
    throw Error(ErrorKind::internal, "personalized_pagerank: the plan was built for another solver or damping");
  if (plan.op().rows() != graph.rows())
    throw Error(ErrorKind::internal, "personalized_pagerank: the plan was built for another graph");
  Batch batch(graph, plan.op(), plan.buffers(), params, teleports, frozen, comm);
  const Stopwatch watch;
  if (params.solver == PageRankSolver::cg)
    batch.cg(observe);
  else if (params.solver == PageRankSolver::bicgstab)
    batch.bicgstab(observe);
  else
    batch.power(observe, go_on);
  batch.out.seconds = watch.seconds() - batch.out.frozen_seconds;
  batch.out.solver = params.solver;
  batch.out.halo_bytes_sent_per_iteration = plan.op().values_sent() * static_cast<std::uint64_t>(batch.width) * sizeof(double);
  return std::move(batch.out);
}

}  // namespace perron
