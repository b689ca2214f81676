// perron: one binary, subcommands for every job (see `perron --help`).
#include "perron/app/cli.hpp"
#include "perron/core/memory.hpp"

int main(int argc, char** argv) {
  perron::set_large_allocation_policy();
  return perron::run_main(argc, argv);
}
