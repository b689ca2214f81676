#pragma once
// Kernels compiled for several vector widths and picked at load time by the CPU (GCC's
// target_clones): AVX-512, AVX2 and the baseline x86-64, so a binary built for any x86-64 node
// runs the widest vectors of the node it lands on. Not under clang (14), which gives the
// load-time resolver of a function in an anonymous namespace external linkage, so that two
// files defining one clash at link time; clang builds (the fuzz targets) take the baseline code.
#if defined(__clang__)
#define PERRON_TARGET_CLONES
#else
#define PERRON_TARGET_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
