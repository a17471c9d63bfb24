// Fallible operations return Result<T>: a value, or an Error that already says
// what failed and why, plus the exit status the run ends with.
#pragma once

#include <expected>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "core/exit_status.h"

namespace hyperlet {

struct Error {
  ExitStatus status = ExitStatus::kUsage;
  std::string message;  // "<what failed>: <why> [(<hint>)]", without the "hyperlet: " prefix
};

template <typename T>
using Result = std::expected<T, Error>;

template <typename... Args>
std::unexpected<Error> fail(ExitStatus status, fmt::format_string<Args...> format, Args&&... args) {
  return std::unexpected(Error{status, fmt::format(format, std::forward<Args>(args)...)});
}

}  // namespace hyperlet
