#pragma once
// Anderson acceleration of the PageRank step (private to algo/pagerank*.cpp).
#include <cstddef>
#include <vector>

#include "perron/comm/comm.hpp"

namespace perron::pagerank_detail {

// Anderson acceleration, type II with depth m (Anderson 1965; Walker & Ni 2011): from the step
// x ↦ F(x) and its residual g = F(x) − x, keep the last m + 1 pairs (Y_j = F(x_j), G_j), choose
// γ = argmin ‖g − ΔG γ‖₂ over the differences ΔG_i = G_{i+1} − G_i (normal equations, m ≤ 10,
// a tiny ridge), and move to x' = F(x) − ΔY γ (ΔX + ΔG = ΔY, since X + G = Y). For PageRank's
// linear F this is GMRES(m) in disguise, and it needs only F itself, so it reuses the pull
// kernel, the halo and the dangling handling.
// Cost per step: one pass writing G and Y, one pass of dot products of the new G with the
// stored ones (the Gram matrix of the G's is kept, and the differences' Gram follows from it),
// one pass combining the Y's. Dot products are summed in fixed blocks, then in rank order:
// deterministic for given ranks × threads. A singular or non-finite solve keeps only the
// newest pair and takes the plain step.
class AndersonMixer {
 public:
  AndersonMixer(std::size_t rows, int depth);

  // x holds x_k, y holds F(x_k); on return x holds x_{k+1}.
  void mix(std::vector<double>& x, const std::vector<double>& y, const Comm& comm);

 private:
  // ⟨G_slot, G_j⟩ for every stored j, into the kept Gram matrix.
  void update_gram(std::size_t slot, const Comm& comm);
  // γ from (ΔGᵀΔG + λI) γ = ΔGᵀ g, g the newest residual; empty if unusable.
  std::vector<double> coefficients() const;

  std::size_t slots_;                       // m + 1 stored steps
  std::vector<std::vector<double>> y_, g_;  // F(x_j) and G_j per slot
  std::vector<double> gram_;                // ⟨G_i, G_j⟩ by slot
  std::vector<std::size_t> order_;          // slots in use, oldest first
};

}  // namespace perron::pagerank_detail
