#include "arch/descriptor_tables.h"

#include <gtest/gtest.h>
#include <hyperlet/abi.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "test_printers.h"

namespace hyperlet {
namespace {

// Segment descriptor fields (Intel SDM vol. 3, 3.4.5).
constexpr std::uint64_t bits(std::uint64_t value, int low, int count) {
  return (value >> low) & ((1ull << count) - 1);
}
constexpr std::uint64_t dpl(std::uint64_t descriptor) { return bits(descriptor, 45, 2); }
constexpr std::uint64_t present(std::uint64_t descriptor) { return bits(descriptor, 47, 1); }
constexpr std::uint64_t system_flag(std::uint64_t descriptor) { return bits(descriptor, 44, 1); }
constexpr std::uint64_t type(std::uint64_t descriptor) { return bits(descriptor, 40, 4); }
constexpr std::uint64_t long_mode(std::uint64_t descriptor) { return bits(descriptor, 53, 1); }
constexpr std::uint64_t default_size(std::uint64_t descriptor) { return bits(descriptor, 54, 1); }

TEST(SegmentDescriptors, KernelCode) {
  const std::uint64_t d = code_segment_descriptor(0);
  EXPECT_EQ(d, 0x00af'9a00'0000'ffffull);
  EXPECT_EQ(dpl(d), 0u);
  EXPECT_EQ(present(d), 1u);
  EXPECT_EQ(system_flag(d), 1u);  // code/data, not system
  EXPECT_EQ(type(d), 0xau);       // execute/read
  EXPECT_EQ(long_mode(d), 1u);
  EXPECT_EQ(default_size(d), 0u);  // L=1 requires D=0
}

TEST(SegmentDescriptors, UserCode) {
  const std::uint64_t d = code_segment_descriptor(3);
  EXPECT_EQ(d, 0x00af'fa00'0000'ffffull);
  EXPECT_EQ(dpl(d), 3u);
  EXPECT_EQ(long_mode(d), 1u);
  EXPECT_EQ(type(d), 0xau);
}

TEST(SegmentDescriptors, Data) {
  EXPECT_EQ(data_segment_descriptor(0), 0x00cf'9200'0000'ffffull);
  EXPECT_EQ(data_segment_descriptor(3), 0x00cf'f200'0000'ffffull);
  EXPECT_EQ(dpl(data_segment_descriptor(3)), 3u);
  EXPECT_EQ(type(data_segment_descriptor(3)), 0x2u);  // read/write
  EXPECT_EQ(long_mode(data_segment_descriptor(3)), 0u);
}

TEST(SegmentDescriptors, PrivilegeIsMaskedToTwoBits) {
  EXPECT_EQ(code_segment_descriptor(4), code_segment_descriptor(0));
  EXPECT_EQ(data_segment_descriptor(7), data_segment_descriptor(3));
}

TEST(InterruptGate, Encoding) {
  const GateDescriptor gate = interrupt_gate(0x1122'3344'5566'7788ull, 3, 1);
  EXPECT_EQ(bits(gate.low, 0, 16), 0x7788u);                 // offset 15:0
  EXPECT_EQ(bits(gate.low, 16, 16), abi::kKernelCodeSelector);
  EXPECT_EQ(bits(gate.low, 32, 3), 1u);                      // IST
  EXPECT_EQ(bits(gate.low, 35, 5), 0u);                      // reserved
  EXPECT_EQ(bits(gate.low, 40, 4), 0xeu);                    // 64-bit interrupt gate
  EXPECT_EQ(bits(gate.low, 44, 1), 0u);
  EXPECT_EQ(bits(gate.low, 45, 2), 3u);                      // DPL
  EXPECT_EQ(bits(gate.low, 47, 1), 1u);                      // present
  EXPECT_EQ(bits(gate.low, 48, 16), 0x5566u);                // offset 31:16
  EXPECT_EQ(gate.high, 0x1122'3344u);                        // offset 63:32, upper half zero
  EXPECT_EQ(gate.low, 0x5566'ee01'0008'7788ull);
}

TEST(InterruptGate, KernelOnlyGateWithoutIst) {
  const GateDescriptor gate = interrupt_gate(0x101234, 0, 0);
  EXPECT_EQ(gate.low, 0x0010'8e00'0008'1234ull);
  EXPECT_EQ(gate.high, 0u);
}

TEST(InterruptGate, IstAndPrivilegeAreMasked) {
  const GateDescriptor gate = interrupt_gate(0, 4, 8);
  EXPECT_EQ(bits(gate.low, 32, 3), 0u);
  EXPECT_EQ(bits(gate.low, 45, 2), 0u);
}

class DescriptorTables : public ::testing::Test {
 protected:
  void SetUp() override {
    auto memory = GuestMemory::create(2 << 20);
    ASSERT_TRUE(memory.has_value());
    memory_.emplace(std::move(*memory));
    kernel_.magic = abi::kKernelMagic;
    kernel_.abi_version = abi::kAbiVersion;
    kernel_.entry = 0x100100;
    kernel_.syscall_entry = 0x100200;
    kernel_.syscall_trap_entry = 0x1'0010'0300ull;  // exercises the high half
    for (std::uint32_t v = 0; v < abi::kExceptionVectors; ++v) kernel_.exception_entries[v] = 0x101000 + v * 0x10;
    kernel_.preempt_entry = 0x102000;
    ASSERT_TRUE(write_descriptor_tables(*memory_, kernel_).has_value());
  }

  GateDescriptor idt(unsigned vector) const {
    auto gate = memory_->read<GateDescriptor>(abi::kIdtAddr + vector * 16);
    EXPECT_TRUE(gate.has_value());
    return gate.value_or(GateDescriptor{});
  }
  static std::uint64_t handler(const GateDescriptor& gate) {
    return bits(gate.low, 0, 16) | (bits(gate.low, 48, 16) << 16) | (gate.high << 32);
  }
  std::uint64_t gdt(unsigned index) const {
    return memory_->read<std::uint64_t>(abi::kGdtAddr + index * 8).value_or(~0ull);
  }

  std::optional<GuestMemory> memory_;
  abi::KernelHeader kernel_{};
};

TEST_F(DescriptorTables, GdtMatchesSelectors) {
  EXPECT_EQ(gdt(0), 0u);
  EXPECT_EQ(gdt(abi::kKernelCodeSelector / 8), code_segment_descriptor(0));
  EXPECT_EQ(gdt(abi::kKernelDataSelector / 8), data_segment_descriptor(0));
  EXPECT_EQ(gdt(abi::kUserDataSelector / 8), data_segment_descriptor(3));
  EXPECT_EQ(gdt(abi::kUserCodeSelector / 8), code_segment_descriptor(3));
  // STAR needs user data right below user code.
  EXPECT_EQ(abi::kUserCodeSelector / 8, abi::kUserDataSelector / 8 + 1);
}

TEST_F(DescriptorTables, TssDescriptor) {
  const std::uint64_t low = gdt(abi::kTssSelector / 8);
  const std::uint64_t high = gdt(abi::kTssSelector / 8 + 1);
  EXPECT_EQ(bits(low, 0, 16), kTssWithIoBitmapLimit);  // vCPU 0's: the 104 bytes and the I/O bitmap
  EXPECT_EQ(bits(low, 16, 24) | (bits(low, 56, 8) << 24) | (high << 32), abi::kTssAddr);
  EXPECT_EQ(type(low), 0x9u);  // available 64-bit TSS
  EXPECT_EQ(system_flag(low), 0u);
  EXPECT_EQ(present(low), 1u);
  EXPECT_EQ(dpl(low), 0u);
  EXPECT_EQ(kGdtLimit, abi::kGdtEntries * 8 - 1);
  EXPECT_GE(abi::kGdtEntries * 8u, abi::kTssSelector + 16u);
}

TEST_F(DescriptorTables, SyscallTrapGateIsReachableFromRing3) {
  const GateDescriptor gate = idt(abi::kSyscallTrapVector);
  EXPECT_EQ(handler(gate), kernel_.syscall_trap_entry);
  EXPECT_EQ(bits(gate.low, 45, 2), 3u);
  EXPECT_EQ(bits(gate.low, 47, 1), 1u);
  EXPECT_EQ(bits(gate.low, 16, 16), abi::kKernelCodeSelector);
  EXPECT_EQ(bits(gate.low, 32, 3), 0u);
}

// Only the host injects it (KVM_INTERRUPT): an `int 0x20` from the app is a #GP.
TEST_F(DescriptorTables, PreemptGateIsAnInterruptGateForRing0Only) {
  const GateDescriptor gate = idt(abi::kPreemptVector);
  EXPECT_EQ(handler(gate), kernel_.preempt_entry);
  EXPECT_EQ(bits(gate.low, 40, 4), 0xeu);  // interrupt gate: IF=0 in the handler
  EXPECT_EQ(bits(gate.low, 45, 2), 0u);
  EXPECT_EQ(bits(gate.low, 47, 1), 1u);
  EXPECT_EQ(bits(gate.low, 32, 3), 0u);
}

TEST_F(DescriptorTables, ExceptionGates) {
  for (unsigned v = 0; v < abi::kExceptionVectors; ++v) {
    const GateDescriptor gate = idt(v);
    EXPECT_EQ(handler(gate), kernel_.exception_entries[v]) << "vector " << v;
    EXPECT_EQ(bits(gate.low, 16, 16), abi::kKernelCodeSelector) << "vector " << v;
    EXPECT_EQ(bits(gate.low, 40, 4), 0xeu) << "vector " << v;
    EXPECT_EQ(bits(gate.low, 47, 1), 1u) << "vector " << v;
    const bool ring3 = v == 3 || v == 4;  // int3, into
    EXPECT_EQ(bits(gate.low, 45, 2), ring3 ? 3u : 0u) << "vector " << v;
  }
  EXPECT_EQ(bits(idt(3).low, 45, 2), 3u);                    // #BP: DPL 3
  EXPECT_EQ(bits(idt(13).low, 45, 2), 0u);                   // #GP: DPL 0
  EXPECT_EQ(bits(idt(8).low, 32, 3), 1u);                    // #DF on IST 1
  EXPECT_EQ(bits(idt(2).low, 32, 3), 1u);                    // NMI on IST 1
  EXPECT_EQ(bits(idt(18).low, 32, 3), 1u);                   // #MC on IST 1
  EXPECT_EQ(bits(idt(0).low, 32, 3), 0u);
}

TEST_F(DescriptorTables, UnusedVectorsAreNotPresent) {
  for (unsigned v = abi::kExceptionVectors; v < 256; ++v) {
    if (v == abi::kSyscallTrapVector || v == abi::kPreemptVector) continue;
    const GateDescriptor gate = idt(v);
    EXPECT_EQ(gate.low, 0u) << "vector " << v;
    EXPECT_EQ(gate.high, 0u) << "vector " << v;
  }
  EXPECT_EQ(kIdtLimit, 256 * 16 - 1);
}

TEST_F(DescriptorTables, TaskStateSegment) {
  EXPECT_EQ(memory_->read<std::uint64_t>(abi::kTssAddr + 4), abi::kKernelStackTop);   // rsp0
  EXPECT_EQ(memory_->read<std::uint64_t>(abi::kTssAddr + 36), abi::kFaultStackTop);   // ist1
  EXPECT_EQ(memory_->read<std::uint16_t>(abi::kTssAddr + 102), kTssLimit + 1);        // I/O bitmap base
  EXPECT_EQ(kTssLimit, 103u);
}

// vCPU 0's I/O bitmap: 4 bytes within its TSS's limit, every port closed (the
// guest kernel opens abi::kDirectSyscallPort when it may); a 32-bit out to the
// port checks 4 bits of one byte, which the open value clears and nothing else.
TEST_F(DescriptorTables, IoBitmapStartsWithEveryPortClosed) {
  EXPECT_EQ(kTssWithIoBitmapLimit, 107u);
  for (std::uint64_t offset = 0; offset < abi::kTssIoBitmapBytes; ++offset) {
    EXPECT_EQ(memory_->read<std::uint8_t>(abi::kTssAddr + abi::kTssIoBitmapOffset + offset), 0xff) << offset;
  }
  EXPECT_EQ(abi::kTssIoBitmapPortByte, abi::kTssAddr + 104 + 2);
  const unsigned first_bit = abi::kDirectSyscallPort % 8;
  EXPECT_EQ(static_cast<unsigned>(abi::kTssIoBitmapOpen), 0xffu & ~(0xfu << first_bit));
  EXPECT_TRUE(abi::is_direct_syscall(0) && abi::is_direct_syscall(1) && abi::is_direct_syscall(72));
  EXPECT_FALSE(abi::is_direct_syscall(9) || abi::is_direct_syscall(202) || abi::is_direct_syscall(35));
  EXPECT_TRUE(abi::is_direct_syscall(231) && abi::is_direct_syscall(abi::kSyscallReady));
  EXPECT_FALSE(abi::is_direct_syscall(60) || abi::is_direct_syscall(abi::kSyscallReady + 1));
}

// --cpus: vCPU N's TSS (its own descriptor) has rsp0 and IST1 in its CpuArea;
// vCPU 0's stays as with one vCPU, and no TSS is written beyond the count.
TEST_F(DescriptorTables, EachVcpuHasItsOwnTss) {
  kernel_.cpu_areas = 0x110000;
  ASSERT_TRUE(write_descriptor_tables(*memory_, kernel_, 3).has_value());
  for (unsigned cpu = 0; cpu < 3; ++cpu) {
    SCOPED_TRACE(cpu);
    const unsigned index = (abi::kTssSelector + cpu * 16) / 8;
    const std::uint64_t low = gdt(index);
    const std::uint64_t tss = abi::kTssAddr + cpu * abi::kTssStride;
    EXPECT_EQ(bits(low, 16, 24) | (bits(low, 56, 8) << 24) | (gdt(index + 1) << 32), tss);
    EXPECT_EQ(type(low), 0x9u);
    EXPECT_EQ(present(low), 1u);
    const std::uint64_t area = kernel_.cpu_areas + (cpu - 1) * sizeof(abi::CpuArea);
    EXPECT_EQ(memory_->read<std::uint64_t>(tss + 4),
              cpu == 0 ? abi::kKernelStackTop : area + offsetof(abi::CpuArea, idle_stack) + abi::kCpuStackSize);
    EXPECT_EQ(memory_->read<std::uint64_t>(tss + 36),
              cpu == 0 ? abi::kFaultStackTop : area + offsetof(abi::CpuArea, fault_stack) + abi::kCpuStackSize);
    EXPECT_EQ(cpu_fault_stack_top(kernel_, cpu), memory_->read<std::uint64_t>(tss + 36).value_or(0));
  }
  EXPECT_EQ(gdt((abi::kTssSelector + 3 * 16) / 8), 0u);
  EXPECT_GE(abi::kGdtEntries * 8u, abi::kTssSelector + abi::kMaxCpus * 16u);
  EXPECT_LE(abi::kMaxCpus * abi::kTssStride, abi::kPageSize);
}

TEST(DescriptorTablesWrite, FailsWhenMemoryIsTooSmall) {
  auto memory = GuestMemory::create(abi::kIdtAddr + 4096 / 2);  // IDT does not fit
  ASSERT_TRUE(memory.has_value());
  const abi::KernelHeader kernel{};
  const auto result = write_descriptor_tables(*memory, kernel);
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().status, ExitStatus::kUsage);
}

}  // namespace
}  // namespace hyperlet
