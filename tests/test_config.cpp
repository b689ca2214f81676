// Option precedence: built-in defaults < config file < command line; unknown keys and wrong
// types in the file are errors that name the file and line.
#include <fstream>

#include "options.hpp"
#include "perron/core/error.hpp"
#include "support.hpp"

namespace perron::test {
namespace {

struct Settings {
  double damping = 0.85;
  int iterations = 0;
  std::string input = "default.txt";
  bool quiet = false;
};

std::string write_config(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("perron_cfg_" + std::to_string(world().rank()) + "_" + name);
  std::ofstream(path) << text;
  return path.string();
}

void parse(CLI::App& app, OptionSet& set, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes them reversed
  app.parse(args);
  set.apply_config_file({"pagerank", "generate", "info"});
}

TEST(Options, DefaultsThenFileThenFlags) {
  const std::string cfg = write_config("prec.toml", "[pagerank]\ndamping = 0.5\niterations = 7\nquiet = true\n");
  Settings s;
  CLI::App app;
  OptionSet set(app, {"pagerank"});
  set.add("--damping", s.damping, "");
  set.add("--iterations", s.iterations, "");
  set.add("-i,--input", s.input, "");
  set.add_flag("--quiet", s.quiet, "");
  parse(app, set, {"-c", cfg, "--iterations", "9"});
  EXPECT_EQ(s.damping, 0.5);        // from the file
  EXPECT_EQ(s.iterations, 9);       // the flag beats the file
  EXPECT_EQ(s.input, "default.txt");  // the default stays
  EXPECT_TRUE(s.quiet);
  const std::string effective = set.effective_toml();
  EXPECT_NE(effective.find("[pagerank]"), std::string::npos) << effective;
  EXPECT_NE(effective.find("iterations = 9"), std::string::npos) << effective;
  EXPECT_NE(effective.find("input = 'default.txt'"), std::string::npos) << effective;
}

TEST(Options, UnknownKeyNamesFileAndLine) {
  const std::string cfg = write_config("unknown.toml", "[pagerank]\ndamping = 0.5\ndampng = 0.4\n");
  Settings s;
  CLI::App app;
  OptionSet set(app, {"pagerank"});
  set.add("--damping", s.damping, "");
  try {
    parse(app, set, {"-c", cfg});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown.toml:3:1: unknown key 'dampng' in [pagerank]"), std::string::npos) << e.what();
  }
}

TEST(Options, WrongTypeAndStrayTablesAreErrors) {
  Settings s;
  {
    CLI::App app;
    OptionSet set(app, {"pagerank"});
    set.add("--iterations", s.iterations, "");
    EXPECT_THROW(parse(app, set, {"-c", write_config("type.toml", "[pagerank]\niterations = 'ten'\n")}), Error);
  }
  {
    CLI::App app;
    OptionSet set(app, {"pagerank"});
    set.add("--iterations", s.iterations, "");
    EXPECT_THROW(parse(app, set, {"-c", write_config("stray.toml", "iterations = 3\n")}), Error);
  }
  {
    CLI::App app;
    OptionSet set(app, {"pagerank"});
    set.add("--iterations", s.iterations, "");
    EXPECT_THROW(parse(app, set, {"-c", write_config("syntax.toml", "[pagerank\n")}), Error);
  }
  {  // sibling subcommand tables share a file: [generate.kronecker] beside [generate.qkv]
    CLI::App app;
    OptionSet set(app, {"generate", "qkv"});
    int seq = 0;
    set.add("--seq", seq, "");
    std::vector<std::string> args{"-c", write_config("siblings.toml", "[generate.kronecker]\nscale = 3\n[generate.qkv]\nseq = 77\n")};
    std::reverse(args.begin(), args.end());
    app.parse(args);
    set.apply_config_file({"pagerank", "generate", "kronecker", "qkv"});
    EXPECT_EQ(seq, 77);
  }
  {  // another command's table is allowed and ignored
    CLI::App app;
    OptionSet set(app, {"pagerank"});
    set.add("--iterations", s.iterations, "");
    parse(app, set, {"-c", write_config("other.toml", "[info]\nthreads = 2\n[pagerank]\niterations = 4\n")});
    EXPECT_EQ(s.iterations, 4);
  }
}

}  // namespace
}  // namespace perron::test
