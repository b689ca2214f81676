#include "perron/io/seed_sets.hpp"

#include <charconv>
#include <cmath>
#include <fstream>

#include "perron/core/error.hpp"
#include "perron/io/text_records.hpp"

namespace perron {
namespace {

bool separator(char c) { return c == ',' || c == ' ' || c == '\t' || c == '\r'; }

// Adds one line's set to `out`; `where` prefixes errors ("FILE:LINE").
void parse_set(const std::string& line, std::uint64_t number, const std::string& where, bool in_file, SeedSets& out) {
  std::size_t at = 0;
  const std::size_t before = out.id.size();
  while (at < line.size()) {
    while (at < line.size() && separator(line[at])) ++at;
    std::size_t end = at;
    while (end < line.size() && !separator(line[end])) ++end;
    if (end == at) break;
    const std::string token = line.substr(at, end - at);
    const std::size_t colon = token.find(':');
    const std::string id_text = token.substr(0, colon);
    VertexId id = 0;
    auto [p, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
    if (id_text.empty() || ec != std::errc() || p != id_text.data() + id_text.size())
      throw_input(where + ": expected a vertex id (a non-negative integer), or id:weight, found '" + token + "'");
    double weight = 1.0;
    if (colon != std::string::npos) {
      const std::string w = token.substr(colon + 1);
      auto [q, wec] = std::from_chars(w.data(), w.data() + w.size(), weight);
      if (w.empty() || wec != std::errc() || q != w.data() + w.size())
        throw_input(where + ": expected a weight after '" + id_text + ":', found '" + w + "'");
      if (!(weight > 0.0) || !std::isfinite(weight))
        throw_input(where + ": the weight of " + id_text + " must be > 0 and finite, got " + w);
    }
    out.id.push_back(id);
    out.weight.push_back(weight);
    at = end;
  }
  if (out.id.size() == before)
    throw_input(where + (in_file ? ": empty seed set (every line needs at least one id; '#' starts a comment line)"
                                 : ": empty list (give at least one id, e.g. 5,17)"));
  std::size_t first = 0, last = line.size();
  while (first < last && separator(line[first])) ++first;
  while (last > first && separator(line[last - 1])) --last;
  out.text.push_back(line.substr(first, last - first));
  out.line.push_back(number);
  out.start.push_back(out.id.size());
}

}  // namespace

SeedSets read_seed_sets(const std::string& path) {
  require_readable_file(path, "seed-set");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_input(path + ": cannot open the seed-set file");
  SeedSets out;
  out.start.push_back(0);
  std::string line;
  std::uint64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line[0] == '#') continue;
    if (line.find('\0') != std::string::npos) throw_input(path + ":" + std::to_string(number) + ": not a text file");
    parse_set(line, number, path + ":" + std::to_string(number), true, out);
  }
  if (in.bad()) throw_input(path + ": read error");
  if (out.sets() == 0) throw_input(path + ": no seed set in the file (one set a line: ids separated by commas or blanks)");
  return out;
}

SeedSets parse_seed_list(const std::string& list, const std::string& what) {
  SeedSets out;
  out.start.push_back(0);
  parse_set(list, 1, what, false, out);
  out.line.back() = 0;
  return out;
}

}  // namespace perron
