#pragma once
// perron's one error type. Library code throws it with enough context for a person to act
// (file:line:column, dataset, option); `main` catches it and rank 0 prints it once.
#include <stdexcept>
#include <string>

namespace perron {

enum class ErrorKind {
  usage,               // bad command line or config file: exit code 2
  input,               // unreadable or malformed input: exit code 3
  output,              // output cannot be written: exit code 4
  interrupted,         // stopped by SIGTERM (after saving a checkpoint, if one was due): exit code 143
  interrupted_sigint,  // the same for SIGINT (Ctrl-C): exit code 130
  verification,        // --verify: the result fails its check (one true step moves it too far): exit code 5
  internal             // a bug or an unexpected system failure: exit code 1
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const noexcept { return kind_; }
  int exit_code() const noexcept;
  // True once every rank of the communicator holds this same error (see Comm::agree), so
  // every rank can leave cleanly instead of aborting the job.
  bool collective() const noexcept { return collective_; }
  void mark_collective() noexcept { collective_ = true; }

 private:
  ErrorKind kind_;
  bool collective_ = false;
};

[[noreturn]] void throw_usage(const std::string& message);
[[noreturn]] void throw_input(const std::string& message);
[[noreturn]] void throw_output(const std::string& message);

}  // namespace perron
