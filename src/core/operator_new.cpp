// perron's memory policy for every `new` in the programs that link this file (the perron binary
// and the tests; not the sanitizer builds, whose own operator new checks each delete). The
// global operator new and delete, replaced as the C++ standard allows ([new.delete]), take a
// block under 2 MiB from malloc as the default ones do, and a larger one 2 MiB-aligned and
// marked for transparent huge pages before anything touches it (allocate_huge_pages). So the
// vectors and CSRs of a graph build and a solve fault in 2 MiB at a time instead of 4 KiB: on
// this project's virtual machines the 4 KiB faults were a third of a PageRank run
// (docs/benchmarks.md, "Huge pages"). main() fixes glibc's mmap threshold at 2 MiB
// (set_large_allocation_policy), so such a block is a fresh mapping, returned when freed. The
// aligned and nothrow forms are libstdc++'s, which end in these or in aligned_alloc and free.
#include <cstdlib>
#include <new>

#include "perron/core/types.hpp"

void* operator new(std::size_t bytes) { return perron::allocate_huge_pages(bytes); }
void* operator new[](std::size_t bytes) { return perron::allocate_huge_pages(bytes); }

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
