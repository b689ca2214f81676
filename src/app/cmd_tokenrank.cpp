// `perron tokenrank`: the PageRank of the attention graph of q, k (one layer, or the product of
// several), blocked and ring-distributed, never building the N×N matrix; and
// `perron attention-graph`: the strongest attention edges as an HDF5 edge list that
// `perron pagerank` reads, so TokenRank and PageRank can be compared on the same input.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

#include "commands.hpp"
#include "output.hpp"
#include "perron/algo/tokenrank.hpp"
#include "perron/algo/top_k.hpp"
#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"
#include "perron/io/hdf5_file.hpp"
#include "perron/io/seed_sets.hpp"
#include "perron/io/text_records.hpp"
#include "qkv_input.hpp"
#include "report.hpp"
#include "result_files.hpp"

namespace perron {
namespace {

// The options both commands share: where q and k are, and which chain they define.
struct ChainConfig {
  ScoreConfig s;
  int layers = 0;  // 0: `q`/`k` if present, else every layer_<l>/q, layer_<l>/k
  std::uint64_t batch_index = 0;
  bool rollout = false;
  Precision precision = Precision::single;
};

void add_chain_options(OptionSet& o, ChainConfig& c) {
  add_score_options(o, c.s,
                    "HDF5 file holding q and k ([heads, N, d] or [batch, heads, N, d]; inside layer_<l>/ with several layers); v "
                    "is not needed");
  o.add("--layers", c.layers, "layers L: datasets layer_0/q ... layer_<L-1>/q (0: q, k if present, else every layer_<l>)")
      ->check(CLI::NonNegativeNumber);
  o.add("--batch-index", c.batch_index, "with [batch, heads, N, d] inputs: the batch entry to rank");
  o.add_flag("--rollout", c.rollout, "each layer's chain is (A + I)/2, as attention rollout (Abnar & Zuidema 2020)");
  o.add_choice("--precision", c.precision, ChoiceTable<Precision>(kPrecisions),
               "single: fp32 score tiles, float64 accumulation (fast); double: float64 throughout");
}

// q, k and masks of every layer for this rank's positions, with the problem viewing them.
struct LoadedChain {
  QkvShape qs, ks;
  std::vector<std::string> layer_names;       // the group of each layer ("" for a single layer at the root)
  std::vector<QkvShape> q_shapes, k_shapes;   // per layer
  std::vector<std::vector<float>> q, k;       // single precision runs
  std::vector<std::vector<double>> q64, k64;  // double precision runs: float64 inputs stay float64
  std::vector<float> mask_rows, mask_cols;
  TokenRankProblem problem;
  std::vector<GlobalId> positions;  // of this rank's rows
  std::vector<std::string> tokens;  // the input's /tokens (every rank), or none
  bool zigzag = false;
  double seconds = 0.0;
};

std::string layer_dataset(const std::string& layer, const std::string& name) { return layer.empty() ? name : layer + "/" + name; }

// Collective. A mask is read from both sides (this rank's query rows, and its key columns),
// because the LSE pass meets it by rows and the steps by columns.
LoadedChain load_chain(const OptionSet& options, const ChainConfig& c, const Comm& comm) {
  check_score_options(options, c.s, comm);
  const Stopwatch watch;
  LoadedChain lc;
  MaskInfo mask;
  comm.agree([&] {
    require_readable_file(c.s.input, "input");
    const H5Reader f(c.s.input);
    if (c.layers > 0) {
      for (int l = 0; l < c.layers; ++l) lc.layer_names.push_back("layer_" + std::to_string(l));
    } else if (f.exists(c.s.q) || !f.exists("layer_0")) {
      lc.layer_names.push_back("");
    } else {
      for (int l = 0; f.exists("layer_" + std::to_string(l)); ++l) lc.layer_names.push_back("layer_" + std::to_string(l));
    }
    for (const std::string& layer : lc.layer_names) {
      const QkvShape qs = qkv_shape(f, c.s.input, layer_dataset(layer, c.s.q)),
                     ks = qkv_shape(f, c.s.input, layer_dataset(layer, c.s.k));
      const std::string where = c.s.input + ": " + (layer.empty() ? std::string() : layer + ": ");
      check_query_key(qs, ks, where);
      if (qs.seq != ks.seq)
        throw_input(where + "TokenRank needs as many keys as queries (a chain over the N tokens): q has N = " +
                    std::to_string(qs.seq) + ", k has N = " + std::to_string(ks.seq));
      if (!lc.layer_names.empty() && layer != lc.layer_names.front() && (qs.seq != lc.qs.seq || qs.heads != lc.qs.heads))
        throw_input(where + "every layer needs the same N and number of query heads as " + lc.layer_names.front());
      if (c.batch_index >= qs.batch)
        throw_usage("--batch-index " + std::to_string(c.batch_index) + " is past the " + std::to_string(qs.batch) +
                    " batch entries of " + c.s.input);
      if (layer == lc.layer_names.front()) lc.qs = qs, lc.ks = ks;
      lc.q_shapes.push_back(qs), lc.k_shapes.push_back(ks);
    }
    if (!c.s.mask.empty()) mask = check_mask(f, c.s.input, c.s.mask, lc.qs, lc.ks);
    lc.tokens = read_tokens(f, c.s.input, lc.qs, c.batch_index);
  });
  lc.zigzag = c.s.causal && comm.size() > 1;
  lc.problem.n = static_cast<std::int64_t>(lc.qs.seq);
  lc.problem.segments = rank_positions(lc.qs.seq, comm.rank(), comm.size(), lc.zigzag);
  for (const Segment& s : lc.problem.segments)
    for (std::int64_t i = 0; i < s.count; ++i) lc.positions.push_back(static_cast<GlobalId>(s.begin + i));
  comm.agree([&] {
    const H5Reader f(c.s.input);
    const bool wide = c.precision == Precision::double_precision;
    for (std::size_t l = 0; l < lc.layer_names.size(); ++l) {
      const std::string q_name = layer_dataset(lc.layer_names[l], c.s.q), k_name = layer_dataset(lc.layer_names[l], c.s.k);
      if (wide) {
        lc.q64.push_back(read_qkv_runs_double(f, c.s.input, q_name, lc.q_shapes[l], c.batch_index, lc.problem.segments));
        lc.k64.push_back(read_qkv_runs_double(f, c.s.input, k_name, lc.k_shapes[l], c.batch_index, lc.problem.segments));
      } else {
        lc.q.push_back(read_qkv_runs(f, c.s.input, q_name, lc.q_shapes[l], c.batch_index, lc.problem.segments));
        lc.k.push_back(read_qkv_runs(f, c.s.input, k_name, lc.k_shapes[l], c.batch_index, lc.problem.segments));
      }
    }
    if (!c.s.mask.empty()) {
      lc.mask_rows = read_mask_rows(f, c.s.input, mask, lc.qs, lc.ks, c.batch_index, lc.problem.segments);
      lc.mask_cols = read_mask_columns(f, c.s.input, mask, lc.qs, c.batch_index, lc.problem.segments);
    }
  });
  for (std::size_t l = 0; l < lc.layer_names.size(); ++l) {
    TokenLayer layer{static_cast<int>(lc.q_shapes[l].heads),
                     static_cast<int>(lc.k_shapes[l].heads),
                     static_cast<int>(lc.q_shapes[l].dim),
                     {},
                     {},
                     lc.mask_rows,
                     lc.mask_cols};
    if (lc.q64.empty())
      layer.q = lc.q[l], layer.k = lc.k[l];
    else
      layer.q64 = lc.q64[l], layer.k64 = lc.k64[l];
    lc.problem.layers.push_back(layer);
  }
  lc.seconds = watch.seconds();
  return lc;
}

TokenRankParams chain_params(const ChainConfig& c) {
  TokenRankParams p;
  p.scale = c.s.scale, p.softcap = c.s.softcap, p.causal = c.s.causal, p.window = c.s.window, p.rollout = c.rollout;
  p.tile_q = c.s.tile_q;
  p.tile_k = c.s.tile_k;
  p.precision = c.precision;
  return p;
}

// Attributes that say which chain a file describes.
void write_chain_attributes(H5Writer& file, const std::string& group, const ChainConfig& c, const LoadedChain& lc,
                            const TokenRankParams& p) {
  file.set_attribute(group, "n", lc.qs.seq);
  file.set_attribute(group, "query_heads", lc.qs.heads);
  file.set_attribute(group, "kv_heads", lc.ks.heads);
  file.set_attribute(group, "head_size", lc.qs.dim);
  file.set_attribute(group, "layers", static_cast<std::uint64_t>(lc.layer_names.size()));
  file.set_attribute(group, "batch_index", c.batch_index);
  file.set_attribute(group, "causal", c.s.causal);
  file.set_attribute(group, "window", static_cast<std::int64_t>(c.s.window));
  file.set_attribute(group, "scale", p.scale > 0 ? p.scale : 1.0 / std::sqrt(static_cast<double>(lc.qs.dim)));
  file.set_attribute(group, "softcap", c.s.softcap);
  file.set_attribute(group, "mask", c.s.mask);
  file.set_attribute(group, "rollout", c.rollout);
  file.set_attribute(group, "precision", name_of<Precision>(kPrecisions, c.precision));
  file.set_attribute(group, "layout_across_ranks", std::string(lc.zigzag ? "zigzag" : "contiguous"));
}

// "WHAT: position P is past the sequence (N = n, positions 0..n−1)": a teleport file's, --seeds
// or --per-query's position beyond the input.
std::string past_sequence(const std::string& what, std::uint64_t position, std::int64_t n) {
  return fmt::format("{}: position {} is past the sequence (N = {}, positions 0..{})", what, position, n, n - 1);
}

// The teleport vector for this rank's positions: uniform, or from FILE: text lines
// "position [weight]" (weight 1 when missing; as --personalization of pagerank) or an HDF5
// file whose dataset `teleport` holds N non-negative weights. Normalised to sum 1.
std::vector<double> read_teleport(const std::string& path, const LoadedChain& lc, const Comm& comm) {
  if (path.empty()) return {};
  const auto n = static_cast<std::uint64_t>(lc.problem.n);
  std::vector<double> full(n, 0.0);
  bool hdf5 = false;
  comm.agree([&] {
    require_readable_file(path, "teleport");
    hdf5 = read_head(path, 8) == std::string("\x89HDF\r\n\x1a\n", 8);
    if (!hdf5) return;
    const H5Reader f(path);
    if (!f.exists("teleport"))
      throw_input(path + ": no dataset 'teleport' (an HDF5 teleport file holds one weight per position)");
    const auto info = f.info("teleport");
    if (info.dims.size() != 1 || info.dims[0] != n)
      throw_input(path + ": dataset 'teleport' must be 1-D with one weight per position, N = " + std::to_string(n) +
                  (info.dims.size() == 1 ? ", found " + std::to_string(info.dims[0])
                                         : ", found " + std::to_string(info.dims.size()) + " dimensions"));
    full = f.read_doubles("teleport");
  });
  if (!hdf5) {
    const TextIds records = read_text_ids(path, comm, 2);
    std::vector<IdValue> all = comm.allgatherv<IdValue>(records.records);
    comm.agree([&] {
      for (const IdValue& r : all) {
        if (r.id >= n) throw_input(past_sequence(path, r.id, static_cast<std::int64_t>(n)));
        full[r.id] += records.valued ? r.value : 1.0;
      }
    });
  }
  double sum = 0;
  comm.agree([&] {
    for (std::uint64_t i = 0; i < n; ++i) {
      if (!std::isfinite(full[i]) || full[i] < 0)
        throw_input(path + ": the weight of position " + std::to_string(i) + " is " + std::to_string(full[i]) +
                    ", expected a finite number >= 0");
      sum += full[i];
    }
    if (!(sum > 0)) throw_input(path + ": the teleport weights sum to 0; at least one position needs a positive weight");
  });
  for (double& w : full) w /= sum;
  return full;
}

// `--seeds 5,17:2`: the teleport on these positions (weight 1 each unless given), normalised;
// `what` names the option in errors.
std::vector<double> seeds_teleport(const std::string& list, std::int64_t n, const std::string& what, const Comm& comm) {
  std::vector<double> full(static_cast<std::size_t>(n), 0.0);
  comm.agree([&] {
    const SeedSets set = parse_seed_list(list, what);
    double sum = 0.0;
    for (std::size_t i = 0; i < set.id.size(); ++i) {
      if (set.id[i] >= static_cast<std::uint64_t>(n)) throw_usage(past_sequence(what, set.id[i], n));
      full[set.id[i]] += set.weight[i];
      sum += set.weight[i];
    }
    for (double& w : full) w /= sum;
  });
  return full;
}

// Personalized TokenRank per query: how many chains advance together (one DGEMM of that many
// rows per tile), and the largest N that `--per-query all` takes (the N×N influence matrix:
// 4096² × 8 bytes = 128 MiB written, N/64 blocks of solves after one LSE pass).
constexpr std::size_t kPerQueryBlock = 64;
constexpr std::int64_t kPerQueryAllLimit = 4096;

std::string solver_name(TokenRankSolver s) { return name_of<TokenRankSolver>(kTokenRankSolvers, s); }

class TokenRankCommand final : public Command {
 public:
  explicit TokenRankCommand(CLI::App& parent)
      : Command(parent, {"tokenrank"}, "TokenRank: the PageRank of the attention graph of q, k, without building it") {
    OptionSet& o = options();
    add_chain_options(o, c_);
    o.add("-o,--output", output_, "HDF5 file to write (/tokenrank/score, mean_score, residual, top_position, top_score)");
    o.add_flag("--overwrite", overwrite_, "replace an existing output file");
    o.add("--damping", damping_, "damping factor alpha in [0, 1]")->check(CLI::Range(0.0, 1.0));
    o.add("--tolerance", tolerance_, "stop when every chain's L1 change is below this")->check(CLI::PositiveNumber);
    o.add("--max-iterations", max_iterations_, "iteration limit of the power method")->check(CLI::PositiveNumber);
    o.add("--teleport", teleport_,
          "teleport vector: text 'position [weight]' lines, or HDF5 with dataset 'teleport' [N] (default uniform)");
    o.add("--seeds", seeds_,
          "teleport on these positions, comma-separated, each optionally position:weight (instead of --teleport)");
    o.add("--per-query", per_query_,
          "personalized TokenRank, one chain per query position: a comma-separated list, or all (every position, N up to "
          "4096: the influence matrix (1 - alpha)(I - alpha A)^-1). Each chain is the mean chain with the teleport on its "
          "query; they advance together, 64 at a time, each tile's exponentials computed once for all. Writes "
          "/tokenrank/personalized [k, N] and /tokenrank/personalized_query [k]");
    o.add_choice("--solver", solver_, ChoiceTable<TokenRankSolver>(kTokenRankSolvers),
                 "auto (triangular for a causal single layer, else power), power, triangular");
    o.add("--top-k", top_k_, "positions listed in /tokenrank/top_position (by the mean chain)")->check(CLI::NonNegativeNumber);
    o.add("--log-json", log_json_, "also write one JSON record per event to this file");
    o.add_flag("--verify", verify_,
               "after the solve, take one true step from the result and fail if it moves more than 10 x the tolerance");
    o.add_flag("-q,--quiet", quiet_, "print only the summary, not every phase and iteration (as pagerank -q)");
  }

