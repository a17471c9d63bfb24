// The console and other terminal-ish calls: ioctl (TCGETS, TIOCGWINSZ) and
// poll/ppoll over the guest's fd table (devices/fd_table.h), where fds 0-2 are
// hyperlet's own stdin, stdout and stderr. read/write and the rest of the fd
// calls live in filesystem.cpp.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

// Linux refuses more pollfds than RLIMIT_NOFILE, which the guest reports as 1024.
constexpr std::uint64_t kMaxPollFds = 1024;
// The kernel's struct termios (asm/termbits.h), which TCGETS fills: 4 flags, c_line, 19 c_cc.
constexpr std::size_t kKernelTermiosSize = 36;

// poll/ppoll: the guest's pollfd array is polled on the host with each guest fd
// replaced by its host fd. An fd that is not open gets POLLNVAL (a negative fd is
// skipped), as on Linux; a directory above the volumes is always readable.
// Shells need this: busybox's `read` polls stdin before each byte.
std::int64_t poll_fds(SyscallContext& context, std::uint64_t address, std::uint64_t count, const timespec* timeout) {
  if (count > kMaxPollFds) return -EINVAL;
  auto bytes = context.user_span(address, count * sizeof(pollfd));
  if (count != 0 && !bytes) return -EFAULT;
  std::vector<pollfd> fds(count);
  if (count != 0) std::memcpy(fds.data(), bytes->data(), bytes->size());
  std::vector<pollfd> host_fds;
  std::int64_t known = 0;
  for (auto& fd : fds) {
    fd.revents = 0;
    if (fd.fd < 0) continue;
    const OpenFile* file = context.files.fds.get(fd.fd);
    if (file == nullptr || file->is_ancestor()) {
      fd.revents = file == nullptr ? POLLNVAL : static_cast<short>(fd.events & (POLLIN | POLLRDNORM));
      known += fd.revents != 0 ? 1 : 0;
      continue;
    }
    host_fds.push_back(pollfd{file->host_fd, fd.events, 0});
  }
  // With an answer already known, do not block.
  const timespec zero{};
  const int ready = ::ppoll(host_fds.data(), host_fds.size(), known != 0 ? &zero : timeout, nullptr);
  if (ready < 0) {
    // The run's deadline (SIGALRM, no SA_RESTART) interrupts a blocked poll: end the run.
    if (errno == EINTR) context.interrupted = true;
    return -errno;
  }
  for (std::size_t guest = 0, host = 0; guest < fds.size(); ++guest) {
    if (fds[guest].fd < 0) continue;
    const OpenFile* file = context.files.fds.get(fds[guest].fd);
    if (file == nullptr || file->is_ancestor()) continue;
    fds[guest].revents = host_fds[host++].revents;
  }
  if (count != 0) std::memcpy(bytes->data(), fds.data(), bytes->size());
  return ready + known;
}

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
    if (a[1] == FIONREAD) {
      int available = 0;
      if (::ioctl(fd, FIONREAD, &available) != 0) return -errno;
      return context.write(a[2], available) ? 0 : -EFAULT;
    }
    return -ENOTTY;
  });
  table.add(SYS_poll, [](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    const auto milliseconds = static_cast<std::int32_t>(a[2]);  // int; negative waits forever
    const timespec timeout{milliseconds / 1000, static_cast<long>(milliseconds % 1000) * 1'000'000};
    return poll_fds(context, a[0], a[1], milliseconds < 0 ? nullptr : &timeout);
  });
  table.add(SYS_ppoll, [](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    // a[3], the signal mask, does not matter: the guest delivers no signals yet.
    if (a[2] == 0) return poll_fds(context, a[0], a[1], nullptr);
    auto timeout = context.read<timespec>(a[2]);
    if (!timeout) return -EFAULT;
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1'000'000'000) return -EINVAL;
    return poll_fds(context, a[0], a[1], &*timeout);
  });
}

}  // namespace hyperlet
