#include "signals.hpp"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace perron {
namespace {

// The process-wide state that signal handlers may touch, and nothing else: the signal a
// cooperative run has received, and the temporary file a run that cannot stop cooperatively is
// writing (a fixed buffer: a handler may not allocate).
std::atomic<int> g_stop_signal{0};
std::atomic<bool> g_cooperative{false};
std::atomic<bool> g_has_temporary{false};
char g_temporary[4096];
static_assert(std::atomic<int>::is_always_lock_free, "a signal handler needs a lock-free flag");

extern "C" void on_stop_signal(int signal) { g_stop_signal.store(signal, std::memory_order_relaxed); }

// A run with no point to stop at: remove its temporary (unlink is async-signal-safe), then die
// of the signal as if no handler were installed.
extern "C" void on_fatal_signal(int signal) {
  if (g_has_temporary.load(std::memory_order_acquire)) ::unlink(g_temporary);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

}  // namespace

void install_stop_signal_handlers() {
  g_cooperative.store(true);
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
}

void remove_on_signal(const std::string& path) {
  g_has_temporary.store(false, std::memory_order_release);
  if (path.empty() || path.size() >= sizeof g_temporary) return;
  std::memcpy(g_temporary, path.c_str(), path.size() + 1);
  g_has_temporary.store(true, std::memory_order_release);
  if (g_cooperative.load()) return;  // the run stops at its own pace and removes it itself
  std::signal(SIGTERM, on_fatal_signal);
  std::signal(SIGINT, on_fatal_signal);
}

int stop_signal() { return g_stop_signal.load(std::memory_order_relaxed); }

int stop_signal_any(const Comm& comm) { return comm.allreduce(stop_signal(), ReduceOp::max); }

Error stopped_error(int signal, const std::string& what) {
  Error e(signal == SIGINT ? ErrorKind::interrupted_sigint : ErrorKind::interrupted,
          std::string(signal == SIGINT ? "SIGINT" : "SIGTERM") + " " + what);
  e.mark_collective();  // every rank saw the same agreed signal
  return e;
}

void stop_if_signalled(const Comm& comm, const std::string& phase) {
  if (const int signal = stop_signal_any(comm); signal != 0)
    throw stopped_error(signal, "during " + phase + ": stopped before the first iteration; nothing was written");
}

}  // namespace perron