  // load → solve (→ verify) → write → report.
  void run(const RunContext& context, const Comm& comm) override {
    apply_threads(c_.s.threads, comm);
    comm.agree([&] {
      if (!seeds_.empty() && !teleport_.empty()) throw_usage("give --seeds or --teleport, not both");
      if (!per_query_.empty() && (!seeds_.empty() || !teleport_.empty()))
        throw_usage("--per-query puts each chain's teleport on its query; --seeds and --teleport do not apply");
      if (!per_query_.empty() && verify_) throw_usage("--verify is for the global chains, not --per-query");
    });
    const std::vector<std::string> inputs{c_.s.input, teleport_, options().config_path()};
    AtomicOutput output(output_, overwrite_, comm, inputs, {log_json_});
    check_output_path("--log-json", log_json_, overwrite_, inputs, {output_}, comm);
    Reporter report(quiet_, log_json_, comm, overwrite_);
    const Stopwatch total;
    check_score_options(options(), c_.s, comm);
    apply_input_attributes(options(), c_.s, comm);
    LoadedChain lc = load_chain(options(), c_, comm);
    if (!per_query_.empty()) return run_per_query(context, lc, output, report, total, comm);
    const std::vector<double> teleport_full =
        !seeds_.empty() ? seeds_teleport(seeds_, lc.problem.n, "--seeds", comm) : read_teleport(teleport_, lc, comm);
    std::vector<double> teleport;  // this rank's positions
    if (!teleport_full.empty())
      for (GlobalId pos : lc.positions) teleport.push_back(teleport_full[pos]);
    lc.problem.teleport = teleport;
    report.phase("load", lc.seconds,
                 fmt::format("{{\"n\": {}, \"heads\": {}, \"layers\": {}}}", lc.qs.seq, lc.qs.heads, lc.layer_names.size()));
    const TokenRankParams p = params();
    const TokenRankResult res = solve(lc, p, report, comm);
    const std::vector<ScoredVertex> top = top_k(res.mean_score, lc.positions, static_cast<std::size_t>(top_k_), comm);
    const Baselines base = baselines(lc, p, res, teleport_full, comm);
    report.phase("baselines", base.seconds, fmt::format("{{\"null\": {}}}", base.null_score.empty() ? "false" : "true"));
    double write_s = 0;
    if (output.enabled()) {
      const Stopwatch watch;
      H5Writer file(output.temp_path(), comm);
      write_tokenrank_result(file, {p, res, lc.qs.seq, lc.qs.heads, lc.problem.segments, top, solver_name(res.solver),
                                    !seeds_.empty()     ? "seeds " + seeds_
                                    : teleport_.empty() ? std::string("uniform")
                                                        : teleport_,
                                    lc.tokens, &base.column_sum, lc.layer_names.size() > 1 ? &base.rollout : nullptr,
                                    base.null_score, base.relative_score, base.mean_relative_score,
                                    [&](H5Writer& f, const std::string& group) { write_chain_attributes(f, group, c_, lc, p); }});
      write_s = watch.seconds();
      write_provenance(file,
                       provenance_of(context, {{"load_s", lc.seconds},
                                               {"lse_s", res.lse_seconds},
                                               {"solve_s", res.solve_seconds},
                                               {"baselines_s", base.seconds},
                                               {"write_s", write_s}}),
                       comm);
      file.close();
      output.commit();
    }
    summarize(lc, res, top, base, output, total.seconds(), report, comm);
  }

