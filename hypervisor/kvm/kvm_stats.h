// KVM's binary statistics (KVM_GET_STATS_FD): the host kernel's own counters for
// a VM or vCPU, e.g. guest page faults that never reach hyperlet as exits.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace hyperlet {

// Cumulative counters by name; empty when the kernel has no stats interface.
std::map<std::string, std::uint64_t> read_kvm_stats(int vm_or_vcpu_fd);

}  // namespace hyperlet
