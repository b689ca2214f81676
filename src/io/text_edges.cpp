#include <fcntl.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <optional>
#include <string_view>

#include "perron/io/text_records.hpp"

namespace perron {
namespace {

// A POSIX file descriptor closed on scope exit.
class Fd {
 public:
  Fd(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw_input("cannot open " + path + ": " + std::strerror(errno));
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  // Reads up to `len` bytes at `offset`; returns the count read (short only at end of file).
  std::size_t read_at(char* buf, std::size_t len, std::uint64_t offset, const std::string& path) const {
    std::size_t done = 0;
    while (done < len) {
      ssize_t got = ::pread(fd_, buf + done, len - done, static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw_input("cannot read " + path + ": " + std::strerror(errno));
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

 private:
  int fd_;
};

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw_input("cannot open " + path + ": " + std::strerror(errno));
  return static_cast<std::uint64_t>(st.st_size);
}

// First line start at or after byte `at`: 0, or one past the first '\n' at or after at−1.
std::uint64_t line_start_at_or_after(const Fd& fd, const std::string& path, std::uint64_t at,
                                     std::uint64_t size) {
  if (at == 0) return 0;
  if (at >= size) return size;
  char buf[65536];
  std::uint64_t pos = at - 1;
  while (pos < size) {
    std::size_t got = fd.read_at(buf, sizeof buf, pos, path);
    if (got == 0) break;
    if (const void* nl = std::memchr(buf, '\n', got))
      return pos + static_cast<std::uint64_t>(static_cast<const char*>(nl) - buf) + 1;
    pos += got;
  }
  return size;
}

struct ParseError {
  std::uint64_t line;    // 0-based line within the parsed range
  std::uint64_t column;  // 1-based byte column
  std::string message;
};

bool is_separator(char c) { return c == ' ' || c == '\t' || c == ',' || c == '\r'; }

// Splits a line into at most kMaxFields tokens; returns the number found (kMaxFields + 1
// signals "too many").
template <int kMaxFields>
int split_fields(std::string_view line, std::string_view (&tokens)[kMaxFields], std::size_t (&columns)[kMaxFields]) {
  int count = 0;
  std::size_t i = 0;
  while (true) {
    while (i < line.size() && is_separator(line[i])) ++i;
    if (i >= line.size()) return count;
    std::size_t j = i;
    while (j < line.size() && !is_separator(line[j])) ++j;
    if (count == kMaxFields) return kMaxFields + 1;
    tokens[count] = line.substr(i, j - i);
    columns[count] = i + 1;
    ++count;
    i = j;
  }
}

std::optional<std::string> parse_id(std::string_view tok, VertexId& out) {
  if (!tok.empty() && tok[0] == '-') return "expected a vertex id (integer >= 0), found negative '" + std::string(tok) + "'";
  auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), out);
  if (ec == std::errc::result_out_of_range) return "vertex id '" + std::string(tok) + "' exceeds 2^64-1";
  if (ec != std::errc() || ptr != tok.data() + tok.size())
    return "expected a vertex id (integer >= 0), found '" + std::string(tok) + "'";
  return std::nullopt;
}

std::optional<std::string> parse_weight(std::string_view tok, double& out, const char* what) {
  auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), out);
  if (ec != std::errc() || ptr != tok.data() + tok.size() || std::isnan(out))
    return std::string("expected a ") + what + " (number), found '" + std::string(tok) + "'";
  if (!std::isfinite(out)) return std::string(what) + " must be finite, found '" + std::string(tok) + "'";
  if (out < 0) return std::string(what) + " must be >= 0, found '" + std::string(tok) + "'";
  return std::nullopt;
}

// The record types a text file can hold: kIds leading id fields, then an optional value.
template <int kIds>
struct RecordOf;
template <>
struct RecordOf<2> {
  using type = RawEdge;
  static type make(const VertexId (&ids)[2], double w) { return {ids[0], ids[1], w}; }
};
template <>
struct RecordOf<1> {
  using type = IdValue;
  static type make(const VertexId (&ids)[1], double v) { return {ids[0], v}; }
};

struct ParseSettings {
  int max_fields;       // kIds or kIds + 1
  bool read_value;      // parse the optional last field
  const char* value_name;
};

// Parses whole lines in [begin, end). Returns the number of lines; stops at the first error.
template <int kIds>
std::uint64_t parse_lines(const char* begin, const char* end, const ParseSettings& settings,
                          std::vector<typename RecordOf<kIds>::type>& out, bool& saw_value,
                          std::optional<ParseError>& error) {
  constexpr int kMax = kIds + 1;
  std::uint64_t line_no = 0;
  const char* p = begin;
  while (p < end) {
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* line_end = nl ? nl : end;
    std::string_view line(p, static_cast<std::size_t>(line_end - p));
    p = nl ? nl + 1 : end;
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#' && line[first] != '%') {
      std::string_view tok[kMax];
      std::size_t col[kMax];
      const int n = split_fields<kMax>(line, tok, col);
      auto fail = [&](std::size_t column, std::string message) {
        error = ParseError{line_no, column, std::move(message)};
      };
      if (n < kIds || n > settings.max_fields) {
        fail(first + 1, "expected " + std::string(kIds == 2 ? "'src dst [weight]'" : (settings.max_fields == 1 ? "one vertex id" : "'id [value]'")) +
                            ", found " + (n > kMax ? std::string("more than ") + std::to_string(kMax) : std::to_string(n)) +
                            " field" + (n == 1 ? "" : "s"));
        return line_no;
      }
      VertexId ids[kIds];
      for (int f = 0; f < kIds; ++f) {
        if (auto msg = parse_id(tok[f], ids[f])) {
          fail(col[f], *msg);
          return line_no;
        }
      }
      double value = 1.0;
      if (n == kMax && settings.read_value) {
        if (auto msg = parse_weight(tok[kIds], value, settings.value_name)) {
          fail(col[kIds], *msg);
          return line_no;
        }
        saw_value = true;
      }
      out.push_back(RecordOf<kIds>::make(ids, value));
    }
    ++line_no;
  }
  return line_no;
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

template <int kIds>
struct RankScan {
  std::vector<typename RecordOf<kIds>::type> records;
  bool saw_value = false;
  std::uint64_t lines = 0;
  std::optional<ParseError> error;
};

// Reads this rank's share of lines through a bounded buffer, parsing each buffer with OpenMP.
template <int kIds>
RankScan<kIds> scan_rank_share(const std::string& path, const Comm& comm, const ParseSettings& settings) {
  RankScan<kIds> scan;
  const Fd fd(path);
  const std::uint64_t size = file_size(path);
  const auto p = static_cast<std::uint64_t>(comm.size());
  const auto r = static_cast<std::uint64_t>(comm.rank());
  const std::uint64_t begin = line_start_at_or_after(fd, path, size / p * r + std::min(r, size % p), size);
  const std::uint64_t end = line_start_at_or_after(fd, path, size / p * (r + 1) + std::min(r + 1, size % p), size);

  constexpr std::size_t kBlock = std::size_t{64} << 20;  // bounded memory while streaming
  std::vector<char> buf;
  std::uint64_t pos = begin;
  std::size_t carry = 0;  // bytes of an incomplete line kept from the previous block
  while (pos < end || carry > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kBlock, end - pos));
    buf.resize(carry + want);
    const std::size_t got = want ? fd.read_at(buf.data() + carry, want, pos, path) : 0;
    pos += got;
    const bool last = pos >= end || got == 0;
    std::size_t usable = carry + got;
    if (!last) {  // parse up to the last complete line, keep the rest for the next block
      const char* data = buf.data();
      std::size_t cut = usable;
      while (cut > 0 && data[cut - 1] != '\n') --cut;
      if (cut == 0) {  // one line longer than the block: read more before parsing
        carry = usable;
        continue;
      }
      usable = cut;
    }
    const int threads = omp_get_max_threads();
    const std::vector<const char*> cuts = cut_at_lines(buf.data(), buf.data() + usable, threads);
    std::vector<RankScan<kIds>> parts(static_cast<std::size_t>(threads));
#pragma omp parallel for schedule(static, 1) num_threads(threads)
    for (int t = 0; t < threads; ++t) {
      auto& part = parts[static_cast<std::size_t>(t)];
      part.lines = parse_lines<kIds>(cuts[static_cast<std::size_t>(t)], cuts[static_cast<std::size_t>(t) + 1], settings,
                                     part.records, part.saw_value, part.error);
    }
    for (auto& part : parts) {  // concatenate in file order; the first error wins
      if (part.error) {
        scan.error = ParseError{scan.lines + part.error->line, part.error->column, part.error->message};
        return scan;
      }
      scan.records.insert(scan.records.end(), part.records.begin(), part.records.end());
      scan.saw_value = scan.saw_value || part.saw_value;
      scan.lines += part.lines;
    }
    const std::size_t rest = carry + got - usable;
    std::memmove(buf.data(), buf.data() + usable, rest);
    carry = last ? 0 : rest;
    if (last) break;
  }
  return scan;
}

