// The app's view of a filesystem. No host directory is reachable yet, so every
// path answers ENOENT, except /proc/self/exe, which names the app itself.
#include <fcntl.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

std::int64_t read_link(SyscallContext& context, std::uint64_t path_address, std::uint64_t buffer,
                       std::uint64_t size) {
  auto path = context.user_string(path_address);
  if (!path) return -EFAULT;
  if (*path != "/proc/self/exe") return -ENOENT;
  const std::string& target = context.exe_path();
  const std::uint64_t length = std::min<std::uint64_t>(size, target.size());
  auto out = context.user_span(buffer, length);
  if (!out) return -EFAULT;
  std::memcpy(out->data(), target.data(), length);
  return static_cast<std::int64_t>(length);
}

std::int64_t no_such_path(SyscallContext& context, std::uint64_t path_address) {
  return context.user_string(path_address) ? -ENOENT : -EFAULT;
}

}  // namespace

void register_filesystem_syscalls(HostSyscallTable& table) {
  table.add(SYS_readlink, [](SyscallContext& context, const SyscallArguments& a) {
    return read_link(context, a[0], a[1], a[2]);
  });
  table.add(SYS_readlinkat, [](SyscallContext& context, const SyscallArguments& a) {
    return read_link(context, a[1], a[2], a[3]);
  });
  table.add(SYS_open, [](SyscallContext& context, const SyscallArguments& a) {
    return no_such_path(context, a[0]);
  });
  table.add(SYS_openat, [](SyscallContext& context, const SyscallArguments& a) {
    return no_such_path(context, a[1]);
  });
  table.add(SYS_access, [](SyscallContext& context, const SyscallArguments& a) {
    return no_such_path(context, a[0]);
  });
  table.add(SYS_faccessat, [](SyscallContext& context, const SyscallArguments& a) {
    return no_such_path(context, a[1]);
  });
  table.add(SYS_faccessat2, [](SyscallContext& context, const SyscallArguments& a) {
    return no_such_path(context, a[1]);
  });
  table.add(SYS_getcwd, [](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    if (a[1] < 2) return -ERANGE;
    auto out = context.user_span(a[0], 2);
    if (!out) return -EFAULT;
    std::memcpy(out->data(), "/", 2);
    return 2;
  });
}

}  // namespace hyperlet
