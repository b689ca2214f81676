#include "perron/io/text_records.hpp"

#include <fcntl.h>
#include <omp.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <future>
#include <numeric>
#include <optional>
#include <string_view>

#include "perron/core/error.hpp"
#include "perron/core/range.hpp"
#include "posix_file.hpp"
#include <sys/stat.h>

namespace perron {
namespace {

constexpr std::size_t kBlock = std::size_t{64} << 20;  // bounded memory while streaming

// Streaming gzip decompression (RFC 1952, concatenated members allowed) with zlib.
class Inflater {
 public:
  explicit Inflater(const std::string& path) : path_(path), fd_(path), in_(1 << 20) {
    if (inflateInit2(&z_, 15 + 32) != Z_OK) throw_input("zlib cannot start on " + path);
  }
  ~Inflater() { inflateEnd(&z_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Compressed bytes read so far.
  std::uint64_t consumed() const { return offset_ - z_.avail_in; }

  // Decompresses up to `len` bytes into `out`; 0 means the end of the stream.
  std::size_t read(char* out, std::size_t len) {
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(len);
    while (z_.avail_out > 0 && !done_) {
      if (z_.avail_in == 0) {
        const std::size_t got = fd_.read_at(in_.data(), in_.size(), offset_);
        offset_ += got;
        if (got == 0) {
          if (!member_ended_) throw_input(path_ + ": corrupt gzip stream: unexpected end of file");
          done_ = true;
          break;
        }
        z_.next_in = reinterpret_cast<Bytef*>(in_.data());
        z_.avail_in = static_cast<uInt>(got);
      }
      member_ended_ = false;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        member_ended_ = true;
        inflateReset(&z_);  // another member may follow
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        throw_input(path_ + ": corrupt gzip stream (" + (z_.msg ? z_.msg : "zlib error " + std::to_string(rc)) + ")");
      }
    }
    return len - z_.avail_out;
  }

 private:
  std::string path_;
  PosixFile fd_;
  std::vector<char> in_;
  std::uint64_t offset_ = 0;
  z_stream z_{};
  bool done_ = false;
  bool member_ended_ = false;
};

// First line start at or after byte `at`: `floor`, or one past the first '\n' at or after at−1.
std::uint64_t line_start_at_or_after(const PosixFile& fd, std::uint64_t at, std::uint64_t floor, std::uint64_t size) {
  if (at <= floor) return floor;
  if (at >= size) return size;
  char buf[65536];
  std::uint64_t pos = at - 1;
  while (pos < size) {
    const std::size_t got = fd.read_at(buf, sizeof buf, pos);
    if (got == 0) break;
    if (const void* nl = std::memchr(buf, '\n', got))
      return pos + static_cast<std::uint64_t>(static_cast<const char*>(nl) - buf) + 1;
    pos += got;
  }
  return size;
}

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool is_separator(char c) { return is_blank(c) || c == ','; }

// What a line is, before parsing it.
enum class LineClass { comment, data };
LineClass classify(std::string_view line, const TextSyntax& s) {
  std::size_t i = 0;
  while (i < line.size() && is_blank(line[i])) ++i;
  if (i == line.size()) return s.blank_lines_are_data ? LineClass::data : LineClass::comment;
  return line[i] == '#' || line[i] == '%' ? LineClass::comment : LineClass::data;
}

struct ParseError {
  std::uint64_t line;    // 0-based line within the chunk
  std::uint64_t column;  // 1-based byte column
  std::string message;
};

struct ChunkStats {
  std::uint64_t lines = 0;
  std::uint64_t data_lines = 0;
  bool saw_value = false;
  std::optional<ParseError> error;
};

// Tokens of one line, split lazily.
class Tokens {
 public:
  explicit Tokens(std::string_view line) : line_(line) {}
  bool next(std::string_view& token, std::size_t& column) {
    while (i_ < line_.size() && is_separator(line_[i_])) ++i_;
    if (i_ >= line_.size()) return false;
    std::size_t j = i_;
    while (j < line_.size() && !is_separator(line_[j])) ++j;
    token = line_.substr(i_, j - i_);
    column = i_ + 1;
    i_ = j;
    return true;
  }

