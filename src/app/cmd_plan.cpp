// `perron plan`: what a `perron pagerank` run on P ranks would see, for many P, from the graph
// built once on the ranks at hand (plan_capacity): the load per rank, the halo per step, the
// messages, and the memory per rank from the accounting the run itself reports.
#include <fmt/core.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <optional>

#include "choices.hpp"
#include "commands.hpp"
#include "output.hpp"
#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/timer.hpp"
#include "perron/graph/capacity.hpp"
#include "perron/io/hdf5_file.hpp"

namespace perron {
namespace {

constexpr std::uint64_t kMaxPlanRanks = std::uint64_t{1} << 20;

// `--ranks 1,16,1024`: each a whole number in [1, 2^20].
std::vector<std::uint64_t> parse_ranks(const std::string& list) {
  std::vector<std::uint64_t> out;
  std::size_t at = 0;
  while (at <= list.size()) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    const std::string token = list.substr(at, comma - at);
    std::uint64_t p = 0;
    auto [end, ec] = std::from_chars(token.data(), token.data() + token.size(), p);
    if (token.empty() || ec != std::errc() || end != token.data() + token.size())
      throw_usage("--ranks: expected comma-separated rank counts, e.g. 1,16,1024, found '" + token + "'");
    if (p < 1 || p > kMaxPlanRanks)
      throw_usage("--ranks: a rank count must be in [1, " + std::to_string(kMaxPlanRanks) + "], got " + token);
    out.push_back(p);
    at = comma + 1;
  }
  return out;
}

// One virtual rank count's figures, summarised over its ranks.
struct PlanRow {
  std::uint64_t ranks;
  HaloRouting routing;
  std::uint64_t rows_max, edges_max, ghosts_max, sent_max, messages_max;
  double rows_mean, edges_mean, ghosts_mean;
  std::uint64_t halo_bytes_per_step, messages_per_step;
  std::uint64_t graph_bytes_max, iterating_bytes_max, peak_bytes_max;
};

// Memory per rank, from what this run measured about its own load and build (MemoryBasis).
// Iterating: the process before the load (MPI, libraries), what the build leaves resident
// beyond the graph (heap the allocator keeps, communication buffers), the graph the rank
// holds (DistGraph::bytes, exactly), and power iteration's vectors (x, y, 1/o per row;
// contributions per row and ghost; the halo's buffers) beyond that retained heap, which
// they are allocated from first. Peak: the build, whose transient memory beyond what it
// leaves has two parts: the id remap's tables, 20 bytes per distinct endpoint of the rank's
// share of the edges as read (its sorted endpoints and their dense ids, 8 bytes each, and the
// 4-byte direct table; remap in dist_graph.cpp), and the rest, proportional to the graph the
// rank builds (`build_factor` bytes per byte of graph, measured here net of the remap's part).
// A share of 1/P of the edges in random order (Graph500's) holds vertex v, with d(v) endpoints
// among all edges, with probability 1 − (1 − 1/P)^d(v): most vertices on every rank until P
// nears the degrees (a file sorted by source has fewer distinct sources a share, so this errs
// high there). Both add the memory of the shared-memory transport: Open MPI's vader keeps
// about kPeerBytes resident per peer on the node once large messages have passed (measured
// here: 1.2, 2.7 and 7.2–7.8 MiB per rank beyond the plan at 2, 4 and 8 ranks); peers on other
// nodes cost what the fabric's library holds, which is not modelled. Writing the HDF5 result
// adds the library's few MB beyond all this, whatever the graph.
struct EndpointCount {
  std::uint64_t d, vertices;  // how many vertices have d endpoints among the edges as read
};
struct MemoryBasis {
  std::uint64_t process = 0;             // resident before the load
  std::uint64_t retained = 0;            // resident after the build, beyond the process and the graph
  double build_factor = 0.0;             // (peak of the build − resident after it − remap tables) / graph bytes
  std::vector<EndpointCount> endpoints;  // d > 0; a d may repeat (one entry per rank)
  std::uint64_t ranks_per_node = 1;
};

constexpr std::uint64_t kRemapBytesPerEndpoint = 20;
constexpr std::uint64_t kPeerBytes = 1100 << 10;

// The remap's tables on each of P ranks: 20 bytes per expected distinct endpoint of its share.
std::uint64_t remap_bytes(const MemoryBasis& m, std::uint64_t P) {
  const double miss = std::log1p(-1.0 / static_cast<double>(P));  // log(1 − 1/P); −inf at P = 1
  double distinct = 0.0;
  for (const EndpointCount& e : m.endpoints)
    distinct += static_cast<double>(e.vertices) * (P == 1 ? 1.0 : -std::expm1(static_cast<double>(e.d) * miss));
  return static_cast<std::uint64_t>(static_cast<double>(kRemapBytesPerEndpoint) * distinct);
}

// The shared-memory transport's buffers, per peer on the node.
std::uint64_t transport_bytes(const MemoryBasis& m, std::uint64_t P) { return (std::min(P, m.ranks_per_node) - 1) * kPeerBytes; }

PlanRow summarise(const CapacityPlan& plan, const MemoryBasis& m) {
  const RankFigures& f = plan.per_rank;
  const auto P = static_cast<double>(plan.ranks);
  auto max_of = [](const std::vector<std::uint64_t>& v) { return *std::max_element(v.begin(), v.end()); };
  auto mean_of = [&](const std::vector<std::uint64_t>& v) {
    double s = 0;
    for (auto x : v) s += static_cast<double>(x);
    return s / P;
  };
  PlanRow row{plan.ranks,
              plan.routing,
              max_of(f.rows),
              max_of(f.in_edges),
              max_of(f.ghosts),
              max_of(f.values_sent),
              max_of(f.messages),
              mean_of(f.rows),
              mean_of(f.in_edges),
              mean_of(f.ghosts),
              plan.halo_bytes_per_step,
              plan.messages_per_step,
              max_of(f.graph_bytes),
              0,
              0};
  for (std::uint64_t r = 0; r < plan.ranks; ++r) {
    const std::uint64_t vectors = (3 * f.rows[r] + f.rows[r] + f.ghosts[r] + f.buffer_values[r]) * sizeof(double);
    const std::uint64_t held = m.process + m.retained + f.graph_bytes[r] + transport_bytes(m, plan.ranks);
    // The vectors come first out of the heap the build left free.
    const std::uint64_t iterating = held + vectors - std::min(vectors, m.retained);
    const auto build =
        held + remap_bytes(m, plan.ranks) + static_cast<std::uint64_t>(m.build_factor * static_cast<double>(f.graph_bytes[r]));
    row.iterating_bytes_max = std::max(row.iterating_bytes_max, iterating);
    row.peak_bytes_max = std::max(row.peak_bytes_max, std::max(iterating, build));
  }
  return row;
}

class PlanCommand final : public Command {
 public:
  explicit PlanCommand(CLI::App& parent)
      : Command(parent, {"plan"},
                "Capacity plan: per rank count P, what a pagerank run would see (load, halo, messages, memory), "
                "without P processes") {
    OptionSet& o = options();
    add_input_options(o, c_);
    o.add_required("--ranks", ranks_, "rank counts to plan for, comma-separated, each in [1, 2^20], e.g. 1,16,1024,65536");
    o.add_choice("--halo", halo_, ChoiceTable<HaloRouting>(kHaloRoutings),
                 "the halo exchange to plan for, as pagerank --halo: auto (from 64 ranks, two-level where it costs less: 2 us a "
                 "message, 12.5 GB/s), direct or two-level");
    o.add("--ranks-per-node", ranks_per_node_,
          "ranks sharing a node in the planned runs (their shared-memory transport holds about 1.1 MB per peer; "
          "1: one rank per node)")
        ->check(CLI::Range(std::uint64_t{1}, kMaxPlanRanks));
    o.add("--json", json_, "also write the table as JSON to this file");
    o.add("-o,--output", output_, "HDF5 file to write (/plan, one entry per rank count)");
    o.add_flag("--overwrite", overwrite_, "replace existing output files");
    o.add_flag("-q,--quiet", quiet_, "print nothing but errors");
  }

