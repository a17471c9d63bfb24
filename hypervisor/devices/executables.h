// execve's first step (vm/micro_vm.cpp: exec_app): the image the app names,
// found as every other path is, through its working directory and volumes.
#pragma once

#include <cstdint>
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
// execveat: `path` relative to the app's directory fd `dirfd` (AT_FDCWD: the
// working directory); with `follow` false a final symlink is ELOOP
// (AT_SYMLINK_NOFOLLOW).
std::expected<Executable, int> open_executable_at(const SyscallContext& context, std::int64_t dirfd,
                                                  const std::string& path, bool follow);
// fexecve (execveat with AT_EMPTY_PATH and an empty path): the file the app's
// fd is open on, whatever it was opened for; EBADF without such an fd, EACCES
// when it is no regular file with an execute bit. Its path is "/dev/fd/N", as
// Linux names it.
std::expected<Executable, int> open_executable_fd(const SyscallContext& context, std::int64_t fd);

// A script's first line, `#!INTERPRETER [ARGUMENT]`, as Linux reads it (at
// most 255 bytes, blanks around, one optional argument: the rest of the line);
// nullopt when the file does not start with `#!` or names no interpreter.
struct Interpreter {
  std::string path;
  std::optional<std::string> argument;
};
std::optional<Interpreter> read_interpreter_line(std::string_view start);

}  // namespace hyperlet
