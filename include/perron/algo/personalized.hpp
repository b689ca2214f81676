#pragma once
// Batched personalized PageRank: k teleport vectors t_1..t_k on the same graph, advancing
// together. Vector j is the fixed point of
//
//   x_j = α P x_j + α (Σ_{u∈D} x_j(u)) t_j + (1 − α) t_j
//
// (the dangling mass follows the teleport, as in a single personalized run), i.e.
// x_j = (1 − α) t_j (I − αP)⁻¹ up to normalisation.
//
// Design: the k iterates live side by side, vertex-major (the k values of vertex u are
// contiguous), so one pass over the in-edges updates k sums per edge and one halo exchange
// carries k values per ghost (SpMM instead of SpMV). A step's cost is the edge and ghost
// traffic, which grows by k×8 bytes per gathered source: the edges and their indices are read
// once for all k, but once a block's values outgrow the cache every gather is a miss of k×8
// bytes, which the pull asks for ahead of time (prefetch_distance). Every vector's arithmetic
// is that of the single solve and runs in the same order whatever k and whatever the other
// vectors are, and the reductions are ordered (blocks, then ranks), so each vector is the
// same as a run on its own, to rounding, at every rank count.
//
// Solvers: power iteration on any graph; the single solves' Krylov methods on the Schur
// complement (an independent set of low-degree vertices eliminated): conjugate gradients on a
// symmetric graph (cg_solve: Jacobi-preconditioned, the weighted inner product) and BiCGSTAB on
// any other (bicgstab_solve: the dangling vertices last). One Krylov space per vector, sharing
// each product (the vectors' scalars are independent; the product is one SpMM).
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "perron/algo/pagerank.hpp"
#include "perron/comm/comm.hpp"
#include "perron/graph/dist_graph.hpp"

namespace perron {

// The widest block that advances together; larger batches run block after block, so memory
// stays that of one block whatever k is. Measured on Kronecker 20 (docs/benchmarks.md
// "Batched personalized PageRank"), power steps with prefetching: 1 vector 20 ms, 4: 30 ms,
// 16: 80-95 ms, 32: 175-220 ms; 32 would save 10-30% of the time per vector for twice the
// memory.
inline constexpr int kMaxBlockVectors = 16;

// One teleport vector of a batch on this rank: its entries at owned rows, normalised over all
// ranks to sum 1 (several entries of one row add up).
struct SparseTeleport {
  std::vector<LocalId> row;
  std::vector<double> weight;
};

// Collective: the teleports of seed sets given as (original id, weight) pairs that rank 0
// holds, set s being ids[set_start[s] .. set_start[s+1]). Weights of a set must be positive
// and finite (checked by the caller, who knows the file and line); `where(s)` names set s in
// the error for an id that is not a vertex of the graph.
std::vector<SparseTeleport> sparse_teleports(std::span<const VertexId> ids, std::span<const double> weights,
                                             std::span<const std::size_t> set_start, const DistGraph& graph, const Comm& comm,
                                             const std::function<std::string(std::size_t)>& where);

struct PersonalizedParams {
  double damping = 0.85;
  double tolerance = 1e-10;
  int max_iterations = 1000;
  int fixed_iterations = 0;                           // > 0: exactly this many power steps
  PageRankSolver solver = PageRankSolver::automatic;  // automatic, power, cg or bicgstab
};

// Collective: the solver `automatic` stands for (at damping < 1 without fixed iterations, cg on
// a symmetric graph and bicgstab on any other; else power); power, cg and bicgstab as given.
// Throws a usage error on every rank for cg on a graph that is not symmetric, for cg or bicgstab
// at damping 1 or with fixed iterations, and for anderson (no batched form).
PageRankSolver choose_personalized_solver(const DistGraph& graph, const PersonalizedParams& params, const Comm& comm);

// Bytes one rank holds to advance a block of `vectors` vectors (its iterates, contributions
// with ghosts, for cg and bicgstab the Krylov vectors; the FrozenVector's results pass through
// the contributions' storage, for cg the kept rows' part of it, a few vectors at a time),
// besides the plan; nothing per edge. Known before a plan exists: exact for power, and for cg
// and bicgstab a bound from above (their vectors counted over every row, where the plan's span
// only the kept ones; a BlockCheck gets the exact figure).
std::uint64_t personalized_block_bytes(const DistGraph& graph, PageRankSolver solver, int vectors);
// What every solver's block of `vectors` vectors holds at least, known before a plan exists:
// the contributions over every column (cg's other vectors may span only a third of the rows).
std::uint64_t personalized_block_bytes_at_least(const DistGraph& graph, int vectors);

namespace pagerank_detail {
class StepOperator;
struct BatchBuffers;
}  // namespace pagerank_detail

// What a PersonalizedPlan calls on every rank once it knows what it holds, before it claims
// its block: the plan's own bytes on this rank and the block's, as it will claim them. A check
// that throws (collectively: require_memory inside comm.agree) stops the plan there.
using BlockCheck = std::function<void(std::uint64_t plan_bytes, std::uint64_t block_bytes)>;

// What every block of a batch runs on, built once (collective): the single-vector solve's
// operator for the solver (power, cg or bicgstab, as choose_personalized_solver returned) and
// damping, with the plain CSR kernel. For cg and bicgstab it eliminates an independent set of
// low-degree vertices (the Schur complement, as the single solves do: cg's 14 products against
// 24 at Kronecker 20), bicgstab also orders the dangling vertices last, and it holds the
// rows' CSRs in its work order (most read first; for `block_vectors` = 1 the single solve's
// order, and then its one vector is the single run's, bit for bit); for power it reads the
// graph's own CSR and halo, nothing per edge beside them. The cache-blocked kernel is not
// used: its segments would hold S values per column, S times fewer columns each.
// The plan also keeps a block's vectors from one block to the next (fresh pages for every
// block cost the kernel's zeroing of each: 11% of a run of 64 vectors at Kronecker 20), so
// blocks on one plan run one at a time. Given `block_vectors` (the most vectors a block will
// hold), it claims and writes them itself, right after the graph build has freed its edges:
// the memory is the plan's, an allocation that fails does so before any block runs, and the
// pages are written while the ones the build just freed are still at hand (the first block of
// 16 on Kronecker 20 took 0.26 s longer than the next, faulting them in between its steps).
// Given a `check` too, it hands the check what it will claim first (BlockCheck).
class PersonalizedPlan {
 public:
  PersonalizedPlan(const DistGraph& graph, const PersonalizedParams& params, const Comm& comm, int block_vectors = 0,
                   const BlockCheck& check = {});
  PersonalizedPlan(PersonalizedPlan&&) noexcept;
  ~PersonalizedPlan();
  const pagerank_detail::StepOperator& op() const { return *op_; }
  PageRankSolver solver() const { return solver_; }
  double damping() const { return damping_; }
  std::uint64_t bytes() const;        // what the plan holds on this rank beside the graph and the block
  std::uint64_t block_bytes() const;  // the block's buffers it holds on this rank (claimed, or left by a block)
  double claim_seconds() const { return claim_seconds_; }  // of the constructor's time, claiming the block
  pagerank_detail::BatchBuffers& buffers() const { return *buffers_; }

