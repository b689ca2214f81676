#pragma once
// Process memory figures for provenance and benchmarks.
#include <cstdint>

namespace perron {

// Peak resident set size of this process so far, in bytes (getrusage ru_maxrss).
std::uint64_t peak_rss_bytes();

}  // namespace perron
