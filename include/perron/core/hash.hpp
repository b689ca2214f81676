#pragma once
// 64-bit mixing from SplitMix64 (Steele, Lea & Flood 2014): a counter-based random stream for
// the generators, and a hash for fingerprints.
#include <cstdint>

namespace perron {

// Advances `state` and returns the next value of its stream.
constexpr std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A well-mixed hash of one value.
constexpr std::uint64_t mix64(std::uint64_t x) { return splitmix64(x); }

}  // namespace perron
