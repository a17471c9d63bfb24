// The device files every container has, though no volume holds them:
// /dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom are the host's
// own character devices (reading and writing them touches nothing else; a
// shell's `2>/dev/null` and a background job's stdin need them), and
// /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N name the
// app's fd N again, as Linux's /proc/self/fd links do: a regular file on a
// volume opens anew (its own offset), anything else (a pipe, a socket, the
// console) is that same open file. /dev/tty answers ENXIO (no controlling
// terminal). Nothing else under /dev exists.
#pragma once

#include <fcntl.h>

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace hyperlet {

struct SyscallContext;

// The host device `guest_path` (normalised) names, or nullptr.
const char* host_device_node(std::string_view guest_path);
// N for /dev/fd/N, /proc/self/fd/N, /dev/stdin (0), /dev/stdout (1) and /dev/stderr (2).
std::optional<int> fd_link(std::string_view guest_path);
inline bool is_device_path(std::string_view guest_path) {
  return host_device_node(guest_path) != nullptr || fd_link(guest_path).has_value() || guest_path == "/dev/tty";
}

// open(2) of such a path: the app's new fd or -errno; nullopt for any other path.
std::optional<std::int64_t> open_device_path(SyscallContext& context, std::string_view guest_path, std::uint64_t flags);
// What fstatat, statx and faccessat2 look at for such a path (links followed):
// the host device by its path, or the host fd behind the app's fd N
// (AT_EMPTY_PATH). nullopt for any other path; ENOENT for an fd the app has not open.
struct DeviceObject {
  int dirfd = AT_FDCWD;
  std::string name;
  int at_flags = 0;
};
std::optional<std::expected<DeviceObject, int>> device_object(const SyscallContext& context,
                                                              std::string_view guest_path);

}  // namespace hyperlet