 private:
  std::string_view line_;
  std::size_t i_ = 0;
};

std::optional<std::string> parse_id(std::string_view tok, const TextSyntax& s, VertexId& out) {
  if (!tok.empty() && tok[0] == '-')
    return "expected a " + std::string(s.id_name) + " (integer >= " + std::to_string(s.min_id) + "), found negative '" +
           std::string(tok) + "'";
  auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), out);
  if (ec == std::errc::result_out_of_range) return std::string(s.id_name) + " '" + std::string(tok) + "' exceeds 2^64-1";
  if (ec != std::errc() || ptr != tok.data() + tok.size())
    return "expected a " + std::string(s.id_name) + " (integer >= " + std::to_string(s.min_id) + "), found '" + std::string(tok) +
           "'";
  if (out < s.min_id || out > s.max_id)
    return std::string(s.id_name) + " " + std::string(tok) + " is outside the declared range " + std::to_string(s.min_id) + ".." +
           std::to_string(s.max_id);
  return std::nullopt;
}

std::optional<std::string> parse_value(std::string_view tok, const char* what, double& out) {
  auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), out);
  if (ec != std::errc() || ptr != tok.data() + tok.size() || std::isnan(out))
    return std::string("expected a ") + what + " (number), found '" + std::string(tok) + "'";
  if (!std::isfinite(out)) return std::string(what) + " must be finite, found '" + std::string(tok) + "'";
  if (out < 0) return std::string(what) + " must be >= 0, found '" + std::string(tok) + "'";
  return std::nullopt;
}

// The common edge line, "digits separators digits [blanks]" up to '\n' or `end`, parsed in
// one pass over its bytes: no tokenising, and in a buffer no separate search for the line's
// end. Returns where the next line starts (`end` for the last one), or nullptr for anything
// else (a comment, a weight, a sign, 20+ digits, an id out of range, stray text), which the
// general parser below then handles, with its exact error messages.
const char* parse_plain_edge(const char* p, const char* const end, const TextSyntax& s, RawEdge& edge) {
  auto number = [&](VertexId& v) {
    const char* start = p;
    VertexId x = 0;
    while (p < end && static_cast<unsigned char>(*p - '0') < 10) x = x * 10 + static_cast<VertexId>(*p++ - '0');
    v = x;
    return p > start && p - start <= 19;  // 19 digits cannot overflow 64 bits
  };
  while (p < end && is_blank(*p)) ++p;
  VertexId src = 0, dst = 0;
  if (!number(src) || p == end || !is_separator(*p)) return nullptr;
  while (p < end && is_separator(*p)) ++p;
  if (!number(dst)) return nullptr;
  while (p < end && is_blank(*p)) ++p;
  if ((p != end && *p != '\n') || src < s.min_id || src > s.max_id || dst < s.min_id || dst > s.max_id) return nullptr;
  edge = RawEdge{src, dst, 1.0};
  return p == end ? end : p + 1;
}

// An edge or id line: ids, then an optional value. Returns an error message and column.
std::optional<std::pair<std::size_t, std::string>> parse_fixed_line(std::string_view line, const TextSyntax& s, RawEdge& out,
                                                                    bool& saw_value) {
  if (s.format == LineFormat::edge && parse_plain_edge(line.data(), line.data() + line.size(), s, out)) return std::nullopt;
  const int ids = s.format == LineFormat::edge ? 2 : 1;
  std::string_view tok[4];
  std::size_t col[4];
  int n = 0;
  std::string_view t;
  std::size_t c = 0;
  Tokens tokens(line);
  while (n < 4 && tokens.next(t, c)) {
    tok[n] = t;
    col[n++] = c;
  }
  const bool too_many = n > s.max_fields;
  if (n < ids || too_many) {
    const std::string expected = s.format == LineFormat::edge ? (s.max_fields == 2 ? "'src dst'" : "'src dst [weight]'")
                                                              : (s.max_fields == 1 ? "one vertex id" : "'id [value]'");
    const std::string found =
        too_many ? "more than " + std::to_string(s.max_fields) + " fields" : std::to_string(n) + (n == 1 ? " field" : " fields");
    return std::make_pair(n ? col[0] : std::size_t{1}, "expected " + expected + ", found " + found);
  }
  VertexId v[2] = {0, 0};
  for (int f = 0; f < ids; ++f)
    if (auto msg = parse_id(tok[f], s, v[f])) return std::make_pair(col[f], *msg);
  double value = 1.0;
  if (n > ids && s.read_value) {
    if (auto msg = parse_value(tok[ids], s.value_name, value)) return std::make_pair(col[ids], *msg);
    saw_value = true;
  }
  out = RawEdge{v[0], ids == 2 ? v[1] : 0, value};
  return std::nullopt;
}

