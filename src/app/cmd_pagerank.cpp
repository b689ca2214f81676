// `perron pagerank`: load → partition → power iteration → one HDF5 file.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <csignal>

#include "checkpoint.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "perron/algo/pagerank.hpp"
#include "perron/algo/top_k.hpp"
#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/timer.hpp"
#include "perron/io/hdf5_file.hpp"
#include "perron/io/text_records.hpp"
#include "report.hpp"
#include "signals.hpp"

namespace perron {
namespace {

struct PagerankConfig {
  InputConfig input;
  std::string output;
  bool overwrite = false;
  double damping = 0.85;
  double tolerance = 1e-10;
  int max_iterations = 1000;
  int iterations = 0;
  std::string personalization;
  std::string seeds;
  std::string dangling;
  Convention convention = Convention::perron;
  int top_k = 100;
  bool quiet = false;
  int checkpoint_every = 0;
  std::string checkpoint;
  std::string restart;
  std::string log_json;
  PageRankSolver solver = PageRankSolver::power;
  int anderson_depth = 5;
  bool cg_eliminate = true;
  PageRankKernel kernel = PageRankKernel::automatic;
};

// A file of `id [weight]` lines (weight 1 when absent).
VertexDistribution read_distribution(const std::string& path, const DistGraph& graph, const Comm& comm) {
  const TextIds records = read_text_ids(path, comm, 2);
  std::vector<VertexId> ids(records.records.size());
  std::vector<double> values(records.records.size());
  for (std::size_t i = 0; i < ids.size(); ++i) {
    ids[i] = records.records[i].id;
    values[i] = records.records[i].value;
  }
  return distribution_from_weights(ids, values, graph, comm, path);
}

// `--seeds 3,17,42`: each listed vertex weighs 1 (rank 0 contributes them).
VertexDistribution seed_distribution(const std::string& list, const DistGraph& graph, const Comm& comm) {
  std::vector<VertexId> ids;
  comm.agree([&] {
    std::size_t at = 0;
    while (at <= list.size()) {
      const std::size_t comma = std::min(list.find(',', at), list.size());
      const std::string token = list.substr(at, comma - at);
      VertexId id = 0;
      auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), id);
      if (ec != std::errc() || p != token.data() + token.size())
        throw_usage("--seeds: expected comma-separated vertex ids, found '" + token + "'");
      ids.push_back(id);
      at = comma + 1;
    }
  });
  if (!comm.is_root()) ids.clear();
  return distribution_from_weights(ids, std::vector<double>(ids.size(), 1.0), graph, comm, "--seeds");
}

void print_top(const std::vector<ScoredVertex>& top, const std::vector<VertexId>& original, std::size_t count) {
  fmt::print("top {} vertices:\n  {:>4}  {:>20}  {:>14}\n", std::min(count, top.size()), "#", "vertex_id", "score");
  for (std::size_t i = 0; i < std::min(count, top.size()); ++i)
    fmt::print("  {:>4}  {:>20}  {:>14.8e}\n", i + 1, original[i], top[i].score);
}

class PagerankCommand final : public Command {
 public:
  explicit PagerankCommand(CLI::App& parent)
      : Command(parent, {"pagerank"}, "PageRank of a graph (distributed power iteration), written to HDF5") {
    OptionSet& o = options();
    add_input_options(o, c_.input);
    o.add("-o,--output", c_.output, "HDF5 result file (written atomically; none if empty)");
    o.add_flag("--overwrite", c_.overwrite, "replace an existing output file");
    o.add("--damping", c_.damping, "damping factor alpha in [0, 1]")->check(CLI::Range(0.0, 1.0));
    o.add("--tolerance", c_.tolerance, "stop when the L1 change of one step is below this")->check(CLI::PositiveNumber);
    o.add("--max-iterations", c_.max_iterations, "stop after this many steps at most")->check(CLI::PositiveNumber);
    o.add("--iterations", c_.iterations, "run exactly this many steps, ignoring the tolerance (0: off)")
        ->check(CLI::NonNegativeNumber);
    o.add_choice("--solver", c_.solver, ChoiceTable<PageRankSolver>(kPageRankSolvers),
                 "power (plain iteration), anderson (Anderson acceleration of the same step: fewer steps to the tolerance), "
                 "or cg (conjugate gradients: fewest steps, for a symmetric graph)");
    o.add("--anderson-depth", c_.anderson_depth, "anderson: how many past steps it combines (1-10)")->check(CLI::Range(1, 10));
    o.add("--cg-eliminate", c_.cg_eliminate,
          "cg: first eliminate an independent set of low-degree vertices and solve for the rest (true or false)");
    o.add_choice("--kernel", c_.kernel, ChoiceTable<PageRankKernel>(kPageRankKernels),
                 "auto (cache-blocked when the vector outgrows half of the L3 cache), csr (plain pull) or blocked");
    o.add("--personalization", c_.personalization, "file of 'id [weight]' lines: the teleport vector (default uniform)");
    o.add("--seeds", c_.seeds, "comma-separated vertex ids: personalize on them with equal weights");
    o.add("--dangling", c_.dangling,
          "file of 'id [weight]' lines: where dangling vertices send their mass (default: the teleport vector)");
    o.add_choice("--convention", c_.convention, ChoiceTable<Convention>(kConventions),
                 "default (perron's), or graphalytics: damping and fixed iterations from the .properties file");
    o.add("--top-k", c_.top_k, "how many top vertices to record in the output")->check(CLI::NonNegativeNumber);
    o.add_flag("-q,--quiet", c_.quiet, "print only the summary, not every iteration");
    o.add("--checkpoint-every", c_.checkpoint_every, "write a checkpoint every K iterations (0: only on SIGTERM/SIGINT)")
        ->check(CLI::NonNegativeNumber);
    o.add("--checkpoint", c_.checkpoint, "checkpoint file (default: the output with .ckpt.h5 for .h5)");
    o.add("--log-json", c_.log_json, "also write one JSON record per event (phases, iterations, result) to this file");
    o.add("--restart", c_.restart, "resume from this checkpoint (any number of ranks; same graph and parameters)");
  }

