// The console and other terminal-ish calls: ioctl (TCGETS, TIOCGWINSZ, FIONREAD)
// over the guest's fd table (devices/fd_table.h), where fds 0-2 are hyperlet's
// own stdin, stdout and stderr. read/write and the rest of the fd calls live in
// filesystem.cpp; poll/ppoll/select/epoll in readiness.cpp.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

// The kernel's struct termios (asm/termbits.h), which TCGETS fills: 4 flags, c_line, 19 c_cc.
constexpr std::size_t kKernelTermiosSize = 36;

}  // namespace

void register_console_syscalls(HostSyscallTable& table) {
  table.add(SYS_ioctl, [](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    const OpenFile* file = context.files.fds.get(static_cast<std::int32_t>(a[0]));
    if (file == nullptr) return -EBADF;
    if (file->is_ancestor()) return -ENOTTY;
    const int fd = file->host_fd;
    if (a[1] == TCGETS) {
      std::array<std::byte, 64> termios_bytes{};
      if (::ioctl(fd, TCGETS, termios_bytes.data()) != 0) return -errno;
      auto out = context.user_span(a[2], kKernelTermiosSize);
      if (!out) return -EFAULT;
      std::memcpy(out->data(), termios_bytes.data(), kKernelTermiosSize);
      return 0;
    }
    if (a[1] == TIOCGWINSZ) {
      winsize size{};
      if (::ioctl(fd, TIOCGWINSZ, &size) != 0) return -errno;
      return context.write(a[2], size) ? 0 : -EFAULT;
    }
    if (a[1] == FIONBIO) {  // as fcntl F_SETFL O_NONBLOCK; hyperlet's own 0-2 keep their flags
      auto value = context.read<int>(a[2]);
      if (!value) return -EFAULT;
      if (file->owned.get() < 0) return 0;
      const int flags = ::fcntl(fd, F_GETFL);
      if (flags < 0) return -errno;
      return ::fcntl(fd, F_SETFL, *value != 0 ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) == 0 ? 0 : -errno;
    }
    if (a[1] == FIONREAD) {
      int available = 0;
      if (::ioctl(fd, FIONREAD, &available) != 0) return -errno;
      // Bytes already received into the app's socket buffers are still unread.
      if (file->socket != nullptr) {
        available += static_cast<int>(context.socket_buffers.unread_input(context, *file->socket));
      }
      return context.write(a[2], available) ? 0 : -EFAULT;
    }
    return -ENOTTY;
  });
}

}  // namespace hyperlet
