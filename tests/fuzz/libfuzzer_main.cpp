// libFuzzer entry for one target, chosen at build time (-DPERRON_FUZZ_TARGET="text"); built
// with clang by bench/fuzz.sh. MPI runs as a singleton (one rank, no mpirun).
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "fuzz_targets.hpp"
#include "perron/comm/comm.hpp"

namespace {

struct Session {
  std::unique_ptr<perron::Environment> env;
  const perron::fuzz::Target* target = nullptr;
  std::string scratch;
};

Session& session() {
  static Session s;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  Session& s = session();
  s.env = std::make_unique<perron::Environment>(*argc, *argv);
  s.target = perron::fuzz::find_target(PERRON_FUZZ_TARGET);
  if (!s.target) std::abort();
  char name[] = "/dev/shm/perron-fuzz.XXXXXX";
  s.scratch = mkdtemp(name) ? name : "/tmp";
  // perron's messages for bad inputs are the expected outcome: silence them (PERRON_FUZZ_VERBOSE=1 keeps them).
  if (!std::getenv("PERRON_FUZZ_VERBOSE")) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::close(null);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Session& s = session();
  const int code = perron::fuzz::run_one(*s.target, {data, size}, s.scratch, perron::Environment::world());
  if (!perron::fuzz::acceptable_exit(code)) {
    std::fprintf(stderr, "perron exited %d (an internal error) on this input\n", code);
    std::abort();  // a finding, like a crash
  }
  return 0;
}