  void run(const RunContext& context, const Comm& comm) override {
    std::vector<std::uint64_t> counts;
    comm.agree([&] { counts = parse_ranks(ranks_); });
    apply_threads(c_.threads, comm);
    const std::vector<std::string> inputs{c_.spec.input, c_.spec.vertices_file, options().config_path()};
    AtomicOutput output(output_, overwrite_, comm, inputs, {json_});
    check_output_path("--json", json_, overwrite_, inputs, {output_}, comm);
    const LoadedGraph loaded = load_graph(c_, comm);
    const MemoryBasis basis = memory_basis(loaded, comm);
    std::vector<PlanRow> rows;
    const Stopwatch watch;
    for (const std::uint64_t P : counts) rows.push_back(summarise(plan_capacity(loaded.graph, P, halo_, comm), basis));
    const double seconds = watch.seconds();
    if (!json_.empty()) write_json(rows, loaded, comm);
    if (output.enabled()) {
      H5Writer file(output.temp_path(), comm);
      write_hdf5(file, rows, loaded, basis);
      write_provenance(
          file,
          provenance_of(context,
                        {{"load_s", loaded.load_seconds}, {"partition_s", loaded.partition_seconds}, {"plan_s", seconds}}),
          comm);
      file.close();
      output.commit();
    }
    if (!comm.is_root() || quiet_) return;
    const GraphStats& s = loaded.graph.stats;
    fmt::print(
        "perron plan: {} vertices, {} edges; built on {} ranks (process {}, left by the build {}, build transient {:.2f} x "
        "the graph)\n",
        s.n, s.m, comm.size(), format_bytes(basis.process), format_bytes(basis.retained), basis.build_factor);
    fmt::print("{:>7} {:>9} {:>11} {:>12} {:>9} {:>11} {:>10} {:>14} {:>11} {:>10} {:>12} {:>11}\n", "ranks", "halo", "rows max",
               "edges max", "max/mean", "ghosts max", "sent max", "halo B/step", "msgs/step", "graph max", "iterating", "peak");
    for (const PlanRow& r : rows)
      fmt::print("{:>7} {:>9} {:>11} {:>12} {:>9.3f} {:>11} {:>10} {:>14} {:>11} {:>10} {:>12} {:>11}\n", r.ranks,
                 name_of<HaloRouting>(kHaloRoutings, r.routing), r.rows_max, r.edges_max,
                 r.edges_mean > 0 ? static_cast<double>(r.edges_max) / r.edges_mean : 0.0, r.ghosts_max, r.sent_max,
                 r.halo_bytes_per_step, r.messages_per_step, format_bytes(r.graph_bytes_max), format_bytes(r.iterating_bytes_max),
                 format_bytes(r.peak_bytes_max));
    if (output.enabled()) fmt::print("wrote {}\n", output.path());
  }

