// perron: one binary, subcommands for every job (see `perron --help`).
#include "perron/app/cli.hpp"
#include "perron/comm/comm.hpp"

int main(int argc, char** argv) {
  perron::Environment env(argc, argv);
  return perron::run_cli(argc, argv, perron::Environment::world());
}
