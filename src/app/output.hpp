#pragma once
// What every result file records besides its results, and how it reaches the disk: written
// under a temporary name beside the target and renamed only when complete, so a reader never
// sees a half-written file and a failed run leaves nothing behind.
#include <cstdint>
#include <memory>
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
  // This rank's memory figures, e.g. {"build_peak_rss_bytes", ...}: written as NAME_sum and
  // NAME_max_rank over the ranks.
  std::vector<std::pair<std::string, std::uint64_t>> memory = {};
};

// Writes /provenance with its attributes (collective); adds version, commit, ranks, threads,
// host, end time and peak memory itself.
void write_provenance(H5Writer& file, const Provenance& provenance, const Comm& comm);

// A temporary file beside `target`, unique to this job (create_unique_temp, by rank 0, its
// name broadcast), removed on scope exit unless kept. Collective to create.
class TempFile {
 public:
  TempFile(const std::string& target, const Comm& comm);
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  // Collective: moves the temporary to `target` (publish_file). Throws an output error on
  // every rank if `overwrite` is false and the target appeared meanwhile; the temporary is
  // then kept, and the message names it, so the work is not lost.
  void publish(const std::string& target, bool overwrite);

 private:
  std::string path_;
  Comm comm_;
  bool keep_ = false;
};

// Collective. The rules every file a run writes (result, checkpoint, log) obeys, checked on
// rank 0 before any work: its directory exists and is writable; the path is absent or a
// regular file (never a device, a directory or a pipe); an existing file is replaced only with
// `overwrite`; it is none of `inputs` (the files the run reads) nor of `others` (the run's
// other outputs). `what` names the option in messages ("--output").
void check_output_path(const std::string& what, const std::string& path, bool overwrite, const std::vector<std::string>& inputs,
                       const std::vector<std::string>& others, const Comm& comm);

// The target path of a result: checked before any work is done, written through a temporary
// of this job's own, and published without replacing a file that appeared meanwhile (unless
// `overwrite`).
class AtomicOutput {
 public:
  // Collective. Throws (on every rank) when check_output_path refuses `path`. An empty path
  // means "no output".
  AtomicOutput(std::string path, bool overwrite, const Comm& comm, const std::vector<std::string>& inputs = {},
               const std::vector<std::string>& others = {});

  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_->path(); }
  // Collective: publishes the temporary as the target.
  void commit();

 private:
  std::string path_;
  bool overwrite_;
  std::unique_ptr<TempFile> temp_;
};

// Collective: reopens a file just written (rank 0) and checks that `dataset` has `dims`, so a
// writer that the file system failed silently cannot report success.
void verify_dataset(const std::string& file, const std::string& dataset, const std::vector<std::uint64_t>& dims,
                    const Comm& comm);

// `text` as a JSON string literal, quotes included.
std::string json_quote(const std::string& text);

// The command line as one shell-quoted string.
std::string join_command_line(int argc, char** argv);

}  // namespace perron
