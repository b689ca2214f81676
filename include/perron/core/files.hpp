#pragma once
// Files a run writes, made safe: what a path names before anything is written, temporaries
// that no other job can share, disk space reserved before a writer needs it, and a result
// published without ever replacing a file it was not allowed to replace. POSIX only; every
// function here is local to the calling process (the callers decide which rank acts).
#include <cstdint>
#include <string>

namespace perron {

// What a path names now. `canonical` is the absolute path with symbolic links and `..`
// resolved as far as the path exists, so two spellings of one future file compare equal.
struct PathInfo {
  bool exists = false;
  bool regular = false;  // a regular file (after following links)
  bool directory = false;
  std::uint64_t device = 0, inode = 0;
  std::string canonical;
};
PathInfo inspect_path(const std::string& path);

// Whether two paths name the same file: the same inode when both exist, else the same
// canonical path.
bool same_file(const PathInfo& a, const PathInfo& b);

// Creates `target.tmp.<pid>.<random>` beside `target` with O_CREAT | O_EXCL (so two jobs never
// share a temporary, and a crash leaves nothing another job could collide with) and returns
// its name. Throws an output error naming the directory when it cannot.
std::string create_unique_temp(const std::string& target);

// Reserves `bytes` of disk for `path` from offset 0 (fallocate with FALLOC_FL_KEEP_SIZE: the
// file's size does not change, later writes into the range cannot fail for lack of space).
// Throws an output error that says how much was needed and how much is free when the file
// system or the quota has no room. File systems without fallocate fall back to comparing
// with the free space that statvfs reports.
void reserve_disk_space(const std::string& path, std::uint64_t bytes);

// Gives back the reserved blocks beyond the end of the file (best effort).
void release_unused_reservation(const std::string& path);

// Moves `temp` to `target`. With `overwrite`, an existing target is replaced (rename). Without
// it the move fails if the target exists, atomically (renameat2 RENAME_NOREPLACE, or link +
// unlink where the file system lacks it): a job that checked "absent" at its start cannot
// replace a result another job published meanwhile. Returns false in that case, leaving
// `temp` in place; throws an output error on any other failure.
bool publish_file(const std::string& temp, const std::string& target, bool overwrite);

// "2.1 TB", "512 MB", "12 kB": decimal units, three significant digits.
std::string format_bytes(std::uint64_t bytes);

}  // namespace perron
