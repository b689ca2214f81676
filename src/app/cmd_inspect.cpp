// `perron inspect FILE` (what a result file holds) and `perron diff A B` (how two results
// differ). Both read small parts of files on rank 0 only; the other ranks wait.
#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "commands.hpp"
#include "output.hpp"
#include "perron/core/error.hpp"
#include "perron/io/hdf5_file.hpp"
#include "perron/io/text_records.hpp"
#include "result_files.hpp"

namespace perron {
namespace {

std::string json_value(const H5Reader::Attribute& a) {
  using K = H5Reader::Attribute::Kind;
  switch (a.kind) {
    case K::integer:
      return std::to_string(a.i);
    case K::unsigned_integer:
      return std::to_string(a.u);
    case K::real:
      return std::isfinite(a.d) ? fmt::format("{}", a.d) : "null";
    case K::text:
      return json_quote(a.s);
    case K::other:
      break;
  }
  return "null";
}

std::string text_value(const H5Reader::Attribute& a) { return a.kind == H5Reader::Attribute::Kind::text ? a.s : json_value(a); }

std::string json_object(const std::vector<H5Reader::Attribute>& attrs, const std::string& skip = "") {
  std::string out = "{";
  for (const auto& a : attrs) {
    if (a.name == skip) continue;
    out += (out.size() > 1 ? ", " : "") + json_quote(a.name) + ": " + json_value(a);
  }
  return out + "}";
}

class InspectCommand final : public Command {
 public:
  explicit InspectCommand(CLI::App& parent) : Command(parent, {"inspect"}, "Show what a result file holds") {
    app_->add_option("file", file_, "result file (HDF5)")->required();
    options().add("--top", top_, "how many top vertices to list");
    options().add_flag("--json", json_, "print one JSON object");
  }

  void run(const RunContext&, const Comm& comm) override {
    comm.agree([&] {
      if (!comm.is_root()) return;
      require_readable_file(file_, "result");
      const H5Reader file(file_);
      const ResultKind result = result_kind(file, file_);
      const std::string kind = result_group(result);
      const auto attrs = file.attributes(result == ResultKind::edges ? std::string("/") : "/" + kind);
      const auto prov = file.exists("/provenance") ? file.attributes("/provenance") : std::vector<H5Reader::Attribute>{};
      std::vector<double> residual = !kind.empty() && file.exists("/" + kind + "/residual")
                                         ? file.read_doubles("/" + kind + "/residual")
                                         : std::vector<double>{};
      const TopList top_list = read_top(file, result);
      const std::vector<std::uint64_t>& top_id = top_list.id;
      const std::vector<double>& top_score = top_list.score;
      const std::string& id_name = top_list.id_name;
      const std::size_t k = std::min<std::size_t>(top_id.size(), static_cast<std::size_t>(std::max(top_, 0)));
      if (json_) {
        std::string top = "[";
        for (std::size_t i = 0; i < k; ++i)
          top += fmt::format("{}{{\"{}\": {}, {}\"score\": {}}}", i ? ", " : "", id_name, top_id[i],
                             top_list.token.empty() ? std::string() : "\"token\": " + json_quote(top_list.token[i]) + ", ",
                             top_score[i]);
        std::string res = "[";
        for (std::size_t i = 0; i < residual.size(); ++i) res += fmt::format("{}{}", i ? ", " : "", residual[i]);
        fmt::print("{{\"file\": {}, \"kind\": {}, \"attributes\": {}, \"provenance\": {}, \"residual\": {}], \"top\": {}]}}\n",
                   json_quote(file_), json_quote(kind.empty() ? std::string("edges") : kind), json_object(attrs),
                   json_object(prov, "config"), res, top);
        return;
      }
      fmt::print("file        {}\nkind        {}\n", file_,
                 kind == "pagerank"    ? "PageRank result"
                 : kind == "tokenrank" ? "TokenRank result"
                 : kind == "graph"     ? "prepared graph (perron convert --to graph)"
                 : kind == "attention" ? "attention result (/attention/out, /attention/lse)"
                 : kind.empty()        ? "HDF5 edge list (/src, /dst; perron convert or attention-graph)"
                                       : "PageRank checkpoint");
      for (const auto& a : attrs) fmt::print("  {:<26} {}\n", a.name, text_value(a));
      if (!residual.empty())
        fmt::print("convergence {} iterations, first residual {:.3e}, last {:.3e}\n", residual.size(), residual.front(),
                   residual.back());
      if (!prov.empty()) fmt::print("provenance\n");
      for (const auto& a : prov)
        if (a.name != "config") fmt::print("  {:<26} {}\n", a.name, text_value(a));
      const PersonalizedTops batch = read_personalized_tops(file, result, 5, 5);
      if (batch.vectors > 0) {
        fmt::print("personalized {} vectors; the first {}, each with its top {}:\n", batch.vectors, batch.top.size(),
                   batch.top.empty() ? 0 : batch.top.front().id.size());
        for (std::size_t j = 0; j < batch.top.size(); ++j) {
          fmt::print("  {:<28}", batch.label[j]);
          for (std::size_t i = 0; i < batch.top[j].id.size(); ++i)
            fmt::print("  {}{} ({:.4e})", batch.top[j].id[i],
                       batch.top[j].token.empty() ? std::string() : " " + json_quote(batch.top[j].token[i]),
                       batch.top[j].score[i]);
          fmt::print("\n");
        }
      }
      if (k > 0) {
        const bool words = !top_list.token.empty();
        fmt::print("top {}\n  {:>4}  {:>20}  {}{:>14}\n", k, "#", id_name, words ? fmt::format("{:<20}  ", "token") : "",
                   "score");
        for (std::size_t i = 0; i < k; ++i)
          fmt::print("  {:>4}  {:>20}  {}{:>14.8e}\n", i + 1, top_id[i],
                     words ? fmt::format("{:<20}  ", json_quote(top_list.token[i])) : "", top_score[i]);
      }
    });
  }

