// What makes a vCPU vCPU N for hyperlet's guest kernel, apart from the thread
// it runs: its TSS (TR: the kernel stack an interrupt or trap switches to),
// its LSTAR stub (the syscall path's scratch word and stack) and its kvmclock
// MSR (only vCPU 0 registers the pvclock page). A forked child of an app on
// several vCPUs has one vCPU: it continues the forking vCPU's state, whichever
// vCPU that was, with vCPU 0's identity (the guest kernel moves the thread
// there: threads.cpp become_only_cpu).
#pragma once

#include <cstdint>

#include "core/error.h"
#include "kvm/kvm.h"
#include "snapshot/snapshot_file.h"

namespace hyperlet {

struct VcpuIdentity {
  kvm_segment task_register{};
  std::uint64_t syscall_entry = 0;  // MSR LSTAR
  std::uint64_t kvmclock = 0;       // MSR_KVM_SYSTEM_TIME_NEW
};

// Read from a vCPU outside KVM_RUN (any exit: neither is changed by completing it).
Result<VcpuIdentity> read_vcpu_identity(const Vcpu& vcpu);

// `state` (captured from any vCPU) as it would be on the vCPU `identity` came from.
void give_vcpu_identity(snapshot::VcpuState& state, const VcpuIdentity& identity);

}  // namespace hyperlet
