// execve's first step (vm/micro_vm.cpp: exec_app): the image the app names,
// found as every other path is, through its working directory and volumes.
#pragma once

#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "core/unique_fd.h"

namespace hyperlet {

class SyscallContext;

struct Executable {
  UniqueFd fd;             // open for reading, O_CLOEXEC
  std::string guest_path;  // normalised, absolute
};

// The file at `path` (guest memory) if the app may execute it: a regular file
// in a volume with an execute bit. -errno as execve answers: EFAULT,
// ENAMETOOLONG, ENOENT (also outside every volume, with a denial line),
// EACCES (not a regular file, no execute bit), ENOTDIR.
std::expected<Executable, int> open_executable(const SyscallContext& context, std::uint64_t path);
// The same for a path the host already holds (a script's interpreter).
std::expected<Executable, int> open_executable(const SyscallContext& context, const std::string& path);

// A script's first line, `#!INTERPRETER [ARGUMENT]`, as Linux reads it (at
// most 255 bytes, blanks around, one optional argument: the rest of the line);
// nullopt when the file does not start with `#!` or names no interpreter.
struct Interpreter {
  std::string path;
  std::optional<std::string> argument;
};
std::optional<Interpreter> read_interpreter_line(std::string_view start);

}  // namespace hyperlet
