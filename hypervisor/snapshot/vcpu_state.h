// A vCPU's state in and out of a snapshot (snapshot_file.h: VcpuState).
#pragma once

#include "core/error.h"
#include "kvm/kvm.h"
#include "snapshot/snapshot_file.h"

namespace hyperlet::snapshot {

// Everything KVM keeps for the vCPU that the guest can see, and kvmclock.
// Call after KVM has completed the last exit's I/O (KVM_RUN with immediate_exit),
// so that rip is past the `out` that caused it.
Result<VcpuState> capture_vcpu(const Vcpu& vcpu, const VmFd& vm);

// The opposite, on a fresh vCPU whose CPUID is already set.
Result<void> apply_vcpu(Vcpu& vcpu, VmFd& vm, const VcpuState& state);

// Back to `state` on the vCPU apply_vcpu set up (a reset to the snapshot), in
// as few ioctls as KVM allows: registers, special registers and events go in
// with the next KVM_RUN where KVM syncs them. kvmclock is left running: the
// guest's clocks go on (its offsets are rewritten by the caller).
Result<void> reset_vcpu(Vcpu& vcpu, const VcpuState& state);

}  // namespace hyperlet::snapshot
