#include "result_files.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "choices.hpp"
#include "output.hpp"
#include "perron/core/error.hpp"
#include "perron/core/range.hpp"
#include "perron/io/text_records.hpp"

namespace perron {

void write_graph_statistics(H5Writer& file, const std::string& group, const DistGraph& g) {
  file.set_attribute(group, "n", g.stats.n);
  file.set_attribute(group, "m", g.stats.m);
  file.set_attribute(group, "dangling", g.stats.dangling);
  file.set_attribute(group, "self_loops", g.stats.self_loops);
  file.set_attribute(group, "duplicates_collapsed", g.stats.duplicates);
  file.set_attribute(group, "weighted", g.weighted);
  // How the halo travelled (--halo): direct or two-level.
  file.set_attribute(group, "halo_routing", name_of<HaloRouting>(kHaloRoutings, g.halo.routing()));
}

void write_pagerank_result(H5Writer& file, const PageRankRecord& r, const Comm& comm) {
  const DistGraph& g = r.graph;
  const std::string group = "/pagerank";
  file.create_group(group);
  file.write_distributed<double>("/pagerank/score", r.result.score, g.first, g.stats.n);
  const std::vector<VertexId> slice = g.ids.slice_ids();
  file.write_distributed<VertexId>("/pagerank/vertex_id", slice, g.ids.slice_begin(), g.stats.n);
  file.write_replicated<double>("/pagerank/residual", r.result.residual);
  file.write_replicated<VertexId>("/pagerank/top_vertex_id", r.top_id);
  file.write_replicated<double>("/pagerank/top_score", r.top_score);
  file.set_attribute(group, "damping", r.params.damping);
  file.set_attribute(group, "tolerance", r.params.tolerance);
  file.set_attribute(group, "iterations", static_cast<std::int64_t>(r.result.iterations));
  file.set_attribute(group, "max_iterations", static_cast<std::int64_t>(r.params.max_iterations));
  file.set_attribute(group, "fixed_iterations", static_cast<std::int64_t>(r.params.fixed_iterations));
  file.set_attribute(group, "converged", r.result.converged);
  file.set_attribute(group, "solver", r.solver);
  // The solver that ran (auto names cg, bicgstab or power).
  file.set_attribute(group, "solver_used", name_of<PageRankSolver>(kPageRankSolvers, r.result.solver));
  // Solver auto by cost: the power step after which cg or bicgstab took over (0: no switch).
  file.set_attribute(group, "solver_switched_after", static_cast<std::int64_t>(r.result.solver_switched_after));
  file.set_attribute(group, "kernel", r.kernel);
  // What ran on rank 0 (auto decides per rank, from the size of its part of the vector).
  file.set_attribute(group, "kernel_used", name_of<PageRankKernel>(kPageRankKernels, r.result.kernel));
  // Kernel auto by cost: the step after which the blocked layout took over (0: no switch).
  file.set_attribute(group, "kernel_switched_after", static_cast<std::int64_t>(r.result.kernel_switched_after));
  write_graph_statistics(file, group, g);
  file.set_attribute(group, "personalized", r.personalized);
  file.set_attribute(group, "dangling_vector", r.dangling_vector);
  file.set_attribute(group, "convention", r.convention);
  file.set_attribute(group, "input_format", r.input_format);
  file.set_attribute(group, "mass_error", r.result.mass_error);
  file.set_attribute(group, "eliminated", r.result.eliminated);
  file.set_attribute(group, "halo_bytes_per_iteration", comm.allreduce(r.result.halo_bytes_sent_per_iteration, ReduceOp::sum));
  file.set_attribute(group, "halo_messages_per_iteration", comm.allreduce(r.result.halo_messages_per_iteration, ReduceOp::sum));
  file.set_attribute(group, "iterating_rss_bytes_sum", comm.allreduce(r.iterating_rss, ReduceOp::sum));
  file.set_attribute(group, "iterating_rss_bytes_max_rank", comm.allreduce(r.iterating_rss, ReduceOp::max));
  if (r.verify_residual >= 0) file.set_attribute(group, "verify_residual", r.verify_residual);
  file.set_attribute(group, "initial", r.initial);
  if (!r.initial.empty()) {
    file.set_attribute(group, "initial_ids_ignored", r.initial_ignored);
    file.set_attribute(group, "initial_new_vertices", r.initial_new_vertices);
  }
}

void write_attention_result(H5Writer& file, const AttentionRecord& r) {
  const std::string group = "/attention";
  file.create_group(group);
  // Each rank writes its runs of positions: one block per run, in one collective write.
  using Dims = std::vector<std::uint64_t>;
  const bool bt = r.batched;
  const Dims od = bt ? Dims{r.batch, r.heads, r.query_length, r.value_dim} : Dims{r.heads, r.query_length, r.value_dim};
  const Dims ld = bt ? Dims{r.batch, r.heads, r.query_length} : Dims{r.heads, r.query_length};
  std::vector<Dims> os, oc, ls, lc;
  for (const Segment& run : r.runs) {
    const auto first = static_cast<std::uint64_t>(run.begin), n = static_cast<std::uint64_t>(run.count);
    os.push_back(bt ? Dims{0, 0, first, 0} : Dims{0, first, 0});
    oc.push_back(bt ? Dims{r.batch, r.heads, n, r.value_dim} : Dims{r.heads, n, r.value_dim});
    ls.push_back(bt ? Dims{0, 0, first} : Dims{0, first});
    lc.push_back(bt ? Dims{r.batch, r.heads, n} : Dims{r.heads, n});
  }
  file.write_blocks<float>("/attention/out", od, os, oc, r.out);
  file.write_blocks<float>("/attention/lse", ld, ls, lc, r.lse);
  file.set_attribute(group, "layout_across_ranks", std::string(r.zigzag ? "zigzag" : "contiguous"));
  file.set_attribute(group, "scale", r.scale);
  file.set_attribute(group, "softcap", r.softcap);
  file.set_attribute(group, "causal", r.causal);
  file.set_attribute(group, "window", r.window);
  file.set_attribute(group, "mask", r.mask);
  file.set_attribute(group, "kernel", r.kernel);
  file.set_attribute(group, "kernel_used", r.kernel_used);
  file.set_attribute(group, "query_heads", r.heads);
  file.set_attribute(group, "kv_heads", r.kv_heads);
  file.set_attribute(group, "query_length", r.query_length);
  file.set_attribute(group, "key_length", r.key_length);
  file.set_attribute(group, "layout", std::string(r.batched ? "[batch, heads, N, d]" : "[heads, N, d]"));
}

void write_tokenrank_result(H5Writer& file, const TokenRankRecord& r) {
  const std::string group = "/tokenrank";
  file.create_group(group);
  using Dims = std::vector<std::uint64_t>;
  std::vector<Dims> ss, sc, ms, mc;
  for (const Segment& run : r.runs) {
    const auto first = static_cast<std::uint64_t>(run.begin), cnt = static_cast<std::uint64_t>(run.count);
    ss.push_back({0, first}), sc.push_back({r.heads, cnt});
    ms.push_back({first}), mc.push_back({cnt});
  }
  file.write_blocks<double>("/tokenrank/score", {r.heads, r.n}, ss, sc, r.result.score);
  file.write_blocks<double>("/tokenrank/mean_score", {r.n}, ms, mc, r.result.mean_score);
  file.write_replicated<double>("/tokenrank/residual", r.result.residual);
  if (r.column_sum) {  // the attention each position receives, one step of the chain from uniform
    file.write_blocks<double>("/tokenrank/column_sum", {r.heads, r.n}, ss, sc, r.column_sum->score);
    file.write_blocks<double>("/tokenrank/mean_column_sum", {r.n}, ms, mc, r.column_sum->mean_score);
  }
  if (r.rollout) {  // the mean over query rows of the rollout product
    file.write_blocks<double>("/tokenrank/rollout", {r.heads, r.n}, ss, sc, r.rollout->score);
    file.write_blocks<double>("/tokenrank/mean_rollout", {r.n}, ms, mc, r.rollout->mean_score);
  }
  if (!r.null_score.empty()) {  // the positional null and the scores against it
    file.write_replicated<double>("/tokenrank/null_score", r.null_score);
    file.write_blocks<double>("/tokenrank/relative_score", {r.heads, r.n}, ss, sc, r.relative_score);
    file.write_blocks<double>("/tokenrank/mean_relative_score", {r.n}, ms, mc, r.mean_relative_score);
  }
  std::vector<std::uint64_t> top_pos;
  std::vector<double> top_score;
  for (const ScoredVertex& v : r.top) top_pos.push_back(v.id), top_score.push_back(v.score);
  file.write_replicated<std::uint64_t>("/tokenrank/top_position", top_pos);
  file.write_replicated<double>("/tokenrank/top_score", top_score);
  if (!r.tokens.empty()) {  // the words: all of them, and those of the top positions
    file.write_strings("/tokens", std::vector<std::string>(r.tokens.begin(), r.tokens.end()));
    std::vector<std::string> top_token;
    for (const std::uint64_t p : top_pos) top_token.push_back(r.tokens[p]);
    file.write_strings("/tokenrank/top_token", top_token);
  }
  file.set_attribute(group, "damping", r.params.damping);
  file.set_attribute(group, "tolerance", r.params.tolerance);
  file.set_attribute(group, "iterations", static_cast<std::int64_t>(r.result.iterations));
  file.set_attribute(group, "max_iterations", static_cast<std::int64_t>(r.params.max_iterations));
  file.set_attribute(group, "converged", r.result.converged);
  file.set_attribute(group, "solver", r.solver);
  file.set_attribute(group, "note", r.result.note);
  file.set_attribute(group, "teleport", r.teleport);
  if (r.result.verify_residual >= 0) file.set_attribute(group, "verify_residual", r.result.verify_residual);
  r.chain_attributes(file, group);
}

std::string result_group(ResultKind kind) {
  switch (kind) {
    case ResultKind::pagerank:
      return "pagerank";
    case ResultKind::tokenrank:
      return "tokenrank";
    case ResultKind::graph:
      return "graph";
    case ResultKind::attention:
      return "attention";
    case ResultKind::edges:
      return "";
    case ResultKind::checkpoint:
      break;
  }
  return "checkpoint";
}

ResultKind result_kind(const H5Reader& file, const std::string& path) {
  for (ResultKind kind :
       {ResultKind::pagerank, ResultKind::tokenrank, ResultKind::checkpoint, ResultKind::graph, ResultKind::attention}) {
    std::string group = "/";  // appended, not "/" + ...: GCC 12 warns falsely (-Wrestrict) on that
    group += result_group(kind);
    if (file.exists(group)) return kind;
  }
  if (file.exists("/src") && file.exists("/dst")) return ResultKind::edges;
  throw_input(path +
              " holds no perron result (no /pagerank, /tokenrank, /attention, /checkpoint or /graph group, nor an edge "
              "list's /src and /dst)");
}

TopList read_top(const H5Reader& file, ResultKind kind) {
  if (file.exists("/pagerank/seed_set") || file.exists("/tokenrank/personalized_query")) return {{}, {}, "vertex_id", {}};
  switch (kind) {
    case ResultKind::pagerank:
      return {file.read_uint64("/pagerank/top_vertex_id"), file.read_doubles("/pagerank/top_score"), "vertex_id", {}};
    case ResultKind::tokenrank:
      return {
          file.read_uint64("/tokenrank/top_position"), file.read_doubles("/tokenrank/top_score"), "position",
          file.exists("/tokenrank/top_token") ? file.read_strings("/tokenrank/top_token").values : std::vector<std::string>{}};
    case ResultKind::checkpoint:
    case ResultKind::graph:
    case ResultKind::attention:
    case ResultKind::edges:
      break;
  }
  return {{}, {}, "vertex_id", {}};
}

PersonalizedTops read_personalized_tops(const H5Reader& file, ResultKind kind, std::size_t vectors, std::size_t k) {
  PersonalizedTops out;
  const bool pagerank = kind == ResultKind::pagerank && file.exists("/pagerank/seed_set");
  const bool tokenrank = kind == ResultKind::tokenrank && file.exists("/tokenrank/personalized_query");
  if (!pagerank && !tokenrank) return out;
  std::vector<std::string> tokens =
      tokenrank && file.exists("/tokens") ? file.read_strings("/tokens").values : std::vector<std::string>{};
  std::vector<std::uint64_t> ids;  // the matrix's columns: vertex ids, or positions
  if (pagerank) {
    out.label = file.read_strings("/pagerank/seed_set").values;
    ids = file.read_uint64("/pagerank/vertex_id");
  } else {
    for (const std::uint64_t q : file.read_uint64("/tokenrank/personalized_query"))
      out.label.push_back(tokens.empty() ? fmt::format("query {}", q) : fmt::format("query {} {}", q, json_quote(tokens[q])));
  }
  out.vectors = out.label.size();
  const std::string group = pagerank ? "/pagerank" : "/tokenrank";
  const bool top_only = !file.exists(group + "/personalized");
  const std::uint64_t n = top_only ? 0 : file.info(group + "/personalized").dims.at(1);
  if (tokenrank)
    for (std::uint64_t i = 0; i < n; ++i) ids.push_back(i);
  const std::vector<std::uint64_t> top_ids =  // --top-k: the [k, K] table of ids
      top_only ? file.read_uint64_all("/pagerank/personalized_top_vertex_id") : std::vector<std::uint64_t>{};
  for (std::size_t j = 0; j < std::min<std::size_t>(vectors, out.vectors); ++j) {
    TopList t{{}, {}, pagerank ? "vertex_id" : "position", {}};
    if (top_only) {  // pagerank --top-k: [k, K] lists
      const std::uint64_t width = file.info("/pagerank/personalized_top_score").dims.at(1);
      const std::vector<double> score = file.read_double_block("/pagerank/personalized_top_score", {j, 0}, {1, width});
      for (std::uint64_t i = 0; i < std::min<std::uint64_t>(width, k); ++i)
        t.id.push_back(top_ids[j * width + i]), t.score.push_back(score[i]);
    } else {
      const std::vector<double> row = file.read_double_block(group + "/personalized", {j, 0}, {1, n});
      std::vector<std::size_t> order(row.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      const std::size_t take = std::min(k, order.size());
      std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(take), order.end(),
                        [&](std::size_t a, std::size_t b) { return row[a] != row[b] ? row[a] > row[b] : ids[a] < ids[b]; });
      for (std::size_t i = 0; i < take; ++i) t.id.push_back(ids[order[i]]), t.score.push_back(row[order[i]]);
    }
    if (!tokens.empty())
      for (const std::uint64_t p : t.id) t.token.push_back(tokens[p]);
    out.top.push_back(std::move(t));
  }
  return out;
}

void require_pagerank_result(const H5Reader& file, const std::string& path) {
  const std::pair<const char*, const char*> others[] = {{"/attention", "an attention result"},
                                                        {"/tokenrank", "a TokenRank result"},
                                                        {"/checkpoint", "a checkpoint (resume it with --restart)"},
                                                        {"/graph", "a prepared graph"}};
  if (!file.exists("/pagerank"))
    for (const auto& [group, what] : others)
      if (file.exists(group))
        throw_input(path + " is " + what + ", not a PageRank result: --initial takes the output of perron pagerank");
  if (!file.exists("/pagerank/score") || !file.exists("/pagerank/vertex_id"))
    throw_input(path + " holds no PageRank result (/pagerank/score and /pagerank/vertex_id): --initial takes the output of " +
                "perron pagerank");
}

RankedScores read_pagerank_slice(const std::string& path, const Comm& comm) {
  RankedScores s;
  comm.agree([&] {
    require_readable_file(path, "PageRank result");
    const H5Reader file(path);
    require_pagerank_result(file, path);
    const std::uint64_t n = file.info("/pagerank/score").dims.empty() ? 0 : file.info("/pagerank/score").dims[0];
    const std::uint64_t ids = file.info("/pagerank/vertex_id").dims.empty() ? 0 : file.info("/pagerank/vertex_id").dims[0];
    if (n != ids)
      throw_input(path + ": /pagerank/vertex_id holds " + std::to_string(ids) + " ids for " + std::to_string(n) +
                  " scores in /pagerank/score");
    const auto P = static_cast<std::uint64_t>(comm.size()), r = static_cast<std::uint64_t>(comm.rank());
    const std::uint64_t first = block_begin(n, r, P), count = block_begin(n, r + 1, P) - first;
    s.id = file.read_slice<std::uint64_t>("/pagerank/vertex_id", first, count);
    s.score = file.read_slice<double>("/pagerank/score", first, count);
    for (std::size_t i = 0; i < s.score.size(); ++i)
      if (!std::isfinite(s.score[i]) || s.score[i] < 0.0)
        throw_input(path + ": /pagerank/score entry " + std::to_string(first + i) + " is " + std::to_string(s.score[i]) +
                    "; a start vector needs finite scores >= 0");
  });
  return s;
}

RankedScores read_ranked_scores(const std::string& path) {
  require_readable_file(path, "result");
  const H5Reader file(path);
  if (file.exists("/tokenrank/mean_score")) {  // TokenRank: the mean chain, by position
    RankedScores s{{}, file.read_doubles("/tokenrank/mean_score"), "position", {}};
    for (std::uint64_t i = 0; i < s.score.size(); ++i) s.id.push_back(i);
    if (file.exists("/tokens")) s.token = file.read_strings("/tokens").values;
    if (!s.token.empty() && s.token.size() != s.score.size())
      throw_input(path + ": /tokens holds " + std::to_string(s.token.size()) + " strings for " + std::to_string(s.score.size()) +
                  " positions");
    return s;
  }
  if (file.exists("/graph"))
    throw_input(path + " is a prepared graph, not a result: diff compares PageRank or TokenRank results (perron inspect " + path +
                " describes the graph)");
  if (file.exists("/pagerank/seed_set") || file.exists("/tokenrank/personalized_query"))
    throw_input(path +
                " holds a batch of personalized vectors (/pagerank/personalized or /tokenrank/personalized): diff "
                "compares single results; perron inspect " +
                path + " lists the batch");
  if (!file.exists("/pagerank/score"))
    throw_input(path + " holds no PageRank or TokenRank result (/pagerank/score, /tokenrank/mean_score)");
  RankedScores s{file.read_uint64("/pagerank/vertex_id"), file.read_doubles("/pagerank/score"), "vertex_id", {}};
  if (s.id.size() != s.score.size()) throw_input(path + ": /pagerank/vertex_id and /pagerank/score differ in length");
  return s;
}

}  // namespace perron
