#include "qkv_input.hpp"

#include <cmath>
#include <limits>
#include <type_traits>

#include "perron/core/error.hpp"

namespace perron {
namespace {

// NaN or ±inf in an input is an error naming the dataset, head and position.
template <class T>
void check_finite(const std::vector<T>& x, const std::string& path, const std::string& name, const QkvShape& s, std::uint64_t b,
                  std::uint64_t first, std::uint64_t count) {
  for (std::size_t i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i])) {
      const std::uint64_t head = i / (count * s.dim), pos = first + i / s.dim % count;
      throw_input(path + ": dataset '" + name + "' holds " + (std::isnan(x[i]) ? "NaN" : "an infinity") + " at " +
                  (s.batched ? "batch " + std::to_string(b) + ", " : std::string()) + "head " + std::to_string(head) +
                  ", position " + std::to_string(pos) + ", component " + std::to_string(i % s.dim));
    }
}

// Runs read one by one as [heads][count][width], put together per head: [heads][Σ counts][width].
template <class ReadRun>
auto concat_runs(const std::vector<Segment>& runs, std::uint64_t heads, std::uint64_t width, ReadRun read) {
  using Values = decltype(read(std::uint64_t{0}, std::uint64_t{0}));
  std::vector<Values> parts;
  for (const Segment& r : runs) parts.push_back(read(static_cast<std::uint64_t>(r.begin), static_cast<std::uint64_t>(r.count)));
  Values out;
  out.reserve(heads * total_rows(runs) * width);
  for (std::uint64_t h = 0; h < heads; ++h)
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const std::uint64_t n = static_cast<std::uint64_t>(runs[i].count) * width;
      out.insert(out.end(), parts[i].begin() + static_cast<std::ptrdiff_t>(h * n),
                 parts[i].begin() + static_cast<std::ptrdiff_t>((h + 1) * n));
    }
  return out;
}

// The block [q0, q0 + rows) × [k0, k0 + cols) of the mask for head h of batch entry b, as additive floats.
std::vector<float> mask_block(const H5Reader& f, const std::string& path, const MaskInfo& m, std::uint64_t b, std::uint64_t h,
                              std::uint64_t q0, std::uint64_t rows, std::uint64_t k0, std::uint64_t cols) {
  std::vector<float> part =
      m.dims.size() == 2
          ? f.read_float_block(m.name, {q0, k0}, {rows, cols})
          : f.read_float_block(m.name, {m.dims[0] == 1 ? 0 : b, m.dims[1] == 1 ? 0 : h, q0, k0}, {1, 1, rows, cols});
  for (float& x : part) {
    if (m.boolean)
      x = x != 0 ? 0.0f : -std::numeric_limits<float>::infinity();
    else if (std::isnan(x) || x == std::numeric_limits<float>::infinity())
      throw_input(path + ": mask '" + m.name + "' holds " + (std::isnan(x) ? "NaN" : "+inf") +
                  " (a float mask adds to the scores: -inf hides a key, finite values shift it)");
  }
  return part;
}

}  // namespace

QkvShape qkv_shape(const H5Reader& f, const std::string& path, const std::string& name) {
  if (!f.exists(name)) throw_input(path + ": no dataset '" + name + "' (set --q/--k/--v to the dataset names)");
  const auto info = f.info(name);
  if (info.dims.size() != 3 && info.dims.size() != 4)
    throw_input(path + ": dataset '" + name + "' must be [heads, N, d] or [batch, heads, N, d], found " +
                std::to_string(info.dims.size()) + " dimensions");
  if (!info.is_float) throw_input(path + ": dataset '" + name + "' must hold floating-point numbers (float16/32/64)");
  QkvShape s;
  s.batched = info.dims.size() == 4;
  const std::size_t o = s.batched ? 1 : 0;
  s.batch = s.batched ? info.dims[0] : 1;
  s.heads = info.dims[o], s.seq = info.dims[o + 1], s.dim = info.dims[o + 2];
  if (s.dim == 0) throw_input(path + ": dataset '" + name + "' has head size d = 0");
  if (s.heads == 0 || s.seq == 0) throw_input(path + ": dataset '" + name + "' is empty");
  return s;
}

namespace {

template <class T>
std::vector<T> read_runs(const H5Reader& f, const std::string& path, const std::string& name, const QkvShape& s, std::uint64_t b,
                         const std::vector<Segment>& runs) {
  return concat_runs(runs, s.heads, s.dim, [&](std::uint64_t first, std::uint64_t count) {
    const std::vector<std::uint64_t> start =
        s.batched ? std::vector<std::uint64_t>{b, 0, first, 0} : std::vector<std::uint64_t>{0, first, 0};
    const std::vector<std::uint64_t> size =
        s.batched ? std::vector<std::uint64_t>{1, s.heads, count, s.dim} : std::vector<std::uint64_t>{s.heads, count, s.dim};
    std::vector<T> run;
    if constexpr (std::is_same_v<T, double>)
      run = f.read_double_block(name, start, size);
    else
      run = f.read_float_block(name, start, size);
    check_finite(run, path, name, s, b, first, count);
    return run;
  });
}

}  // namespace

std::vector<float> read_qkv_runs(const H5Reader& f, const std::string& path, const std::string& name, const QkvShape& s,
                                 std::uint64_t b, const std::vector<Segment>& runs) {
  return read_runs<float>(f, path, name, s, b, runs);
}