 private:
  std::string file_;
  int top_ = 10;
  bool json_ = false;
};

class DiffCommand final : public Command {
 public:
  explicit DiffCommand(CLI::App& parent)
      : Command(parent, {"diff"}, "Compare two PageRank or TokenRank results: L1, largest difference, top-k overlap") {
    app_->add_option("a", a_, "first result file")->required();
    app_->add_option("b", b_, "second result file")->required();
    options().add("--top", top_, "k of the top-k overlap");
    options().add("--max-l1", max_l1_, "exit with an error when the L1 difference exceeds this (negative: never)");
    options().add_flag("--json", json_, "print one JSON object");
  }

  void run(const RunContext&, const Comm& comm) override {
    comm.agree([&] {
      if (!comm.is_root()) return;
      const RankedScores a = read_ranked_scores(a_), b = read_ranked_scores(b_);
      if (a.id_name != b.id_name)
        throw_input(a_ + " is a " + (a.id_name == "position" ? "TokenRank" : "PageRank") + " result and " + b_ + " a " +
                    (b.id_name == "position" ? "TokenRank" : "PageRank") + " one: diff compares results of one kind");
      if (a.id_name == "position" && a.id.size() != b.id.size())
        throw_input(a_ + " ranks " + std::to_string(a.id.size()) + " positions and " + b_ + " " + std::to_string(b.id.size()) +
                    ": TokenRanks of different lengths rank different sequences");
      const std::string unit = a.id_name == "position" ? "position" : "vertex";
      // Both files list vertices by increasing id: merge on id.
      double l1 = 0, max_diff = 0;
      std::uint64_t max_id = 0, common = 0;
      for (std::size_t i = 0, j = 0; i < a.id.size() && j < b.id.size();) {
        if (a.id[i] < b.id[j]) {
          ++i;
          continue;
        }
        if (b.id[j] < a.id[i]) {
          ++j;
          continue;
        }
        const double d = std::abs(a.score[i] - b.score[j]);
        l1 += d;
        if (d > max_diff) max_diff = d, max_id = a.id[i];
        ++common, ++i, ++j;
      }
      auto top_set = [&](const RankedScores& s) {
        std::vector<std::size_t> order(s.id.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        const std::size_t k = std::min<std::size_t>(order.size(), static_cast<std::size_t>(std::max(top_, 1)));
        std::partial_sort(order.begin(), order.begin() + static_cast<long>(k), order.end(), [&](std::size_t x, std::size_t y) {
          return s.score[x] != s.score[y] ? s.score[x] > s.score[y] : s.id[x] < s.id[y];
        });
        std::set<std::uint64_t> ids;
        for (std::size_t i = 0; i < k; ++i) ids.insert(s.id[order[i]]);
        return ids;
      };
      const auto ta = top_set(a), tb = top_set(b);
      std::size_t overlap = 0;
      for (auto id : ta) overlap += tb.count(id);
      const std::size_t k = std::max<std::size_t>(1, std::min(ta.size(), tb.size()));
      if (json_) {
        fmt::print(
            "{{\"a\": {}, \"b\": {}, \"common_vertices\": {}, \"only_a\": {}, \"only_b\": {}, \"l1\": {}, \"max_abs_diff\": {}, "
            "\"max_abs_diff_vertex_id\": {}, \"top_k\": {}, \"top_k_overlap\": {}, \"id_name\": \"{}\"{}}}\n",
            json_quote(a_), json_quote(b_), common, a.id.size() - common, b.id.size() - common, l1, max_diff, max_id, k,
            static_cast<double>(overlap) / static_cast<double>(k), a.id_name,
            a.token.empty() ? std::string() : ", \"max_abs_diff_token\": " + json_quote(a.token[max_id]));
      } else {
        fmt::print("{:<13} {} in both, {} only in {}, {} only in {}\n", unit == "vertex" ? "vertices" : "positions", common,
                   a.id.size() - common, a_, b.id.size() - common, b_);
        fmt::print("L1            {:.6e}\nmax |a - b|   {:.6e} ({} {}{})\ntop-{} overlap {}/{} ({:.1f}%)\n", l1, max_diff, unit,
                   max_id, a.token.empty() ? std::string() : " " + json_quote(a.token[max_id]), k, overlap, k,
                   100.0 * static_cast<double>(overlap) / static_cast<double>(k));
      }
      if (max_l1_ >= 0 && !(l1 <= max_l1_))
        throw_input(fmt::format("the results differ by L1 {:.3e}, more than --max-l1 {:.3e}", l1, max_l1_));
    });
  }

 private:
  std::string a_, b_;
  int top_ = 100;
  double max_l1_ = -1;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_inspect_command(CLI::App& parent) { return std::make_unique<InspectCommand>(parent); }
std::unique_ptr<Command> make_diff_command(CLI::App& parent) { return std::make_unique<DiffCommand>(parent); }

}  // namespace perron
