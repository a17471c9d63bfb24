#include "arch/descriptor_tables.h"

#include <array>
#include <cstddef>

namespace hyperlet {
namespace {

// Offsets inside the 64-bit TSS.
constexpr std::uint64_t kTssRsp0 = 4;
constexpr std::uint64_t kTssIst1 = 36;
constexpr std::uint64_t kTssIoMapBase = 102;
constexpr int kFaultIst = 1;

bool uses_fault_stack(unsigned vector) {
  const auto exception = static_cast<abi::Exception>(vector);
  return exception == abi::Exception::kDoubleFault || exception == abi::Exception::kNmi ||
         exception == abi::Exception::kMachineCheck;
}

bool reachable_from_ring3(unsigned vector) {
  // int3 and into from the app should report as SIGTRAP / SIGSEGV, not as #GP.
  const auto exception = static_cast<abi::Exception>(vector);
  return exception == abi::Exception::kBreakpoint || exception == abi::Exception::kOverflow;
}

}  // namespace

std::uint64_t code_segment_descriptor(int privilege) {
  // Present, code, execute/read, long mode (L), 4 KiB granularity, limit 0xfffff.
  return 0x00af'9a00'0000'ffffull | (static_cast<std::uint64_t>(privilege & 3) << 45);
}

std::uint64_t data_segment_descriptor(int privilege) {
  return 0x00cf'9200'0000'ffffull | (static_cast<std::uint64_t>(privilege & 3) << 45);
}

GateDescriptor interrupt_gate(std::uint64_t handler, int privilege, int ist) {
  const std::uint64_t type_attr = 0x8e | (static_cast<std::uint64_t>(privilege & 3) << 5);
  GateDescriptor gate{};
  gate.low = (handler & 0xffff) | (static_cast<std::uint64_t>(abi::kKernelCodeSelector) << 16) |
             (static_cast<std::uint64_t>(ist & 7) << 32) | (type_attr << 40) |
             ((handler >> 16 & 0xffff) << 48);
  gate.high = handler >> 32;
  return gate;
}

std::uint64_t cpu_fault_stack_top(const abi::KernelHeader& kernel, unsigned cpu) {
  if (cpu == 0) return abi::kFaultStackTop;
  return kernel.cpu_areas + (cpu - 1) * sizeof(abi::CpuArea) + offsetof(abi::CpuArea, fault_stack) + abi::kCpuStackSize;
}

std::uint64_t cpu_idle_stack_top(const abi::KernelHeader& kernel, unsigned cpu) {
  return kernel.cpu_areas + (cpu - 1) * sizeof(abi::CpuArea) + offsetof(abi::CpuArea, idle_stack) + abi::kCpuStackSize;
}

Result<void> write_descriptor_tables(GuestMemory& memory, const abi::KernelHeader& kernel, unsigned cpus) {
  std::array<std::uint64_t, abi::kGdtEntries> gdt = {
      0, code_segment_descriptor(0), data_segment_descriptor(0), data_segment_descriptor(3), code_segment_descriptor(3),
  };
  bool ok = true;
  for (unsigned cpu = 0; cpu < cpus && cpu < abi::kMaxCpus; ++cpu) {
    const std::uint64_t tss_base = abi::kTssAddr + cpu * abi::kTssStride;
    // 64-bit available TSS (type 9), two slots.
    // vCPU 0's TSS ends with a small I/O bitmap (abi::kDirectSyscallPort), all
    // ports closed until its guest kernel opens that one.
    const std::uint32_t limit = cpu == 0 ? kTssWithIoBitmapLimit : kTssLimit;
    gdt[5 + 2 * cpu] =
        (limit & 0xffff) | ((tss_base & 0xffffff) << 16) | (0x89ull << 40) | ((tss_base >> 24 & 0xff) << 56);
    gdt[6 + 2 * cpu] = tss_base >> 32;
    ok = ok && memory.write<std::uint64_t>(tss_base + kTssRsp0,
                                           cpu == 0 ? abi::kKernelStackTop : cpu_idle_stack_top(kernel, cpu));
    ok = ok && memory.write<std::uint64_t>(tss_base + kTssIst1, cpu_fault_stack_top(kernel, cpu));
    // The I/O map right after the 104 bytes: on vCPUs > 0 past the limit, so
    // their app has no port access at all.
    ok = ok && memory.write<std::uint16_t>(tss_base + kTssIoMapBase, abi::kTssIoBitmapOffset);
    if (cpu == 0) {
      std::array<std::uint8_t, abi::kTssIoBitmapBytes> closed;
      closed.fill(abi::kTssIoBitmapClosed);
      ok = ok && memory.write(tss_base + abi::kTssIoBitmapOffset, closed);
    }
  }
  ok = ok && memory.write(abi::kGdtAddr, gdt);

  std::array<GateDescriptor, 256> idt{};
  for (unsigned vector = 0; vector < abi::kExceptionVectors; ++vector) {
    idt[vector] = interrupt_gate(kernel.exception_entries[vector], reachable_from_ring3(vector) ? 3 : 0,
                                 uses_fault_stack(vector) ? kFaultIst : 0);
  }
  idt[abi::kSyscallTrapVector] = interrupt_gate(kernel.syscall_trap_entry, 3, 0);
  idt[abi::kPreemptVector] = interrupt_gate(kernel.preempt_entry, 0, 0);
  ok = ok && memory.write(abi::kIdtAddr, idt);
  if (!ok) return fail(ExitStatus::kUsage, "descriptor tables do not fit in guest memory");
  return {};
}

}  // namespace hyperlet
