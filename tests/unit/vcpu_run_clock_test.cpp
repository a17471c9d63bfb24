// The host's run clock in guest memory, which the guest kernel measures each
// thread's CPU time against (vm/vcpu_run_clock.h).
#include "vm/vcpu_run_clock.h"

#include <gtest/gtest.h>
#include <time.h>

#include <cstdint>

#include "memory/guest_memory.h"

namespace hyperlet {
namespace {

GuestMemory make_memory() {
  auto memory = GuestMemory::create(1 << 20);
  EXPECT_TRUE(memory.has_value()) << memory.error().message;
  return std::move(*memory);
}

abi::VcpuRunClock clock_of(const GuestMemory& memory, unsigned cpu) {
  return memory.read<abi::VcpuRunClock>(abi::kRunClocksAddr + cpu * sizeof(abi::VcpuRunClock)).value();
}

TEST(VcpuRunClock, AddsEachStretchInsideKvmRunAndNothingOutside) {
  GuestMemory memory = make_memory();
  VcpuRunClock clock(memory, 1);
  const std::uint64_t before = monotonic_ns();
  clock.entering();
  const abi::VcpuRunClock entered = clock_of(memory, 1);
  EXPECT_GE(entered.entered_monotonic_ns, before);
  EXPECT_EQ(entered.run_ns, 0u);
  const timespec two_ms{0, 2'000'000};
  nanosleep(&two_ms, nullptr);  // "in KVM_RUN"
  clock.left();
  const std::uint64_t first = clock_of(memory, 1).run_ns;
  EXPECT_GE(first, 2'000'000u);
  nanosleep(&two_ms, nullptr);  // out of KVM_RUN: not counted
  clock.left();                 // a second left() without an entry adds nothing
  EXPECT_EQ(clock_of(memory, 1).run_ns, first);
  clock.entering();
  clock.left();
  const std::uint64_t second = clock_of(memory, 1).run_ns;
  EXPECT_GE(second, first);
  EXPECT_LT(second - first, 2'000'000u);
  EXPECT_EQ(clock_of(memory, 0).run_ns, 0u) << "vCPU 0's clock is its own";
}

TEST(VcpuRunClock, RestartAllForgetsWhatWasRun) {
  GuestMemory memory = make_memory();
  for (unsigned cpu = 0; cpu < abi::kMaxCpus; ++cpu) {
    memory.write(abi::kRunClocksAddr + cpu * sizeof(abi::VcpuRunClock), abi::VcpuRunClock{123, 456});
  }
  VcpuRunClock::restart_all(memory);
  for (unsigned cpu = 0; cpu < abi::kMaxCpus; ++cpu) {
    EXPECT_EQ(clock_of(memory, cpu).run_ns, 0u);
    EXPECT_EQ(clock_of(memory, cpu).entered_monotonic_ns, 0u) << "the guest reads 0 as 'not written yet'";
  }
}

}  // namespace
}  // namespace hyperlet