 private:
  // --per-query: the query positions (every rank), checked against N.
  std::vector<std::int64_t> query_positions(std::int64_t n, const Comm& comm) const {
    std::vector<std::int64_t> out;
    comm.agree([&] {
      if (per_query_ == "all") {
        if (n > kPerQueryAllLimit)
          throw_usage(
              fmt::format("--per-query all ranks from every position: N up to {}, and this input has N = {}; list the "
                          "query positions you need",
                          kPerQueryAllLimit, n));
        out.resize(static_cast<std::size_t>(n));
        std::iota(out.begin(), out.end(), std::int64_t{0});
        return;
      }
      const SeedSets list = parse_seed_list(per_query_, "--per-query");
      for (std::size_t i = 0; i < list.id.size(); ++i) {
        if (list.weight[i] != 1.0 || list.text[0].find(':') != std::string::npos)
          throw_usage("--per-query: expected query positions, without weights (a chain's teleport is its query)");
        if (list.id[i] >= static_cast<std::uint64_t>(n)) throw_usage(past_sequence("--per-query", list.id[i], n));
        out.push_back(static_cast<std::int64_t>(list.id[i]));
      }
    });
    return out;
  }

  // --per-query, once the chain is loaded: blocks of personalized chains
  // (tokenrank_personalized), each block written as it finishes → provenance. The file holds
  // /tokenrank/personalized [k, N], the query of each row, their words when the input has
  // them, and the chain's attributes.
  void run_per_query(const RunContext& context, const LoadedChain& lc, AtomicOutput& output, Reporter& report,
                     const Stopwatch& total, const Comm& comm) {
    const std::vector<std::int64_t> queries = query_positions(lc.problem.n, comm);
    report.phase("load", lc.seconds,
                 fmt::format("{{\"n\": {}, \"heads\": {}, \"layers\": {}, \"queries\": {}}}", lc.qs.seq, lc.qs.heads,
                             lc.layer_names.size(), queries.size()));
    const TokenRankParams p = params();
    const auto k = static_cast<std::uint64_t>(queries.size()), n = static_cast<std::uint64_t>(lc.problem.n);
    std::optional<H5Writer> file;
    if (output.enabled()) {
      file.emplace(output.temp_path(), comm);
      file->create_group("/tokenrank");
      file->create_matrix<double>("/tokenrank/personalized", k, n);
    }
    std::vector<double> history;
    double lse_s = 0, solve_s = 0, write_s = 0;
    int iterations = 0;
    bool converged = true;
    TokenRankSolver used = TokenRankSolver::power;
    std::vector<std::vector<ScoredVertex>> first_top;
    const std::size_t rows = lc.positions.size();
    // Each block's teleports: the one-hot vector of its queries, on this rank's positions.
    const auto teleports = [&](std::size_t first, std::size_t count) {
      std::vector<std::vector<double>> t(count, std::vector<double>(rows, 0.0));
      for (std::size_t v = 0; v < count; ++v)
        for (std::size_t i = 0; i < rows; ++i)
          if (static_cast<std::int64_t>(lc.positions[i]) == queries[first + v]) t[v][i] = 1.0;
      return t;
    };
    // Each block's result: checked, reported, written as it finishes.
    const auto on_block = [&](std::size_t first, const TokenRankResult& res) {
      const std::size_t count = std::min(kPerQueryBlock, queries.size() - first);
      require_finite(res, p, comm);
      solve_s += res.solve_seconds;
      iterations = std::max(iterations, res.iterations);
      converged = converged && res.converged;
      used = res.solver;
      history.insert(history.end(), res.residual.begin(), res.residual.end());
      report.event("personalized_block", fmt::format("{{\"first\": {}, \"queries\": {}, \"iterations\": {}, \"solve_s\": {}}}",
                                                     first, count, res.iterations, res.solve_seconds));
      for (std::size_t v = 0; v < count && first + v < 5; ++v)
        first_top.push_back(top_k(std::span<const double>(res.score).subspan(v * rows, rows), lc.positions, 5, comm));
      if (!file) return;
      const Stopwatch watch;
      std::vector<std::vector<std::uint64_t>> starts, counts;
      for (const Segment& run : lc.problem.segments) {
        starts.push_back({first, static_cast<std::uint64_t>(run.begin)});
        counts.push_back({count, static_cast<std::uint64_t>(run.count)});
      }
      file->write_matrix_blocks<double>("/tokenrank/personalized", starts, counts, res.score);
      write_s += watch.seconds();
    };
    lse_s = tokenrank_personalized(lc.problem, queries.size(), kPerQueryBlock, teleports, on_block, p, comm,
                                   [&](const IterationReport& r) {
                                     if (!quiet_) report.iteration(r, p.tolerance, 0);
                                   });
    if (file) {
      const Stopwatch watch;
      H5Writer& f = *file;
      f.write_replicated<std::int64_t>("/tokenrank/personalized_query", queries);
      f.write_replicated<double>("/tokenrank/residual", history);
      if (!lc.tokens.empty()) {
        f.write_strings("/tokens", std::vector<std::string>(lc.tokens.begin(), lc.tokens.end()));
        std::vector<std::string> words;
        for (const std::int64_t q : queries) words.push_back(lc.tokens[static_cast<std::size_t>(q)]);
        f.write_strings("/tokenrank/personalized_query_token", words);
      }
      const std::string group = "/tokenrank";
      f.set_attribute(group, "personalized", true);
      f.set_attribute(group, "per_query", per_query_);
      f.set_attribute(group, "chain", "mean");
      f.set_attribute(group, "damping", p.damping);
      f.set_attribute(group, "tolerance", p.tolerance);
      f.set_attribute(group, "iterations", static_cast<std::int64_t>(iterations));
      f.set_attribute(group, "converged", converged);
      f.set_attribute(group, "solver", solver_name(solver_));
      f.set_attribute(group, "solver_used", solver_name(used));
      f.set_attribute(group, "block_queries", static_cast<std::uint64_t>(kPerQueryBlock));
      write_chain_attributes(f, group, c_, lc, p);
      write_s += watch.seconds();
      write_provenance(
          f, provenance_of(context, {{"load_s", lc.seconds}, {"lse_s", lse_s}, {"solve_s", solve_s}, {"write_s", write_s}}),
          comm);
      f.close();
      output.commit();
    }
    report.event("done", fmt::format("{{\"queries\": {}, \"iterations\": {}, \"converged\": {}, \"solver\": \"{}\", "
                                     "\"output\": {}}}",
                                     k, iterations, converged, solver_name(used), json_quote(output.path())));
    if (!comm.is_root()) return;
    fmt::print(
        "perron tokenrank --per-query: N {}, {} queries of the mean chain ({} heads, {} layer{}) on {} ranks: {} solver, {} "
        "({} iterations at most), LSE {:.3f} s, solve {:.3f} s, total {:.3f} s\n",
        n, k, lc.qs.heads, lc.layer_names.size(), lc.layer_names.size() > 1 ? "s" : "", comm.size(), solver_name(used),
        converged ? "converged" : "NOT converged", iterations, lse_s, solve_s, total.seconds());
    for (std::size_t v = 0; v < first_top.size(); ++v) {
      fmt::print("  query {}{}:", queries[v],
                 lc.tokens.empty() ? std::string() : " " + json_quote(lc.tokens[static_cast<std::size_t>(queries[v])]));
      for (const ScoredVertex& t : first_top[v])
        fmt::print(" {}{} ({:.4g})", t.id, lc.tokens.empty() ? std::string() : " " + json_quote(lc.tokens[t.id]), t.score);
      fmt::print("\n");
    }
    if (output.enabled()) fmt::print("wrote {} (write {:.3f} s)\n", output.path(), write_s);
  }

