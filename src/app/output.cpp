#include "output.hpp"

#include <omp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "perron/core/error.hpp"
#include "perron/core/files.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/version.hpp"
#include "signals.hpp"

namespace perron {
namespace {

std::string host_name() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

void write_provenance(H5Writer& file, const Provenance& p, const Comm& comm) {
  const std::uint64_t rss = peak_rss_bytes();
  const std::uint64_t rss_max = comm.allreduce(rss, ReduceOp::max);
  const std::uint64_t rss_sum = comm.allreduce(rss, ReduceOp::sum);
  const std::string host = comm.bcast_string(host_name(), 0);
  file.create_group("/provenance");
  file.set_attribute("/provenance", "perron_version", kVersion);
  file.set_attribute("/provenance", "git_commit", kGitCommit);
  file.set_attribute("/provenance", "command_line", p.command_line);
  file.set_attribute("/provenance", "config", p.config_toml);
  file.set_attribute("/provenance", "ranks", static_cast<std::int64_t>(comm.size()));
  file.set_attribute("/provenance", "threads_per_rank", static_cast<std::int64_t>(omp_get_max_threads()));
  file.set_attribute("/provenance", "host", host);
  file.set_attribute("/provenance", "start_time", p.start_time);
  file.set_attribute("/provenance", "end_time", iso8601_now());
  for (const auto& [name, seconds] : p.timings) file.set_attribute("/provenance", name, seconds);
  file.set_attribute("/provenance", "peak_rss_bytes_max_rank", rss_max);
  file.set_attribute("/provenance", "peak_rss_bytes_sum", rss_sum);
  for (const auto& [name, bytes] : p.memory) {
    file.set_attribute("/provenance", name + "_sum", comm.allreduce(bytes, ReduceOp::sum));
    file.set_attribute("/provenance", name + "_max_rank", comm.allreduce(bytes, ReduceOp::max));
  }
}

TempFile::TempFile(const std::string& target, const Comm& comm) : comm_(comm) {
  std::string name;
  comm_.agree([&] {
    if (comm_.is_root()) name = create_unique_temp(target);
  });
  path_ = comm_.bcast_string(name, 0);
  if (comm_.is_root()) remove_on_signal(path_);
}

TempFile::~TempFile() {
  if (!comm_.is_root()) return;
  remove_on_signal("");
  if (!keep_) std::remove(path_.c_str());
}

void TempFile::publish(const std::string& target, bool overwrite) {
  comm_.barrier();  // every rank has closed the file
  comm_.agree([&] {
    if (!comm_.is_root()) return;
    release_unused_reservation(path_);
    if (publish_file(path_, target, overwrite)) return;
    keep_ = true;  // the message names it: it must outlive this object
    throw_output(target + " was created by another job while this one ran; this run's result is kept as " + path_ +
                 " (pass --overwrite to replace an existing file)");
  });
  keep_ = true;  // published: nothing left to remove
}

void check_output_path(const std::string& what, const std::string& path, bool overwrite, const std::vector<std::string>& inputs,
                       const std::vector<std::string>& others, const Comm& comm) {
  comm.agree([&] {
    if (!comm.is_root() || path.empty()) return;
    namespace fs = std::filesystem;
    const fs::path dir = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
    std::error_code ec;
    // A missing directory is made, as `mkdir -p` would (configs name results/... and a fresh
    // checkout has no results/): an output path says where the file goes, not that it exists.
    if (!fs::exists(dir, ec)) fs::create_directories(dir, ec);
    if (!fs::is_directory(dir))
      throw_output("cannot write " + what + " " + path + ": cannot make directory " + dir.string() +
                   (ec ? " (" + ec.message() + ")" : std::string(" (a file is in the way)")));
    if (::access(dir.c_str(), W_OK) != 0)
      throw_output("cannot write " + what + " " + path + ": directory " + dir.string() + " is not writable (" +
                   std::strerror(errno) + ")");
    const PathInfo target = inspect_path(path);
    if (target.directory) throw_output("cannot write " + what + " " + path + ": it is a directory");
    if (target.exists && !target.regular)
      throw_output("cannot write " + what + " " + path + ": it exists and is not a regular file (a device, pipe or socket)");
    for (const std::string& input : inputs)
      if (!input.empty() && same_file(target, inspect_path(input)))
        throw_output(what + " " + path + " is also an input of this run (" + input + "); choose another path");
    for (const std::string& other : others)
      if (!other.empty() && same_file(target, inspect_path(other)))
        throw_output(what + " " + path + " is also another output of this run (" + other + "); choose another path");
    if (target.exists && !overwrite)
      throw_output(path + " already exists; pass --overwrite to replace it" +
                   (what == "--checkpoint" ? ", or --restart " + path + " to resume from it" : std::string()));
  });
}

AtomicOutput::AtomicOutput(std::string path, bool overwrite, const Comm& comm, const std::vector<std::string>& inputs,
                           const std::vector<std::string>& others)
    : path_(std::move(path)), overwrite_(overwrite) {
  if (path_.empty()) return;
  check_output_path("--output", path_, overwrite_, inputs, others, comm);
  temp_ = std::make_unique<TempFile>(path_, comm);
}

void AtomicOutput::commit() { temp_->publish(path_, overwrite_); }

void verify_dataset(const std::string& file, const std::string& dataset, const std::vector<std::uint64_t>& dims,
                    const Comm& comm) {
  comm.agree([&] {
    if (!comm.is_root()) return;
    const H5Reader reader(file);
    if (!reader.exists(dataset) || reader.info(dataset).dims != dims)
      throw_output("writing " + file + " failed: " + dataset + " is missing or incomplete after the write");
  });
}

std::string json_quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string join_command_line(int argc, char** argv) {
  std::string out;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    const bool plain = !arg.empty() && arg.find_first_of(" \t\n'\"\\$`*?[]{}()<>|;&!#~") == std::string::npos;
    if (!plain) {
      std::string quoted = "'";
      for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      arg = quoted + "'";
    }
    out += (i ? " " : "") + arg;
  }
  return out;
}

}  // namespace perron
