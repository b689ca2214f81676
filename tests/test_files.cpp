// The file-safety primitives every writer stands on (core/files): unique temporaries, a
// publish that never replaces a file it may not, disk reservation, path identity; and the
// memory policy for large arrays (core/memory, operator_new.cpp).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <set>

#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/types.hpp"
#include "support.hpp"
#include <sys/stat.h>

namespace perron::test {
namespace {

std::string scratch_dir() {
  const auto dir = std::filesystem::temp_directory_path() / ("perron_files_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::string text, line;
  while (std::getline(in, line)) text += line;
  return text;
}

TEST(Files, TemporariesAreUniqueAndExclusive) {
  const std::string dir = scratch_dir();
  std::set<std::string> names;
  for (int i = 0; i < 20; ++i) names.insert(create_unique_temp(dir + "/out.h5"));
  EXPECT_EQ(names.size(), 20u);
  for (const std::string& n : names) {
    EXPECT_TRUE(inspect_path(n).regular) << n;
    EXPECT_EQ(n.rfind(dir + "/out.h5.tmp.", 0), 0u) << n;
  }
  EXPECT_THROW(create_unique_temp(dir + "/missing/out.h5"), Error);
  std::filesystem::remove_all(dir);
}

TEST(Files, PublishNeverReplacesWithoutOverwrite) {
  const std::string dir = scratch_dir();
  const std::string target = dir + "/result.h5";
  std::string temp = create_unique_temp(target);
  std::ofstream(temp) << "first";
  EXPECT_TRUE(publish_file(temp, target, false));
  EXPECT_EQ(read_all(target), "first");
  EXPECT_FALSE(inspect_path(temp).exists);
  // Another job's result appeared: refused, both files intact.
  temp = create_unique_temp(target);
  std::ofstream(temp) << "second";
  EXPECT_FALSE(publish_file(temp, target, false));
  EXPECT_EQ(read_all(target), "first");
  EXPECT_EQ(read_all(temp), "second");
  // With overwrite: replaced.
  EXPECT_TRUE(publish_file(temp, target, true));
  EXPECT_EQ(read_all(target), "second");
  std::filesystem::remove_all(dir);
}

TEST(Files, ReservationKeepsTheSizeAndIsGivenBack) {
  const std::string dir = scratch_dir();
  const std::string path = create_unique_temp(dir + "/r.h5");
  reserve_disk_space(path, std::uint64_t{8} << 20);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);  // FALLOC_FL_KEEP_SIZE: the file's size is unchanged
  const bool reserved = static_cast<std::uint64_t>(st.st_blocks) * 512 >= (std::uint64_t{8} << 20);
  std::ofstream(path, std::ios::app) << "abc";
  release_unused_reservation(path);
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 3);
  if (reserved) {
    EXPECT_LT(static_cast<std::uint64_t>(st.st_blocks) * 512, std::uint64_t{1} << 20);
  }
  // More than any disk holds: a clear output error with the figures.
  try {
    reserve_disk_space(path, std::uint64_t{1} << 62);
    ADD_FAILURE() << "reserved 4 EiB";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::output);
    EXPECT_NE(std::string(e.what()).find("not enough disk space for " + path + ": it needs 4.61 EB"), std::string::npos)
        << e.what();
  }
  std::filesystem::remove_all(dir);
}

TEST(Files, PathsCompareByIdentity) {
  const std::string dir = scratch_dir();
  std::ofstream(dir + "/a.txt") << "x";
  std::filesystem::create_symlink(dir + "/a.txt", dir + "/link.txt");
  EXPECT_TRUE(same_file(inspect_path(dir + "/a.txt"), inspect_path(dir + "/link.txt")));
  EXPECT_TRUE(same_file(inspect_path(dir + "/new.h5"),
                        inspect_path(dir + "/../" + std::filesystem::path(dir).filename().string() + "/new.h5")));
  EXPECT_FALSE(same_file(inspect_path(dir + "/a.txt"), inspect_path(dir + "/new.h5")));
  EXPECT_FALSE(inspect_path("/dev/null").regular);
  EXPECT_TRUE(inspect_path("/dev/null").exists);
  std::filesystem::remove_all(dir);
}

TEST(Files, SizesAreCheckedAgainstMemory) {
  EXPECT_EQ(saturating_mul(std::uint64_t{1} << 40, std::uint64_t{1} << 40), UINT64_MAX);
  EXPECT_EQ(saturating_mul(3, 5), 15u);
  EXPECT_NO_THROW(require_memory(1 << 20, "a small thing"));
  try {
    require_memory(UINT64_MAX, "the test's huge thing");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::input);
    EXPECT_NE(std::string(e.what()).find("the test's huge thing needs 18.4 EB of memory; this rank has"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(format_bytes(999), "999 bytes");
  EXPECT_EQ(format_bytes(2100000000000), "2.10 TB");
}

// Whether the mapping that holds p may be backed by transparent huge pages (its THPeligible
// line in /proc/self/smaps); nullopt when no mapping holds it or the kernel does not say.
std::optional<bool> huge_page_eligible(const void* p) {
  std::ifstream smaps("/proc/self/smaps");
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t first = 0, last = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &first, &last) == 2) {
      inside = first <= at && at < last;
    } else if (inside && line.rfind("THPeligible:", 0) == 0) {
      return line.find('1') != std::string::npos;
    }
  }
  return std::nullopt;
}

// The memory policy (src/core/operator_new.cpp, advise_huge_pages): a large vector, whether
// from operator new or from a Column's calloc, lies in memory marked for huge pages, so that a
// graph's arrays fault in 2 MiB at a time.
#ifdef PERRON_OPERATOR_NEW
constexpr bool kPerronOperatorNew = true;
#else
constexpr bool kPerronOperatorNew = false;
#endif

TEST(Memory, LargeArraysAreMarkedForHugePages) {
  if (!kPerronOperatorNew) GTEST_SKIP() << "a sanitizer build keeps the sanitizer's operator new";
  std::ifstream mode_file("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode;
  std::getline(mode_file, mode);
  if (mode.empty() || mode.find("[never]") != std::string::npos)
    GTEST_SKIP() << "this kernel has transparent huge pages off ('" << mode << "')";
  const std::vector<double> vector(std::size_t{8} << 20, 1.0);
  const Column<double> column(std::size_t{8} << 20);
  // The middles: calloc's block starts in the 2 MiB before its first aligned extent.
  const auto vector_eligible = huge_page_eligible(vector.data() + vector.size() / 2),
             column_eligible = huge_page_eligible(column.data() + column.size() / 2);
  if (!vector_eligible || !column_eligible) GTEST_SKIP() << "/proc/self/smaps has no THPeligible lines";
  EXPECT_TRUE(*vector_eligible);
  EXPECT_TRUE(*column_eligible);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(vector.data()) % kHugePageBytes, 0u);
}

}  // namespace
}  // namespace perron::test