  // Finite inputs can still overflow: q·k beyond the range of the score type gives ∞ − ∞ in
  // the softmax; refused on every rank.
  void require_finite(const TokenRankResult& res, const TokenRankParams& p, const Comm& comm) const {
    const bool finite = std::all_of(res.score.begin(), res.score.end(), [](double v) { return std::isfinite(v); }) &&
                        std::all_of(res.mean_score.begin(), res.mean_score.end(), [](double v) { return std::isfinite(v); });
    comm.agree([&] {
      if (!finite)
        throw_input(c_.s.input + ": the attention scores overflow (q and k so large that q·k exceeds the range of " +
                    std::string(p.precision == Precision::double_precision ? "float64" : "float32") +
                    "), so TokenRank is undefined; scale the inputs down" +
                    (p.precision == Precision::double_precision ? std::string() : std::string(" or use --precision double")));
    });
  }

  // The baselines beside the scores: the column sums (one step of the chain from uniform,
  // tokenrank_one_step), for several layers the rollout, and the positional null with the
  // scores relative to it (tokenrank_null; with an explicit --mask the null would need the
  // mask's every row: not computed).
  struct Baselines {
    TokenRankResult column_sum, rollout;      // score [heads][rows], mean_score [rows]
    std::vector<double> null_score;           // [N], every rank
    std::vector<double> relative_score;       // [heads][rows]
    std::vector<double> mean_relative_score;  // [rows]
    std::vector<ScoredVertex> top_relative;   // of the mean chain
    double seconds = 0.0;
  };
  Baselines baselines(const LoadedChain& lc, const TokenRankParams& p, const TokenRankResult& res,
                      std::span<const double> teleport_full, const Comm& comm) const {
    const Stopwatch watch;
    Baselines b;
    TokenRankParams one = p;
    one.verify = false;
    b.column_sum = tokenrank_one_step(lc.problem, one, comm);
    if (lc.layer_names.size() > 1) {
      one.rollout = true;
      b.rollout = tokenrank_one_step(lc.problem, one, comm);
    }
    b.seconds = watch.seconds();
    if (!c_.s.mask.empty()) return b;
    b.null_score = tokenrank_null(lc.problem.n, static_cast<int>(lc.layer_names.size()), p, teleport_full);
    std::vector<double> null_rows;
    for (GlobalId pos : lc.positions) null_rows.push_back(b.null_score[pos]);
    const std::size_t rows = lc.positions.size();
    for (std::size_t h = 0; h < lc.qs.heads; ++h) {
      const std::vector<double> r = relative_to_null(std::span<const double>(res.score).subspan(h * rows, rows), null_rows, comm);
      b.relative_score.insert(b.relative_score.end(), r.begin(), r.end());
    }
    b.mean_relative_score = relative_to_null(res.mean_score, null_rows, comm);
    b.top_relative = top_k(b.mean_relative_score, lc.positions, static_cast<std::size_t>(top_k_), comm);
    b.seconds = watch.seconds();
    return b;
  }

