// GDT, IDT and TSS for the guest, written by the host into guest memory.
#pragma once

#include <hyperlet/abi.h>

#include "core/error.h"
#include "memory/guest_memory.h"

namespace hyperlet {

// `cpus` vCPUs: vCPU N gets the TSS at abi::kTssAddr + N * abi::kTssStride (its
// descriptor at selector abi::kTssSelector + N * 16), whose IST1 is vCPU 0's
// fault stack or vCPU N's CpuArea's.
Result<void> write_descriptor_tables(GuestMemory& memory, const abi::KernelHeader& kernel, unsigned cpus = 1);

// vCPU N's fault stack top (its TSS's IST1) and idle stack top (where it starts).
std::uint64_t cpu_fault_stack_top(const abi::KernelHeader& kernel, unsigned cpu);
std::uint64_t cpu_idle_stack_top(const abi::KernelHeader& kernel, unsigned cpu);

// Pieces exposed for tests.
std::uint64_t code_segment_descriptor(int privilege);
std::uint64_t data_segment_descriptor(int privilege);
struct GateDescriptor {
  std::uint64_t low;
  std::uint64_t high;
};
GateDescriptor interrupt_gate(std::uint64_t handler, int privilege, int ist);

inline constexpr std::uint16_t kIdtLimit = 256 * 16 - 1;
inline constexpr std::uint16_t kGdtLimit = abi::kGdtEntries * 8 - 1;
inline constexpr std::uint32_t kTssLimit = 103;
inline constexpr std::uint32_t kTssWithIoBitmapLimit = abi::kTssIoBitmapOffset + abi::kTssIoBitmapBytes - 1;
static_assert(abi::kTssIoBitmapOffset == kTssLimit + 1);
static_assert(abi::kTssIoBitmapOffset + abi::kTssIoBitmapBytes <= abi::kTssStride, "vCPU 0's bitmap ends before vCPU 1's TSS");
static_assert(abi::kDirectSyscallPort / 8 + 1 < abi::kTssIoBitmapBytes, "the CPU reads the port's byte and the next");

}  // namespace hyperlet
