#include "perron/core/files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "perron/core/error.hpp"
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

namespace perron {
namespace {

std::string directory_of(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  return dir.empty() ? std::string(".") : dir.string();
}

std::uint64_t free_bytes(const std::string& path) {
  struct statvfs fs {};
  if (::statvfs(directory_of(path).c_str(), &fs) != 0) return 0;
  return static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
}

// A file descriptor closed on scope exit.
struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

}  // namespace

PathInfo inspect_path(const std::string& path) {
  PathInfo info;
  std::error_code ec;
  info.canonical = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec).string();
  if (ec) info.canonical = path;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return info;
  info.exists = true;
  info.regular = S_ISREG(st.st_mode);
  info.directory = S_ISDIR(st.st_mode);
  info.device = static_cast<std::uint64_t>(st.st_dev);
  info.inode = static_cast<std::uint64_t>(st.st_ino);
  return info;
}

bool same_file(const PathInfo& a, const PathInfo& b) {
  if (a.exists && b.exists) return a.device == b.device && a.inode == b.inode;
  return a.canonical == b.canonical;
}

std::string create_unique_temp(const std::string& target) {
  std::random_device entropy;
  for (int attempt = 0; attempt < 100; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp.%ld.%08x", static_cast<long>(::getpid()), entropy());
    const std::string name = target + suffix;
    const int fd = ::open(name.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return name;
    }
    if (errno != EEXIST)
      throw_output("cannot create a temporary file beside " + target + " in " + directory_of(target) + ": " +
                   std::strerror(errno));
  }
  throw_output("cannot create a temporary file beside " + target + ": every name tried exists");
}

void reserve_disk_space(const std::string& path, std::uint64_t bytes) {
  if (bytes == 0) return;
  Fd file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (file.fd < 0) throw_output("cannot open " + path + " to reserve space: " + std::strerror(errno));
  if (::fallocate(file.fd, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(bytes)) == 0) return;
  const int err = errno;
  struct stat st {};
  const std::uint64_t held = ::fstat(file.fd, &st) == 0 ? static_cast<std::uint64_t>(st.st_blocks) * 512 : 0;
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    throw_output("not enough disk space for " + path + ": it needs " + format_bytes(bytes) + ", " +
                 format_bytes(free_bytes(path) + held) + " is free on the file system of " + directory_of(path) +
                 (err == EDQUOT  ? " (the disk quota is exceeded)"
                  : err == EFBIG ? " (the file size limit is reached)"
                                 : ""));
  // No fallocate here (some network file systems): compare with what statvfs says is free.
  if (err == EOPNOTSUPP || err == ENOSYS || err == EINVAL) {
    const std::uint64_t available = free_bytes(path);
    if (available > 0 && available < bytes)
      throw_output("not enough disk space for " + path + ": it needs " + format_bytes(bytes) + ", " + format_bytes(available) +
                   " is free on the file system of " + directory_of(path));
    return;
  }
  throw_output("cannot reserve space for " + path + ": " + std::strerror(err));
}

void release_unused_reservation(const std::string& path) {
  Fd file(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  struct stat st {};
  if (file.fd < 0 || ::fstat(file.fd, &st) != 0) return;
  // Blocks past the end of the file that FALLOC_FL_KEEP_SIZE allocated: a truncation to the
  // same size drops them on ext4 and XFS; tmpfs ignores it, and takes a punched hole instead.
  const off_t allocated = static_cast<off_t>(st.st_blocks) * 512;
  if (allocated <= st.st_size) return;
  (void)::ftruncate(file.fd, st.st_size);
  (void)::fallocate(file.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, st.st_size, allocated);
}

bool publish_file(const std::string& temp, const std::string& target, bool overwrite) {
  if (overwrite) {
    if (std::rename(temp.c_str(), target.c_str()) != 0)
      throw_output("cannot rename " + temp + " to " + target + ": " + std::strerror(errno));
    return true;
  }
  if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
    throw_output("cannot rename " + temp + " to " + target + ": " + std::strerror(errno));
  // No RENAME_NOREPLACE on this file system: link() fails atomically if the target exists.
  if (::link(temp.c_str(), target.c_str()) != 0) {
    if (errno == EEXIST) return false;
    throw_output("cannot link " + temp + " to " + target + ": " + std::strerror(errno));
  }
  ::unlink(temp.c_str());
  return true;
}

std::string format_bytes(std::uint64_t bytes) {
  static const char* const units[] = {"bytes", "kB", "MB", "GB", "TB", "PB", "EB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000.0 && unit < 6) {
    value /= 1000.0;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%llu bytes", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(text, sizeof text, value < 10 ? "%.2f %s" : value < 100 ? "%.1f %s" : "%.0f %s", value, units[unit]);
  return text;
}

}  // namespace perron
