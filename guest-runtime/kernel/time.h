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

// The most each vCPU's run clock has answered (vcpu_run_ns).
inline uint64_t highest_vcpu_run_ns[abi::kMaxCpus];

// How long vCPU `cpu` has run guest code (abi::VcpuRunClock): what the host
// counted up to its latest KVM_RUN, plus the time since that entry. Before the
// host wrote the clock, the VM's elapsed time stands in for it. The guest's
// estimate during a run (kvmclock) and the host's count after it
// (CLOCK_MONOTONIC) can differ by a little: the answer never goes below an
// earlier one, so that no thread's CPU time ever goes back.
inline uint64_t vcpu_run_ns(uint32_t cpu) {
  const auto& clock = reinterpret_cast<const volatile abi::VcpuRunClock*>(abi::kRunClocksAddr)[cpu];
  const uint64_t entered = clock.entered_monotonic_ns;
  uint64_t now = kvmclock_ns();
  if (entered != 0) {
    const int64_t since_entry = monotonic_ns() - static_cast<int64_t>(entered);
    now = clock.run_ns + (since_entry > 0 ? static_cast<uint64_t>(since_entry) : 0);
  }
  uint64_t highest = __atomic_load_n(&highest_vcpu_run_ns[cpu], __ATOMIC_RELAXED);
  while (now > highest && !__atomic_compare_exchange_n(&highest_vcpu_run_ns[cpu], &highest, now, true, __ATOMIC_RELAXED,
                                                       __ATOMIC_RELAXED)) {
  }
  return now > highest ? now : highest;
}

// A forked child: the host restarted every run clock. Only the run's `cpus`
// vCPUs ever answer (each store is an emulated instruction on kvm_pvm).
inline void forget_vcpu_run_clocks(uint32_t cpus) {
  for (uint32_t cpu = 0; cpu < cpus && cpu < abi::kMaxCpus; ++cpu) {
    __atomic_store_n(&highest_vcpu_run_ns[cpu], 0, __ATOMIC_RELAXED);
  }
}

}  // namespace hyperlet::kernel
