#include "perron/io/evlp.hpp"

#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>

#include "perron/core/error.hpp"
#include "perron/io/text_records.hpp"

namespace perron {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

EvlpProperties read_evlp_properties(const std::string& path) {
  require_readable_file(path, "properties");
  std::ifstream in(path);
  if (!in) throw_input("cannot open properties file " + path);
  struct Entry {
    std::string value;
    int line;
  };
  std::map<std::string, Entry> keys;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == '!') continue;
    const auto eq = t.find_first_of("=:");
    if (eq == std::string::npos)
      throw_input(path + ":" + std::to_string(line_no) + ": expected 'key = value', found '" + t + "'");
    keys[trim(t.substr(0, eq))] = Entry{trim(t.substr(eq + 1)), line_no};
  }
  EvlpProperties props;
  for (const auto& [key, entry] : keys) {
    constexpr std::string_view suffix = ".vertex-file";
    if (key.rfind("graph.", 0) == 0 && key.size() > suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
      props.name = key.substr(6, key.size() - 6 - suffix.size());
    }
  }
  if (props.name.empty()) throw_input(path + ": no 'graph.NAME.vertex-file' key: is this a Graphalytics .properties file?");
  const std::string prefix = "graph." + props.name + ".";
  auto get = [&](const std::string& k) -> const Entry* {
    auto it = keys.find(prefix + k);
    return it == keys.end() ? nullptr : &it->second;
  };
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  auto resolve = [&](const char* k) {
    const Entry* e = get(k);
    if (!e) throw_input(path + ": missing key '" + prefix + k + "'");
    return (dir / e->value).string();
  };
  props.vertex_file = resolve("vertex-file");
  props.edge_file = resolve("edge-file");
  if (const Entry* e = get("directed")) {
    if (e->value != "true" && e->value != "false")
      throw_input(path + ":" + std::to_string(e->line) + ": '" + prefix + "directed' must be true or false, found '" + e->value +
                  "'");
    props.directed = e->value == "true";
  }
  if (const Entry* e = get("pr.damping-factor")) {
    double d = 0;
    auto [p, ec] = std::from_chars(e->value.data(), e->value.data() + e->value.size(), d);
    if (ec != std::errc() || p != e->value.data() + e->value.size() || !(d >= 0 && d <= 1))
      throw_input(path + ":" + std::to_string(e->line) + ": pr.damping-factor must be a number in [0, 1], found '" + e->value +
                  "'");
    props.pr_damping = d;
  }
  if (const Entry* e = get("pr.num-iterations")) {
    int it = 0;
    auto [p, ec] = std::from_chars(e->value.data(), e->value.data() + e->value.size(), it);
    if (ec != std::errc() || p != e->value.data() + e->value.size() || it < 0)
      throw_input(path + ":" + std::to_string(e->line) + ": pr.num-iterations must be an integer >= 0, found '" + e->value + "'");
    props.pr_iterations = it;
  }
  return props;
}

}  // namespace perron
