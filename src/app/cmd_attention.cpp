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
#include "result_files.hpp"

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

  // check the inputs → compute batch by batch → write → report.
  void run(const RunContext& context, const Comm& comm) override {
    apply_threads(c_.s.threads, comm);
    check_score_options(options(), c_.s, comm);
    apply_input_attributes(options(), c_.s, comm);
    AtomicOutput output(c_.output, c_.overwrite, comm, {c_.s.input, options().config_path()});
    const Stopwatch total;
    const Shapes sh = check_inputs(comm);
    const AttentionParams params = make_params();
    // Positions of this rank: contiguous blocks, or zigzag for causal self-attention.
    const bool zigzag = c_.s.causal && sh.q.seq == sh.k.seq && comm.size() > 1;
    const std::vector<Segment> q_runs = rank_positions(sh.q.seq, comm.rank(), comm.size(), zigzag);
    const std::vector<Segment> k_runs = rank_positions(sh.k.seq, comm.rank(), comm.size(), zigzag);
    const Computed done = compute(sh, params, q_runs, k_runs, comm);
    double write_s = 0;
    if (output.enabled()) {
      const Stopwatch watch;
      H5Writer file(output.temp_path(), comm);
      const float scale = params.scale > 0 ? params.scale : 1.0f / std::sqrt(static_cast<float>(sh.q.dim));
      write_attention_result(
          file, {sh.q.batched, sh.q.batch, sh.q.heads, sh.k.heads, sh.q.seq, sh.k.seq, sh.v.dim, q_runs, done.out, done.lse,
                 zigzag, c_.s.causal, static_cast<double>(scale), c_.s.softcap, static_cast<std::int64_t>(c_.s.window), c_.s.mask,
                 name_of<TileKernel>(kTileKernels, c_.kernel), name_of<TileKernel>(kTileKernels, done.kernel_used)});
      write_s = watch.seconds();
      write_provenance(
          file, provenance_of(context, {{"load_s", done.load_s}, {"compute_s", done.compute_s}, {"write_s", write_s}}), comm);
      file.close();
      output.commit();
    }
    if (!comm.is_root() || c_.quiet) return;
    const double flops = 2.0 * static_cast<double>(sh.q.batch * sh.q.heads * sh.q.seq * sh.k.seq) *
                         static_cast<double>(sh.q.dim + sh.v.dim) * (c_.s.causal ? 0.5 : 1.0);
    fmt::print(
        "perron attention: batch {}, {} query heads / {} kv heads, Nq {}, Nk {}, d {} / {} on {} ranks: "
        "{:.3f} s compute ({:.1f} GFLOP/s), load {:.3f} s, write {:.3f} s, total {:.3f} s\n",
        sh.q.batch, sh.q.heads, sh.k.heads, sh.q.seq, sh.k.seq, sh.q.dim, sh.v.dim, comm.size(), done.compute_s,
        flops / done.compute_s / 1e9, done.load_s, write_s, total.seconds());
    if (output.enabled()) fmt::print("wrote {}\n", output.path());
  }

 private:
  struct Shapes {
    QkvShape q, k, v;
    MaskInfo mask;
  };
  struct Computed {
    std::vector<float> out, lse;  // every batch entry, this rank's rows
    TileKernel kernel_used = TileKernel::blas;
    double load_s = 0, compute_s = 0;
  };

  // q, k, v (and the mask) fit together: one layout and batch, k and v alike, q and k of one
  // head size, query heads a multiple of key heads.
  Shapes check_inputs(const Comm& comm) const {
    Shapes sh;
    comm.agree([&] {
      require_readable_file(c_.s.input, "input");
      const H5Reader f(c_.s.input);
      const QkvShape qs = qkv_shape(f, c_.s.input, c_.s.q), ks = qkv_shape(f, c_.s.input, c_.s.k),
                     vs = qkv_shape(f, c_.s.input, c_.v);
      const std::string where = c_.s.input + ": ";
      if (qs.batched != vs.batched || qs.batch != vs.batch)
        throw_input(where + "q, k and v must have the same layout and batch size");
      if (ks.heads != vs.heads || ks.seq != vs.seq)
        throw_input(where + "k and v must have the same heads and length (k: " + std::to_string(ks.heads) + " x " +
                    std::to_string(ks.seq) + ", v: " + std::to_string(vs.heads) + " x " + std::to_string(vs.seq) + ")");
      check_query_key(qs, ks, where);
      sh.q = qs, sh.k = ks, sh.v = vs;
      if (!c_.s.mask.empty()) sh.mask = check_mask(f, c_.s.input, c_.s.mask, qs, ks);
    });
    return sh;
  }

  AttentionParams make_params() const {
    AttentionParams params;
    params.causal = c_.s.causal;
    params.window = c_.s.window;
    params.scale = static_cast<float>(c_.s.scale);
    params.softcap = static_cast<float>(c_.s.softcap);
    params.tile_q = c_.s.tile_q;
    params.tile_k = c_.s.tile_k;
    params.kernel = c_.kernel;
    return params;
  }

  // Batch entry by batch entry: read this rank's rows of q, k, v (and mask), attend.
  Computed compute(const Shapes& sh, const AttentionParams& params, const std::vector<Segment>& q_runs,
                   const std::vector<Segment>& k_runs, const Comm& comm) const {
    const std::uint64_t rows = total_rows(q_runs), krows = total_rows(k_runs);
    Computed done;
    for (std::uint64_t b = 0; b < sh.q.batch; ++b) {
      Stopwatch watch;
      std::vector<float> q, k, v, mask;
      comm.agree([&] {
        const H5Reader f(c_.s.input);
        q = read_qkv_runs(f, c_.s.input, c_.s.q, sh.q, b, q_runs);
        k = read_qkv_runs(f, c_.s.input, c_.s.k, sh.k, b, k_runs);
        v = read_qkv_runs(f, c_.s.input, c_.v, sh.v, b, k_runs);
        if (!c_.s.mask.empty()) mask = read_mask_rows(f, c_.s.input, sh.mask, sh.q, sh.k, b, q_runs);
      });
      done.load_s += watch.seconds();
      watch.restart();
      const AttentionBlock block{static_cast<int>(sh.q.heads),
                                 static_cast<int>(sh.k.heads),
                                 static_cast<int>(sh.q.dim),
                                 static_cast<int>(sh.v.dim),
                                 static_cast<std::int64_t>(rows),
                                 0,
                                 static_cast<std::int64_t>(krows),
                                 0,
                                 static_cast<std::int64_t>(sh.k.seq),
                                 q,
                                 k,
                                 v,
                                 mask,
                                 q_runs,
                                 k_runs};
      const AttentionResult res = attention(block, params, comm);
      done.compute_s += watch.seconds();
      done.kernel_used = res.kernel;
      done.out.insert(done.out.end(), res.out.begin(), res.out.end());
      done.lse.insert(done.lse.end(), res.lse.begin(), res.lse.end());
    }
    return done;
  }

  AttentionConfig c_;
};

}  // namespace

std::unique_ptr<Command> make_attention_command(CLI::App& parent) { return std::make_unique<AttentionCommand>(parent); }

}  // namespace perron
