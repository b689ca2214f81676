// perron: one binary, subcommands for every job (see `perron --help`).
#include <cstdio>
#include <memory>

#include "perron/app/cli.hpp"
#include "perron/comm/comm.hpp"
#include "perron/core/error.hpp"
#include "perron/core/memory.hpp"

int main(int argc, char** argv) {
  perron::set_large_allocation_policy();
  std::unique_ptr<perron::Environment> env;
  try {
    env = std::make_unique<perron::Environment>(argc, argv);
  } catch (const perron::Error& e) {  // MPI could not start as perron needs it
    std::fprintf(stderr, "perron: error: %s\n", e.what());
    return e.exit_code();
  }
  return perron::run_cli(argc, argv, perron::Environment::world());
}