std::vector<double> read_qkv_runs_double(const H5Reader& f, const std::string& path, const std::string& name, const QkvShape& s,
                                         std::uint64_t b, const std::vector<Segment>& runs) {
  return read_runs<double>(f, path, name, s, b, runs);
}

void check_query_key(const QkvShape& qs, const QkvShape& ks, const std::string& where) {
  if (qs.batched != ks.batched || qs.batch != ks.batch) throw_input(where + "q and k must have the same layout and batch size");
  if (qs.dim != ks.dim)
    throw_input(where + "q and k must have the same head size (q: " + std::to_string(qs.dim) + ", k: " + std::to_string(ks.dim) +
                ")");
  if (qs.heads % ks.heads != 0)
    throw_input(where + std::to_string(qs.heads) + " query heads are not a multiple of " + std::to_string(ks.heads) +
                " key heads");
}

MaskInfo check_mask(const H5Reader& f, const std::string& path, const std::string& name, const QkvShape& qs, const QkvShape& ks) {
  if (!f.exists(name)) throw_input(path + ": no mask dataset '" + name + "'");
  const auto info = f.info(name);
  MaskInfo m{name, info.dims, !info.is_float && !info.is_integer};
  const std::size_t r = m.dims.size();
  const bool ok = (r == 2 || r == 4) && m.dims[r - 2] == qs.seq && m.dims[r - 1] == ks.seq &&
                  (r == 2 || ((m.dims[0] == 1 || m.dims[0] == qs.batch) && (m.dims[1] == 1 || m.dims[1] == qs.heads)));
  if (!ok)
    throw_input(path + ": mask '" + name + "' must be [Nq, Nk] or [batch|1, heads|1, Nq, Nk] with Nq = " +
                std::to_string(qs.seq) + ", Nk = " + std::to_string(ks.seq));
  return m;
}

std::vector<float> read_mask_rows(const H5Reader& f, const std::string& path, const MaskInfo& m, const QkvShape& qs,
                                  const QkvShape& ks, std::uint64_t b, const std::vector<Segment>& runs) {
  return concat_runs(runs, qs.heads, ks.seq, [&](std::uint64_t first, std::uint64_t count) {
    std::vector<float> heads;
    for (std::uint64_t h = 0; h < qs.heads; ++h) {
      const std::vector<float> part = mask_block(f, path, m, b, h, first, count, 0, ks.seq);
      heads.insert(heads.end(), part.begin(), part.end());
    }
    return heads;
  });
}

std::vector<float> read_mask_columns(const H5Reader& f, const std::string& path, const MaskInfo& m, const QkvShape& qs,
                                     std::uint64_t b, const std::vector<Segment>& runs) {
  const std::uint64_t cols = total_rows(runs);
  std::vector<float> out(qs.heads * qs.seq * cols);
  for (std::uint64_t h = 0; h < qs.heads; ++h)
    for (std::uint64_t c0 = 0; const Segment& run : runs) {
      const auto count = static_cast<std::uint64_t>(run.count);
      const std::vector<float> part = mask_block(f, path, m, b, h, 0, qs.seq, static_cast<std::uint64_t>(run.begin), count);
      for (std::uint64_t i = 0; i < qs.seq; ++i)
        std::copy(part.begin() + static_cast<std::ptrdiff_t>(i * count),
                  part.begin() + static_cast<std::ptrdiff_t>((i + 1) * count),
                  out.begin() + static_cast<std::ptrdiff_t>((h * qs.seq + i) * cols + c0));
      c0 += count;
    }
  return out;
}

std::vector<Segment> rank_positions(std::uint64_t n, int rank, int ranks, bool zigzag) {
  if (zigzag && ranks > 1) return zigzag_segments(static_cast<std::int64_t>(n), rank, ranks);
  const auto P = static_cast<std::uint64_t>(ranks), r = static_cast<std::uint64_t>(rank);
  return {{static_cast<std::int64_t>(n * r / P), static_cast<std::int64_t>(n * (r + 1) / P - n * r / P)}};
}

std::vector<std::string> read_tokens(const H5Reader& f, const std::string& path, const QkvShape& s, std::uint64_t b) {
  if (!f.exists("tokens")) return {};
  H5Reader::StringArray t = f.read_strings("tokens");
  const bool flat = t.dims.size() == 1 && t.dims[0] == s.seq;
  const bool rows = t.dims.size() == 2 && t.dims[0] == s.batch && t.dims[1] == s.seq;
  if (!flat && !rows) {
    std::string shape;
    for (std::size_t i = 0; i < t.dims.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.dims[i]);
    throw_input(path + ": dataset 'tokens' must be [N] or [batch, N] strings with N = " + std::to_string(s.seq) +
                " and batch = " + std::to_string(s.batch) + ", found [" + shape + "]");
  }
  if (flat) return std::move(t.values);
  const auto first = t.values.begin() + static_cast<std::ptrdiff_t>(b * s.seq);
  return std::vector<std::string>(first, first + static_cast<std::ptrdiff_t>(s.seq));
}

std::uint64_t total_rows(const std::vector<Segment>& runs) {
  std::uint64_t n = 0;
  for (const Segment& s : runs) n += static_cast<std::uint64_t>(s.count);
  return n;
}

}  // namespace perron