// A METIS line: [vertex weights] then neighbour [weight] ... ; src = the chunk's data line index.
std::optional<std::pair<std::size_t, std::string>> parse_metis_line(std::string_view line, const TextSyntax& s, VertexId src,
                                                                    std::vector<RawEdge>& out, bool& saw_value) {
  Tokens tokens(line);
  std::string_view t;
  std::size_t c = 0;
  for (int k = 0; k < s.metis_vertex_weights; ++k)
    if (!tokens.next(t, c))
      return std::make_pair(std::size_t{1}, "expected " + std::to_string(s.metis_vertex_weights) + " vertex weight(s)");
  while (tokens.next(t, c)) {
    VertexId nb = 0;
    if (auto msg = parse_id(t, s, nb)) return std::make_pair(c, *msg);
    double w = 1.0;
    if (s.metis_edge_weights) {
      const std::size_t nb_col = c;
      if (!tokens.next(t, c)) return std::make_pair(nb_col, "expected a weight after neighbour " + std::to_string(nb));
      if (s.read_value) {
        if (auto msg = parse_value(t, "weight", w)) return std::make_pair(c, *msg);
        saw_value = true;
      }
    }
    out.push_back(RawEdge{src, nb, w});
  }
  return std::nullopt;
}

// Parses whole lines in [begin, end); stops at the first error. `fast(p)` may take the line
// starting at p whole and return where the next one starts (else nullptr); `emit(line)` parses
// any other data line (and returns its failure, if any).
template <class Fast, class Emit>
void parse_chunk(const char* begin, const char* end, const TextSyntax& s, ChunkStats& st, Fast&& fast, Emit&& emit) {
  const char* p = begin;
  while (p < end) {
    if (const char* next = fast(p)) {
      p = next;
      ++st.data_lines;
      ++st.lines;
      continue;
    }
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    const std::string_view line(p, static_cast<std::size_t>(line_end - p));
    p = nl ? nl + 1 : end;
    if (classify(line, s) == LineClass::data) {
      if (auto failure = emit(line)) {
        st.error = ParseError{st.lines, failure->first, failure->second};
        return;
      }
      ++st.data_lines;
    }
    ++st.lines;
  }
}

// Lines in [begin, end): an upper bound on the records of a fixed-format piece (a count of
// '\n' that the compiler vectorises, plus an unterminated last line).
std::size_t count_line_starts(const char* begin, const char* end) {
  if (begin == end) return 0;
  return static_cast<std::size_t>(std::count(begin, end, '\n')) + (end[-1] != '\n' ? 1 : 0);
}

// Splits [begin, end) into `parts` pieces cut just after a '\n'.
std::vector<const char*> cut_at_lines(const char* begin, const char* end, int parts) {
  std::vector<const char*> cuts{begin};
  const std::size_t len = static_cast<std::size_t>(end - begin);
  for (int t = 1; t < parts; ++t) {
    const char* at = std::max(cuts.back(), begin + len * static_cast<std::size_t>(t) / static_cast<std::size_t>(parts));
    const char* nl = at < end ? static_cast<const char*>(std::memchr(at, '\n', static_cast<std::size_t>(end - at))) : nullptr;
    cuts.push_back(nl ? nl + 1 : end);
  }
  cuts.push_back(end);
  return cuts;
}