  TokenRankParams params() const {
    TokenRankParams p = chain_params(c_);
    p.damping = damping_, p.tolerance = tolerance_, p.max_iterations = max_iterations_;
    p.solver = solver_;
    p.verify = verify_;
    return p;
  }

  // The solve, refused when the scores overflowed, and with --verify the verifier's step:
  // more than 10 x the tolerance away fails the run (no result is written).
  TokenRankResult solve(const LoadedChain& lc, const TokenRankParams& p, Reporter& report, const Comm& comm) const {
    TokenRankResult res = tokenrank(lc.problem, p, comm, [&](const IterationReport& r) { report.iteration(r, p.tolerance, 0); });
    require_finite(res, p, comm);
    report.phase("lse", res.lse_seconds);
    report.phase("solve", res.solve_seconds,
                 fmt::format("{{\"solver\": \"{}\", \"iterations\": {}}}", solver_name(res.solver), res.iterations));
    if (!p.verify) return res;
    report.phase("verify", res.verify_seconds, fmt::format("{{\"residual\": {}}}", res.verify_residual));
    if (comm.is_root() && !quiet_)
      fmt::print("verify: one true step moves the result by {:.3e} in L1 (tolerance {:.1e})\n", res.verify_residual, p.tolerance);
    comm.agree([&] {
      if (!(res.verify_residual <= 10.0 * p.tolerance))
        throw Error(ErrorKind::verification,
                    fmt::format("--verify: one true step moves the result by {:.3e} in L1, more than 10 x the tolerance {:.1e}{}",
                                res.verify_residual, p.tolerance,
                                !res.converged ? " (the solve did not converge: raise --max-iterations)"
                                : p.precision == Precision::single
                                    ? " (single precision rounds the scores to float32, to about 1e-7; use --precision double)"
                                    : ""));
    });
    return res;
  }

