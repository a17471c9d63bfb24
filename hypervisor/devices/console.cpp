// The console: the app's stdin, stdout and stderr are hyperlet's own. Data moves
// straight between the host fd and guest memory (no bounce buffer).
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

constexpr int kConsoleFds = 3;
constexpr std::uint64_t kMaxIovecs = 1024;
// Linux refuses more pollfds than RLIMIT_NOFILE, which the guest reports as 1024.
constexpr std::uint64_t kMaxPollFds = 1024;
// The kernel's struct termios (asm/termbits.h), which TCGETS fills: 4 flags, c_line, 19 c_cc.
constexpr std::size_t kKernelTermiosSize = 36;

struct ConsoleState {
  std::array<bool, kConsoleFds> open = {true, true, true};
  bool usable(std::uint64_t fd) const { return fd < kConsoleFds && open[fd]; }
};

std::int64_t result_of(ssize_t value) { return value < 0 ? -errno : value; }

// Guest iovecs → host iovecs over checked guest memory.
std::optional<std::vector<iovec>> host_iovecs(const SyscallContext& context, std::uint64_t address,
                                              std::uint64_t count) {
  if (count > kMaxIovecs) return std::nullopt;
  std::vector<iovec> result;
  for (std::uint64_t i = 0; i < count; ++i) {
    auto entry = context.read<iovec>(address + i * sizeof(iovec));
    if (!entry) return std::nullopt;
    const auto base = reinterpret_cast<std::uint64_t>(entry->iov_base);
    if (entry->iov_len == 0) continue;
    auto bytes = context.user_span(base, entry->iov_len);
    if (!bytes) return std::nullopt;
    result.push_back(iovec{bytes->data(), bytes->size()});
  }
  return result;
}

// poll/ppoll over the console: the guest's pollfd array is polled on the host, where
// the console fds are the same numbers. An fd that is not an open console fd gets
// POLLNVAL (a negative fd is skipped), as on Linux. Shells need this: busybox's
// `read` polls stdin before each byte.
std::int64_t poll_console(const ConsoleState& state, SyscallContext& context, std::uint64_t address,
                          std::uint64_t count, const timespec* timeout) {
  if (count > kMaxPollFds) return -EINVAL;
  auto bytes = context.user_span(address, count * sizeof(pollfd));
  if (count != 0 && !bytes) return -EFAULT;
  std::vector<pollfd> fds(count);
  if (count != 0) std::memcpy(fds.data(), bytes->data(), bytes->size());
  std::vector<pollfd> host_fds;
  std::int64_t invalid = 0;
  for (auto& fd : fds) {
    fd.revents = 0;
    if (fd.fd < 0) continue;
    if (!state.usable(static_cast<std::uint64_t>(fd.fd))) {
      fd.revents = POLLNVAL;
      ++invalid;
      continue;
    }
    host_fds.push_back(pollfd{fd.fd, fd.events, 0});
  }
  // With an invalid fd the answer is already known: do not block.
  const timespec zero{};
  const int ready = ::ppoll(host_fds.data(), host_fds.size(), invalid != 0 ? &zero : timeout, nullptr);
  if (ready < 0) {
    // The run's deadline (SIGALRM, no SA_RESTART) interrupts a blocked poll: end the run.
    if (errno == EINTR) context.interrupted = true;
    return -errno;
  }
  for (std::size_t guest = 0, host = 0; guest < fds.size(); ++guest) {
    if (fds[guest].fd < 0 || fds[guest].revents == POLLNVAL) continue;
    fds[guest].revents = host_fds[host++].revents;
  }
  if (count != 0) std::memcpy(bytes->data(), fds.data(), bytes->size());
  return ready + invalid;
}

}  // namespace

