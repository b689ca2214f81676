#pragma once
// What every result file records besides its results, and how it reaches the disk: written
// under a temporary name beside the target and renamed only when complete, so a reader never
// sees a half-written file and a failed run leaves nothing behind.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "perron/comm/comm.hpp"
#include "perron/core/timer.hpp"
#include "perron/io/hdf5_file.hpp"

namespace perron {

struct Provenance {
  std::string command_line;
  std::string config_toml;  // the full effective configuration
  std::string start_time;
  std::vector<std::pair<std::string, double>> timings;  // e.g. {"load_s", 1.2}
};

// Writes /provenance with its attributes (collective); adds version, commit, ranks, threads,
// host, end time and peak memory itself.
void write_provenance(H5Writer& file, const Provenance& provenance, const Comm& comm);

// The target path of a result: checked before any work is done, written through a temporary.
class AtomicOutput {
 public:
  // Collective. Throws (on every rank) if the directory is missing or not writable, or if
  // the file exists and `overwrite` is false. An empty path means "no output".
  AtomicOutput(std::string path, bool overwrite, const Comm& comm);
  ~AtomicOutput();  // removes the temporary if commit() was not reached
  AtomicOutput(const AtomicOutput&) = delete;
  AtomicOutput& operator=(const AtomicOutput&) = delete;

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_; }
  // Collective: renames the temporary to the target.
  void commit();

 private:
  std::string path_;
  std::string temp_;
  bool overwrite_;
  Comm comm_;
  bool committed_ = false;
};

// `text` as a JSON string literal, quotes included.
std::string json_quote(const std::string& text);

// The command line as one shell-quoted string.
std::string join_command_line(int argc, char** argv);

}  // namespace perron
