// glibc's I/O functions, tried first through the guest library's ways around
// the trap (io_paths.h: socket buffers, the file ring) and otherwise glibc's
// own implementation, reached through the names its weak aliases stand for.
// In a static link these strong definitions replace glibc's weak ones; the
// toolchain makes the linker take this file even when the app names nothing in
// it (--undefined=hyperlet_libc_overrides_linked). Natively, and in a microVM
// before the buffers are handed over, each is one predictable branch more.
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <csignal>
#include <cstdint>

#include "hyperlet/file_ring.h"
#include "hyperlet/socket_buffers.h"
#include "io_paths.h"

extern "C" {
ssize_t __libc_read(int fd, void* buffer, size_t count);
ssize_t __libc_write(int fd, const void* buffer, size_t count);
ssize_t __libc_pread64(int fd, void* buffer, size_t count, off_t offset);
ssize_t __libc_pwrite64(int fd, const void* buffer, size_t count, off_t offset);
ssize_t __writev(int fd, const struct iovec* parts, int count);
ssize_t __libc_send(int fd, const void* buffer, size_t length, int flags);
ssize_t __libc_recv(int fd, void* buffer, size_t length, int flags);
int __libc_accept(int fd, struct sockaddr* address, socklen_t* length);
int __libc_connect(int fd, const struct sockaddr* address, socklen_t length);

extern const int hyperlet_libc_overrides_linked;
const int hyperlet_libc_overrides_linked = 1;
}

namespace io = hyperlet::io_paths;
namespace abi = hyperlet::abi;

namespace {
bool only_flags(int flags, int allowed) { return (flags & ~allowed) == 0; }
}  // namespace

extern "C" {

ssize_t read(int fd, void* buffer, size_t count) {
  const ssize_t stashed = io::take_socket_input(fd, buffer, count, false);
  if (stashed >= 0) return stashed;
  ssize_t result;
  if (io::file_ring_call(abi::kFileRead, fd, reinterpret_cast<std::uintptr_t>(buffer), count, 0, &result))
    return result;
  return __libc_read(fd, buffer, count);
}

ssize_t pread64(int fd, void* buffer, size_t count, off_t offset) {
  ssize_t result;
  if (io::file_ring_call(abi::kFilePread, fd, reinterpret_cast<std::uintptr_t>(buffer), count, offset, &result))
    return result;
  return __libc_pread64(fd, buffer, count, offset);
}

ssize_t pread(int fd, void* buffer, size_t count, off_t offset) { return pread64(fd, buffer, count, offset); }

ssize_t recv(int fd, void* buffer, size_t length, int flags) {
  if (only_flags(flags, MSG_DONTWAIT | MSG_PEEK)) {
    const ssize_t stashed = io::take_socket_input(fd, buffer, length, (flags & MSG_PEEK) != 0);
    if (stashed >= 0) return stashed;
  }
  return __libc_recv(fd, buffer, length, flags);
}

ssize_t write(int fd, const void* buffer, size_t count) {
  const struct iovec whole { const_cast<void*>(buffer), count };
  if (io::defer_socket_write(fd, &whole, 1, count)) return static_cast<ssize_t>(count);
  ssize_t result;
  if (io::file_ring_call(abi::kFileWrite, fd, reinterpret_cast<std::uintptr_t>(buffer), count, 0, &result))
    return result;
  return __libc_write(fd, buffer, count);
}

ssize_t pwrite64(int fd, const void* buffer, size_t count, off_t offset) {
  ssize_t result;
  if (io::file_ring_call(abi::kFilePwrite, fd, reinterpret_cast<std::uintptr_t>(buffer), count, offset, &result))
    return result;
  return __libc_pwrite64(fd, buffer, count, offset);
}

ssize_t pwrite(int fd, const void* buffer, size_t count, off_t offset) { return pwrite64(fd, buffer, count, offset); }

ssize_t writev(int fd, const struct iovec* parts, int count) {
  if (count > 0 && count <= IOV_MAX) {
    size_t total = 0;
    bool small = true;  // no part alone could be deferred otherwise, and the sum cannot wrap
    for (int i = 0; i < count && small; ++i) {
      small = parts[i].iov_len <= abi::kMaxDeferredWrite;
      total += parts[i].iov_len;
    }
    if (small && io::defer_socket_write(fd, parts, count, total)) return static_cast<ssize_t>(total);
  }
  return __writev(fd, parts, count);
}

ssize_t send(int fd, const void* buffer, size_t length, int flags) {
  // hyperlet ignores SIGPIPE for the app anyway, so MSG_NOSIGNAL changes nothing here.
  if (only_flags(flags, MSG_DONTWAIT | MSG_NOSIGNAL)) {
    const struct iovec whole { const_cast<void*>(buffer), length };
    if (io::defer_socket_write(fd, &whole, 1, length)) return static_cast<ssize_t>(length);
  }
  return __libc_send(fd, buffer, length, flags);
}

// A server or client making connections gains from socket buffers even without
// epoll: a blocking request/response loop defers its write to the read that follows.
int accept(int fd, struct sockaddr* address, socklen_t* length) {
  io::attach_socket_buffers_once();
  return __libc_accept(fd, address, length);
}

int accept4(int fd, struct sockaddr* address, socklen_t* length, int flags) {
  io::attach_socket_buffers_once();
  return static_cast<int>(syscall(SYS_accept4, fd, address, length, flags));
}

int connect(int fd, const struct sockaddr* address, socklen_t length) {
  io::attach_socket_buffers_once();
  return __libc_connect(fd, address, length);
}

int epoll_pwait(int epoll_fd, struct epoll_event* events, int max_events, int timeout, const sigset_t* mask) {
  io::attach_socket_buffers_once();
  // glibc passes the kernel's sigset size (_NSIG / 8) along with a mask.
  return static_cast<int>(syscall(SYS_epoll_pwait, epoll_fd, events, max_events, timeout, mask, _NSIG / 8));
}

int epoll_wait(int epoll_fd, struct epoll_event* events, int max_events, int timeout) {
  return epoll_pwait(epoll_fd, events, max_events, timeout, nullptr);
}

}  // extern "C"
