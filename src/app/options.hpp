#pragma once
// One definition per option, three uses: a CLI11 flag, a key in the TOML config file, and a
// line of the effective config recorded in every output. Precedence: built-in defaults <
// config file < command line. Keys are the long flag names without the dashes
// (`--max-iterations` ↔ `max-iterations = 1000`) in a table named after the subcommand
// (`[pagerank]`, `[generate.kronecker]`); an unknown key or a wrongly typed value is an
// error naming the file and line.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "choices.hpp"

namespace perron {

class OptionSet {
 public:
  // `section` is the subcommand path, e.g. {"generate", "kronecker"}.
  OptionSet(CLI::App& app, std::vector<std::string> section);

  template <class T>
  CLI::Option* add(const std::string& flags, T& field, const std::string& help) {
    CLI::Option* opt = app_.add_option(flags, field, help)->capture_default_str();
    // CLI11 reads "-1" into an unsigned field as 2^64 - 1; a count is never negative.
    if constexpr (std::is_unsigned_v<T>) opt->check(non_negative_integer());
    entries_.push_back(Entry{opt->get_lnames().front(), &field, opt});
    return opt;
  }
  // An option the command cannot run without, which may come from the command line or from
  // the config file (CLI11's required() would refuse it before the file is read).
  template <class T>
  CLI::Option* add_required(const std::string& flags, T& field, const std::string& help) {
    CLI::Option* opt = add(flags, field, help + " (required, on the command line or in the config file)");
    required_.push_back(opt->get_lnames().front());
    return opt;
  }
  CLI::Option* add_flag(const std::string& flags, bool& field, const std::string& help);
  // An option naming one value of `table`: the flag and the config file accept its names only,
  // and the effective config records the name.
  template <class E>
  CLI::Option* add_choice(const std::string& flags, E& field, ChoiceTable<E> table, const std::string& help) {
    CLI::Option* opt = app_.add_option_function<std::string>(
        flags, [&field, table](const std::string& name) { field = value_of(table, name); }, help);
    opt->check(CLI::IsMember(names_of(table)))->default_str(name_of(table, field));
    entries_.push_back(Entry{opt->get_lnames().front(), ChoiceName{[&field, table] { return name_of(table, field); }}, opt});
    return opt;
  }

  // After CLI parsing: reads the -c/--config file (if any) into every option that was not
  // given on the command line, each value through the option's own validators exactly as if
  // it had been typed as a flag; then checks that every required option was given.
  // `known_sections` are the other tables a file may hold.
  void apply_config_file(const std::vector<std::string>& known_sections);
  // The effective configuration as a TOML document.
  std::string effective_toml() const;
  const std::string& config_path() const { return config_path_; }
  // Whether the user set this option (by flag or in the config file), as opposed to its default.
  bool given(const std::string& key) const;

 private:
  struct ChoiceName {  // a choice's field, seen through its name
    std::function<std::string()> get;
  };
  using Field = std::variant<std::string*, double*, int*, std::int64_t*, std::uint64_t*, bool*, ChoiceName>;
  struct Entry {
    std::string key;
    Field field;
    CLI::Option* option;
  };
  CLI::App& app_;
  std::vector<std::string> section_;
  std::vector<Entry> entries_;
  std::string config_path_;
  std::vector<std::string> from_file_;  // keys the config file set
  std::vector<std::string> required_;   // keys that must be given
  static CLI::Validator non_negative_integer();
  void read_config_file(const std::vector<std::string>& known_sections);
};

}  // namespace perron
