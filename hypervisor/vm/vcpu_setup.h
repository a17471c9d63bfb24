// Putting the vCPU in 64-bit long mode at the guest kernel's entry, directly
// (no BIOS, no real mode): control registers, segments, descriptor tables, MSRs,
// and the XSAVE state (CR4.OSXSAVE, XCR0) that `cpuid` (as arch/cpuid.h's
// limit_extended_state left it) enables.
#pragma once

#include <hyperlet/abi.h>

#include <vector>

#include "core/error.h"
#include "kvm/kvm.h"
#include "memory/guest_layout.h"

namespace hyperlet {

// `cpuid_set`: the vCPU has it already (an execve boots on a vCPU that ran).
Result<void> setup_vcpu(Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid, const abi::KernelHeader& kernel,
                        const GuestLayout& layout, unsigned cpu = 0, bool cpuid_set = false);

}  // namespace hyperlet
