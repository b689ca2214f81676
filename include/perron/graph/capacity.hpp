#pragma once
// Capacity planning: what a `perron pagerank` run on P ranks would see, computed from a graph
// built on few real ranks, without P processes. The partition is the one the run uses
// (balance_on_in_degree for P ranks); per virtual rank r, from the in-edges of its vertex range:
//
//   rows, in-edges                 what its pull step reads
//   ghosts                         distinct sources outside its range: the values it receives per step
//   values sent                    its vertices that other ranks read, once per reading rank
//   messages                       ranks it sends to (non-empty parts of the alltoallv)
//
// Halo bytes per step = 8 · Σ_r values on the wire, exactly what the run records in
// /pagerank@halo_bytes_per_iteration (power iteration; cg and the blocked kernel send the same
// values in another order), for the run's routing (HaloRouting): direct, each ghost once; two-
// level, both phases, a value crossing a row once per column that reads it. Ghosts are counted
// with one stamp per vertex (4 bytes per vertex of the graph, beside the graph), so a plan costs
// one pass over the edges per P; a two-level plan adds one bit per vertex and a pass over those
// bits per grid column.
#include <cstdint>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/graph/dist_graph.hpp"

namespace perron {

// Per-rank figures of one virtual rank count, and the memory they imply.
struct RankFigures {
  std::vector<std::uint64_t> rows, in_edges, ghosts;
  std::vector<std::uint64_t> values_sent, messages;  // per exchange, on the wire, by the run's routing
  std::vector<std::uint64_t> buffer_values;          // HaloPlan::buffer_values() a rank would hold
  std::vector<std::uint64_t> graph_bytes;  // DistGraph::bytes() a rank would hold (CSR, ghosts, halo plan, degrees, ids)
};

struct CapacityPlan {
  std::uint64_t ranks = 0;
  HaloRouting routing = HaloRouting::direct;
  RankFigures per_rank;  // every rank holds all P entries
  std::uint64_t halo_bytes_per_step = 0;
  std::uint64_t messages_per_step = 0;
};

// Collective: the figures of a run on `ranks` ranks (1 ≤ ranks ≤ 2^20) of this graph whose
// halo travels by `routing` (automatic: as HaloPlan::routed would pick on that many ranks).
CapacityPlan plan_capacity(const DistGraph& graph, std::uint64_t ranks, HaloRouting routing, const Comm& comm);

}  // namespace perron
