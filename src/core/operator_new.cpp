// perron's memory policy for every `new` in the programs that link this file (the perron binary
// and the tests, not the sanitizer builds, whose own operator new checks each delete): the
// global operator new and delete, replaced as the C++ standard allows ([new.delete]), take
// memory from malloc as the default ones do, and mark a large block's 2 MiB extents for
// transparent huge pages before anything touches them (advise_huge_pages). So the vectors and
// CSRs of a graph build and a solve fault in 2 MiB at a time instead of 4 KiB: on this project's
// virtual machines, 4 KiB faults were a third of a PageRank run (docs/benchmarks.md, "Huge
// pages"). glibc's malloc returns a block of 128 KiB and more as fresh mmap'd pages (up to its
// dynamic threshold, 32 MiB at most, it may reuse freed heap: then the advice is late for the
// pages already touched and harmless). The aligned and nothrow forms are libstdc++'s, which end
// in these or in aligned_alloc and free.
#include <cstdlib>
#include <new>

#include "perron/core/types.hpp"

void* operator new(std::size_t bytes) { return perron::allocate_huge_pages(bytes); }

void* operator new[](std::size_t bytes) { return ::operator new(bytes); }

void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
