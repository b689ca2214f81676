#pragma once
// Process memory figures for provenance and benchmarks, and the machine's cache size for the
// kernels that block for it.
#include <cstdint>

namespace perron {

// Peak resident set size of this process so far, in bytes (getrusage ru_maxrss).
std::uint64_t peak_rss_bytes();

// Resident set size of this process now, in bytes (/proc/self/statm); 0 where unreadable.
std::uint64_t current_rss_bytes();

// Hands the heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere).
// Buffers under glibc's mmap threshold (which rises to 32 MiB after large frees) stay
// resident once freed; a phase that frees many of them calls this before the next one
// allocates big.
void return_free_memory();

// Size of the last-level cache that CPU 0 shares, in bytes, from Linux's
// /sys/devices/system/cpu/cpu0/cache (sysconf's figure is wrong on some VMs: 320 MiB for a 32 MiB
// L3 here); `fallback` when it cannot be read.
std::uint64_t last_level_cache_bytes(std::uint64_t fallback = std::uint64_t{32} << 20);

}  // namespace perron