  void run(const RunContext& context, const Comm& comm) override {
    apply_threads(c_.input.threads, comm);
    // Everything that can be refused without reading the input is refused first.
    PageRankParams params = make_params();
    comm.agree([&] {
      if (c_.checkpoint_every > 0 && c_.output.empty() && c_.checkpoint.empty())
        throw_usage("--checkpoint-every needs --output or --checkpoint (where would the checkpoint go?)");
      if (!c_.personalization.empty() && !c_.seeds.empty()) throw_usage("give --personalization or --seeds, not both");
      check_pagerank_params(params);
    });
    const std::string checkpoint_path =
        !c_.checkpoint.empty() ? c_.checkpoint : (c_.output.empty() ? std::string() : default_checkpoint_path(c_.output));
    const std::vector<std::string> inputs{c_.input.spec.input, c_.input.spec.vertices_file, c_.personalization, c_.dangling,
                                          options().config_path()};
    AtomicOutput output(c_.output, c_.overwrite, comm, with(inputs, c_.restart), {checkpoint_path, c_.log_json});
    // The checkpoint is rewritten during the run: it may replace the file this run resumes from.
    const bool resumes_own = !c_.restart.empty() && same_file(inspect_path(checkpoint_path), inspect_path(c_.restart));
    check_output_path("--checkpoint", checkpoint_path, c_.overwrite || resumes_own,
                      resumes_own ? inputs : with(inputs, c_.restart), {c_.output, c_.log_json}, comm);
    check_output_path("--log-json", c_.log_json, c_.overwrite, with(inputs, c_.restart), {c_.output, checkpoint_path}, comm);
    const bool say = comm.is_root();
    Reporter report(c_.quiet, c_.log_json, comm, c_.overwrite);
    report.event("start", fmt::format("{{\"command_line\": {}, \"ranks\": {}}}", json_quote(context.command_line), comm.size()));

    // From here a SIGTERM or SIGINT (Slurm's warning before the time limit, Ctrl-C) stops the
    // run cleanly: at the end of the load or build, or after the step under way.
    install_stop_signal_handlers();
    LoadedGraph loaded =
        load_graph(c_.input, comm, [&](std::uint64_t done, std::uint64_t total) { report.reading(done, total); });
    stop_if_signalled(comm, "the load and graph build");
    const DistGraph& g = loaded.graph;
    comm.agree([&] {
      if (c_.convention != Convention::graphalytics) return;
      if (!loaded.meta.evlp) throw_usage("--convention graphalytics needs a Graphalytics .properties input");
      if (!loaded.meta.evlp->pr_iterations || !loaded.meta.evlp->pr_damping)
        throw_usage(c_.input.spec.input + ": --convention graphalytics needs pr.damping-factor and pr.num-iterations");
      params.damping = *loaded.meta.evlp->pr_damping;
      params.fixed_iterations = *loaded.meta.evlp->pr_iterations;
      check_pagerank_params(params);
    });
    report.phase("load", loaded.load_seconds, fmt::format("{{\"format\": \"{}\"}}", loaded.meta.format));
    report.phase("partition", loaded.partition_seconds,
                 fmt::format("{{\"n\": {}, \"m\": {}, \"dangling\": {}}}", g.stats.n, g.stats.m, g.stats.dangling));
    if (say)
      fmt::print(
          "perron pagerank: {} vertices, {} edges ({} dangling, {} self-loops, {} duplicates collapsed) on {} ranks; "
          "load {:.3f} s, partition {:.3f} s\n",
          g.stats.n, g.stats.m, g.stats.dangling, g.stats.self_loops, g.stats.duplicates, comm.size(), loaded.load_seconds,
          loaded.partition_seconds);

    const VertexDistribution teleport = !c_.personalization.empty() ? read_distribution(c_.personalization, g, comm)
                                        : !c_.seeds.empty()         ? seed_distribution(c_.seeds, g, comm)
                                                                    : VertexDistribution{};
    const VertexDistribution dangling = c_.dangling.empty() ? teleport : read_distribution(c_.dangling, g, comm);
    // Memory while iterating: the most this rank held at the end of any step (all the solve's
    // vectors exist by then; the graph's build is over).
    std::uint64_t steady_rss = 0;
    const IterationObserver observe = [&](const IterationReport& r) {
      steady_rss = std::max(steady_rss, current_rss_bytes());
      report.iteration(r, params.tolerance, params.fixed_iterations);
    };
    const RunFingerprint fp = fingerprint(g, params.damping, teleport, dangling, comm);
    PageRankState start;
    if (!c_.restart.empty()) {
      start = read_checkpoint(c_.restart, g, fp, comm);
      comm.agree([&] {
        const int limit = params.fixed_iterations > 0 ? params.fixed_iterations : params.max_iterations;
        if (start.iteration > limit)
          throw_usage(c_.restart + " is at iteration " + std::to_string(start.iteration) + ", beyond the " +
                      std::to_string(limit) + " iterations asked for");
      });
      if (say) fmt::print("resuming from {} at iteration {}\n", c_.restart, start.iteration);
    }
    // After each step: a checkpoint when due, and a clean stop once any rank got SIGTERM/SIGINT.
    int stopped_by = 0;
    const StepHook hook = [&](int iteration, const IterateFn& x, std::span<const double> residual) {
      stopped_by = stop_signal_any(comm);
      const bool due = c_.checkpoint_every > 0 && iteration % c_.checkpoint_every == 0;
      if ((due || stopped_by) && !checkpoint_path.empty())
        write_checkpoint(checkpoint_path, g, iteration, x(), residual, fp, comm);
      return stopped_by == 0;
    };
    // The blocked kernel keeps its own copy of the edges: the CSR's columns go once it is built.
    const Stopwatch plan_watch;
    const PageRankPlan plan(g, params, comm);
    const double plan_seconds = plan_watch.seconds();
    report.phase("plan", plan_seconds,
                 fmt::format("{{\"kernel\": \"{}\", \"eliminated\": {}}}",
                             name_of<PageRankKernel>(kPageRankKernels, plan.kernel()), plan.eliminated()));
    if (say && !c_.quiet)
      fmt::print("plan {:.3f} s: {} kernel{}\n", plan_seconds, name_of<PageRankKernel>(kPageRankKernels, plan.kernel()),
                 plan.eliminated() > 0 ? fmt::format(", {} low-degree vertices eliminated", plan.eliminated()) : "");
    if (!plan.reads_csr()) loaded.graph.in.release_edges();
    const PageRankResult result =
        pagerank(g, plan, params, teleport, dangling, comm, observe, c_.restart.empty() ? nullptr : &start, hook);
    if (result.stopped_early)
      throw stopped_error(stopped_by, "after iteration " + std::to_string(result.iterations) +
                                          (checkpoint_path.empty() ? std::string("; no checkpoint (no --output or --checkpoint)")
                                                                   : "; checkpoint written to " + checkpoint_path +
                                                                         " (resume with --restart " + checkpoint_path + ")"));

    const std::vector<ScoredVertex> top = top_k(result.score, g.first, static_cast<std::size_t>(c_.top_k), comm);
    std::vector<GlobalId> top_dense(top.size());
    std::vector<double> top_score(top.size());
    for (std::size_t i = 0; i < top.size(); ++i) {
      top_dense[i] = top[i].id;
      top_score[i] = top[i].score;
    }
    const std::vector<VertexId> top_original = g.ids.to_original(top_dense, comm);

    double write_seconds = 0.0;
    if (output.enabled()) {
      const Stopwatch watch;
      H5Writer file(output.temp_path(), comm);
      file.create_group("/pagerank");
      file.write_distributed<double>("/pagerank/score", result.score, g.first, g.stats.n);
      const std::vector<VertexId> slice = g.ids.slice_ids();
      file.write_distributed<VertexId>("/pagerank/vertex_id", slice, g.ids.slice_begin(), g.stats.n);
      file.write_replicated<double>("/pagerank/residual", result.residual);
      file.write_replicated<VertexId>("/pagerank/top_vertex_id", top_original);
      file.write_replicated<double>("/pagerank/top_score", top_score);
      file.set_attribute("/pagerank", "damping", params.damping);
      file.set_attribute("/pagerank", "tolerance", params.tolerance);
      file.set_attribute("/pagerank", "iterations", static_cast<std::int64_t>(result.iterations));
      file.set_attribute("/pagerank", "max_iterations", static_cast<std::int64_t>(params.max_iterations));
      file.set_attribute("/pagerank", "fixed_iterations", static_cast<std::int64_t>(params.fixed_iterations));
      file.set_attribute("/pagerank", "converged", result.converged);
      file.set_attribute("/pagerank", "solver", name_of<PageRankSolver>(kPageRankSolvers, c_.solver));
      file.set_attribute("/pagerank", "kernel", name_of<PageRankKernel>(kPageRankKernels, c_.kernel));
      // What ran on rank 0 (auto decides per rank, from the size of its part of the vector).
      file.set_attribute("/pagerank", "kernel_used", name_of<PageRankKernel>(kPageRankKernels, result.kernel));
      file.set_attribute("/pagerank", "n", g.stats.n);
      file.set_attribute("/pagerank", "m", g.stats.m);
      file.set_attribute("/pagerank", "dangling", g.stats.dangling);
      file.set_attribute("/pagerank", "self_loops", g.stats.self_loops);
      file.set_attribute("/pagerank", "duplicates_collapsed", g.stats.duplicates);
      file.set_attribute("/pagerank", "weighted", g.weighted);
      file.set_attribute("/pagerank", "personalized", !teleport.uniform());
      file.set_attribute("/pagerank", "dangling_vector", c_.dangling.empty() ? std::string("teleport") : c_.dangling);
      file.set_attribute("/pagerank", "convention", name_of<Convention>(kConventions, c_.convention));
      file.set_attribute("/pagerank", "input_format", loaded.meta.format);
      file.set_attribute("/pagerank", "mass_error", result.mass_error);
      file.set_attribute("/pagerank", "eliminated", result.eliminated);
      const std::uint64_t halo = comm.allreduce(result.halo_bytes_sent_per_iteration, ReduceOp::sum);
      file.set_attribute("/pagerank", "halo_bytes_per_iteration", halo);
      file.set_attribute("/pagerank", "iterating_rss_bytes_sum", comm.allreduce(steady_rss, ReduceOp::sum));
      file.set_attribute("/pagerank", "iterating_rss_bytes_max_rank", comm.allreduce(steady_rss, ReduceOp::max));
      write_seconds = watch.seconds();
      const Provenance provenance{context.command_line,
                                  options().effective_toml(),
                                  context.start_time,
                                  {{"load_s", loaded.load_seconds},
                                   {"partition_s", loaded.partition_seconds},
                                   {"plan_s", plan_seconds},
                                   {"iterate_s", result.seconds},
                                   {"write_s", write_seconds}}};
      write_provenance(file, provenance, comm);
      file.close();
      output.commit();
    }

    report.event("done", fmt::format("{{\"iterations\": {}, \"converged\": {}, \"residual\": {}, \"iterate_s\": {}, "
                                     "\"write_s\": {}, \"output\": {}}}",
                                     result.iterations, result.converged, result.residual.empty() ? 0.0 : result.residual.back(),
                                     result.seconds, write_seconds, json_quote(output.path())));
    if (say) {
      fmt::print("{} after {} iterations (last residual {:.3e}, tolerance {:.1e}) in {:.3f} s, {:.4f} s/iteration\n",
                 params.fixed_iterations > 0 ? "stopped (fixed iterations)" : (result.converged ? "converged" : "NOT converged"),
                 result.iterations, result.residual.empty() ? 0.0 : result.residual.back(), params.tolerance, result.seconds,
                 result.seconds / std::max(1, result.iterations));
      print_top(top, top_original, 10);
      if (output.enabled()) fmt::print("wrote {} (write {:.3f} s)\n", output.path(), write_seconds);
    }
  }

 private:
  PageRankParams make_params() const {
    return PageRankParams{c_.damping,        c_.tolerance,    c_.max_iterations, c_.iterations,  c_.solver,
                          c_.anderson_depth, c_.cg_eliminate, c_.kernel,         BlockedLayout{}};
  }
  static std::vector<std::string> with(std::vector<std::string> list, const std::string& more) {
    list.push_back(more);
    return list;
  }
  PagerankConfig c_;
};

}  // namespace

std::unique_ptr<Command> make_pagerank_command(CLI::App& parent) { return std::make_unique<PagerankCommand>(parent); }

}  // namespace perron
