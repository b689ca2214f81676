#include "fuzz_targets.hpp"

#include <hdf5.h>
#include <omp.h>

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "checkpoint.hpp"
#include "commands.hpp"
#include "perron/app/cli.hpp"
#include "perron/core/hash.hpp"

namespace perron::fuzz {
namespace {

// Consumes the fuzz input front to back; past its end every read gives 0, so any prefix of an
// input is itself a valid input (libFuzzer's mutations shorten inputs often).
class Bytes {
 public:
  explicit Bytes(std::span<const std::uint8_t> d) : d_(d) {}
  std::uint8_t u8() { return at_ < d_.size() ? d_[at_++] : 0; }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | u8();
    return v;
  }
  unsigned below(unsigned n) { return n == 0 ? 0 : u8() % n; }
  // A number with the values that break parsers over-represented: NaN, ±inf, negatives,
  // huge values, zero, and small integers.
  double value() {
    switch (u8() % 10) {
      case 0:
        return std::numeric_limits<double>::quiet_NaN();
      case 1:
        return std::numeric_limits<double>::infinity();
      case 2:
        return -1.0 - u8();
      case 3:
        return 1e300;
      case 4:
        return 0.0;
      case 5:
        return std::bit_cast<double>(u64());
      default:
        return u8() % 16;
    }
  }

