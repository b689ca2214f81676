#pragma once
// The `perron` command line: parses subcommands and config files, runs the chosen command on
// every rank, and turns errors into one message from rank 0 and a non-zero exit code.
#include "perron/comm/comm.hpp"

namespace perron {

// Returns the process exit code. Errors found by only one rank end the job with MPI_Abort.
int run_cli(int argc, char** argv, const Comm& comm);

}  // namespace perron
