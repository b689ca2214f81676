#include "report.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "perron/core/error.hpp"
#include "perron/core/timer.hpp"

namespace perron {

Reporter::Reporter(bool quiet, const std::string& json_path, const Comm& comm, bool overwrite)
    : root_(comm.is_root()), quiet_(quiet), tty_(comm.is_root() && ::isatty(STDOUT_FILENO) == 1) {
  comm.agree([&] {
    if (!root_ || json_path.empty()) return;
    // "x": exclusive creation, so a file that appeared since the path was checked survives.
    log_ = std::fopen(json_path.c_str(), overwrite ? "w" : "wx");
    if (!log_) throw_output("cannot write --log-json file " + json_path + ": " + std::strerror(errno));
  });
}

Reporter::~Reporter() {
  if (line_open_) std::fputc('\n', stdout);
  if (log_) std::fclose(log_);
}

void Reporter::json(const std::string& record) {
  if (!log_) return;
  std::fputs(record.c_str(), log_);
  std::fputc('\n', log_);
  std::fflush(log_);  // a record is on disk when the event happened: the job may die next
}

void Reporter::end_line() {
  if (!line_open_) return;
  std::fputc('\n', stdout);
  line_open_ = false;
}

void Reporter::event(const std::string& name, const std::string& details_json) {
  if (!root_) return;
  end_line();  // a self-updating progress line ends before anything else is printed
  json(fmt::format("{{\"time\": \"{}\", \"event\": \"{}\", \"details\": {}}}", iso8601_now(), name, details_json));
}

void Reporter::phase(const std::string& name, double seconds, const std::string& details_json) {
  if (!root_) return;
  end_line();
  json(fmt::format("{{\"time\": \"{}\", \"event\": \"phase\", \"phase\": \"{}\", \"seconds\": {}, \"details\": {}}}",
                   iso8601_now(), name, seconds, details_json));
}

double Reporter::clock() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - born_).count(); }

void Reporter::reading(std::uint64_t done, std::uint64_t total) {
  if (!root_ || total == 0) return;
  const double now = clock();
  if (read_start_ < 0) read_start_ = now;
  const double elapsed = now - read_start_;
  const double fraction = static_cast<double>(done) / static_cast<double>(total);
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const int quarter = static_cast<int>(fraction * 4);
  const bool log_line = quarter > read_quarter_;
  if (log_line) {
    read_quarter_ = quarter;
    json(fmt::format("{{\"time\": \"{}\", \"event\": \"reading\", \"bytes\": {}, \"total\": {}, \"seconds\": {}}}", iso8601_now(),
                     done, total, elapsed));
  }
  if (quiet_) return;
  const std::string eta = rate > 0 ? fmt::format("ETA {:.1f} s", static_cast<double>(total - done) / rate) : "ETA ?";
  if (tty_) {
    fmt::print("\r  reading {:5.1f}%  {:.0f} MB/s  {}   ", 100 * fraction, rate / 1e6, eta);
    std::fflush(stdout);
    line_open_ = true;
    if (done >= total) {
      fmt::print("\n");
      line_open_ = false;
    }
  } else if (log_line && total >= (std::uint64_t{256} << 20)) {
    fmt::print("  reading {:3.0f}%  {:.0f} MB/s  {}\n", 100 * fraction, rate / 1e6, eta);
  }
}

void Reporter::iteration(const IterationReport& r, double tolerance, int fixed) {
  if (!root_) return;
  json(fmt::format("{{\"time\": \"{}\", \"event\": \"iteration\", \"iteration\": {}, \"residual\": {}, \"seconds\": {}}}",
                   iso8601_now(), r.iteration, r.residual, r.seconds));
  if (quiet_) return;
  if (!tty_) {
    fmt::print("  iteration {:>4}  residual {:.3e}  {:.4f} s\n", r.iteration, r.residual, r.seconds);
    return;
  }
  // ETA: the residual shrinks geometrically; estimate the ratio from the last few steps.
  residuals_.push_back(r.residual);
  step_seconds_ = residuals_.size() == 1 ? r.seconds : 0.8 * step_seconds_ + 0.2 * r.seconds;
  double remaining = 0;
  if (fixed > 0) {
    remaining = fixed - r.iteration;
  } else if (residuals_.size() >= 3 && r.residual > tolerance) {
    const std::size_t k = residuals_.size();
    const std::size_t back = std::min<std::size_t>(5, k - 1);
    const double ratio = std::pow(residuals_[k - 1] / residuals_[k - 1 - back], 1.0 / static_cast<double>(back));
    remaining =
        ratio > 0 && ratio < 1 ? std::log(tolerance / r.residual) / std::log(ratio) : std::numeric_limits<double>::quiet_NaN();
  }
  const std::string eta = std::isfinite(remaining) ? fmt::format("ETA {:.1f} s", remaining * step_seconds_) : "ETA ?";
  fmt::print("\r  iteration {:>5}  residual {:.3e}  {:.1f} it/s  {}   ", r.iteration, r.residual,
             step_seconds_ > 0 ? 1.0 / step_seconds_ : 0.0, eta);
  std::fflush(stdout);
  line_open_ = true;
}

}  // namespace perron
