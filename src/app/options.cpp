#include "options.hpp"

#include <fmt/core.h>
#include <toml++/toml.h>

#include <sstream>

#include "perron/core/error.hpp"

namespace perron {
namespace {

std::string where(const std::string& file, const toml::source_region& src) {
  return file + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column);
}

std::string dotted(const std::vector<std::string>& section) {
  std::string out;
  for (const auto& s : section) out += (out.empty() ? "" : ".") + s;
  return out;
}

}  // namespace

OptionSet::OptionSet(CLI::App& app, std::vector<std::string> section) : app_(app), section_(std::move(section)) {
  app_.add_option("-c,--config", config_path_,
                  "TOML config file; its [" + dotted(section_) + "] table sets any option below (flags win)");
}

CLI::Option* OptionSet::add_flag(const std::string& flags, bool& field, const std::string& help) {
  CLI::Option* opt = app_.add_flag(flags, field, help);
  entries_.push_back(Entry{opt->get_lnames().front(), &field, opt});
  return opt;
}

CLI::Validator OptionSet::non_negative_integer() {
  return CLI::Validator(
      [](std::string& text) {
        const std::size_t at = text.find_first_not_of(" \t");
        return at != std::string::npos && text[at] == '-' ? std::string("must be >= 0, got " + text) : std::string();
      },
      "", "NonNegative");
}

void OptionSet::apply_config_file(const std::vector<std::string>& known_sections) {
  if (!config_path_.empty()) read_config_file(known_sections);
  for (const std::string& key : required_)
    if (!given(key))
      throw_usage("--" + key + " is required: give it on the command line, or as '" + key + " = ...' in the [" +
                  dotted(section_) + "] table of a config file (-c FILE)");
}

void OptionSet::read_config_file(const std::vector<std::string>& known_sections) {
  toml::table doc;
  try {
    doc = toml::parse_file(config_path_);
  } catch (const toml::parse_error& e) {
    throw_usage(where(config_path_, e.source()) + ": invalid TOML: " + std::string(e.description()));
  } catch (const std::exception& e) {
    throw_usage("cannot read config file " + config_path_ + ": " + e.what());
  }
  // Walk to this command's table, refusing top-level keys that belong to no command.
  const toml::table* table = &doc;
  for (std::size_t depth = 0; depth < section_.size(); ++depth) {
    for (const auto& [key, node] : *table) {
      const std::string k(key.str());
      bool known = k == section_[depth];
      for (const auto& s : known_sections) known = known || s == k;  // another command's table
      if (!known)
        throw_usage(where(config_path_, key.source()) + ": unknown key '" + k + "' at " +
                    (depth == 0 ? std::string("top level")
                                : "[" + dotted({section_.begin(), section_.begin() + static_cast<long>(depth)}) + "]") +
                    "; expected a table [" + dotted(section_) + "]");
    }
    const toml::node* next = table->get(section_[depth]);
    if (!next) return;  // nothing for this command in the file
    if (!next->is_table()) throw_usage(where(config_path_, next->source()) + ": '" + section_[depth] + "' must be a table");
    table = next->as_table();
  }
  for (const auto& entry : *table) {
    const toml::key& key = entry.first;  // not a structured binding: clang (14) cannot capture one in a lambda
    const toml::node& node = entry.second;
    const std::string k(key.str());
    auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == k; });
    if (it == entries_.end() && k == "config")
      throw_usage(where(config_path_, key.source()) + ": a config file cannot name another config file");
    if (it == entries_.end() && std::find(known_sections.begin(), known_sections.end(), k) != known_sections.end())
      continue;  // a nested subcommand's table, e.g. [generate.kronecker] while in [generate]
    if (it == entries_.end()) {
      std::string known;
      for (const auto& e : entries_) known += (known.empty() ? "" : ", ") + e.key;
      throw_usage(where(config_path_, key.source()) + ": unknown key '" + k + "' in [" + dotted(section_) +
                  "]; known keys: " + known);
    }
    if (it->option->count() > 0) continue;  // the command line wins
    from_file_.push_back(k);
    const std::string at = where(config_path_, node.source()) + ": '" + k + "' ";
    // The value as the text a user would type after the flag, type-checked against the field.
    const std::string text = std::visit(
        [&](auto field) -> std::string {
          using T = std::remove_pointer_t<decltype(field)>;
          if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, ChoiceName>) {
            if (!node.is_string()) throw_usage(at + "must be a string");
            return node.as_string()->get();
          } else if constexpr (std::is_same_v<T, bool>) {
            if (!node.is_boolean()) throw_usage(at + "must be true or false");
            return node.as_boolean()->get() ? "true" : "false";
          } else if constexpr (std::is_same_v<T, double>) {
            if (node.is_integer()) return std::to_string(node.as_integer()->get());
            if (node.is_floating_point()) return fmt::format("{}", node.as_floating_point()->get());
            throw_usage(at + "must be a number");
          } else {
            if (!node.is_integer()) throw_usage(at + "must be an integer");
            const std::int64_t v = node.as_integer()->get();
            if (v < 0 && std::is_unsigned_v<T>) throw_usage(at + "must be >= 0, got " + std::to_string(v));
            return std::to_string(v);
          }
        },
        it->field);
    // Through CLI11, so the option's validators (choices, ranges) and conversions apply to a
    // file's value exactly as to a flag's.
    try {
      it->option->clear();
      it->option->add_result(text);
      it->option->run_callback();
    } catch (const CLI::ParseError& e) {
      throw_usage(at + "= " + (node.is_string() ? "\"" + text + "\"" : text) + " is not accepted: " + e.what());
    }
  }
}

bool OptionSet::given(const std::string& key) const {
  for (const Entry& e : entries_)
    if (e.key == key && e.option->count() > 0) return true;
  return std::find(from_file_.begin(), from_file_.end(), key) != from_file_.end();
}

std::string OptionSet::effective_toml() const {
  toml::table body;
  for (const Entry& e : entries_) {
    std::visit(
        [&](auto field) {
          using T = std::remove_pointer_t<decltype(field)>;
          if constexpr (std::is_same_v<T, ChoiceName>)
            body.insert(e.key, field.get());
          else if constexpr (std::is_same_v<T, std::uint64_t>)
            body.insert(e.key, static_cast<std::int64_t>(*field));
          else
            body.insert(e.key, *field);
        },
        e.field);
  }
  toml::table root;
  toml::table* at = &root;
  for (std::size_t i = 0; i + 1 < section_.size(); ++i) {
    at->insert(section_[i], toml::table{});
    at = at->get(section_[i])->as_table();
  }
  at->insert(section_.back(), std::move(body));
  std::ostringstream out;
  // Relaxed precision prints 1e-12, not 9.9999999999999998e-13; every decimal a person types
  // (at most 15 significant digits) still reads back as the same double.
  out << toml::toml_formatter(root, toml::toml_formatter::default_flags | toml::format_flags::relaxed_float_precision) << "\n";
  return out.str();
}

}  // namespace perron
