#include "devices/device_nodes.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <memory>
#include <string>
#include <utility>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

constexpr std::array<std::pair<std::string_view, const char*>, 5> kHostDevices = {{
    {"/dev/null", "/dev/null"},
    {"/dev/zero", "/dev/zero"},
    {"/dev/full", "/dev/full"},
    {"/dev/random", "/dev/random"},
    {"/dev/urandom", "/dev/urandom"},
}};

std::optional<int> number_after(std::string_view path, std::string_view prefix) {
  if (!path.starts_with(prefix)) return std::nullopt;
  const std::string_view digits = path.substr(prefix.size());
  int fd = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
  if (error != std::errc{} || end != digits.data() + digits.size() || digits.empty() || fd < 0) return std::nullopt;
  return fd;
}

}  // namespace

const char* host_device_node(std::string_view guest_path) {
  for (const auto& [guest, host] : kHostDevices) {
    if (guest_path == guest) return host;
  }
  return nullptr;
}

std::optional<int> fd_link(std::string_view guest_path) {
  if (guest_path == "/dev/stdin") return 0;
  if (guest_path == "/dev/stdout") return 1;
  if (guest_path == "/dev/stderr") return 2;
  if (auto fd = number_after(guest_path, "/dev/fd/")) return fd;
  return number_after(guest_path, "/proc/self/fd/");
}

std::optional<std::int64_t> open_device_path(SyscallContext& context, std::string_view guest_path,
                                             std::uint64_t flags) {
  const bool cloexec = (flags & O_CLOEXEC) != 0;
  // A microVM has no controlling terminal: Linux's answer for a process without one.
  if (guest_path == "/dev/tty") return -ENXIO;
  if (const char* device = host_device_node(guest_path)) {
    // Only the access mode and the flags that mean something to a character
    // device; O_CREAT, O_EXCL and O_DIRECTORY as Linux answers them for one.
    if ((flags & O_DIRECTORY) != 0) return -ENOTDIR;
    if ((flags & O_CREAT) != 0 && (flags & O_EXCL) != 0) return -EEXIST;
    const int host_flags =
        static_cast<int>(flags & (O_ACCMODE | O_NONBLOCK | O_APPEND | O_PATH)) | O_CLOEXEC | O_NOCTTY;
    const int fd = ::open(device, host_flags);
    if (fd < 0) return -errno;
    auto file = std::make_shared<OpenFile>();
    file->guest_path = std::string(guest_path);
    file->owned = UniqueFd(fd);
    file->host_fd = fd;
    return context.files.fds.add(std::move(file), cloexec);
  }
  const auto linked = fd_link(guest_path);
  if (!linked) return std::nullopt;
  std::shared_ptr<OpenFile> existing = context.files.fds.share(*linked);
  if (existing == nullptr) return -ENOENT;  // as Linux: no such link
  if (existing->is_ancestor() || existing->directory || existing->volume == nullptr) {
    // A pipe, a socket, the console, an eventfd: the same open file, as dup.
    if ((flags & O_DIRECTORY) != 0 && !existing->directory) return -ENOTDIR;
    return context.files.fds.add(std::move(existing), cloexec);
  }
  // A regular file on a volume: that very inode again, with its own offset and flags.
  const int host_flags = static_cast<int>(flags & (O_ACCMODE | O_NONBLOCK | O_APPEND | O_TRUNC)) | O_CLOEXEC;
  if ((flags & O_ACCMODE) != O_RDONLY && existing->volume->read_only) return -EROFS;
  const int fd = ::open(("/proc/self/fd/" + std::to_string(existing->host_fd)).c_str(), host_flags);
  if (fd < 0) return -errno;
  auto file = std::make_shared<OpenFile>();
  file->guest_path = existing->guest_path;
  file->volume = existing->volume;
  file->owned = UniqueFd(fd);
  file->host_fd = fd;
  return context.files.fds.add(std::move(file), cloexec);
}

std::optional<std::expected<DeviceObject, int>> device_object(const SyscallContext& context,
                                                              std::string_view guest_path) {
  if (const char* device = host_device_node(guest_path)) return DeviceObject{AT_FDCWD, device, 0};
  const auto linked = fd_link(guest_path);
  if (!linked) return std::nullopt;
  const OpenFile* file = context.files.fds.get(*linked);
  // A directory above the volumes has no host object: not through a link here.
  if (file == nullptr || file->is_ancestor()) return std::unexpected(ENOENT);
  return DeviceObject{file->host_fd, "", AT_EMPTY_PATH};
}

}  // namespace hyperlet
