#pragma once
// The even split of `total` items into `parts` contiguous blocks (the first total mod parts
// blocks one larger): every reader, generator and partition that divides work by rank uses it.
#include <cstdint>

namespace perron {

// First item of block `part`; block_begin(total, parts, parts) == total.
constexpr std::uint64_t block_begin(std::uint64_t total, std::uint64_t part, std::uint64_t parts) {
  return total / parts * part + (part < total % parts ? part : total % parts);
}

}  // namespace perron
