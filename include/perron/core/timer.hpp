#pragma once
// Wall-clock timing for the phases recorded in every output file.
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace perron {

class Stopwatch {
 public:
  Stopwatch() : start_(clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }
  void restart() { start_ = clock::now(); }

 private:
  using clock = std::chrono::steady_clock;
  clock::time_point start_;
};

// The sub-phases of a phase, timed in turn: lap("remap") records the seconds since the last
// lap (or since construction) under that name.
class Laps {
 public:
  // Starts the first lap now (otherwise it starts when the Laps is made).
  void start() { watch_.restart(); }
  void lap(std::string name) {
    laps_.emplace_back(std::move(name), watch_.seconds());
    watch_.restart();
  }
  const std::vector<std::pair<std::string, double>>& laps() const { return laps_; }

 private:
  Stopwatch watch_;
  std::vector<std::pair<std::string, double>> laps_;
};

// Local time as ISO 8601 with offset, e.g. 2026-11-25T19:14:55+0000.
std::string iso8601_now();

}  // namespace perron
