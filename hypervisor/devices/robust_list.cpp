// set_robust_list as a direct syscall (abi::is_direct_syscall). glibc registers
// each thread's robust mutex list at start and again in every forked child;
// the guest kernel keeps no list (it never walks one when a thread ends: robust
// mutexes' owner-died recovery is not built, DESIGN.md "Threads"), so the call
// has one observable effect, Linux's EINVAL for a wrong size, and the host can
// answer it from ring 3 without the guest kernel: in a forked child that spares
// a trap and ~85 emulated ring-0 instructions on kvm_pvm, on the path to its
// first instructions.
#include <sys/syscall.h>

#include <cerrno>

#include "devices/host_syscalls.h"

namespace hyperlet {

namespace {
constexpr std::uint64_t kRobustListHeadSize = 24;  // sizeof(struct robust_list_head)
}

void register_robust_list_syscalls(HostSyscallTable& table) {
  table.add(SYS_set_robust_list, [](SyscallContext&, const SyscallArguments& a) -> std::int64_t {
    return a[1] == kRobustListHeadSize ? 0 : -EINVAL;
  });
}

}  // namespace hyperlet
