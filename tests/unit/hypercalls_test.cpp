// Hostile and broken hypercall arguments, as a compromised or buggy guest
// kernel could pass them, served without KVM over a real GuestMemory.
#include "vm/hypercalls.h"

#include <gtest/gtest.h>
#include <hyperlet/abi.h>
#include <sys/syscall.h>

#include <array>

namespace hyperlet {
namespace {

constexpr std::uint64_t kMemory = 16ull << 20;

class HypercallsTest : public ::testing::Test {
 protected:
  HypercallsTest()
      : memory_(*GuestMemory::create(kMemory)),
        layout_(*compute_guest_layout(kMemory, abi::kUserSpaceStart, abi::kUserSpaceStart + 0x10000)),
        context_(memory_, layout_, "/app"),
        handler_(memory_, layout_, context_, table_, false, false,
                 [this]() -> const SymbolTable& { return symbols_; }) {
    table_.add(SYS_getpid, [](SyscallContext&, const SyscallArguments& a) -> std::int64_t {
      return static_cast<std::int64_t>(a[0] + 1);
    });
  }

  std::optional<Result<int>> call(abi::Hypercall which, std::uint64_t address = abi::kHypercallArgsAddr) {
    return handler_.handle(static_cast<std::uint64_t>(which), address);
  }

  std::int64_t discard(std::uint64_t address, std::uint64_t length) {
    memory_.write(abi::kHypercallArgsAddr, abi::DiscardArgs{address, length, 12345});
    EXPECT_FALSE(call(abi::Hypercall::kDiscard).has_value());
    return memory_.read<abi::DiscardArgs>(abi::kHypercallArgsAddr)->result;
  }

  GuestMemory memory_;
  GuestLayout layout_;
  SyscallContext context_;
  HostSyscallTable table_;
  SymbolTable symbols_;
  HypercallHandler handler_;
};

TEST_F(HypercallsTest, ExitReturnsTheLowByteOfTheStatus) {
  memory_.write(abi::kHypercallArgsAddr, abi::ExitArgs{0x12a, 0});
  auto outcome = call(abi::Hypercall::kExit);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_TRUE(outcome->has_value());
  EXPECT_EQ(**outcome, 0x2a);
}

TEST_F(HypercallsTest, ExitBySignalEndsWithShellStatusAndNamesTheSignal) {
  memory_.write(abi::kHypercallArgsAddr, abi::ExitArgs{128 + 6, 6});
  auto outcome = call(abi::Hypercall::kExit);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->has_value());
  EXPECT_EQ(static_cast<int>(outcome->error().status), 134);
  EXPECT_EQ(outcome->error().message, "app killed by SIGABRT (Aborted)");
}

TEST_F(HypercallsTest, HostSyscallWritesTheResultBack) {
  abi::SyscallArgs args{};
  args.number = SYS_getpid;
  args.args[0] = 41;
  memory_.write(abi::kHypercallArgsAddr, args);
  EXPECT_FALSE(call(abi::Hypercall::kHostSyscall).has_value());
  EXPECT_EQ(memory_.read<abi::SyscallArgs>(abi::kHypercallArgsAddr)->result, 42);
}

TEST_F(HypercallsTest, UnknownHostSyscallIsEnosys) {
  abi::SyscallArgs args{};
  args.number = 100000;
  memory_.write(abi::kHypercallArgsAddr, args);
  EXPECT_FALSE(call(abi::Hypercall::kHostSyscall).has_value());
  EXPECT_EQ(memory_.read<abi::SyscallArgs>(abi::kHypercallArgsAddr)->result, -ENOSYS);
}

TEST_F(HypercallsTest, ArgumentAddressOutsideGuestMemoryEndsTheRun) {
  for (auto which : {abi::Hypercall::kExit, abi::Hypercall::kHostSyscall, abi::Hypercall::kFault,
                     abi::Hypercall::kDiscard, abi::Hypercall::kTrace}) {
    for (std::uint64_t address : std::array<std::uint64_t, 3>{kMemory, kMemory - 4, ~0ull - 4}) {
      auto outcome = call(which, address);
      ASSERT_TRUE(outcome.has_value()) << hypercall_name(static_cast<std::uint64_t>(which));
      ASSERT_FALSE(outcome->has_value());
      EXPECT_EQ(outcome->error().status, ExitStatus::kVmFailure);
      EXPECT_NE(outcome->error().message.find("outside guest memory"), std::string::npos);
    }
  }
}

TEST_F(HypercallsTest, UnknownHypercallEndsTheRun) {
  auto outcome = handler_.handle(999, abi::kHypercallArgsAddr);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->has_value());
  EXPECT_NE(outcome->error().message.find("unknown hypercall 999"), std::string::npos);
}

TEST_F(HypercallsTest, DiscardZeroesAppPages) {
  const std::uint64_t page = layout_.heap_start;
  memory_.write<std::uint64_t>(page, 0xfeed);
  EXPECT_EQ(discard(page, abi::kPageSize), 0);
  EXPECT_EQ(*memory_.read<std::uint64_t>(page), 0u);
}

TEST_F(HypercallsTest, DiscardRefusesKernelMemoryAndPageTables) {
  memory_.write<std::uint64_t>(abi::kKernelImageBase, 0xfeed);
  EXPECT_EQ(discard(abi::kKernelImageBase, abi::kPageSize), -EINVAL);
  EXPECT_EQ(*memory_.read<std::uint64_t>(abi::kKernelImageBase), 0xfeedu);
  EXPECT_EQ(discard(layout_.page_tables_base, abi::kPageSize), -EINVAL);
  EXPECT_EQ(discard(layout_.page_tables_base - abi::kPageSize, 2 * abi::kPageSize), -EINVAL);
}

TEST_F(HypercallsTest, DiscardRefusesUnalignedWrappingAndHugeRanges) {
  EXPECT_EQ(discard(layout_.heap_start + 1, abi::kPageSize), -EINVAL);
  EXPECT_EQ(discard(layout_.heap_start, 100), -EINVAL);
  EXPECT_EQ(discard(layout_.heap_start, ~0ull - abi::kPageSize + 1), -EINVAL);
  EXPECT_EQ(discard(~0ull & ~(abi::kPageSize - 1), 2 * abi::kPageSize), -EINVAL);
}

TEST_F(HypercallsTest, FaultFromRing3IsAnAppCrash) {
  abi::FaultArgs fault{};
  fault.vector = static_cast<std::uint64_t>(abi::Exception::kPageFault);
  fault.cs = abi::kUserCodeSelector;
  fault.rip = layout_.image_start;
  fault.cr2 = 0;
  memory_.write(abi::kHypercallArgsAddr, fault);
  auto outcome = call(abi::Hypercall::kFault);
  ASSERT_TRUE(outcome.has_value());
  ASSERT_FALSE(outcome->has_value());
  EXPECT_EQ(outcome->error().status, ExitStatus::kAppSigsegv);
  EXPECT_NE(outcome->error().message.find("null pointer"), std::string::npos);
}

}  // namespace
}  // namespace hyperlet
