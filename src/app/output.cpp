#include "output.hpp"

#include <omp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "perron/core/error.hpp"
#include "perron/core/memory.hpp"
#include "perron/core/version.hpp"

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
}

AtomicOutput::AtomicOutput(std::string path, bool overwrite, const Comm& comm)
    : path_(std::move(path)), overwrite_(overwrite), comm_(comm) {
  if (path_.empty()) return;
  comm_.agree([&] {
    if (!comm_.is_root()) return;
    namespace fs = std::filesystem;
    const fs::path target(path_);
    const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw_output("cannot write " + path_ + ": directory " + dir.string() + " does not exist");
    if (::access(dir.c_str(), W_OK) != 0)
      throw_output("cannot write " + path_ + ": directory " + dir.string() + " is not writable (" +
                   std::strerror(errno) + ")");
    if (fs::is_directory(target, ec)) throw_output("cannot write " + path_ + ": it is a directory");
    if (fs::exists(target, ec) && !overwrite_)
      throw_output(path_ + " already exists; pass --overwrite to replace it");
  });
  // One temporary name for the whole job, chosen by rank 0.
  temp_ = comm_.bcast_string(path_ + ".tmp." + std::to_string(::getpid()), 0);
}

AtomicOutput::~AtomicOutput() {
  if (!path_.empty() && !committed_ && comm_.is_root()) std::remove(temp_.c_str());
}

void AtomicOutput::commit() {
  comm_.barrier();  // every rank has closed the file
  comm_.agree([&] {
    if (comm_.is_root() && std::rename(temp_.c_str(), path_.c_str()) != 0)
      throw_output("cannot rename " + temp_ + " to " + path_ + ": " + std::strerror(errno));
  });
  committed_ = true;
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
