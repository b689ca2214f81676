#pragma once
// How a run meets SIGTERM (what Slurm sends before the time limit) and SIGINT (Ctrl-C). A
// command that can stop between steps (pagerank) installs cooperative handlers that only set a
// flag; the ranks agree on it after each step and at phase boundaries, save a checkpoint and
// leave with exit 143 or 130. Any other command's temporary output is removed by the handler
// before the process dies of the signal.
#include <string>

#include "perron/comm/comm.hpp"
#include "perron/core/error.hpp"

namespace perron {

// SIGTERM and SIGINT set a flag instead of killing the process, so that a run can save a
// checkpoint and stop cleanly (Slurm sends SIGTERM before the time limit).
void install_stop_signal_handlers();
// For a command that cannot stop cooperatively (no checkpoints: attention, tokenrank,
// generate, convert): a SIGTERM or SIGINT removes `path` (this rank's temporary output) and
// ends the process as the signal would. An empty path forgets it. Under cooperative handlers
// it only records the path.
void remove_on_signal(const std::string& path);
// The signal received since installation (0 if none).
int stop_signal();
// Collective: the signal any rank received (the highest number if several), 0 if none.
int stop_signal_any(const Comm& comm);
// The error a run stopped by `signal` ends with: exit code 143 for SIGTERM, 130 for SIGINT.
Error stopped_error(int signal, const std::string& what);
// Collective: throws stopped_error on every rank if any rank received a stop signal. Called at
// phase boundaries (after the load, after the graph build), where a run has nothing to save.
void stop_if_signalled(const Comm& comm, const std::string& phase);

}  // namespace perron