void register_console_syscalls(HostSyscallTable& table) {
  auto state = std::make_shared<ConsoleState>();

  table.add(SYS_read, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    auto buffer = context.user_span(a[1], a[2]);
    if (!buffer) return -EFAULT;
    return result_of(::read(static_cast<int>(a[0]), buffer->data(), buffer->size()));
  });
  table.add(SYS_write, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    auto buffer = context.user_span(a[1], a[2]);
    if (!buffer) return -EFAULT;
    return result_of(::write(static_cast<int>(a[0]), buffer->data(), buffer->size()));
  });
  table.add(SYS_readv, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    auto vectors = host_iovecs(context, a[1], a[2]);
    if (!vectors) return a[2] > kMaxIovecs ? -EINVAL : -EFAULT;
    return result_of(::readv(static_cast<int>(a[0]), vectors->data(), static_cast<int>(vectors->size())));
  });
  table.add(SYS_writev, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    auto vectors = host_iovecs(context, a[1], a[2]);
    if (!vectors) return a[2] > kMaxIovecs ? -EINVAL : -EFAULT;
    if (vectors->empty()) return 0;
    return result_of(::writev(static_cast<int>(a[0]), vectors->data(), static_cast<int>(vectors->size())));
  });
  table.add(SYS_close, [state](SyscallContext&, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    state->open[a[0]] = false;  // the host keeps its own descriptor
    return 0;
  });
  table.add(SYS_lseek, [state](SyscallContext&, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    return result_of(::lseek(static_cast<int>(a[0]), static_cast<off_t>(a[1]), static_cast<int>(a[2])));
  });
  table.add(SYS_fstat, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    struct stat info {};  // on x86-64 glibc's struct stat is the kernel's
    if (::fstat(static_cast<int>(a[0]), &info) != 0) return -errno;
    return context.write(a[1], info) ? 0 : -EFAULT;
  });
  table.add(SYS_newfstatat, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    auto path = context.user_string(a[1]);
    if (!path) return -EFAULT;
    if (!path->empty() || (a[3] & AT_EMPTY_PATH) == 0) return -ENOENT;
    if (!state->usable(a[0])) return -EBADF;
    struct stat info {};
    if (::fstat(static_cast<int>(a[0]), &info) != 0) return -errno;
    return context.write(a[2], info) ? 0 : -EFAULT;
  });
  table.add(SYS_statx, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    auto path = context.user_string(a[1]);
    if (!path) return -EFAULT;
    if (!path->empty() || (a[2] & AT_EMPTY_PATH) == 0) return -ENOENT;
    if (!state->usable(a[0])) return -EBADF;
    struct statx info {};
    if (::statx(static_cast<int>(a[0]), "", AT_EMPTY_PATH, static_cast<unsigned>(a[3]), &info) != 0) {
      return -errno;
    }
    return context.write(a[4], info) ? 0 : -EFAULT;
  });
  table.add(SYS_ioctl, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    const int fd = static_cast<int>(a[0]);
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
    return -ENOTTY;
  });
  table.add(SYS_fcntl, [state](SyscallContext&, const SyscallArguments& a) -> std::int64_t {
    if (!state->usable(a[0])) return -EBADF;
    switch (a[1]) {
      case F_GETFL: return result_of(::fcntl(static_cast<int>(a[0]), F_GETFL));
      case F_GETFD:
      case F_SETFD: return 0;
      default: return -EINVAL;
    }
  });
  auto not_seekable = [state](SyscallContext&, const SyscallArguments& a) -> std::int64_t {
    return state->usable(a[0]) ? -ESPIPE : -EBADF;
  };
  table.add(SYS_poll, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    const auto milliseconds = static_cast<std::int32_t>(a[2]);  // int; negative waits forever
    const timespec timeout{milliseconds / 1000, static_cast<long>(milliseconds % 1000) * 1'000'000};
    return poll_console(*state, context, a[0], a[1], milliseconds < 0 ? nullptr : &timeout);
  });
  table.add(SYS_ppoll, [state](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    // a[3], the signal mask, does not matter: the guest delivers no signals yet.
    if (a[2] == 0) return poll_console(*state, context, a[0], a[1], nullptr);
    auto timeout = context.read<timespec>(a[2]);
    if (!timeout) return -EFAULT;
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1'000'000'000) return -EINVAL;
    return poll_console(*state, context, a[0], a[1], &*timeout);
  });
  table.add(SYS_pread64, not_seekable);
  table.add(SYS_pwrite64, not_seekable);
}

}  // namespace hyperlet
