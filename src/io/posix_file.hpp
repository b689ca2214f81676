#pragma once
// A POSIX file descriptor for positioned reads (pread), closed on scope exit. Private to io:
// the text reader streams blocks through it, and the HDF5 reader fetches chunks with it from
// several threads at once (pread has no shared file position).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "perron/core/error.hpp"
#include <sys/stat.h>

namespace perron {

class PosixFile {
 public:
  explicit PosixFile(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) throw_input("cannot open " + path + ": " + std::strerror(errno));
  }
  ~PosixFile() { ::close(fd_); }
  PosixFile(const PosixFile&) = delete;
  PosixFile& operator=(const PosixFile&) = delete;

  // Reads up to `len` bytes at `offset`; returns the count read (short only at end of file).
  std::size_t read_at(char* buf, std::size_t len, std::uint64_t offset) const {
    std::size_t done = 0;
    while (done < len) {
      const ssize_t got = ::pread(fd_, buf + done, len - done, static_cast<off_t>(offset + done));
      if (got < 0) {
        if (errno == EINTR) continue;
        throw_input("cannot read " + path_ + ": " + std::strerror(errno));
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    return done;
  }
  const std::string& path() const { return path_; }
  std::uint64_t size() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw_input("cannot stat " + path_ + ": " + std::strerror(errno));
    return static_cast<std::uint64_t>(st.st_size);
  }

 private:
  std::string path_;
  int fd_;
};

}  // namespace perron
