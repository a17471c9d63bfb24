#include "devices/blocking_calls.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>

#include <cerrno>

namespace hyperlet {
namespace {

std::int64_t fd_argument(std::uint64_t value) { return static_cast<std::int32_t>(value); }

bool dont_wait(std::uint64_t flags) { return (flags & MSG_DONTWAIT) != 0; }

// SO_RCVTIMEO / SO_SNDTIMEO: a blocking socket call gives up after this long.
std::optional<std::uint64_t> socket_timeout_ns(int host_fd, short events) {
  timeval value{};
  socklen_t length = sizeof value;
  const int option = events == POLLIN ? SO_RCVTIMEO : SO_SNDTIMEO;
  if (::getsockopt(host_fd, SOL_SOCKET, option, &value, &length) != 0) return std::nullopt;
  if (value.tv_sec <= 0 && value.tv_usec <= 0) return std::nullopt;
  return static_cast<std::uint64_t>(value.tv_sec) * 1'000'000'000 + static_cast<std::uint64_t>(value.tv_usec) * 1000;
}

}  // namespace

std::optional<BlockingFdCall> blocking_fd_call(std::uint64_t number, const SyscallArguments& args) {
  switch (number) {
    case SYS_read:
    case SYS_readv:
    case SYS_accept:
    case SYS_accept4:
      return BlockingFdCall{fd_argument(args[0]), POLLIN};
    case SYS_recvfrom:
      if (dont_wait(args[3])) return std::nullopt;
      return BlockingFdCall{fd_argument(args[0]), POLLIN};
    case SYS_recvmsg:
      if (dont_wait(args[2])) return std::nullopt;
      return BlockingFdCall{fd_argument(args[0]), POLLIN};
    case SYS_write:
    case SYS_writev:
      return BlockingFdCall{fd_argument(args[0]), POLLOUT};
    case SYS_sendto:
      if (dont_wait(args[3])) return std::nullopt;
      return BlockingFdCall{fd_argument(args[0]), POLLOUT};
    case SYS_sendmsg:
      if (dont_wait(args[2])) return std::nullopt;
      return BlockingFdCall{fd_argument(args[0]), POLLOUT};
    default:
      return std::nullopt;
  }
}

std::int64_t perform_without_blocking(SyscallContext& context, const BlockingFdCall& call,
                                      const std::function<std::int64_t()>& perform) {
  const std::shared_ptr<OpenFile> file = context.files.fds.share(call.fd);
  if (file == nullptr || file->is_ancestor()) return perform();
  const int host_fd = file->host_fd;
  const int flags = ::fcntl(host_fd, F_GETFL);
  if (flags < 0 || (flags & O_NONBLOCK) != 0) return perform();
  if (file->owned.get() < 0) {
    // hyperlet's own stdio, shared with whoever started it: its flags are not
    // ours to change. A read parks until input comes; a write blocks as before.
    if (call.events != POLLIN) return perform();
    pollfd console{host_fd, POLLIN, 0};
    if (::poll(&console, 1, 0) != 0) return perform();
    context.park = ParkRequest{{console}, std::nullopt, 0};
    return 0;
  }
  // The host fd is hyperlet's alone (the app's dups share it, and they all wait
  // here one at a time), so making it non-blocking for one call changes nothing
  // anyone else sees.
  if (::fcntl(host_fd, F_SETFL, flags | O_NONBLOCK) != 0) return perform();
  const std::int64_t result = perform();
  ::fcntl(host_fd, F_SETFL, flags);
  if (result != -EAGAIN) return result;
  ParkRequest park{{pollfd{host_fd, call.events, 0}}, std::nullopt, -EAGAIN};
  if (file->socket != nullptr) park.timeout_ns = socket_timeout_ns(host_fd, call.events);
  context.park = std::move(park);
  return 0;
}

}  // namespace hyperlet