  void summarize(const LoadedChain& lc, const TokenRankResult& res, const std::vector<ScoredVertex>& top, const Baselines& base,
                 const AtomicOutput& output, double total_seconds, Reporter& report, const Comm& comm) const {
    // The top positions, with their words when the input has them.
    std::string top_json = "[";
    for (std::size_t i = 0; i < std::min<std::size_t>(top.size(), 10); ++i)
      top_json +=
          fmt::format("{}{{\"position\": {}, {}\"score\": {}}}", i ? ", " : "", top[i].id,
                      lc.tokens.empty() ? std::string() : "\"token\": " + json_quote(lc.tokens[top[i].id]) + ", ", top[i].score);
    report.event("done",
                 fmt::format("{{\"iterations\": {}, \"converged\": {}, \"solver\": \"{}\", \"output\": {}, \"top\": {}]}}",
                             res.iterations, res.converged, solver_name(res.solver), json_quote(output.path()), top_json));
    if (!comm.is_root()) return;  // -q keeps the summary, as pagerank -q does
    fmt::print(
        "perron tokenrank: N {}, {} query heads, {} layer{} on {} ranks: {} solver, {} ({} iterations{}), "
        "LSE pass {:.3f} s, solve {:.3f} s, total {:.3f} s\n",
        lc.qs.seq, lc.qs.heads, lc.layer_names.size(), lc.layer_names.size() > 1 ? "s" : "", comm.size(), solver_name(res.solver),
        res.converged ? "converged" : "NOT converged", res.iterations,
        res.residual.empty() ? std::string() : fmt::format(", last residual {:.2e}", res.residual.back()), res.lse_seconds,
        res.solve_seconds, total_seconds);
    if (!res.note.empty()) fmt::print("note: {}\n", res.note);
    auto print_top = [&](const char* what, const std::vector<ScoredVertex>& list) {
      fmt::print("{}:", what);
      for (std::size_t i = 0; i < std::min<std::size_t>(list.size(), 10); ++i)
        fmt::print(" {}{} ({:.4g})", list[i].id, lc.tokens.empty() ? std::string() : " " + json_quote(lc.tokens[list[i].id]),
                   list[i].score);
      fmt::print("\n");
    };
    print_top("top positions (mean chain)", top);
    if (!base.top_relative.empty()) print_top("top positions by score / positional null", base.top_relative);
    if (output.enabled()) fmt::print("wrote {}\n", output.path());
  }

