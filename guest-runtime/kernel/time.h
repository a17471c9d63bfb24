#pragma once

#include <hyperlet/abi.h>
#include <hyperlet/pvclock.h>

namespace hyperlet::kernel {

inline uint64_t kvmclock_ns() {
  return pvclock::nanoseconds(*reinterpret_cast<const pvclock::TimeInfo*>(abi::kPvclockAddr));
}

// CLOCK_MONOTONIC, which is the host's (kvmclock + the offset the host wrote).
inline int64_t monotonic_ns() {
  const auto& offsets = *reinterpret_cast<const abi::VdsoData*>(abi::kVdsoDataAddr);
  return static_cast<int64_t>(kvmclock_ns()) + offsets.monotonic_offset_ns;
}

// How long vCPU `cpu` has run guest code (abi::VcpuRunClock): what the host
// counted up to its latest KVM_RUN, plus the time since that entry. Before the
// host wrote the clock, the VM's elapsed time stands in for it.
inline uint64_t vcpu_run_ns(uint32_t cpu) {
  const auto& clock = reinterpret_cast<const volatile abi::VcpuRunClock*>(abi::kRunClocksAddr)[cpu];
  const uint64_t entered = clock.entered_monotonic_ns;
  if (entered == 0) return kvmclock_ns();
  const int64_t since_entry = monotonic_ns() - static_cast<int64_t>(entered);
  return clock.run_ns + (since_entry > 0 ? static_cast<uint64_t>(since_entry) : 0);
}

}  // namespace hyperlet::kernel
