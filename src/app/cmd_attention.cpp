// `perron attention`: exact softmax attention of q, k, v read from HDF5 ([heads, N, d] or
// [batch, heads, N, d]), each rank holding a contiguous block of query and key positions, the
// K/V blocks travelling around the ring; /attention/out and /attention/lse written collectively.
#include <fmt/core.h>

#include <cmath>
#include <limits>

#include "commands.hpp"
#include "output.hpp"
#include "perron/algo/attention.hpp"
#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"
#include "perron/io/hdf5_file.hpp"
#include "perron/io/text_records.hpp"
#include "qkv_input.hpp"

namespace perron {
namespace {

struct AttentionConfig {
  std::string input, output;
  bool overwrite = false;
  std::string q = "q", k = "k", v = "v", mask;
  bool causal = false;
  std::int64_t window = 0;
  double scale = 0.0, softcap = 0.0;
  int tile_q = 0, tile_k = 0;  // 0: defaults for the head size
  int threads = 0;
  bool quiet = false;
};

class AttentionCommand final : public Command {
 public:
  explicit AttentionCommand(CLI::App& parent)
      : Command(parent, {"attention"}, "Exact softmax attention of q, k, v from HDF5 (tiled, ring across ranks)") {
    OptionSet& o = options();
    o.add("-i,--input", c_.input, "HDF5 file holding q, k, v ([heads, N, d] or [batch, heads, N, d])");
    o.add("-o,--output", c_.output, "HDF5 file to write (/attention/out, /attention/lse)");
    o.add_flag("--overwrite", c_.overwrite, "replace an existing output file");
    o.add("--q", c_.q, "dataset of the queries in the input");
    o.add("--k", c_.k, "dataset of the keys");
    o.add("--v", c_.v, "dataset of the values");
    o.add("--mask", c_.mask, "dataset of a mask: boolean (true = attend) or float (added to the scores); "
                             "[Nq, Nk] or [batch|1, heads|1, Nq, Nk]");
    o.add_flag("--causal", c_.causal, "query i sees keys j <= i (upper-left aligned)");
    o.add("--window", c_.window, "sliding window W > 0: i - W < j <= i with --causal, |i - j| < W without (default: none)");
    o.add("--scale", c_.scale, "score scale (0: 1/sqrt(d))");
    o.add("--softcap", c_.softcap, "c > 0: score -> c * tanh(score / c), before masking (0: none)");
    o.add("--tile-q", c_.tile_q, "query rows per tile (0: 256)");
    o.add("--tile-k", c_.tile_k, "key rows per tile (0: 512)");
    o.add("--threads", c_.threads, "OpenMP threads per rank (0: OMP_NUM_THREADS, else the node's cores / its ranks)");
    o.add_flag("-q,--quiet", c_.quiet, "print nothing but errors");
  }

