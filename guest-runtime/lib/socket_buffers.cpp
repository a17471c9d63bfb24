// The app's half of socket buffers (<hyperlet/socket_buffers.h>): read, recv,
// write, writev and send on a TCP connection are answered here, in ring 3, when
// the host has stashed input for it or the write fits its credit. Anything else
// goes to glibc's own function and from there to the guest kernel, which
// forwards it to the host; the host keeps the order (it sends deferred writes
// first and serves stashed input first), so taking this path or not never
// changes what the app sees, only what it costs: on kvm_pvm a syscall trap is
// ~22 µs and a VM exit ~35 µs more, a ring-3 copy well under 1 µs.
//
// These definitions replace glibc's weak ones in a static link; the toolchain
// makes the linker take this file (--undefined=hyperlet_socket_buffers_linked).
// Natively, and in a VM until the first epoll_wait hands the buffers over, each
// is one well-predicted branch in front of glibc's function. One vCPU and no
// guest threads: nothing here races with anything but the host, which only
// touches the buffers while the app is stopped in a hypercall.
#include "hyperlet/socket_buffers.h"

#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>

#include "hyperlet/abi.h"
#include "hyperlet/guest.h"

extern "C" {
// glibc's own implementations, which its weak read/write/... aliases name.
ssize_t __libc_read(int fd, void* buffer, size_t count);
ssize_t __libc_write(int fd, const void* buffer, size_t count);
ssize_t __writev(int fd, const struct iovec* parts, int count);
ssize_t __libc_send(int fd, const void* buffer, size_t length, int flags);
ssize_t __libc_recv(int fd, void* buffer, size_t length, int flags);

// Referenced by the toolchain's link line so that this file is always linked.
extern const int hyperlet_socket_buffers_linked;
const int hyperlet_socket_buffers_linked = 1;
}