// Parses one buffer of whole lines with OpenMP and appends to `out` in file order. Fixed
// formats (one record per data line) are parsed straight into `out`'s columns, grown by the
// buffer's line count, each thread at its piece's offset (lines bound the records; comment
// lines leave gaps, closed afterwards); weights go to `weights`, a scratch column kept across
// buffers, and join `out` only once some weight is not 1. METIS pieces go through vectors,
// their sources shifted by the data lines of earlier pieces. When `out` is empty, it reserves
// `range_bytes` times this buffer's lines per byte, plus 2%, so that it is sized once rather
// than grown by doubling (each growth holds the old and the new copy together). Returns the
// buffer's statistics.
ChunkStats parse_buffer(const char* begin, const char* end, const TextSyntax& s, EdgeList& out, std::vector<double>& weights,
                        std::uint64_t range_bytes) {
  const int threads = omp_get_max_threads();
  const std::vector<const char*> cuts = cut_at_lines(begin, end, threads);
  const auto pieces = static_cast<std::size_t>(threads);
  const bool metis = s.format == LineFormat::metis;
  std::vector<std::vector<RawEdge>> parts(metis ? pieces : 0);
  std::vector<std::size_t> offset(pieces + 1, 0), written(pieces, 0);
  std::vector<ChunkStats> stats(pieces);
  const std::size_t base = out.size();
  if (!metis) {
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      const auto i = static_cast<std::size_t>(t);
      offset[i + 1] = count_line_starts(cuts[i], cuts[i + 1]);
    }
    std::partial_sum(offset.begin(), offset.end(), offset.begin());
    if (base == 0 && range_bytes > static_cast<std::uint64_t>(end - begin))
      out.reserve(static_cast<std::size_t>(static_cast<double>(offset[pieces]) / static_cast<double>(end - begin) * 1.02 *
                                           static_cast<double>(range_bytes)) +
                  1024);
    out.resize(base + offset[pieces]);
    weights.resize(offset[pieces]);
  }
  // A packed list takes keys while every id fits in 32 bits; the first id that does not sends
  // the buffer round again after widening the list.
  const bool packed = out.packed();
  std::uint64_t* const key = !metis && packed ? out.keys().data() + base : nullptr;
  VertexId* const src = !metis && !packed ? out.src().data() + base : nullptr;
  VertexId* const dst = !metis && !packed ? out.dst().data() + base : nullptr;
  std::vector<char> too_wide(pieces, 0);