  ChainConfig c_;
  std::string output_, teleport_, seeds_, per_query_, log_json_;
  TokenRankSolver solver_ = TokenRankSolver::automatic;
  bool overwrite_ = false, quiet_ = false, verify_ = false;
  double damping_ = 0.85, tolerance_ = 1e-10;
  int max_iterations_ = 1000;
  int top_k_ = 10;
};

class AttentionGraphCommand final : public Command {
 public:
  explicit AttentionGraphCommand(CLI::App& parent)
      : Command(parent, {"attention-graph"},
                "The strongest attention edges of every query as an HDF5 edge list (for perron pagerank)") {
    OptionSet& o = options();
    add_chain_options(o, c_);
    o.add_required("-o,--output", output_, "HDF5 edge list to write (src, dst, weight = A_ij, vertices)");
    o.add_flag("--overwrite", overwrite_, "replace an existing output file");
    o.add_required("--top-k", top_k_,
                   "edges kept per query, the strongest first (N or more: every edge, the full attention graph)");
    o.add("--head", head_, "query head whose A to export (-1: the mean (1/H) sum_h A_h)");
    o.add("--layer", layer_, "layer whose A to export")->check(CLI::NonNegativeNumber);
    o.add("--group", group_, "group of the output file that holds the edge list");
    o.add_flag("-q,--quiet", quiet_, "print nothing but errors");
  }