 private:
  // Collective: how many vertices have d endpoints among the edges as read (in- plus out-edges;
  // a symmetric graph's rows hold each edge as read once per endpoint), for every d > 0.
  static std::vector<EndpointCount> endpoint_histogram(const DistGraph& g, const Comm& comm) {
    std::vector<std::uint64_t> d(g.rows());
    for (LocalId v = 0; v < g.rows(); ++v)
      d[v] = g.in.row_start[v + 1] - g.in.row_start[v] + (g.stats.undirected ? 0 : g.out_degree_count[v]);
    std::sort(d.begin(), d.end());
    std::vector<EndpointCount> runs;
    for (const std::uint64_t x : d) {
      if (x == 0) continue;
      if (runs.empty() || runs.back().d != x) runs.push_back({x, 0});
      ++runs.back().vertices;
    }
    return comm.allgatherv<EndpointCount>(runs);
  }

  // Collective: the memory figures of this process's own load and build, the largest rank's.
  MemoryBasis memory_basis(const LoadedGraph& loaded, const Comm& comm) const {
    MemoryBasis m;
    const std::uint64_t before = loaded.rss_before, after = loaded.rss_after_build;
    m.process = comm.allreduce(before, ReduceOp::max);
    // What this run's own transport holds is not retained by a build: it is added per P.
    const std::uint64_t own_transport = static_cast<std::uint64_t>(comm.ranks_on_node() - 1) * kPeerBytes;
    m.retained = comm.allreduce(after - std::min(after, before + loaded.graph_bytes + own_transport), ReduceOp::max);
    m.endpoints = endpoint_histogram(loaded.graph, comm);
    m.ranks_per_node = ranks_per_node_;
    const std::uint64_t transient = loaded.build_peak_rss - std::min(loaded.build_peak_rss, after);
    const std::uint64_t remap = remap_bytes(m, static_cast<std::uint64_t>(comm.size()));
    m.build_factor = comm.allreduce(static_cast<double>(transient - std::min(transient, remap)) /
                                        static_cast<double>(std::max<std::uint64_t>(loaded.graph_bytes, 1)),
                                    ReduceOp::max);
    return m;
  }