#pragma omp parallel for schedule(static, 1) num_threads(threads)
  for (int t = 0; t < threads; ++t) {
    const auto i = static_cast<std::size_t>(t);
    if (metis) {
      parts[i].reserve(static_cast<std::size_t>(cuts[i + 1] - cuts[i]) / 8);  // lines are rarely shorter
      const auto no_fast_path = [](const char*) -> const char* { return nullptr; };
      parse_chunk(cuts[i], cuts[i + 1], s, stats[i], no_fast_path, [&](std::string_view line) {
        return parse_metis_line(line, s, stats[i].data_lines, parts[i], stats[i].saw_value);
      });
      continue;
    }
    const std::size_t at = offset[i];
    auto store = [&](const RawEdge& e) {
      const std::size_t k = at + written[i]++;
      if (!key) {
        src[k] = e.src, dst[k] = e.dst;
      } else if (EdgeList::fits(e.src, e.dst)) {
        key[k] = EdgeList::key(e.src, e.dst);
      } else {
        too_wide[i] = 1;
      }
      weights[k] = e.weight;
    };
    const char* const piece_end = cuts[i + 1];
    const auto fast = [&](const char* p) -> const char* {
      RawEdge e;
      const char* next = s.format == LineFormat::edge ? parse_plain_edge(p, piece_end, s, e) : nullptr;
      if (next) store(e);
      return next;
    };
    parse_chunk(cuts[i], piece_end, s, stats[i], fast, [&](std::string_view line) {
      RawEdge e;
      auto failure = parse_fixed_line(line, s, e, stats[i].saw_value);
      if (!failure) store(e);
      return failure;
    });
  }
  ChunkStats total;
  std::size_t end_at = 0;  // records kept, gaps closed
  for (std::size_t i = 0; i < pieces; ++i) {
    if (stats[i].error) {
      out.resize(base);
      total.error = ParseError{total.lines + stats[i].error->line, stats[i].error->column, stats[i].error->message};
      return total;
    }
    if (metis) {
      for (RawEdge& e : parts[i]) out.push_back({e.src + total.data_lines, e.dst, e.weight});
      std::vector<RawEdge>().swap(parts[i]);
    } else {
      if (end_at != offset[i]) {  // comment lines left a gap: close it
        if (key) std::memmove(key + end_at, key + offset[i], written[i] * sizeof(std::uint64_t));
        if (src) std::memmove(src + end_at, src + offset[i], written[i] * sizeof(VertexId));
        if (dst) std::memmove(dst + end_at, dst + offset[i], written[i] * sizeof(VertexId));
        std::memmove(weights.data() + end_at, weights.data() + offset[i], written[i] * sizeof(double));
      }
      end_at += written[i];
    }
    total.lines += stats[i].lines;
    total.data_lines += stats[i].data_lines;
    total.saw_value = total.saw_value || stats[i].saw_value;
  }
  if (metis) return total;
  if (std::find(too_wide.begin(), too_wide.end(), 1) != too_wide.end()) {
    out.resize(base);
    out.widen();
    return parse_buffer(begin, end, s, out, weights, range_bytes);
  }
  out.resize(base + end_at);
  // The weights join the list once some weight is not 1 (from then on every buffer's do).
  int weighted = out.has_weights() ? 1 : 0;
  if (!weighted && total.saw_value) {
#pragma omp parallel for schedule(static) reduction(max : weighted)
    for (std::size_t k = 0; k < end_at; ++k) weighted = std::max(weighted, weights[k] != 1.0 ? 1 : 0);
  }
  if (weighted) {
    out.ensure_weights();
    double* const to = out.weights().data() + base;
#pragma omp parallel for schedule(static)
    for (std::size_t k = 0; k < end_at; ++k) to[k] = weights[k];
  }
  return total;
}

// Counts lines and data lines of a buffer that another rank parses (gzip mode).
void count_lines(const char* begin, const char* end, const TextSyntax& s, ChunkStats& st) {
  const char* p = begin;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    if (classify(std::string_view(p, static_cast<std::size_t>(line_end - p)), s) == LineClass::data) ++st.data_lines;
    ++st.lines;
    p = nl ? nl + 1 : end;
  }
}

// The file's start: header lines and where the data begins (in decompressed bytes for gzip).
struct Layout {
  bool gzip = false;
  std::uint64_t data_begin = 0;       // byte offset of the first data line
  std::uint64_t header_physical = 0;  // lines (comments included) before it
  std::vector<std::string> header;    // the first `header_lines` non-comment lines
  std::vector<std::string> first;     // the next non-comment lines (for probing)
};

// Reads the start of the file (decompressing if needed) until `header_lines + extra` data
// lines have been seen.
Layout probe_layout(const std::string& path, const TextSyntax& s, int extra) {
  Layout layout;
  layout.gzip = is_gzip(path);
  std::optional<Inflater> inflater;
  std::optional<PosixFile> fd;
  if (layout.gzip)
    inflater.emplace(path);
  else
    fd.emplace(path);
  std::string pending;
  std::uint64_t consumed = 0;  // bytes of complete lines examined
  std::vector<char> buf(1 << 16);
  std::uint64_t pos = 0;
  bool eof = false;
  TextSyntax comments_only = s;
  comments_only.blank_lines_are_data = false;  // headers never are blank lines
  while (static_cast<int>(layout.header.size() + layout.first.size()) < s.header_lines + extra) {
    const std::size_t nl = pending.find('\n');
    if (nl == std::string::npos && !eof) {
      const std::size_t got = layout.gzip ? inflater->read(buf.data(), buf.size()) : fd->read_at(buf.data(), buf.size(), pos);
      pos += got;
      eof = got == 0;
      pending.append(buf.data(), got);
      continue;
    }
    if (pending.empty()) break;
    const std::size_t len = nl == std::string::npos ? pending.size() : nl + 1;
    std::string line = pending.substr(0, nl == std::string::npos ? pending.size() : nl);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pending.erase(0, len);
    const bool data = classify(line, comments_only) == LineClass::data;
    if (data && static_cast<int>(layout.header.size()) < s.header_lines) {
      layout.header.push_back(line);
      consumed += len;
      layout.header_physical += 1;
      layout.data_begin = consumed;
      continue;
    }
    if (static_cast<int>(layout.header.size()) < s.header_lines) {  // a comment before the header ends
      consumed += len;
      layout.header_physical += 1;
      layout.data_begin = consumed;
      continue;
    }
    if (data) layout.first.push_back(line);
    consumed += len;
  }
  return layout;
}