  void run(const RunContext& context, const Comm& comm) override {
    apply_threads(c_.s.threads, comm);
    AtomicOutput output(output_, overwrite_, comm, {c_.s.input, options().config_path()});
    const Stopwatch watch;
    comm.agree([&] {
      if (head_ < -1) throw_usage("--head must be a query head >= 0, or -1 for the mean of all heads");
      // The rollout chain is a product of layers' matrices: dense, N^2 edges, never built here.
      if (c_.rollout)
        throw_usage(
            "attention-graph exports one layer's attention A (--layer L); --rollout ranks the product of the layers' "
            "(A + I)/2, which has N^2 edges: rank it with perron tokenrank --rollout instead");
    });
    check_score_options(options(), c_.s, comm);
    apply_input_attributes(options(), c_.s, comm);
    const LoadedChain lc = load_chain(options(), c_, comm);
    const TokenRankParams p = chain_params(c_);
    const AttentionEdges edges = attention_top_k(lc.problem, static_cast<std::size_t>(layer_), p, head_, top_k_, comm);
    const double compute_s = watch.seconds() - lc.seconds;
    EdgeShare share;
    share.edges.reserve(edges.src.size());
    for (std::size_t e = 0; e < edges.src.size(); ++e) share.edges.push_back({edges.src[e], edges.dst[e], edges.weight[e]});
    share.declared = lc.positions;  // every token is a vertex, attended to or not
    share.weighted = true;
    share.endpoints_must_be_declared = true;
    H5Writer file(output.temp_path(), comm);
    write_hdf5_edges(file, group_, share, "attention-graph", comm);
    std::string g = group_.empty() ? "/" : group_;
    if (g[0] != '/') g = "/" + g;
    write_chain_attributes(file, g, c_, lc, p);
    file.set_attribute(g, "top_k", static_cast<std::int64_t>(top_k_));
    file.set_attribute(g, "head", static_cast<std::int64_t>(head_));
    file.set_attribute(g, "layer", static_cast<std::int64_t>(layer_));
    write_provenance(
        file,
        provenance_of(context,
                      {{"load_s", lc.seconds}, {"compute_s", compute_s}, {"write_s", watch.seconds() - lc.seconds - compute_s}}),
        comm);
    file.close();
    output.commit();
    const std::uint64_t m = comm.allreduce<std::uint64_t>(share.edges.size(), ReduceOp::sum);
    if (comm.is_root() && !quiet_)
      fmt::print("wrote {}: {} edges over {} tokens ({} per query, {}), {:.3f} s\n", output_, m, lc.qs.seq, top_k_,
                 head_ < 0 ? std::string("mean of the heads") : "head " + std::to_string(head_), watch.seconds());
  }

 private:
  ChainConfig c_;
  std::string output_, group_ = "/";
  bool overwrite_ = false, quiet_ = false;
  std::int64_t top_k_ = 0;
  int head_ = -1, layer_ = 0;
};

}  // namespace

std::unique_ptr<Command> make_tokenrank_command(CLI::App& parent) { return std::make_unique<TokenRankCommand>(parent); }
std::unique_ptr<Command> make_attention_graph_command(CLI::App& parent) {
  return std::make_unique<AttentionGraphCommand>(parent);
}

}  // namespace perron
