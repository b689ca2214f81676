#include "perron/core/memory.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <string>

#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/timer.hpp"
#include "perron/core/types.hpp"

namespace perron {

std::uint64_t peak_rss_bytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024u;  // Linux reports KiB
}

std::uint64_t current_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  const long page = sysconf(_SC_PAGESIZE);
  return resident * static_cast<std::uint64_t>(page > 0 ? page : 4096);
}

void set_large_allocation_policy() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, static_cast<int>(kHugePageBytes));
#endif
}

void return_free_memory() {
#ifdef __GLIBC__
  malloc_trim(0);
#endif
}

std::uint64_t memory_limit_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  std::uint64_t limit = pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : UINT64_MAX;
  // cgroup v2, then v1 ("max" or an absurd number means no limit).
  for (const char* file : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(file);
    std::uint64_t value = 0;
    if (in >> value && value > 0 && value < limit) limit = value;
  }
  if (const char* env = std::getenv("PERRON_MEMORY_LIMIT"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const double number = std::strtod(env, &end);
    const std::string unit(end);
    const int shift = unit.empty() ? 0 : unit == "K" ? 10 : unit == "M" ? 20 : unit == "G" ? 30 : unit == "T" ? 40 : -1;
    if (end == env || shift < 0 || !(number > 0.0) || !(number < 1e15))
      throw Error(ErrorKind::usage, std::string("PERRON_MEMORY_LIMIT=") + env + ": expected a size in bytes, e.g. 8G or 512M");
    limit = std::min(limit, static_cast<std::uint64_t>(number * static_cast<double>(std::uint64_t{1} << shift)));
  }
  return limit;
}

void require_memory(std::uint64_t bytes, const std::string& what, ErrorKind kind) {
  const std::uint64_t limit = memory_limit_bytes();
  if (bytes > limit)
    throw Error(kind, what + " needs " + format_bytes(bytes) + " of memory; this rank has " + format_bytes(limit));
}

std::uint64_t last_level_cache_bytes(std::uint64_t fallback) {
  std::uint64_t best = 0;
  int best_level = 0;
  for (int index = 0; index < 8; ++index) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/";
    std::ifstream level_file(dir + "level"), size_file(dir + "size");
    int level = 0;
    std::string size;
    if (!(level_file >> level) || !(size_file >> size) || size.empty()) continue;
    std::uint64_t bytes = 0;
    std::size_t digits = 0;
    while (digits < size.size() && size[digits] >= '0' && size[digits] <= '9')
      bytes = bytes * 10 + static_cast<std::uint64_t>(size[digits++] - '0');
    const char unit = digits < size.size() ? size[digits] : ' ';
    bytes <<= unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : 0;
    if (level >= best_level && bytes > 0) best_level = level, best = bytes;
  }
  return best > 0 ? best : fallback;
}

std::string iso8601_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm local{};
  localtime_r(&now, &local);
  char buf[64];
  const std::size_t len = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &local);
  return std::string(buf, len);
}

void advise_huge_pages(void* p, std::size_t bytes) noexcept {
  const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (begin + kHugePageBytes - 1) & ~(kHugePageBytes - 1),
                       last = (begin + bytes) & ~(kHugePageBytes - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);  // advice only
}

void* allocate_huge_pages(std::size_t bytes) {
  if (bytes < kHugePageBytes) {
    void* p = std::malloc(std::max<std::size_t>(bytes, 1));
    if (p == nullptr) throw std::bad_alloc();
    return p;
  }
  const std::size_t rounded = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* p = std::aligned_alloc(kHugePageBytes, rounded);
  if (p == nullptr) throw std::bad_alloc();
  // The whole 2 MiB pages inside the block only: its tail stays in 4 KiB pages, so a block
  // costs no more resident memory than it touches (a 2 MiB tail page, half used on average,
  // cost a plan's smaller ranks up to 17% more than it predicted; docs/benchmarks.md).
  advise_huge_pages(p, bytes);
  return p;
}

}  // namespace perron
