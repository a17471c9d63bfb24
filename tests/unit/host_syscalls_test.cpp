#include "devices/host_syscalls.h"

#include <sys/syscall.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <hyperlet/abi.h>

#include "test_guest.h"
#include "test_printers.h"

namespace hyperlet {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

class SyscallContextTest : public ::testing::Test, protected TestGuest {
 protected:
  void put_string(std::uint64_t address, const std::string& text, bool terminate = true) {
    auto bytes = memory_->span(address, text.size() + (terminate ? 1 : 0));
    ASSERT_TRUE(bytes.has_value());
    std::memcpy(bytes->data(), text.data(), text.size());
    if (terminate) (*bytes)[text.size()] = std::byte{0};
  }
};

TEST_F(SyscallContextTest, UserSpanInsideAppMemory) {
  auto span = context_->user_span(layout_.heap_start, 64);
  ASSERT_TRUE(span.has_value());
  EXPECT_EQ(span->data(), memory_->host_base() + layout_.heap_start);
  EXPECT_EQ(span->size(), 64u);
  EXPECT_TRUE(context_->user_span(abi::kUserSpaceStart, 1).has_value());
  // Up to the last byte below the page tables.
  EXPECT_TRUE(context_->user_span(layout_.page_tables_base - 8, 8).has_value());
  EXPECT_TRUE(context_->user_span(abi::kUserSpaceStart, layout_.page_tables_base - abi::kUserSpaceStart)
                  .has_value());
}

TEST_F(SyscallContextTest, UserSpanRejectsKernelAddresses) {
  EXPECT_FALSE(context_->user_span(0, 8).has_value());
  EXPECT_FALSE(context_->user_span(abi::kBootInfoAddr, 8).has_value());
  EXPECT_FALSE(context_->user_span(abi::kHypercallArgsAddr, 8).has_value());
  EXPECT_FALSE(context_->user_span(abi::kKernelImageBase, 8).has_value());
  EXPECT_FALSE(context_->user_span(abi::kUserSpaceStart - 1, 2).has_value());
  // Even an empty span may not point into the kernel.
  EXPECT_FALSE(context_->user_span(abi::kUserSpaceStart - 1, 0).has_value());
}

TEST_F(SyscallContextTest, UserSpanRejectsPageTables) {
  EXPECT_FALSE(context_->user_span(layout_.page_tables_base - 8, 9).has_value());
  EXPECT_FALSE(context_->user_span(layout_.page_tables_base, 1).has_value());
  EXPECT_FALSE(context_->user_span(layout_.pml4, 8).has_value());
  EXPECT_FALSE(context_->user_span(layout_.memory_size - 8, 8).has_value());
  EXPECT_FALSE(context_->user_span(layout_.memory_size, 1).has_value());
  EXPECT_FALSE(context_->user_span(1ull << 40, 8).has_value());
}

TEST_F(SyscallContextTest, UserSpanRejectsOverflow) {
  EXPECT_FALSE(context_->user_span(layout_.heap_start, kMax).has_value());
  EXPECT_FALSE(context_->user_span(kMax, 1).has_value());
  EXPECT_FALSE(context_->user_span(kMax - 3, 8).has_value());
  // A wrapped end that lands back inside app memory.
  EXPECT_FALSE(context_->user_span(layout_.heap_start, kMax - layout_.heap_start + abi::kUserSpaceStart + 1)
                   .has_value());
}

TEST_F(SyscallContextTest, TypedReadAndWrite) {
  EXPECT_TRUE(context_->write<std::uint64_t>(layout_.heap_start, 0x1234));
  EXPECT_EQ(context_->read<std::uint64_t>(layout_.heap_start), 0x1234u);
  EXPECT_FALSE(context_->write<std::uint64_t>(abi::kBootInfoAddr, 1));
  EXPECT_EQ(memory_->read<std::uint64_t>(abi::kBootInfoAddr), 0u);
  EXPECT_FALSE(context_->read<std::uint64_t>(layout_.page_tables_base - 4).has_value());
}

TEST_F(SyscallContextTest, UserString) {
  put_string(layout_.heap_start, "/etc/hostname");
  EXPECT_EQ(context_->user_string(layout_.heap_start), "/etc/hostname");
  put_string(layout_.heap_start + 100, "");
  EXPECT_EQ(context_->user_string(layout_.heap_start + 100), "");
}

TEST_F(SyscallContextTest, UserStringRejectsKernelAddresses) {
  put_string(abi::kBootInfoAddr, "secret");
  EXPECT_EQ(context_->user_string(abi::kBootInfoAddr), std::nullopt);
  EXPECT_EQ(context_->user_string(0), std::nullopt);
  EXPECT_EQ(context_->user_string(abi::kUserSpaceStart - 1), std::nullopt);
  EXPECT_EQ(context_->user_string(layout_.page_tables_base), std::nullopt);
  EXPECT_EQ(context_->user_string(kMax), std::nullopt);
}

TEST_F(SyscallContextTest, UserStringRejectsUnterminated) {
  const std::string long_text(5000, 'x');
  put_string(layout_.heap_start, long_text);
  EXPECT_EQ(context_->user_string(layout_.heap_start), std::nullopt);  // longer than 4096
  EXPECT_EQ(context_->user_string(layout_.heap_start, 5001), long_text);
  EXPECT_EQ(context_->user_string(layout_.heap_start, 5000), std::nullopt);  // no room for NUL
  put_string(layout_.heap_start, "abc");
  EXPECT_EQ(context_->user_string(layout_.heap_start, 4), "abc");
  EXPECT_EQ(context_->user_string(layout_.heap_start, 3), std::nullopt);
}

TEST_F(SyscallContextTest, UserStringStopsAtPageTables) {
  // A string running into the page tables is unterminated as far as the app may see,
  // even though the page-table bytes happen to contain zeros.
  const std::uint64_t start = layout_.page_tables_base - 4;
  put_string(start, "abcd", false);
  ASSERT_EQ(memory_->read<std::uint8_t>(layout_.page_tables_base), 0u);
  EXPECT_EQ(context_->user_string(start), std::nullopt);
  put_string(start, "abc");
  EXPECT_EQ(context_->user_string(start), "abc");
}

TEST_F(SyscallContextTest, ExePath) { EXPECT_EQ(context_->exe_path(), "/apps/hello"); }

// A context over 16 MiB of guest memory, for calling table entries directly.
class HostSyscallTableTest : public ::testing::Test {
 protected:
  GuestMemory memory_ = *GuestMemory::create(16ull << 20);
  GuestLayout layout_ = *compute_guest_layout(16ull << 20, 0x400000, 0x500000);
  SyscallContext context_{memory_, layout_, "app"};
};

TEST_F(HostSyscallTableTest, UnknownSyscallIsEnosys) {
  SyscallContext& context = context_;
  HostSyscallTable table;
  EXPECT_EQ(table.call(0, context, {}), -ENOSYS);
  table.add(7, [](SyscallContext&, const SyscallArguments& args) {
    return static_cast<std::int64_t>(args[0] + args[5]);
  });
  EXPECT_EQ(table.call(7, context, {1, 0, 0, 0, 0, 2}), 3);
  EXPECT_EQ(table.call(8, context, {}), -ENOSYS);
}

// devices/robust_list.cpp: a direct set_robust_list answers as the guest
// kernel does, Linux's size check included; the head is any address (Linux
// does not check it either).
TEST_F(HostSyscallTableTest, SetRobustListChecksOnlyTheSize) {
  SyscallContext& context = context_;
  const HostSyscallTable table = make_host_syscall_table();
  EXPECT_EQ(table.call(SYS_set_robust_list, context, {0x7000, 24}), 0);
  EXPECT_EQ(table.call(SYS_set_robust_list, context, {kMax, 24}), 0);
  EXPECT_EQ(table.call(SYS_set_robust_list, context, {0x7000, 23}), -EINVAL);
  EXPECT_EQ(table.call(SYS_set_robust_list, context, {0x7000, 0}), -EINVAL);
  EXPECT_EQ(table.call(SYS_set_robust_list, context, {0x7000, kMax}), -EINVAL);
  EXPECT_TRUE(abi::is_direct_syscall(SYS_set_robust_list));
}

}  // namespace
}  // namespace hyperlet