// Plain files: this rank's byte range of the data region, streamed through two bounded blocks:
// the next block is read (std::async) while the threads parse this one, so reading and parsing
// overlap; a line cut by a block's end moves to the front of the next.
ChunkStats scan_range(const std::string& path, const TextSyntax& s, const Layout& layout, const Comm& comm, EdgeList& out,
                      const ReadProgress& progress) {
  const PosixFile fd(path);
  const std::uint64_t size = fd.size();
  const std::uint64_t base = std::min(layout.data_begin, size);
  const std::uint64_t span = size - base;
  const auto P = static_cast<std::uint64_t>(comm.size());
  const auto r = static_cast<std::uint64_t>(comm.rank());
  const std::uint64_t begin = line_start_at_or_after(fd, base + block_begin(span, r, P), base, size);
  const std::uint64_t end = line_start_at_or_after(fd, base + block_begin(span, r + 1, P), base, size);
  ChunkStats total;
  if (progress && comm.is_root()) progress(0, end - begin);
  // Appends the block at `at` after the first `keep` bytes of buf; returns the bytes read.
  auto read_block = [&fd, end](std::vector<char>& buf, std::size_t keep, std::uint64_t at) -> std::size_t {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - at));
    buf.resize(keep + want);
    return want ? fd.read_at(buf.data() + keep, want, at) : 0;
  };
  std::vector<char> cur, next;
  std::vector<double> weights;  // parse_buffer's scratch column, reused
  std::uint64_t pos = begin;
  std::size_t got = pos < end ? read_block(cur, 0, pos) : 0;
  pos += got;
  std::size_t filled = got;  // valid bytes in cur
  while (filled > 0) {
    const bool last = pos >= end || got == 0;
    std::size_t usable = filled;
    if (!last) {  // parse up to the last complete line
      std::size_t cut = usable;
      while (cut > 0 && cur[cut - 1] != '\n') --cut;
      if (cut == 0) {  // one line longer than the block: read more before parsing
        got = read_block(cur, filled, pos);
        pos += got;
        filled += got;
        continue;
      }
      usable = cut;
    }
    const std::size_t rest = filled - usable;
    std::future<std::size_t> reading;
    if (!last) {
      next.resize(rest);
      std::memcpy(next.data(), cur.data() + usable, rest);
      reading = std::async(std::launch::async, [&read_block, &next, rest, at = pos] { return read_block(next, rest, at); });
    }
    const std::size_t first_new = out.size();
    ChunkStats block = parse_buffer(cur.data(), cur.data() + usable, s, out, weights, end - begin);
    if (s.format == LineFormat::metis)
      for (std::size_t i = first_new; i < out.size(); ++i) out.src()[i] += total.data_lines;
    if (block.error) {
      total.error = ParseError{total.lines + block.error->line, block.error->column, block.error->message};
      return total;  // (the future's destructor waits for the read in flight)
    }
    total.lines += block.lines;
    total.data_lines += block.data_lines;
    total.saw_value = total.saw_value || block.saw_value;
    if (last) break;
    got = reading.get();
    pos += got;
    filled = rest + got;
    cur.swap(next);
    if (progress && comm.is_root()) progress(pos - begin, end - begin);
  }
  return total;
}

