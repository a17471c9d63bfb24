// Serving the guest kernel's hypercalls (abi.h): reading each argument struct
// through the checked guest-memory accessor, doing the work, writing results
// back. Separate from the run loop so hostile arguments are unit-tested without KVM.
#pragma once

#include <hyperlet/abi.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "core/error.h"
#include "devices/host_syscalls.h"
#include "kvm/kvm.h"
#include "loader/symbols.h"
#include "memory/guest_layout.h"
#include "memory/guest_memory.h"
#include "vm/syscall_trace.h"

namespace hyperlet {

std::string_view hypercall_name(std::uint64_t call);

class HypercallHandler {
 public:
  using SymbolSource = std::function<const SymbolTable&()>;

  // `syscall_trap`: the app's syscalls enter through the rewritten trap (fault reports say so).
  HypercallHandler(GuestMemory& memory, const GuestLayout& layout, SyscallContext& context,
                   const HostSyscallTable& host_syscalls, bool trace, bool syscall_trap, SymbolSource symbols)
      : memory_(memory),
        layout_(layout),
        context_(context),
        host_syscalls_(host_syscalls),
        trace_(trace),
        syscall_trap_(syscall_trap),
        symbols_(std::move(symbols)) {}

  // nullopt: the guest goes on. Otherwise the run ends: the app's exit status,
  // or an Error (an app fault, or a hypercall the guest kernel got wrong).
  std::optional<Result<int>> handle(std::uint64_t call, std::uint64_t argument_address);

  // More than one vCPU (--cpus): this handler's vCPU sleeps in kSleep until
  // `wake_fd` (an eventfd) is written too; kKickCpus and kShootdown reach the
  // vCPUs their mask names. Without them both are no-ops.
  struct VcpuHooks {
    int wake_fd = -1;
    std::function<void(std::uint64_t)> kick;       // write those vCPUs' wake_fds
    std::function<void(std::uint64_t)> interrupt;  // inject kPreemptVector into those vCPUs
  };
  void set_vcpu_hooks(VcpuHooks hooks) { hooks_ = std::move(hooks); }

  // kVectorState: this handler's vCPU's XSAVE area (KVM_GET_XSAVE, KVM_SET_XSAVE).
  // Without it the call answers -ENOSYS.
  struct VectorStateAccess {
    std::function<Result<XsaveArea>()> get;
    std::function<Result<void>(const XsaveArea&)> set;
  };
  void set_vector_state_access(VectorStateAccess access) { vector_state_ = std::move(access); }

 private:
  // kFileMapping: 0 or -errno.
  std::int64_t file_mapping(const abi::FileMappingArgs& args);
  // kVectorState: 0 or -errno.
  std::int64_t vector_state(const abi::VectorStateArgs& args);
  // kSyscallSite: 0 or -EINVAL.
  std::int64_t rewrite_syscall_site(std::uint64_t address);
  // out_of_memory_note for this guest (vm/fault_report.h).
  std::string memory_note() const;
  // Reads of app memory for the trace.
  GuestBytes app_memory() const;
  // A syscall's --trace line, from `source` ("host", "guest"); a forwarded
  // write to hyperlet's stdout or stderr is noted for the next line's start.
  void trace_call(std::string_view source, const abi::SyscallArgs& call, bool forwarded) const;
  GuestMemory& memory_;
  const GuestLayout& layout_;
  SyscallContext& context_;
  const HostSyscallTable& host_syscalls_;
  bool trace_;
  bool syscall_trap_;
  SymbolSource symbols_;
  VcpuHooks hooks_;
  VectorStateAccess vector_state_;
};

}  // namespace hyperlet
