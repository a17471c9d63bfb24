// The app's half of socket buffers (<hyperlet/socket_buffers.h>): read, recv,
// write, writev and send on a TCP connection are answered here, in ring 3, when
// the host has stashed input for it or the write fits its credit (called from
// libc_overrides.cpp). Anything else takes the trap to the guest kernel, which
// forwards it to the host; the host keeps the order (it sends deferred writes
// first and serves stashed input first), so taking this path or not never
// changes what the app sees, only what it costs: on kvm_pvm a syscall trap is
// ~22 µs and a VM exit ~35 µs more, a ring-3 copy well under 1 µs.
//
// One vCPU, but the guest kernel may preempt a thread anywhere in ring 3 at the
// end of its time slice: a lock (io_paths.h) keeps the app's threads out of
// each other's updates. The host touches the buffers only while the app is
// stopped (a hypercall, a kick), and the app publishes output_used last.
#include "hyperlet/socket_buffers.h"

#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "hyperlet/abi.h"
#include "hyperlet/guest.h"
#include "io_paths.h"

namespace {

using hyperlet::abi::SocketBuffers;
using hyperlet::abi::SocketSlot;

constexpr std::uint64_t kMinimumMemory = 32ull << 20;

SocketBuffers* g_buffers = nullptr;
std::atomic<bool> g_attach_tried{false};
hyperlet::io_paths::YieldingLock g_buffers_lock;  // input positions, the output area, credits

}  // namespace

namespace hyperlet::io_paths {

// Called by the app's first epoll_wait, accept or connect: programs with
// connections are what gains from the buffers.
void attach_socket_buffers_once() {
  if (g_attach_tried.exchange(true, std::memory_order_relaxed)) return;
  // 4.3 MiB of address space: not worth taking from a small VM.
  const auto info = hyperlet::guest_info();
  if (!info || info->memory_size < kMinimumMemory) return;
  g_buffers = share_with_host<SocketBuffers>(hyperlet::abi::kSocketBuffersVersion,
                                            static_cast<long>(hyperlet::abi::kSyscallSocketBuffers));
}


namespace {

SocketSlot* stream_slot(int fd) {
  if (g_buffers == nullptr || fd < 0 || static_cast<unsigned>(fd) >= hyperlet::abi::kSocketBufferSlots) return nullptr;
  SocketSlot* slot = &g_buffers->slots[fd];
  return (slot->flags & hyperlet::abi::kSlotStream) != 0 ? slot : nullptr;
}

}  // namespace

ssize_t take_socket_input(int fd, void* buffer, size_t count, bool peek) {
  SocketSlot* slot = stream_slot(fd);
  if (slot == nullptr || count == 0) return -1;
  const std::lock_guard hold(g_buffers_lock);
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

// False when it does not fit the slot's credit or the output area: then the
// host is asked, and it sends what was deferred first.
bool defer_socket_write(int fd, const struct iovec* parts, int count, size_t total) {
  SocketSlot* slot = stream_slot(fd);
  if (slot == nullptr || total == 0 || total > hyperlet::abi::kMaxDeferredWrite || total > slot->output_credit) {
    return false;
  }
  const std::lock_guard hold(g_buffers_lock);
  if (total > slot->output_credit) return false;  // another thread took the credit meanwhile
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

}  // namespace hyperlet::io_paths
