// Socket buffers: memory the guest library shares with the host so that an
// event-loop server's reads and writes on TCP connections need no trap and no
// VM exit of their own (see docs/DESIGN.md, "Socket buffers").
//
// - Input: when the host's epoll_wait reports a connection readable, the host
//   receives up to kSocketInputSize bytes into that connection's slot. The
//   app's read()/recv() then takes them in ring 3 (advancing input_taken).
// - Output: the app's write()/send() of up to output_credit bytes is appended to
//   `output` as a DeferredWrite record and answered at once; the host sends the
//   records, in order, before it does anything else the app asks of it (every
//   forwarded syscall, exit, fault).
//
// The guest library allocates the buffers and hands them over once
// (kSyscallSocketBuffers). The host treats every field the guest writes as
// hostile: it keeps its own copy of what it stashed and clamps what it reads back.
// Plain data only, like abi.h: both sides include it.
#pragma once

#include <stdint.h>

namespace hyperlet::abi {

// syscall(kSyscallSocketBuffers, address, size): hands the host a page-aligned
// SocketBuffers in app memory. 0, or -EINVAL (bad size or alignment, already
// given), -EFAULT (not app memory). Linux answers -ENOSYS, so natively it is a no-op.
inline constexpr uint64_t kSyscallSocketBuffers = 0x10000002;

// Guest fds below this have a slot; connections on higher fds take the trap path.
inline constexpr uint32_t kSocketBufferSlots = 1024;
inline constexpr uint32_t kSocketInputSize = 4096;
inline constexpr uint32_t kDeferredOutputSize = 256 * 1024;
// A larger write is not deferred: bulk data goes to the host directly.
inline constexpr uint32_t kMaxDeferredWrite = 16 * 1024;

// SocketSlot::flags: set by the host while the slot's fd is a connected TCP
// socket whose input and output may take the paths above.
inline constexpr uint32_t kSlotStream = 1;

struct SocketSlot {
  uint32_t flags;          // host-written
  uint32_t input_length;   // host-written: bytes in input[fd]
  uint32_t input_taken;    // guest-written: how many of them the app has read
  uint32_t output_credit;  // host-written, guest-decremented: bytes the app may still defer
};

// A record in SocketBuffers::output; `length` bytes follow, and the next record
// starts at the next multiple of 8.
struct DeferredWrite {
  uint32_t fd;
  uint32_t length;
};

struct SocketBuffers {
  uint32_t version;      // guest-written: kSocketBuffersVersion
  uint32_t output_used;  // guest-written, reset by the host: bytes of `output` in records
  uint8_t reserved[4096 - 8];
  SocketSlot slots[kSocketBufferSlots];
  uint8_t output[kDeferredOutputSize];
  uint8_t input[kSocketBufferSlots][kSocketInputSize];
};

inline constexpr uint32_t kSocketBuffersVersion = 1;

inline constexpr uint32_t deferred_write_span(uint32_t length) {
  return static_cast<uint32_t>(sizeof(DeferredWrite)) + ((length + 7u) & ~7u);
}

static_assert(sizeof(SocketSlot) == 16);
static_assert(sizeof(SocketBuffers) % 4096 == 0);

}  // namespace hyperlet::abi
