#pragma once
// The `perron` command line: parses subcommands and config files, runs the chosen command on
// every rank, and turns errors into one message from rank 0 and a non-zero exit code.
#include "perron/comm/comm.hpp"

namespace perron {

// Both return the process exit code. Errors found by only one rank end the job with MPI_Abort.
// main's: starts MPI once the arguments parse (--help, --version and usage errors run without it).
int run_main(int argc, char** argv);
// With MPI already started (tests and fuzz targets run many command lines in one process).
int run_cli(int argc, char** argv, const Comm& comm);

}  // namespace perron
