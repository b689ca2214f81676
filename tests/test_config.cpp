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
  EXPECT_EQ(s.damping, 0.5);          // from the file
  EXPECT_EQ(s.iterations, 9);         // the flag beats the file
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
    std::vector<std::string> args{"-c",
                                  write_config("siblings.toml", "[generate.kronecker]\nscale = 3\n[generate.qkv]\nseq = 77\n")};
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

// A value from the file passes the option's own validators, as the same value typed as a flag
// does; the error names file:line.
TEST(Options, FileValuesGoThroughTheFlagValidators) {
  for (const auto& [text, expected] : std::vector<std::pair<std::string, std::string>>{
           {"solver = \"gmres\"\n", "check.toml:2:10: 'solver' = \"gmres\" is not accepted: --solver: gmres not in"},
           {"damping = 1.5\n", "check.toml:2:11: 'damping' = 1.5 is not accepted: --damping: Value 1.5 not in range"},
           {"count = -3\n", "check.toml:2:9: 'count' must be >= 0, got -3"}}) {
    CLI::App app;
    OptionSet set(app, {"pagerank"});
    std::string solver = "power";
    double damping = 0.85;
    std::uint64_t count = 0;
    set.add("--solver", solver, "")->check(CLI::IsMember({"power", "cg"}));
    set.add("--damping", damping, "")->check(CLI::Range(0.0, 1.0));
    set.add("--count", count, "");
    try {
      parse(app, set, {"-c", write_config("check.toml", "[pagerank]\n" + text)});
      ADD_FAILURE() << "accepted " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage);
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
    EXPECT_EQ(solver, "power");  // nothing of a refused file is kept
  }
  CLI::App app;  // the same flag on the command line: the same refusal from CLI11
  OptionSet set(app, {"pagerank"});
  std::uint64_t count = 0;
  set.add("--count", count, "");
  EXPECT_THROW(parse(app, set, {"--count", "-1"}), CLI::ValidationError);
}

// A required option may come from the file; missing everywhere, it is a usage error naming
// both places.
// A choice option: its table's names from the flag or the file, the name in the effective
// config, and any other name refused with the names it knows.
TEST(Options, ChoicesComeFromTheirTable) {
  for (const bool from_file : {false, true}) {
    const std::string cfg = write_config("choice.toml", "[pagerank]\nsolver = \"anderson\"\n");
    PageRankSolver solver = PageRankSolver::power;
    CLI::App app;
    OptionSet set(app, {"pagerank"});
    set.add_choice("--solver", solver, ChoiceTable<PageRankSolver>(kPageRankSolvers), "");
    parse(app, set, from_file ? std::vector<std::string>{"-c", cfg} : std::vector<std::string>{"--solver", "anderson"});
    EXPECT_EQ(solver, PageRankSolver::anderson);
    EXPECT_NE(set.effective_toml().find("solver = 'anderson'"), std::string::npos) << set.effective_toml();
  }
  PageRankSolver solver = PageRankSolver::power;
  CLI::App app;
  OptionSet set(app, {"pagerank"});
  set.add_choice("--solver", solver, ChoiceTable<PageRankSolver>(kPageRankSolvers), "");
  EXPECT_NE(set.effective_toml().find("solver = 'power'"), std::string::npos);  // the default, by name
  const std::string bad = write_config("bad_choice.toml", "[pagerank]\nsolver = \"gmres\"\n");
  try {
    parse(app, set, {"-c", bad});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("bad_choice.toml:2"), std::string::npos) << what;
    EXPECT_NE(what.find("gmres"), std::string::npos) << what;
    EXPECT_NE(what.find("anderson"), std::string::npos) << what;  // the names it knows
  }
  for (const Choice<PageRankSolver>& c : kPageRankSolvers)  // names and values round-trip
    EXPECT_EQ(value_of<PageRankSolver>(kPageRankSolvers, name_of<PageRankSolver>(kPageRankSolvers, c.value)), c.value);
}

TEST(Options, RequiredOptionsMayComeFromTheFile) {
  {
    CLI::App app;
    OptionSet set(app, {"convert"});
    std::string output;
    set.add_required("-o,--output", output, "file to write");
    parse(app, set, {"-c", write_config("req.toml", "[convert]\noutput = \"x.h5\"\n")});
    EXPECT_EQ(output, "x.h5");
    EXPECT_TRUE(set.given("output"));
  }
  CLI::App app;
  OptionSet set(app, {"convert"});
  std::string output;
  set.add_required("-o,--output", output, "file to write");
  try {
    parse(app, set, {});
    ADD_FAILURE() << "a missing required option was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "--output is required: give it on the command line, or as 'output = ...' in the [convert] table"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace perron::test
