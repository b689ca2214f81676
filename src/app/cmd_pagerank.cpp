// `perron pagerank`: load → partition → power iteration → one HDF5 file.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <csignal>
#include <optional>

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
#include "personalized_run.hpp"
#include "report.hpp"
#include "result_files.hpp"
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
  std::string seed_sets;
  std::string dangling;
  Convention convention = Convention::perron;
  int top_k = 100;
  bool quiet = false;
  int checkpoint_every = 0;
  std::string checkpoint;
  std::string restart;
  std::string initial;
  std::string log_json;
  PageRankSolver solver = PageRankSolver::automatic;
  int anderson_depth = 5;
  bool cg_eliminate = true;
  PageRankKernel kernel = PageRankKernel::automatic;
  HaloRouting halo = HaloRouting::automatic;
  std::uint64_t cache_kib = 0;
  bool verify = false;
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

// Collective: sub-phases as a JSON object of seconds, each the slowest rank's (every rank
// times the same sub-phases in the same order).
std::string slowest_laps_json(const Laps& laps, const Comm& comm) {
  std::vector<double> seconds;
  for (const auto& lap : laps.laps()) seconds.push_back(lap.second);
  comm.allreduce_inplace<double>(seconds, ReduceOp::max);
  std::string json = "{";
  for (std::size_t i = 0; i < seconds.size(); ++i)
    json += fmt::format("{}\"{}\": {}", i == 0 ? "" : ", ", laps.laps()[i].first, seconds[i]);
  return json + "}";
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
                 "auto (cg on a symmetric graph, bicgstab on a directed one; power for --iterations, damping 1 or a "
                 "--dangling vector), power (plain iteration), anderson (Anderson acceleration of the same step), "
                 "cg (conjugate gradients, for a symmetric graph) or bicgstab (BiCGSTAB, dangling vertices solved last)");
    o.add("--anderson-depth", c_.anderson_depth, "anderson: how many past steps it combines (1-10)")->check(CLI::Range(1, 10));
    o.add("--cg-eliminate", c_.cg_eliminate,
          "cg, bicgstab: first eliminate an independent set of low-degree vertices and solve for the rest (true or false)");
    o.add_choice("--kernel", c_.kernel, ChoiceTable<PageRankKernel>(kPageRankKernels),
                 "auto (csr, switching to blocked once the vector outgrows half of the cache and the steps forecast "
                 "left repay the blocked layout's build), csr (plain pull) or blocked (cache-blocked pull)");
    o.add_choice("--halo", c_.halo, ChoiceTable<HaloRouting>(kHaloRoutings),
                 "how the halo exchange travels: auto (from 64 ranks, two-level where it costs less, counting 2 us a "
                 "message and 12.5 GB/s), direct (one alltoallv, up to P(P-1) messages a step) or two-level (along the "
                 "rows, then the columns of a rank grid: about 2P sqrt(P) messages; the same result to the bit)");
    o.add("--cache-kib", c_.cache_kib,
          "kernel auto: the cache one rank may count on, in KiB (0: the L3 that Linux reports, shared by the node's ranks)")
        ->check(CLI::NonNegativeNumber);
    o.add("--personalization", c_.personalization, "file of 'id [weight]' lines: the teleport vector (default uniform)");
    o.add("--seeds", c_.seeds, "comma-separated vertex ids: personalize on them with equal weights");
    o.add("--dangling", c_.dangling,
          "file of 'id [weight]' lines: where dangling vertices send their mass (default: the teleport vector)");
    o.add_choice("--convention", c_.convention, ChoiceTable<Convention>(kConventions),
                 "default (perron's), or graphalytics: damping and fixed iterations from the .properties file");
    o.add("--seed-sets", c_.seed_sets,
          "batched personalized PageRank: a file with one seed set a line (vertex ids separated by commas or blanks, "
          "each optionally id:weight), or all-vertices (one vector per vertex, up to 65536 vertices). The vectors advance "
          "together, 16 at a time (solver auto: cg on a symmetric graph; on a directed one power, going on with bicgstab "
          "when its first 5 steps forecast a slow mix); writes /pagerank/personalized [k, n], or with --top-k only each "
          "vector's top K "
          "(/pagerank/personalized_top_vertex_id and _top_score [k, K]), so n x k never needs to fit on disk");
    o.add("--top-k", c_.top_k,
          "how many top vertices to record in the output (with --seed-sets: giving it writes only each vector's top K)")
        ->check(CLI::NonNegativeNumber);
    o.add_flag("-q,--quiet", c_.quiet, "print only the summary, not every iteration");
    o.add("--checkpoint-every", c_.checkpoint_every, "write a checkpoint every K iterations (0: only on SIGTERM/SIGINT)")
        ->check(CLI::NonNegativeNumber);
    o.add("--checkpoint", c_.checkpoint, "checkpoint file (default: the output with .ckpt.h5 for .h5)");
    o.add("--log-json", c_.log_json, "also write one JSON record per event (phases, iterations, result) to this file");
    o.add("--restart", c_.restart, "resume from this checkpoint (any number of ranks; same graph and parameters)");
    o.add("--initial", c_.initial,
          "a previous perron pagerank result (HDF5) to start from, matched by original vertex id: re-ranking a changed "
          "graph takes fewer steps (new vertices start at their teleport share; any damping or teleport it had is fine)");
    o.add_flag("--verify", c_.verify,
               "after the solve, take one true step from the result and fail if it moves more than 10 x the tolerance");
  }

  // load → plan → solve (→ verify) → write → report.
  void run(const RunContext& context, const Comm& comm) override {
    if (!c_.seed_sets.empty()) return run_batch(context, comm);
    apply_threads(c_.input.threads, comm);
    PageRankParams params = make_params();
    refuse_before_input(params, comm);
    const std::vector<std::string> inputs{c_.input.spec.input, c_.input.spec.vertices_file, c_.personalization,
                                          c_.dangling,         options().config_path(),     c_.initial};
    AtomicOutput output(c_.output, c_.overwrite, comm, with(inputs, c_.restart), {checkpoint_path(), c_.log_json});
    check_other_outputs(inputs, comm);
    Reporter report(c_.quiet, c_.log_json, comm, c_.overwrite);
    report.event("start", fmt::format("{{\"command_line\": {}, \"ranks\": {}}}", json_quote(context.command_line), comm.size()));
    // From here a SIGTERM or SIGINT (Slurm's warning before the time limit, Ctrl-C) stops the
    // run cleanly: at the end of the load or build, or after the step under way.
    install_stop_signal_handlers();
    LoadedGraph loaded = load(params, report, comm);
    const Solved solved = solve(loaded, params, report, comm);
    double write_seconds = 0.0;
    if (output.enabled()) {
      const Stopwatch watch;
      H5Writer file(output.temp_path(), comm);
      write_pagerank_result(file, record(loaded, params, solved), comm);
      write_seconds = watch.seconds();
      write_provenance(file, provenance(context, loaded, solved.plan_seconds, solved.result.seconds, write_seconds), comm);
      file.close();
      output.commit();
    }
    summarize(params, solved, output, write_seconds, report, comm);
  }

 private:
  // What a solve leaves for the writer and the summary.
  struct Solved {
    VertexDistribution teleport, dangling;
    PageRankResult result;
    double plan_seconds = 0.0, verify_residual = -1.0;
    std::uint64_t iterating_rss = 0;
    std::uint64_t initial_ignored = 0, initial_new = 0;  // --initial: its ids not in the graph; vertices not in it
    std::vector<ScoredVertex> top;
    std::vector<VertexId> top_original;
    std::vector<double> top_score;
  };

  // --seed-sets: the sets (read first: a bad file fails before the graph loads) → load →
  // blocks of personalized vectors, each written as it finishes → provenance.
  void run_batch(const RunContext& context, const Comm& comm) {
    apply_threads(c_.input.threads, comm);
    const PageRankParams params = make_params();
    refuse_in_batch(params, comm);
    const SeedSets sets = read_seed_sets_on_root(c_.seed_sets, comm);
    const std::vector<std::string> inputs{c_.input.spec.input, c_.input.spec.vertices_file, options().config_path(),
                                          c_.seed_sets == kAllVertices ? std::string() : c_.seed_sets};
    AtomicOutput output(c_.output, c_.overwrite, comm, inputs, {c_.log_json});
    check_output_path("--log-json", c_.log_json, c_.overwrite, inputs, {c_.output}, comm);
    Reporter report(c_.quiet, c_.log_json, comm, c_.overwrite);
    report.event("start", fmt::format("{{\"command_line\": {}, \"ranks\": {}}}", json_quote(context.command_line), comm.size()));
    install_stop_signal_handlers();
    PageRankParams loaded_params = params;
    LoadedGraph loaded = load(loaded_params, report, comm);
    const PersonalizedOptions batch{
        c_.seed_sets,
        PersonalizedParams{loaded_params.damping, loaded_params.tolerance, loaded_params.max_iterations,
                           loaded_params.fixed_iterations, loaded_params.solver},
        static_cast<std::size_t>(c_.top_k), options().given("top-k"), c_.quiet};
    std::optional<H5Writer> file;
    if (output.enabled()) file.emplace(output.temp_path(), comm);
    const PersonalizedSummary done = run_personalized(loaded.graph, batch, sets, file ? &*file : nullptr, report, comm);
    if (file) {
      write_provenance(*file, provenance(context, loaded, done.plan_seconds, done.seconds, done.write_seconds), comm);
      file->close();
      output.commit();
    }
    report.event("done", fmt::format("{{\"vectors\": {}, \"steps\": {}, \"not_converged\": {}, \"iterate_s\": {}, "
                                     "\"write_s\": {}, \"output\": {}}}",
                                     done.vectors, done.steps, done.not_converged, done.seconds, done.write_seconds,
                                     json_quote(output.path())));
    if (!comm.is_root()) return;
    fmt::print("{} personalized vectors ({} blocks, {} steps in all, {} to {} per vector; {}) in {:.3f} s (plan {:.3f} s)\n",
               done.vectors, done.blocks, done.steps, done.min_iterations, done.max_iterations,
               done.not_converged == 0 ? std::string(loaded_params.fixed_iterations > 0 ? "fixed iterations" : "all converged")
                                       : fmt::format("{} NOT converged", done.not_converged),
               done.seconds, done.plan_seconds);
    for (std::size_t s = 0; s < done.first_sets.size(); ++s) {
      std::string top;
      for (const auto& [id, score] : done.first_top[s]) top += fmt::format("  {} ({:.4e})", id, score);
      fmt::print("  seeds {:<24} top:{}\n", done.first_sets[s], top);
    }
    if (output.enabled()) fmt::print("wrote {} (write {:.3f} s)\n", output.path(), done.write_seconds);
  }

  // What a batch cannot take: the options of a single vector's run.
  void refuse_in_batch(const PageRankParams& params, const Comm& comm) const {
    comm.agree([&] {
      auto refuse = [](const std::string& what) { throw_usage("--seed-sets runs a batch of personalized vectors; " + what); };
      if (!c_.personalization.empty() || !c_.seeds.empty())
        refuse("--personalization and --seeds give the single vector's teleport (put it in the seed-set file)");
      if (!c_.dangling.empty()) refuse("each vector's dangling mass follows its teleport, so --dangling does not apply");
      if (!c_.restart.empty() || !c_.initial.empty() || c_.checkpoint_every > 0 || !c_.checkpoint.empty())
        refuse("--restart, --initial and checkpoints are for a single vector");
      if (c_.verify) refuse("--verify is for a single vector");
      if (c_.kernel == PageRankKernel::blocked) refuse("it runs the csr kernel (--kernel blocked is for a single vector)");
      if (params.solver == PageRankSolver::anderson)
        refuse("its solvers are power, cg and bicgstab (auto picks cg on a symmetric graph, bicgstab otherwise)");
      check_pagerank_params(params);
    });
  }

  // What /provenance records of a pagerank run: its phases' seconds and the build's memory.
  Provenance provenance(const RunContext& context, const LoadedGraph& loaded, double plan_s, double iterate_s, double write_s) {
    return provenance_of(context,
                         {{"load_s", loaded.load_seconds},
                          {"check_s", loaded.check_seconds},
                          {"partition_s", loaded.partition_seconds},
                          {"plan_s", plan_s},
                          {"iterate_s", iterate_s},
                          {"write_s", write_s}},
                         {{"rss_before_load_bytes", loaded.rss_before},
                          {"build_peak_rss_bytes", loaded.build_peak_rss},
                          {"rss_after_build_bytes", loaded.rss_after_build},
                          {"graph_bytes", loaded.graph_bytes}});
  }

  std::string checkpoint_path() const {
    return !c_.checkpoint.empty() ? c_.checkpoint : (c_.output.empty() ? std::string() : default_checkpoint_path(c_.output));
  }

  // Everything that can be refused without reading the input is refused first.
  void refuse_before_input(const PageRankParams& params, const Comm& comm) const {
    comm.agree([&] {
      if (c_.checkpoint_every > 0 && c_.output.empty() && c_.checkpoint.empty())
        throw_usage("--checkpoint-every needs --output or --checkpoint (where would the checkpoint go?)");
      if (!c_.personalization.empty() && !c_.seeds.empty()) throw_usage("give --personalization or --seeds, not both");
      if (!c_.initial.empty() && !c_.restart.empty())
        throw_usage("give --initial or --restart, not both (a checkpoint resumes its own run; --initial starts a new one)");
      if (!c_.initial.empty() && comm.is_root()) {
        require_readable_file(c_.initial, "PageRank result");
        require_pagerank_result(H5Reader(c_.initial), c_.initial);
      }
      check_pagerank_params(params);
    });
  }

  // The checkpoint and the JSON log, beside the output. The checkpoint is rewritten during the
  // run: it may replace the file this run resumes from.
  void check_other_outputs(const std::vector<std::string>& inputs, const Comm& comm) const {
    const std::string checkpoint = checkpoint_path();
    const bool resumes_own = !c_.restart.empty() && same_file(inspect_path(checkpoint), inspect_path(c_.restart));
    check_output_path("--checkpoint", checkpoint, c_.overwrite || resumes_own, resumes_own ? inputs : with(inputs, c_.restart),
                      {c_.output, c_.log_json}, comm);
    check_output_path("--log-json", c_.log_json, c_.overwrite, with(inputs, c_.restart), {c_.output, checkpoint}, comm);
  }

  // The graph, and the parameters a Graphalytics .properties file sets.
  LoadedGraph load(PageRankParams& params, Reporter& report, const Comm& comm) const {
    LoadedGraph loaded =
        load_graph(c_.input, comm, [&](std::uint64_t done, std::uint64_t total) { report.reading(done, total); });
    stop_if_signalled(comm, "the load and graph build");
    if (c_.halo != HaloRouting::direct) {
      loaded.graph.halo = loaded.graph.halo.routed(c_.halo, comm);
      loaded.graph_bytes = loaded.graph.bytes();
    }
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
    report.phase("load", loaded.load_seconds,
                 fmt::format("{{\"format\": \"{}\", \"check_s\": {}}}", loaded.meta.format, loaded.check_seconds));
    report.phase("partition", loaded.partition_seconds,
                 fmt::format("{{\"n\": {}, \"m\": {}, \"dangling\": {}, \"sub_phases\": {}}}", g.stats.n, g.stats.m,
                             g.stats.dangling, slowest_laps_json(loaded.partition_laps, comm)));
    if (comm.is_root())
      fmt::print(
          "perron pagerank: {} vertices, {} edges ({} dangling, {} self-loops, {} duplicates collapsed) on {} ranks; "
          "load {:.3f} s, partition {:.3f} s\n",
          g.stats.n, g.stats.m, g.stats.dangling, g.stats.self_loops, g.stats.duplicates, comm.size(), loaded.load_seconds,
          loaded.partition_seconds);
    return loaded;
  }

  // The distributions, the restart state, the plan, the solve with its checkpoints, the
  // verifier's step, the top k.
  Solved solve(LoadedGraph& loaded, const PageRankParams& params, Reporter& report, const Comm& comm) const {
    const DistGraph& g = loaded.graph;
    Solved s;
    s.teleport = !c_.personalization.empty() ? read_distribution(c_.personalization, g, comm)
                 : !c_.seeds.empty()         ? seed_distribution(c_.seeds, g, comm)
                                             : VertexDistribution{};
    s.dangling = c_.dangling.empty() ? s.teleport : read_distribution(c_.dangling, g, comm);
    // Memory while iterating: the most this rank held at the end of any step (all the solve's
    // vectors exist by then; the graph's build is over).
    const IterationObserver observe = [&](const IterationReport& r) {
      s.iterating_rss = std::max(s.iterating_rss, current_rss_bytes());
      report.iteration(r, params.tolerance, params.fixed_iterations);
    };
    const RunFingerprint fp = fingerprint(g, params.damping, s.teleport, s.dangling, comm);
    PageRankState start;
    if (!c_.restart.empty()) start = restart_state(g, fp, params, comm);
    if (!c_.initial.empty()) start = initial_state(g, s, comm);
    const PageRankState* from = c_.restart.empty() && c_.initial.empty() ? nullptr : &start;
    // After each step: a checkpoint when due, and a clean stop once any rank got SIGTERM/SIGINT.
    int stopped_by = 0;
    const std::string checkpoint = checkpoint_path();
    const StepHook hook = [&](int iteration, const IterateFn& x, std::span<const double> residual) {
      stopped_by = stop_signal_any(comm);
      const bool due = c_.checkpoint_every > 0 && iteration % c_.checkpoint_every == 0;
      if ((due || stopped_by) && !checkpoint.empty()) write_checkpoint(checkpoint, g, iteration, x(), residual, fp, comm);
      return stopped_by == 0;
    };
    const PageRankPlan plan = solve_by_cost(loaded, params, s, report, observe, from, hook, comm);
    if (s.result.stopped_early)
      throw stopped_error(stopped_by, "after iteration " + std::to_string(s.result.iterations) +
                                          (checkpoint.empty() ? std::string("; no checkpoint (no --output or --checkpoint)")
                                                              : "; checkpoint written to " + checkpoint +
                                                                    " (resume with --restart " + checkpoint + ")"));
    if (c_.verify) s.verify_residual = verify(g, plan, params, s, report, comm);
    s.top = top_k(s.result.score, g.first, static_cast<std::size_t>(c_.top_k), comm);
    std::vector<GlobalId> top_dense;
    for (const ScoredVertex& v : s.top) top_dense.push_back(v.id), s.top_score.push_back(v.score);
    s.top_original = g.ids.to_original(top_dense, comm);
    return s;
  }

  // Solver auto and kernel auto, by cost (krylov_solver_repays, blocked_layout_repays): a
  // solve that might gain from bicgstab, or from the blocked layout, starts with power
  // steps on the CSR, which need no plan, and stops at the step where the residuals forecast
  // enough steps left to repay one of them; it goes on from the iterate reached. cg and
  // bicgstab themselves run on the CSR under kernel auto: they end long before the blocked
  // layout would repay its build (docs/benchmarks.md). Returns the plan of the last stage.
  PageRankPlan solve_by_cost(LoadedGraph& loaded, const PageRankParams& params, Solved& s, Reporter& report,
                             const IterationObserver& observe, const PageRankState* from, const StepHook& hook,
                             const Comm& comm) const {
    const DistGraph& g = loaded.graph;
    const PageRankSolver chosen = choose_solver(g, params, c_.dangling.empty(), comm);
    const bool krylov = chosen == PageRankSolver::cg || chosen == PageRankSolver::bicgstab;
    const bool solver_by_cost = chosen == PageRankSolver::bicgstab && params.solver == PageRankSolver::automatic;
    const bool kernel_by_cost =
        params.kernel == PageRankKernel::automatic && (!krylov || solver_by_cost) && blocked_layout_may_pay(g, params, comm);
    PageRankParams run = params;
    run.solver = solver_by_cost ? PageRankSolver::power : chosen;
    if (params.kernel == PageRankKernel::automatic && (krylov || kernel_by_cost)) run.kernel = PageRankKernel::csr;
    enum class Switch { none, solver, kernel };
    Switch next = Switch::none;
    int after = 0;
    const StepHook hook_or_switch = [&](int iteration, const IterateFn& x, std::span<const double> residual) {
      if (!hook(iteration, x, residual)) return false;
      if (solver_by_cost && krylov_solver_repays(residual, params))
        next = Switch::solver;
      else if (kernel_by_cost && blocked_layout_repays(residual, params))
        next = Switch::kernel;
      else
        return true;
      after = iteration;
      return false;
    };
    PageRankPlan plan = make_plan(loaded, run, s, report, comm);
    s.result = pagerank(g, plan, run, s.teleport, s.dangling, comm, observe, from, hook_or_switch);
    if (next == Switch::none) return plan;
    const PageRankState reached{s.result.score, s.result.iterations, s.result.residual};
    const double first_seconds = s.result.seconds;
    const int left = forecast_steps_left(s.result.residual, params);
    const std::string what = next == Switch::solver ? "solver" : "kernel";
    if (next == Switch::solver)
      run.solver = chosen;
    else
      run.kernel = PageRankKernel::blocked;
    const std::string to = next == Switch::solver ? name_of<PageRankSolver>(kPageRankSolvers, chosen) : "blocked";
    report.event(what + "_switch", fmt::format("{{\"after\": {}, \"steps_forecast\": {}, \"to\": \"{}\"}}", after, left, to));
    if (comm.is_root() && !c_.quiet)
      fmt::print("{} auto: {} steps forecast after step {}; going on with {}\n", what, left, after, to);
    plan = make_plan(loaded, run, s, report, comm);
    s.result = pagerank(g, plan, run, s.teleport, s.dangling, comm, observe, &reached, hook);
    s.result.seconds += first_seconds;
    (next == Switch::solver ? s.result.solver_switched_after : s.result.kernel_switched_after) = after;
    return plan;
  }

  // The plan of a solve, timed and reported (its seconds add up in s.plan_seconds). The blocked
  // kernel keeps its own copy of the edges: the CSR's columns go once it is built.
  PageRankPlan make_plan(LoadedGraph& loaded, const PageRankParams& params, Solved& s, Reporter& report, const Comm& comm) const {
    const Stopwatch watch;
    PageRankPlan plan(loaded.graph, params, comm);
    const double seconds = watch.seconds();
    s.plan_seconds += seconds;
    report_plan(plan, seconds, report, comm);
    if (!plan.reads_csr()) loaded.graph.in.release_edges();
    return plan;
  }

  // --initial: the start vector from a previous result (warm_start), at iteration 0.
  PageRankState initial_state(const DistGraph& g, Solved& s, const Comm& comm) const {
    const RankedScores previous = read_pagerank_slice(c_.initial, comm);
    const WarmStart w = warm_start(previous.id, previous.score, g, s.teleport, comm, c_.initial);
    s.initial_ignored = w.ignored;
    s.initial_new = w.new_vertices;
    if (comm.is_root())
      fmt::print("starting from {}: {} of its vertex ids not in this graph (ignored), {} vertices new to it\n", c_.initial,
                 w.ignored, w.new_vertices);
    return PageRankState{w.x, 0, {}};
  }

  PageRankState restart_state(const DistGraph& g, const RunFingerprint& fp, const PageRankParams& params,
                              const Comm& comm) const {
    PageRankState start = read_checkpoint(c_.restart, g, fp, comm);
    comm.agree([&] {
      const int limit = params.fixed_iterations > 0 ? params.fixed_iterations : params.max_iterations;
      if (start.iteration > limit)
        throw_usage(c_.restart + " is at iteration " + std::to_string(start.iteration) + ", beyond the " + std::to_string(limit) +
                    " iterations asked for");
    });
    if (comm.is_root()) fmt::print("resuming from {} at iteration {}\n", c_.restart, start.iteration);
    return start;
  }

  void report_plan(const PageRankPlan& plan, double seconds, Reporter& report, const Comm& comm) const {
    const std::string kernel = name_of<PageRankKernel>(kPageRankKernels, plan.kernel());
    const std::string solver = name_of<PageRankSolver>(kPageRankSolvers, plan.solver());
    report.phase("plan", seconds,
                 fmt::format("{{\"kernel\": \"{}\", \"solver\": \"{}\", \"eliminated\": {}, \"dangling_last\": {}}}", kernel,
                             solver, plan.eliminated(), plan.trailing()));
    if (comm.is_root() && !c_.quiet)
      fmt::print("plan {:.3f} s: {} kernel, solver {}{}{}\n", seconds, kernel, solver,
                 plan.eliminated() > 0 ? fmt::format(", {} low-degree vertices eliminated", plan.eliminated()) : "",
                 plan.trailing() > 0 ? fmt::format(", {} dangling vertices solved last", plan.trailing()) : "");
  }

  // --verify: one true step from the result; more than 10× the tolerance away fails the run
  // (GAPBS's verifier), and no result is written.
  double verify(const DistGraph& g, const PageRankPlan& plan, const PageRankParams& params, const Solved& s, Reporter& report,
                const Comm& comm) const {
    const Stopwatch watch;
    const double residual = pagerank_step_residual(g, plan, params, s.teleport, s.dangling, s.result.score, comm);
    report.phase("verify", watch.seconds(), fmt::format("{{\"residual\": {}}}", residual));
    if (comm.is_root() && !c_.quiet)
      fmt::print("verify: one true step moves the result by {:.3e} in L1 (tolerance {:.1e})\n", residual, params.tolerance);
    comm.agree([&] {
      if (!(residual <= 10.0 * params.tolerance))
        throw Error(ErrorKind::verification,
                    fmt::format("--verify: one true step moves the result by {:.3e} in L1, more than 10 x the tolerance {:.1e}{}",
                                residual, params.tolerance,
                                s.result.converged ? "" : " (the solve did not converge: raise --max-iterations)"));
    });
    return residual;
  }

  PageRankRecord record(const LoadedGraph& loaded, const PageRankParams& params, const Solved& s) const {
    return PageRankRecord{loaded.graph,
                          params,
                          s.result,
                          s.top_original,
                          s.top_score,
                          name_of<PageRankSolver>(kPageRankSolvers, c_.solver),
                          name_of<PageRankKernel>(kPageRankKernels, c_.kernel),
                          name_of<Convention>(kConventions, c_.convention),
                          c_.dangling.empty() ? std::string("teleport") : c_.dangling,
                          loaded.meta.format,
                          !s.teleport.uniform(),
                          s.iterating_rss,
                          s.verify_residual,
                          c_.initial,
                          s.initial_ignored,
                          s.initial_new};
  }

  void summarize(const PageRankParams& params, const Solved& s, const AtomicOutput& output, double write_seconds,
                 Reporter& report, const Comm& comm) const {
    const PageRankResult& result = s.result;
    const double last = result.residual.empty() ? 0.0 : result.residual.back();
    report.event(
        "done", fmt::format("{{\"iterations\": {}, \"converged\": {}, \"residual\": {}, \"iterate_s\": {}, "
                            "\"write_s\": {}, \"output\": {}}}",
                            result.iterations, result.converged, last, result.seconds, write_seconds, json_quote(output.path())));
    if (!comm.is_root()) return;
    fmt::print("{} after {} iterations (last residual {:.3e}, tolerance {:.1e}) in {:.3f} s, {:.4f} s/iteration\n",
               params.fixed_iterations > 0 ? "stopped (fixed iterations)" : (result.converged ? "converged" : "NOT converged"),
               result.iterations, last, params.tolerance, result.seconds, result.seconds / std::max(1, result.iterations));
    print_top(s.top, s.top_original, 10);
    if (output.enabled()) fmt::print("wrote {} (write {:.3f} s)\n", output.path(), write_seconds);
  }

  PageRankParams make_params() const {
    return PageRankParams{c_.damping,        c_.tolerance,    c_.max_iterations, c_.iterations,   c_.solver,
                          c_.anderson_depth, c_.cg_eliminate, c_.kernel,         BlockedLayout{}, c_.cache_kib << 10};
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
