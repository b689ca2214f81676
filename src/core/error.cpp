#include "perron/core/error.hpp"

namespace perron {

int Error::exit_code() const noexcept {
  switch (kind_) {
    case ErrorKind::usage:
      return 2;
    case ErrorKind::input:
      return 3;
    case ErrorKind::output:
      return 4;
    case ErrorKind::interrupted:
      return 143;  // 128 + SIGTERM, as a shell reports it
    case ErrorKind::interrupted_sigint:
      return 130;  // 128 + SIGINT
    case ErrorKind::verification:
      return 5;
    case ErrorKind::internal:
      return 1;
  }
  return 1;
}

void throw_usage(const std::string& message) { throw Error(ErrorKind::usage, message); }
void throw_input(const std::string& message) { throw Error(ErrorKind::input, message); }
void throw_output(const std::string& message) { throw Error(ErrorKind::output, message); }

}  // namespace perron
