#include "personalized_run.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <optional>

#include "choices.hpp"
#include "perron/algo/top_k.hpp"
#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/timer.hpp"
#include "result_files.hpp"

namespace perron {

SeedSets read_seed_sets_on_root(const std::string& spec, const Comm& comm) {
  SeedSets sets;
  comm.agree([&] {
    if (comm.is_root() && spec != kAllVertices) sets = read_seed_sets(spec);
  });
  return sets;
}

namespace {

// The teleports of sets [first, first + count): from the file's sets (rank 0), or for
// all-vertices the unit vectors of dense ids first .. first + count − 1.
std::vector<SparseTeleport> block_teleports(const DistGraph& g, const PersonalizedOptions& o, const SeedSets& sets,
                                            std::uint64_t first, int count, const Comm& comm) {
  if (o.seed_sets == kAllVertices) {
    std::vector<SparseTeleport> out(count);
    for (int j = 0; j < count; ++j) {
      const GlobalId id = first + static_cast<GlobalId>(j);
      if (id >= g.first && id < g.first + g.rows()) out[j] = SparseTeleport{{static_cast<LocalId>(id - g.first)}, {1.0}};
    }
    return out;
  }
  std::vector<VertexId> ids;
  std::vector<double> weights;
  std::vector<std::size_t> start;
  if (comm.is_root()) {
    start.push_back(0);
    for (std::uint64_t s = first; s < first + static_cast<std::uint64_t>(count); ++s) {
      ids.insert(ids.end(), sets.id.begin() + sets.start[s], sets.id.begin() + sets.start[s + 1]);
      weights.insert(weights.end(), sets.weight.begin() + sets.start[s], sets.weight.begin() + sets.start[s + 1]);
      start.push_back(ids.size());
    }
  }
  return sparse_teleports(ids, weights, start, g, comm, [&](std::size_t s) { return sets.where(o.seed_sets, first + s); });
}

// Every set's text, on every rank (HDF5 attributes and string datasets are collective): rank
// 0's texts, or for all-vertices the vertices' original ids, one a line, broadcast.
std::vector<std::string> set_texts(const DistGraph& g, const PersonalizedOptions& o, const SeedSets& sets, std::uint64_t k,
                                   const Comm& comm) {
  std::string joined;
  if (o.seed_sets == kAllVertices) {
    std::vector<GlobalId> dense(comm.is_root() ? k : 0);
    for (std::size_t i = 0; i < dense.size(); ++i) dense[i] = i;
    for (VertexId id : g.ids.to_original(dense, comm)) joined += std::to_string(id) + "\n";
  } else if (comm.is_root()) {
    for (const std::string& t : sets.text) joined += t + "\n";
  }
  joined = comm.bcast_string(joined, 0);
  std::vector<std::string> texts(k);
  std::size_t at = 0;
  for (std::uint64_t s = 0; s < k; ++s) {
    const std::size_t nl = joined.find('\n', at);
    texts[s] = joined.substr(at, nl - at);
    at = nl + 1;
  }
  return texts;
}

}  // namespace

PersonalizedSummary run_personalized(const DistGraph& g, const PersonalizedOptions& o, const SeedSets& sets, H5Writer* file,
                                     Reporter& report, const Comm& comm) {
  const bool all = o.seed_sets == kAllVertices;
  comm.agree([&] {
    if (all && g.stats.n > kAllVerticesLimit)
      throw_usage(
          fmt::format("--seed-sets all-vertices ranks from every vertex: up to {} vertices, and this graph has {}; "
                      "list the seed sets you need in a file",
                      kAllVerticesLimit, g.stats.n));
  });
  const std::uint64_t k = all ? g.stats.n : comm.bcast_value<std::uint64_t>(sets.sets(), 0);
  PersonalizedParams params = o.params;
  params.solver = choose_personalized_solver(g, params, comm);
  const int block = static_cast<int>(std::min<std::uint64_t>(k, kMaxBlockVectors));
  PersonalizedSummary out;
  out.vectors = k;
  // The memory check, in two steps: before the plan, what any solver's block holds at least
  // (the contributions over every column: personalized_block_bytes_at_least), so that a batch
  // that cannot fit stops before the plan is built; then, from the plan, the
  // plan's own bytes and the block's as it will claim them (a Krylov solver's vectors span
  // only the rows the elimination kept, which the plan knows), before any of the block exists.
  const auto what = [&](std::string needs) {
    return fmt::format("--seed-sets: {} personalized vectors, {} at a time ({} on this rank besides the graph)", k, block, needs);
  };
  const std::uint64_t at_least_here = personalized_block_bytes_at_least(g, block);
  const auto fits_at_least = [&] {
    comm.agree(
        [&] { require_memory(at_least_here + g.bytes(), what("at least " + format_bytes(at_least_here) + " per block")); });
  };
  const BlockCheck fits = [&](std::uint64_t plan_bytes, std::uint64_t block_bytes) {
    comm.agree([&] {
      require_memory(block_bytes + plan_bytes + g.bytes(),
                     what(format_bytes(block_bytes) + " per block and " + format_bytes(plan_bytes) + " for the plan"));
    });
  };
  const Stopwatch plan_watch;
  // Solver auto on a directed graph, as a single run's: power iteration, and after its first
  // kProbeSteps steps of the first block, bicgstab instead if their residuals forecast enough
  // steps left to repay its plan (krylov_solver_repays); else power goes on. A personalized
  // start (t_j) spreads from its seeds first, so the residuals of the first 3 steps overstate
  // what is left (93 steps forecast on Kronecker 20 directed with seeds among the hubs, where
  // power takes 15); after 5 they do not (11).
  constexpr int kProbeSteps = 5;
  const bool probe = o.params.solver == PageRankSolver::automatic && params.solver == PageRankSolver::bicgstab;
  if (probe) params.solver = PageRankSolver::power;
  BlockGoOn go_on;  // for the first block only
  if (probe)
    go_on = [&](std::span<const double> history) {
      if (history.size() != static_cast<std::size_t>(kProbeSteps)) return true;
      PageRankParams single;
      single.tolerance = params.tolerance;
      single.max_iterations = params.max_iterations;
      const int forecast = forecast_steps_left(history, single);
      const bool switching = krylov_solver_repays(history, single);
      report.event("personalized_solver_probe", fmt::format("{{\"steps\": {}, \"forecast_steps_left\": {}, \"solver\": \"{}\"}}",
                                                            history.size(), forecast, switching ? "bicgstab" : "power"));
      if (comm.is_root() && !o.quiet)
        fmt::print("solver auto: {} steps forecast after step {} of the first block; {}\n", forecast, history.size(),
                   switching ? "going on with bicgstab" : "power goes on");
      return !switching;
    };
  out.solver = params.solver;
  fits_at_least();
  // Before the plan, the block is known between two bounds (the largest rank's); the plan's
  // phase event gives the exact figure.
  const std::uint64_t at_most = comm.allreduce(personalized_block_bytes(g, params.solver, block), ReduceOp::max);
  const std::uint64_t at_least = comm.allreduce(at_least_here, ReduceOp::max);
  const std::string solver_name = name_of<PageRankSolver>(kPageRankSolvers, params.solver);
  report.event("personalized_plan",
               fmt::format("{{\"vectors\": {}, \"block\": {}, \"solver\": \"{}\", \"block_bytes_at_least\": {}, "
                           "\"block_bytes_at_most\": {}}}",
                           k, block, solver_name, at_least, at_most));
  // The block's buffers, as the plan claims them after the exact memory check (the bound
  // above counts the solver's vectors over every row; the plan knows which rows are kept).
  std::optional<PersonalizedPlan> plan(std::in_place, g, params, comm, block, fits);
  out.block_bytes = plan->block_bytes();
  out.plan_seconds = plan_watch.seconds();
  report.phase("plan", out.plan_seconds,
               fmt::format("{{\"kernel\": \"csr\", \"bytes\": {}, \"block_bytes\": {}, \"claim_s\": {}}}", plan->bytes(),
                           out.block_bytes, plan->claim_seconds()));
  if (comm.is_root() && !o.quiet)
    fmt::print("personalized: {} vectors in blocks of {}, solver {}, {} per rank per block\n", k, block, solver_name,
               format_bytes(out.block_bytes));
  if (file) {
    file->create_group("/pagerank");
    if (!o.top_only) file->create_matrix<double>("/pagerank/personalized", k, g.stats.n);
  }
  std::vector<std::int64_t> iterations(k);
  std::vector<double> residual(k), history, top_score;
  std::vector<std::int32_t> converged(k);
  std::vector<VertexId> top_id;
  const std::size_t K = std::min<std::uint64_t>(o.top_k, g.stats.n);
  for (std::uint64_t first = 0; first < k; first += block) {
    const int count = static_cast<int>(std::min<std::uint64_t>(block, k - first));
    const std::vector<SparseTeleport> teleports = block_teleports(g, o, sets, first, count, comm);
    const IterationObserver observe = [&](const IterationReport& r) {
      out.iterating_rss = std::max(out.iterating_rss, current_rss_bytes());
      if (!o.quiet) report.iteration(r, params.tolerance, params.fixed_iterations);
    };
    // Each vector as it freezes: its row of /pagerank/personalized, and its top K. A vector of
    // a block that solver auto's probe stopped may come again from the rerun, which replaces it.
    std::vector<std::vector<ScoredVertex>> block_top(static_cast<std::size_t>(count));
    const FrozenVector frozen = [&](int j, std::span<const double> scores) {
      const Stopwatch write_watch;
      if (file && !o.top_only)
        file->write_matrix_blocks<double>("/pagerank/personalized", {{first + static_cast<std::uint64_t>(j), g.first}},
                                          {{1, g.rows()}}, scores);
      out.write_seconds += write_watch.seconds();
      block_top[static_cast<std::size_t>(j)] = top_k(scores, g.first, K, comm);
    };
    // Every block's steps count, the probe's that were run again too.
    const auto tally = [&](const PersonalizedBlock& r) {
      out.seconds += r.seconds;
      out.steps += static_cast<int>(r.history.size());
      history.insert(history.end(), r.history.begin(), r.history.end());
    };
    PersonalizedBlock result =
        personalized_pagerank(g, *plan, params, teleports, comm, observe, first == 0 ? go_on : BlockGoOn{}, frozen);
    if (result.stopped) {  // solver auto's probe chose bicgstab: the block again, with it
      tally(result);
      const Stopwatch switch_watch;
      params.solver = out.solver = PageRankSolver::bicgstab;
      plan.emplace(g, params, comm, block, fits);  // the power plan goes first; bicgstab's is checked as it was
      out.block_bytes = plan->block_bytes();
      out.plan_seconds += switch_watch.seconds();
      result = personalized_pagerank(g, *plan, params, teleports, comm, observe, {}, frozen);
    }
    tally(result);
    ++out.blocks;
    for (int j = 0; j < count; ++j) {
      iterations[first + j] = result.iterations[j];
      residual[first + j] = result.residual[j];
      converged[first + j] = result.converged[j];
    }
    report.event("personalized_block", fmt::format("{{\"first\": {}, \"vectors\": {}, \"steps\": {}, \"seconds\": {}}}", first,
                                                   count, result.history.size(), result.seconds));
    // The top K of every vector (and the first few for the summary).
    std::vector<GlobalId> dense;
    for (const std::vector<ScoredVertex>& top : block_top)
      for (const ScoredVertex& v : top) {
        dense.push_back(v.id);
        top_score.push_back(v.score);
      }
    const std::vector<VertexId> original = g.ids.to_original(dense, comm);
    top_id.insert(top_id.end(), original.begin(), original.end());
  }
  out.min_iterations = static_cast<int>(*std::min_element(iterations.begin(), iterations.end()));
  out.max_iterations = static_cast<int>(*std::max_element(iterations.begin(), iterations.end()));
  out.not_converged =
      params.fixed_iterations > 0 ? 0 : static_cast<std::uint64_t>(std::count(converged.begin(), converged.end(), 0));
  const std::vector<std::string> texts = set_texts(g, o, sets, k, comm);
  for (std::uint64_t s = 0; s < std::min<std::uint64_t>(k, 5); ++s) {
    out.first_sets.push_back(texts[s]);
    std::vector<std::pair<VertexId, double>> top;
    for (std::size_t i = 0; i < std::min<std::size_t>(K, 3); ++i) top.emplace_back(top_id[s * K + i], top_score[s * K + i]);
    out.first_top.push_back(top);
  }
  if (!file) return out;
  const Stopwatch write_watch;
  H5Writer& f = *file;
  const std::vector<VertexId> slice = g.ids.slice_ids();
  f.write_distributed<VertexId>("/pagerank/vertex_id", slice, g.ids.slice_begin(), g.stats.n);
  f.write_strings("/pagerank/seed_set", texts);
  f.write_replicated<std::int64_t>("/pagerank/personalized_iterations", iterations);
  f.write_replicated<double>("/pagerank/personalized_residual", residual);
  f.write_replicated<std::int32_t>("/pagerank/personalized_converged", converged);
  f.write_replicated<double>("/pagerank/residual", history);
  if (o.top_only) {
    const bool root = comm.is_root();
    const std::vector<std::uint64_t> dims{k, K}, origin{0, 0}, whole{root ? k : 0, root ? K : 0};
    f.write_block<VertexId>("/pagerank/personalized_top_vertex_id", dims, origin, whole, top_id);
    f.write_block<double>("/pagerank/personalized_top_score", dims, origin, whole, top_score);
  }
  const std::string group = "/pagerank";
  f.set_attribute(group, "personalized", true);
  f.set_attribute(group, "seed_sets", o.seed_sets);
  f.set_attribute(group, "vectors", k);
  f.set_attribute(group, "block_vectors", static_cast<std::int64_t>(block));
  f.set_attribute(group, "top_only", o.top_only);
  f.set_attribute(group, "damping", params.damping);
  f.set_attribute(group, "tolerance", params.tolerance);
  f.set_attribute(group, "max_iterations", static_cast<std::int64_t>(params.max_iterations));
  f.set_attribute(group, "fixed_iterations", static_cast<std::int64_t>(params.fixed_iterations));
  f.set_attribute(group, "iterations", static_cast<std::int64_t>(out.max_iterations));
  f.set_attribute(group, "converged", out.not_converged == 0);
  f.set_attribute(group, "solver", name_of<PageRankSolver>(kPageRankSolvers, o.params.solver));
  f.set_attribute(group, "solver_used", name_of<PageRankSolver>(kPageRankSolvers, out.solver));
  f.set_attribute(group, "kernel_used", "csr");
  f.set_attribute(group, "dangling_vector", "teleport");
  write_graph_statistics(f, group, g);
  f.set_attribute(group, "halo_bytes_per_iteration",
                  comm.allreduce(g.halo.values_sent() * sizeof(double) * static_cast<std::uint64_t>(block), ReduceOp::sum));
  f.set_attribute(group, "halo_messages_per_iteration", comm.allreduce(g.halo.messages_sent(), ReduceOp::sum));
  f.set_attribute(group, "iterating_rss_bytes_max_rank", comm.allreduce(out.iterating_rss, ReduceOp::max));
  f.set_attribute(group, "block_bytes_max_rank", comm.allreduce(out.block_bytes, ReduceOp::max));
  out.write_seconds += write_watch.seconds();
  return out;
}

}  // namespace perron
