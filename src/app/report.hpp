#pragma once
// What a run tells its user while it works, on rank 0: one line per phase, and per iteration
// either a self-updating line with rate and ETA (on a terminal) or plain lines (in a batch
// log); with --log-json, also one JSON record per event in a file, for dashboards and scripts.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "perron/algo/pagerank.hpp"
#include "perron/comm/comm.hpp"

namespace perron {

class Reporter {
 public:
  // Collective (creates the JSON log, which check_output_path has approved; without
  // `overwrite` it must not exist). Quiet: phases and iterations are not printed (the JSON log,
  // if any, still gets every event).
  Reporter(bool quiet, const std::string& json_path, const Comm& comm, bool overwrite = false);
  ~Reporter();
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  // A finished phase, e.g. phase("load", 1.2, "{\"edges\": 1000}") (details: JSON object text).
  void phase(const std::string& name, double seconds, const std::string& details_json = "{}");
  // One power-iteration step; `tolerance` and `fixed` (0 if none) give the ETA.
  void iteration(const IterationReport& r, double tolerance, int fixed);
  void event(const std::string& name, const std::string& details_json);
  // Reading progress of an input: `done` of `total` bytes (rank 0's share). On a terminal a
  // self-updating line with rate and ETA; in logs a line at every quarter of a large input.
  void reading(std::uint64_t done, std::uint64_t total);

 private:
  void json(const std::string& record);
  void end_line();
  bool root_;
  bool quiet_;
  bool tty_;
  std::FILE* log_ = nullptr;
  std::vector<double> residuals_;
  double step_seconds_ = 0.0;
  bool line_open_ = false;
  double read_start_ = -1.0;  // seconds since the reporter began, when reading started
  int read_quarter_ = 0;
  double clock() const;
  std::chrono::steady_clock::time_point born_ = std::chrono::steady_clock::now();
};

}  // namespace perron