// Reads and parses on every rank, then agrees on the first error in file order.
template <int kIds>
RankScan<kIds> scan_file(const std::string& path, const Comm& comm, const ParseSettings& settings) {
  RankScan<kIds> scan;
  std::optional<Error> io_error;
  try {
    require_readable_file(path, "input");
    scan = scan_rank_share<kIds>(path, comm, settings);
  } catch (const Error& e) {
    io_error = e;
  }
  comm.raise_if_any(io_error);
  // Line numbers: every rank owns whole lines, so the lines before this rank's first line
  // are the lines owned by lower ranks. A rank that stopped at an error counted only up to it,
  // which is exact for the lowest failing rank: the one whose error is reported.
  const std::uint64_t lines_before = comm.exscan_sum<std::uint64_t>(scan.lines);
  comm.agree([&] {
    if (scan.error)
      throw_input(path + ":" + std::to_string(lines_before + scan.error->line + 1) + ":" +
                  std::to_string(scan.error->column) + ": " + scan.error->message);
  });
  return scan;
}

}  // namespace

void require_readable_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (path.empty()) throw_usage("no " + what + " file given");
  if (::stat(path.c_str(), &st) != 0)
    throw_input("cannot open " + what + " file " + path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw_input(what + " " + path + " is a directory, expected a file");
  if (::access(path.c_str(), R_OK) != 0)
    throw_input("cannot read " + what + " file " + path + ": " + std::strerror(errno));
}

TextEdges read_text_edges(const std::string& path, const Comm& comm, bool ignore_weights) {
  const ParseSettings settings{3, !ignore_weights, "weight"};
  RankScan<2> scan = scan_file<2>(path, comm, settings);
  TextEdges out;
  out.weighted = comm.allreduce<int>(scan.saw_value ? 1 : 0, ReduceOp::max) != 0;
  out.lines = comm.allreduce<std::uint64_t>(scan.lines, ReduceOp::sum);
  out.edges = std::move(scan.records);
  return out;
}

TextIds read_text_ids(const std::string& path, const Comm& comm, int max_fields) {
  const ParseSettings settings{max_fields, max_fields > 1, "value"};
  RankScan<1> scan = scan_file<1>(path, comm, settings);
  TextIds out;
  out.valued = comm.allreduce<int>(scan.saw_value ? 1 : 0, ReduceOp::max) != 0;
  out.records = std::move(scan.records);
  return out;
}

}  // namespace perron