  void write_json(const std::vector<PlanRow>& rows, const LoadedGraph& loaded, const Comm& comm) const {
    comm.agree([&] {
      if (!comm.is_root()) return;
      std::ofstream out(json_);
      out << fmt::format("{{\"input\": {}, \"n\": {}, \"m\": {}, \"built_on_ranks\": {}, \"ranks_per_node\": {}, \"plans\": [",
                         json_quote(c_.spec.input), loaded.graph.stats.n, loaded.graph.stats.m, comm.size(), ranks_per_node_);
      for (std::size_t i = 0; i < rows.size(); ++i) {
        const PlanRow& r = rows[i];
        out << fmt::format(
            "{}\n  {{\"ranks\": {}, \"halo\": \"{}\", \"rows_max\": {}, \"rows_mean\": {}, \"in_edges_max\": {}, "
            "\"in_edges_mean\": {}, "
            "\"ghosts_max\": {}, \"ghosts_mean\": {}, \"values_sent_max\": {}, \"messages_max\": {}, "
            "\"halo_bytes_per_step\": {}, \"messages_per_step\": {}, \"graph_bytes_max\": {}, \"iterating_bytes_max\": {}, "
            "\"peak_bytes_max\": {}}}",
            i ? "," : "", r.ranks, name_of<HaloRouting>(kHaloRoutings, r.routing), r.rows_max, r.rows_mean, r.edges_max,
            r.edges_mean, r.ghosts_max, r.ghosts_mean, r.sent_max, r.messages_max, r.halo_bytes_per_step, r.messages_per_step,
            r.graph_bytes_max, r.iterating_bytes_max, r.peak_bytes_max);
      }
      out << "\n]}\n";
      out.close();
      if (!out) throw_output("cannot write " + json_);
    });
  }

  void write_hdf5(H5Writer& f, const std::vector<PlanRow>& rows, const LoadedGraph& loaded, const MemoryBasis& basis) const {
    f.create_group("/plan");
    auto column = [&](const std::string& name, auto get) {
      std::vector<std::uint64_t> v;
      for (const PlanRow& r : rows) v.push_back(get(r));
      f.write_replicated<std::uint64_t>("/plan/" + name, v);
    };
    column("ranks", [](const PlanRow& r) { return r.ranks; });
    column("two_level", [](const PlanRow& r) { return std::uint64_t{r.routing == HaloRouting::two_level}; });
    column("rows_max", [](const PlanRow& r) { return r.rows_max; });
    column("in_edges_max", [](const PlanRow& r) { return r.edges_max; });
    column("ghosts_max", [](const PlanRow& r) { return r.ghosts_max; });
    column("values_sent_max", [](const PlanRow& r) { return r.sent_max; });
    column("messages_max", [](const PlanRow& r) { return r.messages_max; });
    column("halo_bytes_per_step", [](const PlanRow& r) { return r.halo_bytes_per_step; });
    column("messages_per_step", [](const PlanRow& r) { return r.messages_per_step; });
    column("graph_bytes_max", [](const PlanRow& r) { return r.graph_bytes_max; });
    column("iterating_bytes_max", [](const PlanRow& r) { return r.iterating_bytes_max; });
    column("peak_bytes_max", [](const PlanRow& r) { return r.peak_bytes_max; });
    std::vector<double> mean;
    for (const PlanRow& r : rows) mean.push_back(r.edges_mean);
    f.write_replicated<double>("/plan/in_edges_mean", mean);
    f.set_attribute("/plan", "n", loaded.graph.stats.n);
    f.set_attribute("/plan", "m", loaded.graph.stats.m);
    f.set_attribute("/plan", "process_bytes", basis.process);
    f.set_attribute("/plan", "retained_bytes", basis.retained);
    f.set_attribute("/plan", "build_factor", basis.build_factor);
    f.set_attribute("/plan", "ranks_per_node", basis.ranks_per_node);
  }

  InputConfig c_;
  HaloRouting halo_ = HaloRouting::automatic;
  std::uint64_t ranks_per_node_ = 1;
  std::string ranks_, json_, output_;
  bool overwrite_ = false, quiet_ = false;
};

}  // namespace

std::unique_ptr<Command> make_plan_command(CLI::App& parent) { return std::make_unique<PlanCommand>(parent); }

}  // namespace perron
