// Calls only hyperlet knows (abi::kSyscallReady, abi::kSyscallSocketBuffers,
// abi::kSyscallFileRing, abi::kSyscallFileRingKick): the app telling its host how
// it is doing, or handing it memory to share. Linux
// answers these numbers with ENOSYS, so natively they are no-ops.
#include <hyperlet/abi.h>
#include <hyperlet/file_ring.h>
#include <hyperlet/socket_buffers.h>

#include "devices/host_syscalls.h"
#include "vm/run_stats.h"

namespace hyperlet {

void register_guest_control_syscalls(HostSyscallTable& table) {
  table.add(abi::kSyscallReady, [](SyscallContext& context, const SyscallArguments&) -> std::int64_t {
    if (!context.ready_ns) context.ready_ns = monotonic_ns();
    return 0;
  });
  table.add(abi::kSyscallSocketBuffers, [](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    return context.socket_buffers.attach(context, a[0], a[1]);
  });
  table.add(abi::kSyscallFileRing, [](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    return context.file_ring.attach(context, a[0], a[1]);
  });
  table.add(abi::kSyscallFileRingKick, [](SyscallContext& context, const SyscallArguments&) -> std::int64_t {
    return context.file_ring.kick(context);
  });
}

}  // namespace hyperlet