 private:
  std::span<const std::uint8_t> d_;
  std::size_t at_ = 0;
};

void write_bytes(const std::string& path, std::span<const std::uint8_t> data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::span<const std::uint8_t> rest(std::span<const std::uint8_t> data, std::size_t skip) {
  return data.subspan(std::min(skip, data.size()));
}

// Arguments every run takes: one thread (fuzzing runs one process per core), a short solve.
std::vector<std::string> pagerank_args(const std::string& input, std::vector<std::string> more = {}) {
  std::vector<std::string> args{"pagerank", "--input", input, "--threads", "1", "--max-iterations", "20", "--quiet"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// ---- HDF5 files built from bytes: the structure is fuzzed, HDF5's own encoding is not ----
// (libhdf5's decoder of damaged metadata is HDF5's to harden; perron's job is every shape,
// type, size and value a well-formed file can carry.)

class H5Handle {
 public:
  H5Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~H5Handle() {
    if (id_ >= 0) close_(id_);
  }
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  hid_t get() const { return id_; }

 private:
  hid_t id_;
  herr_t (*close_)(hid_t);
};

hid_t pick_type(Bytes& b, bool floats_likely) {
  static const hid_t types[] = {H5T_NATIVE_FLOAT,  H5T_NATIVE_DOUBLE, H5T_NATIVE_UINT64, H5T_NATIVE_INT64,  H5T_NATIVE_INT32,
                                H5T_NATIVE_UINT32, H5T_NATIVE_UINT8,  H5T_NATIVE_INT8,   H5T_NATIVE_UINT16, H5T_STD_U64BE};
  const unsigned pick = b.below(16);
  if (pick >= 10) return floats_likely ? H5T_NATIVE_FLOAT : H5T_NATIVE_UINT64;
  return types[pick];
}

// A dataset of shape `dims` whose values come from `b`, written through HDF5's conversion from
// double; chunked and filtered when the bytes say so.
void fuzzed_dataset(hid_t loc, const std::string& name, std::vector<hsize_t> dims, hid_t type, Bytes& b,
                    const std::vector<double>* values = nullptr) {
  H5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  H5Handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
  const unsigned layout = b.below(6);
  hsize_t total = 1;
  for (hsize_t d : dims) total *= d;
  if (layout >= 3 && total > 0 && dims.size() == 1) {
    const hsize_t chunk[1] = {1 + b.below(static_cast<unsigned>(std::min<hsize_t>(dims[0], 8)))};
    H5Pset_chunk(dcpl.get(), 1, chunk);
    if (layout == 3) H5Pset_shuffle(dcpl.get()), H5Pset_deflate(dcpl.get(), 1);
    if (layout == 4) H5Pset_scaleoffset(dcpl.get(), H5Z_SO_INT, H5Z_SO_INT_MINBITS_DEFAULT);
    if (layout == 5) H5Pset_fletcher32(dcpl.get());
  }
  H5Handle dset(H5Dcreate2(loc, name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), H5Dclose);
  if (dset.get() < 0 || total == 0) return;
  std::vector<double> v(total);
  for (hsize_t i = 0; i < total; ++i) v[i] = values && i < values->size() ? (*values)[i] : b.value();
  H5Dwrite(dset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
}

// An attribute of a type and shape the bytes choose: a scalar or an array, a number or text.
void fuzzed_attribute(hid_t obj, const std::string& name, Bytes& b, double typical) {
  const unsigned kind = b.below(6);
  const hsize_t n = kind == 2 ? 1 + b.below(64) : 1;
  H5Handle space(kind == 2 ? H5Screate_simple(1, &n, nullptr) : H5Screate(H5S_SCALAR), H5Sclose);
  if (kind == 3 || kind == 4) {  // text, variable or fixed length
    H5Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    const std::string text = kind == 3 ? "true" : std::to_string(b.u8());
    H5Tset_size(type.get(), kind == 3 ? H5T_VARIABLE : text.size() + 1);
    H5Handle attr(H5Acreate2(obj, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const char* ptr = text.c_str();
    if (attr.get() >= 0) H5Awrite(attr.get(), type.get(), kind == 3 ? static_cast<const void*>(&ptr) : text.c_str());
    return;
  }
  const hid_t type = kind == 5 ? H5T_NATIVE_DOUBLE : kind == 1 ? H5T_NATIVE_INT8 : H5T_NATIVE_INT64;
  H5Handle attr(H5Acreate2(obj, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  std::vector<double> v(n);
  for (hsize_t i = 0; i < n; ++i) v[i] = b.u8() % 4 == 0 ? b.value() : typical;
  if (attr.get() >= 0) H5Awrite(attr.get(), H5T_NATIVE_DOUBLE, v.data());
}

struct H5File {
  explicit H5File(const std::string& path) : id(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {}
  ~H5File() {
    if (id >= 0) H5Fclose(id);
  }
  hid_t id;
};

// ---- the targets ----

std::vector<std::string> text_target(const std::string& dir, std::span<const std::uint8_t> data) {
  write_bytes(dir + "/in.txt", data);  // text, CSV, SNAP and gzip are told apart by content
  return pagerank_args(dir + "/in.txt");
}

std::vector<std::string> mm_target(const std::string& dir, std::span<const std::uint8_t> data) {
  write_bytes(dir + "/in.mtx", data);
  return pagerank_args(dir + "/in.mtx", {"--format", "mm"});
}

std::vector<std::string> metis_target(const std::string& dir, std::span<const std::uint8_t> data) {
  write_bytes(dir + "/in.graph", data);
  return pagerank_args(dir + "/in.graph", {"--format", "metis"});
}

// Graphalytics: the input is the .properties, the .v and the .e file, separated by "\n--\n".
std::vector<std::string> evlp_target(const std::string& dir, std::span<const std::uint8_t> data) {
  const std::string text(data.begin(), data.end());
  const std::string names[] = {dir + "/g.properties", dir + "/g.v", dir + "/g.e"};
  std::size_t at = 0;
  for (const std::string& name : names) {
    const std::size_t end = std::min(text.find("\n--\n", at), text.size());
    write_text(name, at < text.size() ? text.substr(at, end - at) + "\n" : std::string());
    at = end + 4;
  }
  return pagerank_args(names[0], {"--format", "evlp"});
}

// Binary: the first byte picks the layout (id width, weight, declared vertex count).
std::vector<std::string> binary_target(const std::string& dir, std::span<const std::uint8_t> data) {
  Bytes b(data);
  const std::uint8_t layout = b.u8();
  const std::uint8_t declared = b.u8();
  write_bytes(dir + "/in.bin", rest(data, 2));
  std::vector<std::string> more{"--format",          "binary",
                                "--binary-id-width", layout & 1 ? "32" : "64",
                                "--binary-weight",   (layout >> 1) % 3 == 0 ? "none" : (layout >> 1) % 3 == 1 ? "f32" : "f64"};
  if (layout & 8) more.insert(more.end(), {"--binary-vertices", std::to_string(declared)});
  return pagerank_args(dir + "/in.bin", more);
}

// An HDF5 edge list: src, dst, [weight], [vertices] of fuzzed lengths, types and layouts, and
// a `directed` attribute of any type and shape.
std::vector<std::string> hdf5_edges_target(const std::string& dir, std::span<const std::uint8_t> data) {
  Bytes b(data);
  const std::string path = dir + "/edges.h5";
  {
    H5File f(path);
    const hsize_t m = b.below(24);
    const hsize_t m2 = b.below(8) == 0 ? b.below(24) : m;
    const unsigned two_d = b.below(10);
    fuzzed_dataset(f.id, "src", two_d == 0 ? std::vector<hsize_t>{m, 2} : std::vector<hsize_t>{m}, pick_type(b, false), b);
    fuzzed_dataset(f.id, "dst", {m2}, pick_type(b, false), b);
    if (b.below(3) == 0) fuzzed_dataset(f.id, "weight", {b.below(6) == 0 ? m + 1 : m}, pick_type(b, true), b);
    if (b.below(4) == 0) fuzzed_dataset(f.id, "vertices", {b.below(24)}, pick_type(b, false), b);
    if (b.below(2) == 0) fuzzed_attribute(f.id, "directed", b, 1.0);
  }
  return pagerank_args(path, {"--format", "hdf5"});
}

// A scalar attribute of the right kind, or, when the bytes say so, one of any type and shape.
void graph_attribute(hid_t obj, const std::string& name, double value, Bytes& b) {
  if (b.below(10) == 9) return fuzzed_attribute(obj, name, b, value);  // past the input's end (zeros): well-formed
  H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  const bool is_signed = name == "layout_version" || name == "weighted" || name == "undirected";  // as perron writes them
  H5Handle attr(
      H5Acreate2(obj, name.c_str(), is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64, space.get(), H5P_DEFAULT, H5P_DEFAULT),
      H5Aclose);
  const std::int64_t i = static_cast<std::int64_t>(value);
  const std::uint64_t u = static_cast<std::uint64_t>(value);
  if (attr.get() >= 0)
    H5Awrite(attr.get(), is_signed ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT64, is_signed ? static_cast<const void*>(&i) : &u);
}

// A prepared graph (perron convert --to graph): a well-formed CSR of up to 16 vertices, with
// what the bytes choose damaged: one offset, source, out-degree, vertex id, weight, dataset
// length, type or layout, an attribute's value, type or shape, the layout version, a missing
// dataset.
std::vector<std::string> graph_target(const std::string& dir, std::span<const std::uint8_t> data) {
  Bytes b(data);
  const std::string path = dir + "/graph.h5";
  const std::uint64_t n = 1 + b.below(16);
  std::vector<double> offsets{0}, sources, weights, out_degree(n, 0), ids;
  for (std::uint64_t v = 0; v < n; ++v) {
    ids.push_back(static_cast<double>(3 * v + 1));
    for (std::uint64_t s = 0; s < n; ++s)
      if (b.below(4) == 0) sources.push_back(static_cast<double>(s)), out_degree[s] += 1, weights.push_back(1 + b.below(4));
    offsets.push_back(static_cast<double>(sources.size()));
  }
  const std::uint64_t m = sources.size();
  const bool weighted = b.below(3) == 0;
  std::vector<double>* lists[] = {&offsets, &sources, &weights, &out_degree, &ids};
  const unsigned damage = b.below(9);  // 0: none; a byte string's end reads as zeros, so it ends well-formed
  if (damage >= 1 && damage <= 5 && !lists[damage - 1]->empty())
    (*lists[damage - 1])[b.below(static_cast<unsigned>(lists[damage - 1]->size()))] = b.value();
  const std::uint64_t skew = damage == 6 ? 1 + b.below(3) : 0;  // a dataset one to three entries off
  {
    H5File f(path);
    H5Handle g(H5Gcreate2(f.id, "graph", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    const unsigned missing = b.below(12);  // 1..5: that dataset is missing
    const auto dataset = [&](const char* name, const std::vector<double>& values, hid_t type, unsigned which) {
      if (missing == which) return;
      const std::uint64_t length = values.size() + (b.below(6) == which ? skew : 0);
      fuzzed_dataset(g.get(), name, {length}, b.below(8) == 7 ? pick_type(b, false) : type, b, &values);
    };
    dataset("vertex_id", ids, H5T_NATIVE_UINT64, 1);
    dataset("in_offsets", offsets, H5T_NATIVE_UINT64, 2);
    dataset("in_sources", sources, H5T_NATIVE_UINT32, 3);
    dataset("out_degree", out_degree, H5T_NATIVE_UINT64, 4);
    if (weighted) dataset("in_weights", weights, H5T_NATIVE_DOUBLE, 5);
    graph_attribute(g.get(), "layout_version", damage == 7 ? static_cast<double>(b.below(4)) : 1.0, b);
    graph_attribute(g.get(), "n", static_cast<double>(damage == 8 ? n + b.below(3) - 1 : n), b);
    graph_attribute(g.get(), "m", static_cast<double>(m), b);
    graph_attribute(g.get(), "weighted", weighted ? 1.0 : 0.0, b);
    graph_attribute(g.get(), "undirected", 0.0, b);
    graph_attribute(g.get(), "input_edges", static_cast<double>(m), b);
    graph_attribute(g.get(), "duplicates_collapsed", 0.0, b);
  }
  return pagerank_args(path, {"--format", "graph"});
}

// q, k, v (and a mask) for attention or tokenrank, of fuzzed ranks, shapes and types, with
// `causal` and `scale` attributes of any type.
std::vector<std::string> qkv_target(const std::string& dir, std::span<const std::uint8_t> data) {
  Bytes b(data);
  const std::string path = dir + "/qkv.h5";
  const unsigned command = b.below(3);
  const bool use_mask = b.below(3) == 0;
  {
    H5File f(path);
    const unsigned rank = 2 + b.below(4);
    std::vector<hsize_t> dims(rank);
    for (hsize_t& d : dims) d = 1 + b.below(5);
    for (const char* name : {"q", "k", "v"}) {
      std::vector<hsize_t> own = dims;
      if (b.below(8) == 0) own[b.below(rank)] = b.below(6);  // a mismatch, or an empty dimension
      fuzzed_dataset(f.id, name, own, b.below(4) == 0 ? pick_type(b, true) : H5T_NATIVE_FLOAT, b);
    }
    if (use_mask) {
      const hsize_t n = dims[rank - 2];
      const unsigned mrank = b.below(2) == 0 ? 2 : 4;
      std::vector<hsize_t> mdims(mrank, 1);
      mdims[mrank - 2] = b.below(6) == 0 ? n + 1 : n;
      mdims[mrank - 1] = n;
      fuzzed_dataset(f.id, "mask", mdims, b.below(2) == 0 ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT, b);
    }
    if (b.below(3) == 0) fuzzed_attribute(f.id, "causal", b, 1.0);
    if (b.below(3) == 0) fuzzed_attribute(f.id, "scale", b, 0.125);
  }
  std::vector<std::string> args{command == 0 ? "attention" : "tokenrank", "--input", path, "--threads", "1"};
  if (command != 0)
    args.insert(args.end(), {"--max-iterations", "20", "--quiet"});
  else
    args.push_back("--quiet");
  if (use_mask) args.insert(args.end(), {"--mask", "mask"});
  if (b.below(2) == 0) args.push_back("--causal");
  if (b.below(3) == 0)
    args.insert(args.end(), {"--tile-q", std::to_string(1 + b.below(4)), "--tile-k", std::to_string(1 + b.below(4))});
  return args;
}

// What a checkpoint of the fixed graph must say to get past the fingerprint checks (the
// deeper checks are the ones worth fuzzing): computed once per process by setup().
struct CheckpointFacts {
  bool ready = false;
  std::uint64_t n = 0, m = 0, graph = 0, params = 0;
};
CheckpointFacts& facts() {
  static CheckpointFacts f;
  return f;
}
constexpr const char* kCheckpointGraph = "kronecker:scale=3,edge-factor=4,seed=2";

void checkpoint_setup(const Comm& comm) {
  if (facts().ready) return;
  InputConfig in;
  in.spec.input = kCheckpointGraph;
  const LoadedGraph g = load_graph(in, comm);
  const RunFingerprint fp = fingerprint(g.graph, 0.85, VertexDistribution{}, VertexDistribution{}, comm);
  facts() = {true, g.graph.stats.n, g.graph.stats.m, fp.graph, fp.params};
}

// A checkpoint of the fixed graph: x, residual and attributes mostly right, with what the
// bytes choose damaged: values (NaN, negative, zeros, flipped bits), lengths, attribute types
// and shapes, and the checksum.
std::vector<std::string> checkpoint_target(const std::string& dir, std::span<const std::uint8_t> data) {
  Bytes b(data);
  const CheckpointFacts& cf = facts();
  const std::string path = dir + "/ck.h5";
  {
    H5File f(path);
    H5Handle group(H5Gcreate2(f.id, "checkpoint", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    const hsize_t n = b.below(8) == 0 ? b.below(12) : cf.n;
    std::vector<double> x(n, n > 0 ? 1.0 / static_cast<double>(n) : 0.0);
    for (unsigned damage = b.below(3); damage > 0 && n > 0; --damage) {
      double& v = x[b.below(static_cast<unsigned>(n))];
      const unsigned how = b.below(4);
      v = how == 0   ? b.value()
          : how == 1 ? std::bit_cast<double>(std::bit_cast<std::uint64_t>(v) ^ (1ull << b.below(64)))
          : how == 2 ? 0.0
                     : -v;
    }
    const int iteration = static_cast<int>(b.below(6));
    const hsize_t r = b.below(8) == 0 ? b.below(6) : static_cast<hsize_t>(iteration);
    std::vector<double> residual(r, 0.5);
    fuzzed_dataset(group.get(), "x", {n}, H5T_NATIVE_DOUBLE, b, &x);
    fuzzed_dataset(group.get(), "residual", {r}, H5T_NATIVE_DOUBLE, b, &residual);
    std::uint64_t x_sum = 0, r_sum = 0;
    for (hsize_t i = 0; i < n; ++i) x_sum += mix64(mix64(i + 1) ^ std::bit_cast<std::uint64_t>(x[i]));
    for (hsize_t i = 0; i < r; ++i) r_sum += mix64(mix64(i + 1) ^ std::bit_cast<std::uint64_t>(residual[i]));
    const std::pair<const char*, std::uint64_t> attrs[] = {{"n", cf.n},
                                                           {"m", cf.m},
                                                           {"graph_fingerprint", cf.graph},
                                                           {"params_fingerprint", cf.params},
                                                           {"x_checksum", x_sum},
                                                           {"residual_checksum", r_sum},
                                                           {"iteration", static_cast<std::uint64_t>(iteration)}};
    for (const auto& [name, value] : attrs) {
      if (b.below(10) == 0) {
        fuzzed_attribute(group.get(), name, b, static_cast<double>(value));
        continue;
      }
      H5Handle space(H5Screate(H5S_SCALAR), H5Sclose);
      H5Handle attr(H5Acreate2(group.get(), name, H5T_NATIVE_UINT64, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
      const std::uint64_t v = b.below(12) == 0 ? value ^ (1ull << b.below(64)) : value;
      if (attr.get() >= 0) H5Awrite(attr.get(), H5T_NATIVE_UINT64, &v);
    }
  }
  return {"pagerank", "--input", kCheckpointGraph, "--restart", path, "--iterations", "8", "--threads", "1", "--quiet"};
}

// A config file for pagerank. Whatever it says, nothing is written: the command line names no
// output, checkpoint or log, and flags win over the file.
std::vector<std::string> toml_target(const std::string& dir, std::span<const std::uint8_t> data) {
  write_bytes(dir + "/c.toml", data);
  return {"pagerank",
          "-c",
          dir + "/c.toml",
          "--input",
          kCheckpointGraph,
          "--output",
          "",
          "--checkpoint",
          "",
          "--log-json",
          "",
          "--restart",
          "",
          "--threads",
          "1",
          "--max-iterations",
          "20",
          "--quiet"};
}

// A seed-set file for batched personalized PageRank (--seed-sets) on the fixed 8-vertex graph,
// ids 0 to 7: the bytes are the file. Nothing is written.
std::vector<std::string> seeds_target(const std::string& dir, std::span<const std::uint8_t> data) {
  write_bytes(dir + "/seeds.txt", data);
  return pagerank_args(kCheckpointGraph, {"--seed-sets", dir + "/seeds.txt", "--top-k", "3", "--output", ""});
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all{{"text", text_target},       {"mm", mm_target},         {"metis", metis_target},
                                       {"evlp", evlp_target},       {"binary", binary_target}, {"gzip", text_target},
                                       {"hdf5", hdf5_edges_target}, {"qkv", qkv_target},       {"checkpoint", checkpoint_target},
                                       {"toml", toml_target},       {"graph", graph_target},   {"seeds", seeds_target}};
  return all;
}

const Target* find_target(const std::string& name) {
  for (const Target& t : targets())
    if (t.name == name) return &t;
  return nullptr;
}

int run_one(const Target& target, std::span<const std::uint8_t> data, const std::string& dir, const Comm& comm) {
  if (target.name == "checkpoint") checkpoint_setup(comm);
  std::vector<std::string> args;
  if (comm.is_root()) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    args = target.prepare(dir, data);
  }
  // Every rank takes rank 0's arguments (the files are on a shared folder).
  const std::uint64_t count = comm.bcast_value<std::uint64_t>(args.size(), 0);
  args.resize(count);
  for (std::string& a : args) a = comm.bcast_string(a, 0);
  std::vector<std::string> argv_store{"perron"};
  argv_store.insert(argv_store.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_store) argv.push_back(a.data());
  argv.push_back(nullptr);
  omp_set_num_threads(1);
  // A command installs signal handlers for its run (pagerank's cooperative stop); the fuzzer's
  // own (libFuzzer's SIGINT and timeouts) must survive it, and no run may see another's state.
  struct sigaction term {
  }, interrupt{};
  sigaction(SIGTERM, nullptr, &term);
  sigaction(SIGINT, nullptr, &interrupt);
  const int code = run_cli(static_cast<int>(argv_store.size()), argv.data(), comm);
  sigaction(SIGTERM, &term, nullptr);
  sigaction(SIGINT, &interrupt, nullptr);
  return code;
}

}  // namespace perron::fuzz
