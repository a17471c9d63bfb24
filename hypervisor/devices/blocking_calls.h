// Forwarded calls on an fd that may block (reads, writes, accept), made while
// other app threads could run (abi::Hypercall::kParkableSyscall): the handler
// runs with the host fd non-blocking, and when it would have blocked the call
// is parked (SyscallContext::park) instead of stopping every thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "devices/host_syscalls.h"

namespace hyperlet {

struct BlockingFdCall {
  std::int64_t fd;  // the guest fd
  short events;     // POLLIN or POLLOUT: what the call waits for
};

// The fd and direction of a call that blocks on an fd, or nullopt for any other
// call (and for one that asked not to block: MSG_DONTWAIT).
std::optional<BlockingFdCall> blocking_fd_call(std::uint64_t number, const SyscallArguments& args);

// Runs `perform` so that it cannot block on `call`'s fd; when it would have,
// sets context.park and answers 0 (the guest makes the call again when the fd
// is ready). A file the app made non-blocking is left as it is: it answers
// EAGAIN as on Linux.
std::int64_t perform_without_blocking(SyscallContext& context, const BlockingFdCall& call,
                                      const std::function<std::int64_t()>& perform);

}  // namespace hyperlet