// Gzip files: every rank inflates the stream; block b is parsed by rank b mod P, and every
// rank counts all lines so that its line numbers and METIS vertex numbers are global.
ChunkStats scan_gzip(const std::string& path, const TextSyntax& s, const Layout& layout, const Comm& comm, EdgeList& out,
                     std::uint64_t& lines_before_error, const ReadProgress& progress) {
  Inflater in(path);
  const std::uint64_t compressed = PosixFile(path).size();
  if (progress && comm.is_root()) progress(0, compressed);
  std::vector<char> skip(1 << 16);
  for (std::uint64_t left = layout.data_begin; left > 0;) {  // the header, already parsed
    const std::size_t got = in.read(skip.data(), static_cast<std::size_t>(std::min<std::uint64_t>(left, skip.size())));
    if (got == 0) break;
    left -= got;
  }
  ChunkStats total;  // over all blocks, all ranks
  std::vector<char> buf(kBlock);
  std::vector<double> weights;  // parse_buffer's scratch column, reused
  std::size_t carry = 0;
  for (std::uint64_t block = 0;; ++block) {
    const std::size_t got = in.read(buf.data() + carry, buf.size() - carry);
    const bool last = got == 0;
    std::size_t usable = carry + got;
    if (!last) {
      std::size_t cut = usable;
      while (cut > 0 && buf[cut - 1] != '\n') --cut;
      if (cut == 0) {  // a line longer than the buffer: grow it
        carry = usable;
        buf.resize(buf.size() * 2);
        --block;
        continue;
      }
      usable = cut;
    }
    if (static_cast<int>(block % static_cast<std::uint64_t>(comm.size())) == comm.rank()) {
      const std::size_t first_new = out.size();
      ChunkStats mine = parse_buffer(buf.data(), buf.data() + usable, s, out, weights, 0);
      if (s.format == LineFormat::metis)
        for (std::size_t i = first_new; i < out.size(); ++i) out.src()[i] += total.data_lines;
      if (mine.error) {
        lines_before_error = total.lines;
        total.error = mine.error;
        return total;
      }
      total.saw_value = total.saw_value || mine.saw_value;
      total.lines += mine.lines;
      total.data_lines += mine.data_lines;
    } else {
      count_lines(buf.data(), buf.data() + usable, s, total);
    }
    const std::size_t rest = carry + got - usable;
    std::memmove(buf.data(), buf.data() + usable, rest);
    carry = rest;
    if (progress && comm.is_root()) progress(in.consumed(), compressed);
    if (last) break;
  }
  return total;
}

}  // namespace

