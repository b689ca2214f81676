// Replays every checked-in fuzz input (tests/fuzz/corpus/<target>/*: the seed corpus and every
// crash ever found, kept under the name libFuzzer gave it) through its target, on every rank
// of the job. An input passes when perron keeps its promise: exit code 0, 2, 3 or 4 and no
// crash (a sanitizer build turns memory errors and undefined behaviour into crashes).
//
//   perron_fuzz_replay CORPUS_DIR [TARGET]     (under mpirun, any number of ranks)
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz_targets.hpp"
#include "perron/comm/comm.hpp"

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  perron::Environment env(argc, argv);
  const perron::Comm comm = perron::Environment::world();
  if (argc < 2) {
    if (comm.is_root()) std::fprintf(stderr, "usage: perron_fuzz_replay CORPUS_DIR [TARGET]\n");
    return 2;
  }
  const fs::path corpus = argv[1];
  const std::string only = argc > 2 ? argv[2] : "";
  // One scratch folder for the job, named by rank 0, for the files each input becomes.
  std::string scratch;
  if (comm.is_root()) {
    char name[] = "/tmp/perron-fuzz-replay.XXXXXX";
    scratch = mkdtemp(name) ? name : "/tmp";
  }
  scratch = comm.bcast_string(scratch, 0);
  int passed = 0, failed = 0;
  for (const perron::fuzz::Target& target : perron::fuzz::targets()) {
    if (!only.empty() && target.name != only) continue;
    const fs::path dir = corpus / target.name;
    std::vector<fs::path> inputs;
    if (fs::is_directory(dir))
      for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_regular_file()) inputs.push_back(entry.path());
    std::sort(inputs.begin(), inputs.end());
    if (inputs.empty()) {
      if (comm.is_root()) std::printf("FAIL %s: no corpus in %s\n", target.name.c_str(), dir.c_str());
      ++failed;
      continue;
    }
    for (const fs::path& input : inputs) {
      std::ifstream in(input, std::ios::binary);
      const std::vector<std::uint8_t> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      // perron's own messages for bad inputs are expected here; keep the log to the verdicts.
      std::fflush(stdout);
      const int code = perron::fuzz::run_one(target, data, scratch, comm);
      const bool ok = perron::fuzz::acceptable_exit(code);
      if (comm.is_root())
        std::printf("%s %s/%s: exit %d\n", ok ? "ok  " : "FAIL", target.name.c_str(), input.filename().c_str(), code);
      ok ? ++passed : ++failed;
    }
  }
  comm.barrier();
  if (comm.is_root()) {
    fs::remove_all(scratch);
    std::printf("%d passed, %d failed\n", passed, failed);
  }
  return failed == 0 ? 0 : 1;
}
