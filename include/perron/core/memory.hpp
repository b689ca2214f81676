#pragma once
// Process memory figures for provenance and benchmarks, and the machine's cache size for the
// kernels that block for it.
#include <cstddef>
#include <cstdint>
#include <string>

#include "perron/core/error.hpp"

namespace perron {

// A transparent huge page on x86-64: the size from which a block is its own mapping
// (set_large_allocation_policy) and is aligned and advised (allocate_huge_pages,
// advise_huge_pages); they, and the test of the policy, agree by using this one figure.
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// Peak resident set size of this process so far, in bytes (getrusage ru_maxrss).
std::uint64_t peak_rss_bytes();

// Resident set size of this process now, in bytes (/proc/self/statm); 0 where unreadable.
std::uint64_t current_rss_bytes();

// The process's policy for large arrays, set once by main() before anything big is allocated:
// every block of 2 MiB or more is a mapping of its own (glibc's M_MMAP_THRESHOLD, which would
// otherwise rise to 32 MiB after the first large free and serve such blocks from the heap).
// So a large block is fresh memory, which operator new (src/core/operator_new.cpp) and Column
// mark for huge pages before it is touched, and goes back to the system when freed instead
// of staying resident in the heap (+100 MB of peak on a batch of 16 personalized vectors).
void set_large_allocation_policy();

// Hands the heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere).
// Buffers under glibc's mmap threshold (2 MiB once set_large_allocation_policy ran; by default
// it rises to 32 MiB after large frees) stay resident once freed; a phase that frees many of them calls this before the next one
// allocates big.
void return_free_memory();

// Size of the last-level cache that CPU 0 shares, in bytes, from Linux's
// /sys/devices/system/cpu/cpu0/cache (sysconf's figure is wrong on some VMs: 320 MiB for a 32 MiB
// L3 here); `fallback` when it cannot be read.
std::uint64_t last_level_cache_bytes(std::uint64_t fallback = std::uint64_t{32} << 20);

// The memory this process may use at most: the machine's physical memory, or the cgroup's
// limit (a Slurm or container job) when lower, or the environment's PERRON_MEMORY_LIMIT
// (bytes, with an optional K, M, G or T suffix, powers of 1024) when lower still: a rank that
// shares its node with others, under a scheduler that sets no cgroup, says what is its share.
// Throws a usage error for a PERRON_MEMORY_LIMIT that is not such a size.
std::uint64_t memory_limit_bytes();

// Checks a size that came from a file or a flag before anything is allocated for it: throws
// an error of `kind` when `bytes` exceed memory_limit_bytes(), as "WHAT needs 2.1 TB; this
// rank has 24.0 GB". `bytes` saturates rather than wraps: callers multiply with
// saturating_mul.
void require_memory(std::uint64_t bytes, const std::string& what, ErrorKind kind = ErrorKind::input);

// a × b, or UINT64_MAX when the product does not fit.
constexpr std::uint64_t saturating_mul(std::uint64_t a, std::uint64_t b) {
  return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}

}  // namespace perron
