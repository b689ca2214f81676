#pragma once
// The fuzz targets: one per parser entry point, each turning a byte string into the files a
// perron command reads and the command line that reads them. The same table serves libFuzzer
// (tests/fuzz/libfuzzer_main.cpp, built with clang by bench/fuzz.sh) and the corpus replay
// that ctest runs in every build, the sanitized one included (tests/fuzz/replay_main.cpp).
//
// Every input runs the real binary's code path, run_cli, end to end: parse, build, solve, and
// no output file. What counts as a finding: a crash, a sanitizer report, a hang (libFuzzer's
// -timeout), or exit code 1 (perron's "internal error": an exception that no check turned into
// a clear message). Exit codes 0, 2 (usage), 3 (input) and 4 (output) are the contract.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "perron/comm/comm.hpp"

namespace perron::fuzz {

struct Target {
  std::string name;  // also the corpus folder: tests/fuzz/corpus/<name>/
  // Writes the input files for `data` into `dir` (rank 0 only; the caller synchronises) and
  // returns the perron arguments after the program name.
  std::vector<std::string> (*prepare)(const std::string& dir, std::span<const std::uint8_t> data);
};

const std::vector<Target>& targets();
const Target* find_target(const std::string& name);

// Runs one input on every rank of `comm`: prepare on rank 0, then run_cli everywhere.
// Returns run_cli's exit code.
int run_one(const Target& target, std::span<const std::uint8_t> data, const std::string& dir, const Comm& comm);

// Whether an exit code keeps perron's promise (0, 2, 3 or 4).
inline bool acceptable_exit(int code) { return code == 0 || code == 2 || code == 3 || code == 4; }

}  // namespace perron::fuzz
