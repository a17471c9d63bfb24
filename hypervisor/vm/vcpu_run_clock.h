// The host's half of abi::VcpuRunClock: how long each vCPU has been inside
// KVM_RUN, kept in guest memory so that the guest kernel can tell what each of
// the app's threads ran (CPU-time clocks, getrusage, times) without an exit.
// Time the vCPU thread spends out here — serving a hypercall, halted for lack
// of work, blocked in a forwarded call — is not the app's CPU time.
#pragma once

#include <hyperlet/abi.h>

#include <cstddef>
#include <cstdint>

#include "memory/guest_memory.h"
#include "vm/run_stats.h"

namespace hyperlet {

class VcpuRunClock {
 public:
  VcpuRunClock(GuestMemory& memory, unsigned cpu)
      : memory_(memory), address_(abi::kRunClocksAddr + cpu * sizeof(abi::VcpuRunClock)) {}

  // Just before KVM_RUN.
  void entering() {
    entered_ = monotonic_ns();
    memory_.write(address_ + offsetof(abi::VcpuRunClock, entered_monotonic_ns), entered_);
  }

  // Just after KVM_RUN returned. The guest may have written the clock itself:
  // it is the app's own figure, and only sums of it are kept.
  void left() {
    if (entered_ == 0) return;
    const auto run_ns = memory_.read<std::uint64_t>(address_ + offsetof(abi::VcpuRunClock, run_ns));
    if (run_ns) memory_.write(address_ + offsetof(abi::VcpuRunClock, run_ns), *run_ns + (monotonic_ns() - entered_));
    entered_ = 0;
  }

  // A forked child is a new process: it has run nothing yet.
  static void restart_all(GuestMemory& memory) {
    for (unsigned cpu = 0; cpu < abi::kMaxCpus; ++cpu) {
      memory.write(abi::kRunClocksAddr + cpu * sizeof(abi::VcpuRunClock), abi::VcpuRunClock{});
    }
  }

 private:
  GuestMemory& memory_;
  std::uint64_t address_;
  std::uint64_t entered_ = 0;
};

}  // namespace hyperlet
