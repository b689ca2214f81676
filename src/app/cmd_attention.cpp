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
  ScoreConfig s;
  std::string output;
  bool overwrite = false;
  std::string v = "v";
  TileKernel kernel = TileKernel::automatic;
  bool quiet = false;
};

class AttentionCommand final : public Command {
 public:
  explicit AttentionCommand(CLI::App& parent)
      : Command(parent, {"attention"}, "Exact softmax attention of q, k, v from HDF5 (tiled, ring across ranks)") {
    OptionSet& o = options();
    add_score_options(o, c_.s, "HDF5 file holding q, k, v ([heads, N, d] or [batch, heads, N, d])");
    o.add("-o,--output", c_.output, "HDF5 file to write (/attention/out, /attention/lse)");
    o.add_flag("--overwrite", c_.overwrite, "replace an existing output file");
    o.add("--v", c_.v, "dataset of the values");
    o.add_choice("--kernel", c_.kernel, ChoiceTable<TileKernel>(kTileKernels),
                 "tile products: auto (avx512 where the CPU has AVX-512F, else blas), blas (cblas_sgemm) "
                 "or avx512 (register-blocked, keys packed once per block)");
    o.add_flag("-q,--quiet", c_.quiet, "print nothing but errors");
  }

  void run(const RunContext& context, const Comm& comm) override {
    apply_threads(c_.s.threads, comm);
    check_score_options(options(), c_.s, comm);
    AtomicOutput output(c_.output, c_.overwrite, comm, {c_.s.input, options().config_path()});
    const Stopwatch total;
    QkvShape qs, ks, vs;
    MaskInfo mask_info;
    comm.agree([&] {
      require_readable_file(c_.s.input, "input");
      const H5Reader f(c_.s.input);
      qs = qkv_shape(f, c_.s.input, c_.s.q), ks = qkv_shape(f, c_.s.input, c_.s.k), vs = qkv_shape(f, c_.s.input, c_.v);
      const std::string where = c_.s.input + ": ";
      if (qs.batched != ks.batched || qs.batched != vs.batched || qs.batch != ks.batch || qs.batch != vs.batch)
        throw_input(where + "q, k and v must have the same layout and batch size");
      if (ks.heads != vs.heads || ks.seq != vs.seq)
        throw_input(where + "k and v must have the same heads and length (k: " + std::to_string(ks.heads) + " x " +
                    std::to_string(ks.seq) + ", v: " + std::to_string(vs.heads) + " x " + std::to_string(vs.seq) + ")");
      if (qs.dim != ks.dim)
        throw_input(where + "q and k must have the same head size (q: " + std::to_string(qs.dim) +
                    ", k: " + std::to_string(ks.dim) + ")");
      if (qs.heads % ks.heads != 0)
        throw_input(where + std::to_string(qs.heads) + " query heads are not a multiple of " + std::to_string(ks.heads) +
                    " key/value heads");
      if (!c_.s.mask.empty()) mask_info = check_mask(f, c_.s.input, c_.s.mask, qs, ks);
    });
    AttentionParams params;
    params.causal = c_.s.causal;
    params.window = c_.s.window;
    params.scale = static_cast<float>(c_.s.scale);
    params.softcap = static_cast<float>(c_.s.softcap);
    // 256 × 512 tiles: the fastest measured here for d = 64 and 128 (bench/attention.sh).
    params.tile_q = c_.s.tile_q;
    params.tile_k = c_.s.tile_k;
    params.kernel = c_.kernel;
    // Positions of this rank: contiguous blocks, or zigzag for causal self-attention.
    const bool zigzag = c_.s.causal && qs.seq == ks.seq && comm.size() > 1;
    const std::vector<Segment> q_runs = rank_positions(qs.seq, comm.rank(), comm.size(), zigzag);
    const std::vector<Segment> k_runs = rank_positions(ks.seq, comm.rank(), comm.size(), zigzag);
    const std::uint64_t rows = total_rows(q_runs), krows = total_rows(k_runs);
    std::vector<float> out, lse;
    TileKernel kernel_used = TileKernel::blas;
    double load_s = 0, compute_s = 0;
    for (std::uint64_t b = 0; b < qs.batch; ++b) {
      Stopwatch watch;
      std::vector<float> q, k, v, mask;
      comm.agree([&] {
        const H5Reader f(c_.s.input);
        q = read_qkv_runs(f, c_.s.input, c_.s.q, qs, b, q_runs);
        k = read_qkv_runs(f, c_.s.input, c_.s.k, ks, b, k_runs);
        v = read_qkv_runs(f, c_.s.input, c_.v, vs, b, k_runs);
        if (!c_.s.mask.empty()) mask = read_mask_rows(f, c_.s.input, mask_info, qs, ks, b, q_runs);
      });
      load_s += watch.seconds();
      watch.restart();
      const AttentionBlock block{static_cast<int>(qs.heads),
                                 static_cast<int>(ks.heads),
                                 static_cast<int>(qs.dim),
                                 static_cast<int>(vs.dim),
                                 static_cast<std::int64_t>(rows),
                                 0,
                                 static_cast<std::int64_t>(krows),
                                 0,
                                 static_cast<std::int64_t>(ks.seq),
                                 q,
                                 k,
                                 v,
                                 mask,
                                 q_runs,
                                 k_runs};
      const AttentionResult res = attention(block, params, comm);
      compute_s += watch.seconds();
      kernel_used = res.kernel;
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
      file.set_attribute("/attention", "scale",
                         static_cast<double>(params.scale > 0 ? params.scale : 1.0f / std::sqrt(static_cast<float>(qs.dim))));
      file.set_attribute("/attention", "softcap", c_.s.softcap);
      file.set_attribute("/attention", "causal", c_.s.causal);
      file.set_attribute("/attention", "window", static_cast<std::int64_t>(c_.s.window));
      file.set_attribute("/attention", "mask", c_.s.mask);
      file.set_attribute("/attention", "kernel", name_of<TileKernel>(kTileKernels, c_.kernel));
      file.set_attribute("/attention", "kernel_used", name_of<TileKernel>(kTileKernels, kernel_used));
      file.set_attribute("/attention", "query_heads", qs.heads);
      file.set_attribute("/attention", "kv_heads", ks.heads);
      file.set_attribute("/attention", "query_length", qs.seq);
      file.set_attribute("/attention", "key_length", ks.seq);
      file.set_attribute("/attention", "layout", std::string(qs.batched ? "[batch, heads, N, d]" : "[heads, N, d]"));
      write_s = watch.seconds();
      const Provenance provenance{context.command_line,
                                  options().effective_toml(),
                                  context.start_time,
                                  {{"load_s", load_s}, {"compute_s", compute_s}, {"write_s", write_s}}};
      write_provenance(file, provenance, comm);
      file.close();
      output.commit();
    }
    if (comm.is_root() && !c_.quiet) {
      const double flops = 2.0 * static_cast<double>(qs.batch * qs.heads * qs.seq * ks.seq) *
                           static_cast<double>(qs.dim + vs.dim) * (c_.s.causal ? 0.5 : 1.0);
      fmt::print(
          "perron attention: batch {}, {} query heads / {} kv heads, Nq {}, Nk {}, d {} / {} on {} ranks: "
          "{:.3f} s compute ({:.1f} GFLOP/s), load {:.3f} s, write {:.3f} s, total {:.3f} s\n",
          qs.batch, qs.heads, ks.heads, qs.seq, ks.seq, qs.dim, vs.dim, comm.size(), compute_s, flops / compute_s / 1e9, load_s,
          write_s, total.seconds());
      if (output.enabled()) fmt::print("wrote {}\n", output.path());
    }
  }

 private:
  AttentionConfig c_;
};

}  // namespace

std::unique_ptr<Command> make_attention_command(CLI::App& parent) { return std::make_unique<AttentionCommand>(parent); }

}  // namespace perron
