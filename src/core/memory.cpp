#include "perron/core/memory.hpp"

#include <sys/resource.h>

#include <chrono>
#include <ctime>
#include <string>

#include "perron/core/timer.hpp"

namespace perron {

std::uint64_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024u;  // Linux reports KiB
}

std::string iso8601_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char buf[64];
  const std::size_t len = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &local);
  return std::string(buf, len);
}

}  // namespace perron