  void run(const RunContext& context, const Comm& comm) override {
    apply_threads(c_.threads, comm);
    comm.agree([&] {
      if (c_.input.empty()) throw_usage("attention needs --input FILE.h5");
      if (options().given("window") && c_.window <= 0)
        throw_usage("--window must be a positive number of positions, got " + std::to_string(c_.window));
      if (c_.scale < 0 || c_.softcap < 0) throw_usage("--scale and --softcap must be >= 0");
    });
    AtomicOutput output(c_.output, c_.overwrite, comm);
    const Stopwatch total;
    QkvShape qs, ks, vs;
    MaskInfo mask_info;
    comm.agree([&] {
      require_readable_file(c_.input, "input");
      const H5Reader f(c_.input);
      qs = qkv_shape(f, c_.input, c_.q), ks = qkv_shape(f, c_.input, c_.k), vs = qkv_shape(f, c_.input, c_.v);
      const std::string where = c_.input + ": ";
      if (qs.batched != ks.batched || qs.batched != vs.batched || qs.batch != ks.batch || qs.batch != vs.batch)
        throw_input(where + "q, k and v must have the same layout and batch size");
      if (ks.heads != vs.heads || ks.seq != vs.seq)
        throw_input(where + "k and v must have the same heads and length (k: " + std::to_string(ks.heads) + " x " +
                    std::to_string(ks.seq) + ", v: " + std::to_string(vs.heads) + " x " + std::to_string(vs.seq) + ")");
      if (qs.dim != ks.dim)
        throw_input(where + "q and k must have the same head size (q: " + std::to_string(qs.dim) + ", k: " + std::to_string(ks.dim) + ")");
      if (qs.heads % ks.heads != 0)
        throw_input(where + std::to_string(qs.heads) + " query heads are not a multiple of " + std::to_string(ks.heads) +
                    " key/value heads");
      if (!c_.mask.empty()) mask_info = check_mask(f, c_.input, c_.mask, qs, ks);
    });
    AttentionParams params;
    params.causal = c_.causal;
    params.window = c_.window;
    params.scale = static_cast<float>(c_.scale);
    params.softcap = static_cast<float>(c_.softcap);
    // 256 × 512 tiles: the fastest measured here for d = 64 and 128 (bench/attention.sh).
    params.tile_q = c_.tile_q > 0 ? c_.tile_q : 256;
    params.tile_k = c_.tile_k > 0 ? c_.tile_k : 512;
    // Positions of this rank: contiguous blocks, or zigzag for causal self-attention.
    const bool zigzag = c_.causal && qs.seq == ks.seq && comm.size() > 1;
    const std::vector<Segment> q_runs = rank_positions(qs.seq, comm.rank(), comm.size(), zigzag);
    const std::vector<Segment> k_runs = rank_positions(ks.seq, comm.rank(), comm.size(), zigzag);
    const std::uint64_t rows = total_rows(q_runs), krows = total_rows(k_runs);
    std::vector<float> out, lse;
    double load_s = 0, compute_s = 0;
    for (std::uint64_t b = 0; b < qs.batch; ++b) {
      Stopwatch watch;
      std::vector<float> q, k, v, mask;
      comm.agree([&] {
        const H5Reader f(c_.input);
        q = read_qkv_runs(f, c_.input, c_.q, qs, b, q_runs);
        k = read_qkv_runs(f, c_.input, c_.k, ks, b, k_runs);
        v = read_qkv_runs(f, c_.input, c_.v, vs, b, k_runs);
        if (!c_.mask.empty()) mask = read_mask_rows(f, c_.input, mask_info, qs, ks, b, q_runs);
      });
      load_s += watch.seconds();
      watch.restart();
      const AttentionBlock block{static_cast<int>(qs.heads), static_cast<int>(ks.heads), static_cast<int>(qs.dim),
                                 static_cast<int>(vs.dim), static_cast<std::int64_t>(rows), 0,
                                 static_cast<std::int64_t>(krows), 0, static_cast<std::int64_t>(ks.seq), q, k, v, mask,
                                 q_runs, k_runs};
      const AttentionResult res = attention(block, params, comm);
      compute_s += watch.seconds();
      out.insert(out.end(), res.out.begin(), res.out.end());
      lse.insert(lse.end(), res.lse.begin(), res.lse.end());
    }
    double write_s = 0;
    if (output.enabled()) {
      const Stopwatch watch;
      H5Writer file(output.temp_path(), comm);
      file.create_group("/attention");
      // Each rank writes its runs of positions: one block per run, in one collective write.
      using Dims = std::vector<std::uint64_t>;
      const bool bt = qs.batched;
      const Dims od = bt ? Dims{qs.batch, qs.heads, qs.seq, vs.dim} : Dims{qs.heads, qs.seq, vs.dim};
      const Dims ld = bt ? Dims{qs.batch, qs.heads, qs.seq} : Dims{qs.heads, qs.seq};
      std::vector<Dims> os, oc, ls, lc;
      for (const Segment& run : q_runs) {
        const auto first = static_cast<std::uint64_t>(run.begin), n = static_cast<std::uint64_t>(run.count);
        os.push_back(bt ? Dims{0, 0, first, 0} : Dims{0, first, 0});
        oc.push_back(bt ? Dims{qs.batch, qs.heads, n, vs.dim} : Dims{qs.heads, n, vs.dim});
        ls.push_back(bt ? Dims{0, 0, first} : Dims{0, first});
        lc.push_back(bt ? Dims{qs.batch, qs.heads, n} : Dims{qs.heads, n});
      }
      file.write_blocks<float>("/attention/out", od, os, oc, out);
      file.write_blocks<float>("/attention/lse", ld, ls, lc, lse);
      file.set_attribute("/attention", "layout_across_ranks", std::string(zigzag ? "zigzag" : "contiguous"));
      file.set_attribute("/attention", "scale", static_cast<double>(params.scale > 0 ? params.scale : 1.0f / std::sqrt(static_cast<float>(qs.dim))));
      file.set_attribute("/attention", "softcap", c_.softcap);
      file.set_attribute("/attention", "causal", c_.causal);
      file.set_attribute("/attention", "window", static_cast<std::int64_t>(c_.window));
      file.set_attribute("/attention", "mask", c_.mask);
      file.set_attribute("/attention", "query_heads", qs.heads);
      file.set_attribute("/attention", "kv_heads", ks.heads);
      file.set_attribute("/attention", "query_length", qs.seq);
      file.set_attribute("/attention", "key_length", ks.seq);
      file.set_attribute("/attention", "layout", std::string(qs.batched ? "[batch, heads, N, d]" : "[heads, N, d]"));
      write_s = watch.seconds();
      const Provenance provenance{context.command_line, options().effective_toml(), context.start_time,
                                  {{"load_s", load_s}, {"compute_s", compute_s}, {"write_s", write_s}}};
      write_provenance(file, provenance, comm);
      file.close();
      output.commit();
    }
    if (comm.is_root() && !c_.quiet) {
      const double flops = 2.0 * static_cast<double>(qs.batch * qs.heads * qs.seq * ks.seq) * static_cast<double>(qs.dim + vs.dim) *
                           (c_.causal ? 0.5 : 1.0);
      fmt::print("perron attention: batch {}, {} query heads / {} kv heads, Nq {}, Nk {}, d {} / {} on {} ranks: "
                 "{:.3f} s compute ({:.1f} GFLOP/s), load {:.3f} s, write {:.3f} s, total {:.3f} s\n",
                 qs.batch, qs.heads, ks.heads, qs.seq, ks.seq, qs.dim, vs.dim, comm.size(), compute_s,
                 flops / compute_s / 1e9, load_s, write_s, total.seconds());
      if (output.enabled()) fmt::print("wrote {}\n", output.path());
    }
  }

 private:
  AttentionConfig c_;
};

}  // namespace

std::unique_ptr<Command> make_attention_command(CLI::App& parent) { return std::make_unique<AttentionCommand>(parent); }

}  // namespace perron
