#pragma once
// Wall-clock timing for the phases recorded in every output file.
#include <chrono>
#include <string>

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

// Local time as ISO 8601 with offset, e.g. 2026-11-25T19:14:55+0000.
std::string iso8601_now();

}  // namespace perron