bool is_gzip(const std::string& path) {
  const PosixFile fd(path);
  unsigned char magic[2] = {0, 0};
  return fd.read_at(reinterpret_cast<char*>(magic), 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

std::string read_head(const std::string& path, std::size_t bytes) {
  std::string head(bytes, '\0');
  std::size_t got = 0;
  if (is_gzip(path)) {
    Inflater in(path);
    while (got < bytes) {
      const std::size_t n = in.read(head.data() + got, bytes - got);
      if (n == 0) break;
      got += n;
    }
  } else {
    got = PosixFile(path).read_at(head.data(), bytes, 0);
  }
  head.resize(got);
  return head;
}

void require_readable_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (path.empty()) throw_usage("no " + what + " file given");
  if (::stat(path.c_str(), &st) != 0) throw_input("cannot open " + what + " file " + path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw_input(what + " " + path + " is a directory, expected a file");
  if (::access(path.c_str(), R_OK) != 0) throw_input("cannot read " + what + " file " + path + ": " + std::strerror(errno));
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // access() says yes to root, open may not
  if (fd < 0) throw_input("cannot read " + what + " file " + path + ": " + std::strerror(errno));
  ::close(fd);
}

std::vector<std::string> first_data_lines(const std::string& path, int count, const Comm& comm) {
  Layout layout;
  comm.agree([&] {
    require_readable_file(path, "input");
    if (comm.is_root()) layout = probe_layout(path, TextSyntax{}, count);
  });
  std::string joined;
  for (const auto& l : layout.first) joined += l + '\n';
  joined = comm.bcast_string(joined, 0);
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < joined.size();) {
    const std::size_t nl = joined.find('\n', at);
    lines.push_back(joined.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

TextFile read_text(const std::string& path, const TextSyntax& syntax, const Comm& comm, const ReadProgress& progress) {
  // The layout is read by rank 0 and shared: every rank then agrees on where the data starts.
  Layout layout;
  comm.agree([&] {
    require_readable_file(path, "input");
    if (comm.is_root()) layout = probe_layout(path, syntax, 0);
  });
  layout.gzip = comm.bcast_value<int>(layout.gzip ? 1 : 0, 0) != 0;
  layout.data_begin = comm.bcast_value(layout.data_begin, 0);
  layout.header_physical = comm.bcast_value(layout.header_physical, 0);
  std::string joined;
  for (const auto& l : layout.header) joined += l + '\n';
  joined = comm.bcast_string(joined, 0);
  TextFile file;
  file.gzip = layout.gzip;
  if (syntax.format == LineFormat::edge) file.records = EdgeList::packed_ids();
  for (std::size_t at = 0; at < joined.size();) {
    const std::size_t nl = joined.find('\n', at);
    file.header.push_back(joined.substr(at, nl - at));
    at = nl + 1;
  }
  comm.agree([&] {
    if (static_cast<int>(file.header.size()) < syntax.header_lines)
      throw_input(path + ": expected " + std::to_string(syntax.header_lines) + " header line(s), found " +
                  std::to_string(file.header.size()));
  });

  ChunkStats stats;
  std::uint64_t lines_before = 0;
  std::optional<Error> io_error;
  try {
    if (layout.gzip)
      stats = scan_gzip(path, syntax, layout, comm, file.records, lines_before, progress);
    else
      stats = scan_range(path, syntax, layout, comm, file.records, progress);
  } catch (const Error& e) {
    io_error = e;
  }
  comm.raise_if_any(io_error);
  std::uint64_t data_before = 0;
  if (!layout.gzip) {
    // Every rank owns whole lines, so lines before this rank's first are those of lower
    // ranks. A rank that stopped at an error counted up to it: exact for the lowest failing
    // rank, the one whose error is reported.
    lines_before = comm.exscan_sum<std::uint64_t>(stats.lines);
    data_before = comm.exscan_sum<std::uint64_t>(stats.data_lines);
    file.data_lines = comm.allreduce(stats.data_lines, ReduceOp::sum);
  } else {
    file.data_lines = comm.allreduce(stats.data_lines, ReduceOp::max);
  }
  // The lowest rank with an error reports it; in gzip mode ranks hold interleaved blocks, so
  // pick the error with the smallest line number instead.
  const std::uint64_t error_line = stats.error ? layout.header_physical + lines_before + stats.error->line + 1 : ~0ull;
  const std::uint64_t first_error = comm.allreduce(error_line, ReduceOp::min);
  comm.agree([&] {
    if (stats.error && error_line == first_error)
      throw_input(path + ":" + std::to_string(error_line) + ":" + std::to_string(stats.error->column) + ": " +
                  stats.error->message);
  });
  if (syntax.format == LineFormat::metis) {
    const VertexId shift = (layout.gzip ? 0 : data_before) + 1;  // METIS vertices are 1-based
    for (VertexId& src : file.records.src()) src += shift;
  }
  file.valued = comm.allreduce<int>(stats.saw_value ? 1 : 0, ReduceOp::max) != 0;
  return file;
}

TextEdges read_text_edges(const std::string& path, const Comm& comm, bool ignore_weights, int header_lines,
                          const ReadProgress& progress) {
  TextSyntax s;
  s.read_value = !ignore_weights;
  s.header_lines = header_lines;
  TextFile f = read_text(path, s, comm, progress);
  return TextEdges{std::move(f.records), f.valued};
}

TextIds read_text_ids(const std::string& path, const Comm& comm, int max_fields) {
  TextSyntax s;
  s.format = LineFormat::id;
  s.max_fields = max_fields;
  s.read_value = max_fields > 1;
  s.value_name = "value";
  TextFile f = read_text(path, s, comm);
  TextIds out;
  out.records.reserve(f.records.size());
  for (std::size_t i = 0; i < f.records.size(); ++i) out.records.push_back(IdValue{f.records.src()[i], f.records.weight(i)});
  out.valued = f.valued;
  return out;
}

}  // namespace perron
