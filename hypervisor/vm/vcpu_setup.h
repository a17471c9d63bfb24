// Putting the vCPU in 64-bit long mode at the guest kernel's entry, directly
// (no BIOS, no real mode): control registers, segments, descriptor tables, MSRs.
#pragma once

#include <vector>

#include <hyperlet/abi.h>

#include "core/error.h"
#include "kvm/kvm.h"
#include "memory/guest_layout.h"

namespace hyperlet {

Result<void> setup_vcpu(Vcpu& vcpu, const std::vector<kvm_cpuid_entry2>& cpuid,
                        const abi::KernelHeader& kernel, const GuestLayout& layout);

}  // namespace hyperlet