namespace {

using hyperlet::abi::SocketBuffers;
using hyperlet::abi::SocketSlot;

SocketBuffers* g_buffers = nullptr;
std::atomic<bool> g_attach_tried{false};

// Called by the app's first epoll_wait: an event loop is what gains from the buffers.
void attach_once() {
  if (g_attach_tried.exchange(true, std::memory_order_relaxed) || !hyperlet::in_microvm()) return;
  const int saved_errno = errno;
  void* memory = mmap(nullptr, sizeof(SocketBuffers), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (memory != MAP_FAILED) {
    auto* buffers = static_cast<SocketBuffers*>(memory);
    buffers->version = hyperlet::abi::kSocketBuffersVersion;
    if (syscall(static_cast<long>(hyperlet::abi::kSyscallSocketBuffers), memory, sizeof(SocketBuffers)) == 0) {
      g_buffers = buffers;
    } else {
      munmap(memory,
             sizeof(SocketBuffers));  // an older host, or too little memory: the trap path it is
    }
  }
  errno = saved_errno;
}

SocketSlot* stream_slot(int fd) {
  if (g_buffers == nullptr || fd < 0 || static_cast<unsigned>(fd) >= hyperlet::abi::kSocketBufferSlots) return nullptr;
  SocketSlot* slot = &g_buffers->slots[fd];
  return (slot->flags & hyperlet::abi::kSlotStream) != 0 ? slot : nullptr;
}

// Stashed input, or -1 when there is none (then the host is asked).
ssize_t take_input(int fd, void* buffer, size_t count, bool peek) {
  SocketSlot* slot = stream_slot(fd);
  if (slot == nullptr || count == 0) return -1;
  const uint32_t length =
      slot->input_length < hyperlet::abi::kSocketInputSize ? slot->input_length : hyperlet::abi::kSocketInputSize;
  const uint32_t taken = slot->input_taken;
  if (taken >= length) return -1;
  const size_t available = length - taken;
  const size_t copied = count < available ? count : available;
  std::memcpy(buffer, g_buffers->input[fd] + taken, copied);
  if (!peek) slot->input_taken = taken + static_cast<uint32_t>(copied);
  return static_cast<ssize_t>(copied);
}

// Appends one DeferredWrite record; false when it does not fit the slot's
// credit or the output area (then the host is asked, and sends what was deferred first).
bool defer(int fd, const struct iovec* parts, int count, size_t total) {
  SocketSlot* slot = stream_slot(fd);
  if (slot == nullptr || total == 0 || total > hyperlet::abi::kMaxDeferredWrite || total > slot->output_credit) {
    return false;
  }
  const uint32_t used = g_buffers->output_used;
  const uint32_t span = hyperlet::abi::deferred_write_span(static_cast<uint32_t>(total));
  if (used > hyperlet::abi::kDeferredOutputSize || span > hyperlet::abi::kDeferredOutputSize - used) return false;
  unsigned char* record = g_buffers->output + used;
  const hyperlet::abi::DeferredWrite header{static_cast<uint32_t>(fd), static_cast<uint32_t>(total)};
  std::memcpy(record, &header, sizeof header);
  unsigned char* data = record + sizeof header;
  for (int i = 0; i < count; ++i) {
    std::memcpy(data, parts[i].iov_base, parts[i].iov_len);
    data += parts[i].iov_len;
  }
  g_buffers->output_used = used + span;
  slot->output_credit -= static_cast<uint32_t>(total);
  return true;
}

bool only_flags(int flags, int allowed) { return (flags & ~allowed) == 0; }

}  // namespace

extern "C" {

ssize_t read(int fd, void* buffer, size_t count) {
  const ssize_t stashed = take_input(fd, buffer, count, false);
  return stashed >= 0 ? stashed : __libc_read(fd, buffer, count);
}

ssize_t recv(int fd, void* buffer, size_t length, int flags) {
  if (only_flags(flags, MSG_DONTWAIT | MSG_PEEK)) {
    const ssize_t stashed = take_input(fd, buffer, length, (flags & MSG_PEEK) != 0);
    if (stashed >= 0) return stashed;
  }
  return __libc_recv(fd, buffer, length, flags);
}

ssize_t write(int fd, const void* buffer, size_t count) {
  const struct iovec whole { const_cast<void*>(buffer), count };
  if (defer(fd, &whole, 1, count)) return static_cast<ssize_t>(count);
  return __libc_write(fd, buffer, count);
}

ssize_t writev(int fd, const struct iovec* parts, int count) {
  if (count > 0 && count <= IOV_MAX && stream_slot(fd) != nullptr) {
    size_t total = 0;
    bool small = true;
    for (int i = 0; i < count && small; ++i) {
      small = parts[i].iov_len <= hyperlet::abi::kMaxDeferredWrite;
      total += parts[i].iov_len;
    }
    if (small && defer(fd, parts, count, total)) return static_cast<ssize_t>(total);
  }
  return __writev(fd, parts, count);
}

ssize_t send(int fd, const void* buffer, size_t length, int flags) {
  // hyperlet ignores SIGPIPE for the app anyway, so MSG_NOSIGNAL changes nothing here.
  if (only_flags(flags, MSG_DONTWAIT | MSG_NOSIGNAL)) {
    const struct iovec whole { const_cast<void*>(buffer), length };
    if (defer(fd, &whole, 1, length)) return static_cast<ssize_t>(length);
  }
  return __libc_send(fd, buffer, length, flags);
}

int epoll_pwait(int epoll_fd, struct epoll_event* events, int max_events, int timeout, const sigset_t* mask) {
  attach_once();
  // glibc passes the kernel's sigset size (_NSIG / 8) along with a mask.
  return static_cast<int>(syscall(SYS_epoll_pwait, epoll_fd, events, max_events, timeout, mask, _NSIG / 8));
}

int epoll_wait(int epoll_fd, struct epoll_event* events, int max_events, int timeout) {
  return epoll_pwait(epoll_fd, events, max_events, timeout, nullptr);
}

}  // extern "C"