 private:
  std::unique_ptr<pagerank_detail::StepOperator> op_;
  std::unique_ptr<pagerank_detail::BatchBuffers> buffers_;
  PageRankSolver solver_;
  double damping_;
  double claim_seconds_ = 0.0;
};

struct PersonalizedBlock {
  std::vector<double> score;                        // vector-major: score[j·rows + v], owned rows, dense order
                                                    // (empty when a FrozenVector took the vectors)
  std::vector<int> iterations;                      // per vector: the step at which it met the tolerance (or the last)
  std::vector<double> residual;                     // per vector: ‖x_j − x_j,prev‖₁ of that step
  std::vector<std::uint8_t> converged;              // per vector
  std::vector<double> history;                      // per step: the largest residual of the vectors still going
  double seconds = 0.0;                             // time in the iteration loop
  std::uint64_t halo_bytes_sent_per_iteration = 0;  // this rank, for the whole block
  double frozen_seconds = 0.0;                      // in the FrozenVector (not counted in `seconds`)
  bool stopped = false;                             // by go_on, before every vector converged
  PageRankSolver solver = PageRankSolver::power;
};

// Collective: the block of personalized vectors with these teleports (at most
// kMaxBlockVectors). The solver must be the plan's, as choose_personalized_solver returned.
// Each vector stops updating once its step falls below the tolerance; the block ends when all
// have (or at the iteration limit). `observe` sees every step with the largest residual of
// the vectors still going.
// With `go_on`, power iteration asks it after every step, given the history so far, whether to
// go on; false stops the block there (`stopped`; vectors not yet converged have no result).
// With `frozen`, each vector's result goes to it as the vector freezes, instead of into
// `score`: frozen(j, s) with s its scores at the owned rows in dense order, valid during the
// call. Every rank calls it for the same vectors in the same order, so it may be collective
// (write the vector, rank it). The block then holds no results of its own: the vectors frozen
// at a step pass through the contributions' storage, free until the next product (cg's kept
// rows' part of it, a few vectors at a time; a block of 16 on Kronecker 20: 83 MB less, whose
// first touch cost as much as a product). Its time is
// not counted in `seconds` or the steps' times (it is `frozen_seconds`).
using BlockGoOn = std::function<bool(std::span<const double> history)>;
using FrozenVector = std::function<void(int vector, std::span<const double> score)>;
PersonalizedBlock personalized_pagerank(const DistGraph& graph, const PersonalizedPlan& plan, const PersonalizedParams& params,
                                        std::span<const SparseTeleport> teleports, const Comm& comm,
                                        const IterationObserver& observe = {}, const BlockGoOn& go_on = {},
                                        const FrozenVector& frozen = {});

}  // namespace perron
