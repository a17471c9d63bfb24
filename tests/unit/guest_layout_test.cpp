#include "memory/guest_layout.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>

#include <cstdint>
#include <regex>
#include <string>

#include "test_printers.h"

namespace hyperlet {
namespace {

using ::testing::HasSubstr;

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kImageStart = 0x400000;
constexpr std::uint64_t kImageEnd = 0x4a1234;

void expect_usage_error(std::uint64_t memory_size) {
  const auto layout = compute_guest_layout(memory_size, kImageStart, kImageEnd);
  ASSERT_FALSE(layout.has_value()) << memory_size;
  EXPECT_EQ(layout.error().status, ExitStatus::kUsage);
  EXPECT_THAT(layout.error().message, HasSubstr("invalid guest memory size"));
  EXPECT_THAT(layout.error().message, HasSubstr("must be a multiple of 2M between 8M and 16G"));
}

TEST(GuestLayout, RejectsTooSmallMemory) {
  expect_usage_error(0);
  expect_usage_error(6 * kMiB);
  expect_usage_error(kMinimumGuestMemory - 2 * kMiB);
}

TEST(GuestLayout, RejectsMemoryNotMultipleOfTwoMiB) {
  expect_usage_error(9 * kMiB);
  expect_usage_error(64 * kMiB + 4096);
  expect_usage_error(64 * kMiB - 1);
}

TEST(GuestLayout, RejectsTooLargeMemory) {
  expect_usage_error(kMaximumGuestMemory + 2 * kMiB);
  expect_usage_error(~0ull & ~(2 * kMiB - 1));
}

TEST(GuestLayout, AcceptsBoundarySizes) {
  EXPECT_TRUE(compute_guest_layout(kMinimumGuestMemory, kImageStart, 0x410000).has_value());
  EXPECT_TRUE(compute_guest_layout(kMaximumGuestMemory, kImageStart, kImageEnd).has_value());
}

// Without a separate budget the heap and mappings may fill the address space.
TEST(GuestLayout, TheBudgetOfAGuestWhoseAddressSpaceIsItsMemoryIsAllOfIt) {
  const auto layout = compute_guest_layout(64 * kMiB, kImageStart, kImageEnd);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->memory_budget, layout->mmap_top - layout->heap_start);
  const auto same = compute_guest_layout(64 * kMiB, kImageStart, kImageEnd, 64 * kMiB);
  ASSERT_TRUE(same.has_value());
  EXPECT_EQ(same->memory_budget, layout->memory_budget);
  EXPECT_EQ(same->mmap_top, layout->mmap_top);
}

// A larger address space: the layout is the address space's (the stack and page
// tables at its top), the budget what a guest of only the memory could map.
TEST(GuestLayout, ALargerAddressSpaceKeepsTheMemorysBudget) {
  const auto alone = compute_guest_layout(64 * kMiB, kImageStart, kImageEnd);
  const auto layout = compute_guest_layout(2 * kGiB, kImageStart, kImageEnd, 64 * kMiB);
  ASSERT_TRUE(alone.has_value());
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->memory_size, 2 * kGiB);
  EXPECT_EQ(layout->memory, 64 * kMiB);
  EXPECT_EQ(alone->memory, 64 * kMiB);
  EXPECT_EQ(layout->memory_budget, alone->mmap_top - alone->heap_start);
  EXPECT_GT(layout->mmap_top, 1 * kGiB);
  EXPECT_GT(layout->mmap_top - layout->heap_start, layout->memory_budget);
}

TEST(GuestLayout, MemoryAboveTheAddressSpaceIsAUsageError) {
  const auto layout = compute_guest_layout(64 * kMiB, kImageStart, kImageEnd, 128 * kMiB);
  ASSERT_FALSE(layout.has_value());
  EXPECT_EQ(layout.error().status, ExitStatus::kUsage);
  EXPECT_THAT(layout.error().message, HasSubstr("guest memory 128 MiB is more than the address space, 64 MiB"));
}

// The image must fit the memory, not only the address space: the same message
// (and --memory hint) as without a larger address space.
TEST(GuestLayout, AnImageTooLargeForTheMemoryIsRefusedWhateverTheAddressSpace) {
  const auto layout = compute_guest_layout(1 * kGiB, kImageStart, 20 * kMiB, 16 * kMiB);
  ASSERT_FALSE(layout.has_value());
  EXPECT_EQ(layout.error().status, ExitStatus::kGuestMemoryTooSmall);
  EXPECT_THAT(layout.error().message, HasSubstr("does not fit in 16 MiB of guest memory"));
}

TEST(GuestLayout, RejectsImageBelowUserSpace) {
  const auto layout = compute_guest_layout(64 * kMiB, 0x100000, 0x180000);
  ASSERT_FALSE(layout.has_value());
  EXPECT_EQ(layout.error().status, ExitStatus::kBadImage);
  EXPECT_THAT(layout.error().message, HasSubstr("0x100000, below 0x200000"));
  EXPECT_THAT(layout.error().message, HasSubstr("link it at a higher address"));
}

TEST(GuestLayout, RejectsImageAtZero) {
  const auto layout = compute_guest_layout(64 * kMiB, 0, 0x1000);
  ASSERT_FALSE(layout.has_value());
  EXPECT_EQ(layout.error().status, ExitStatus::kBadImage);
}

TEST(GuestLayout, AcceptsImageAtUserSpaceStart) {
  const auto layout = compute_guest_layout(64 * kMiB, abi::kUserSpaceStart, abi::kUserSpaceStart + 0x1000);
  ASSERT_TRUE(layout.has_value()) << layout.error().message;
  EXPECT_EQ(layout->image_start, abi::kUserSpaceStart);
}

TEST(GuestLayout, RejectsImageTooBigForMemory) {
  const auto layout = compute_guest_layout(16 * kMiB, kImageStart, 60 * kMiB);
  ASSERT_FALSE(layout.has_value());
  EXPECT_EQ(layout.error().status, ExitStatus::kGuestMemoryTooSmall);
  EXPECT_THAT(layout.error().message, HasSubstr("does not fit in 16 MiB of guest memory"));
  EXPECT_THAT(layout.error().message, HasSubstr("--memory"));
}

TEST(GuestLayout, RejectsImageLeavingLessThanTwoMiBFree) {
  // Fits, but leaves no room for a heap.
  const auto fits = compute_guest_layout(16 * kMiB, kImageStart, kImageEnd);
  ASSERT_TRUE(fits.has_value());
  const std::uint64_t too_far = fits->mmap_top - 2 * kMiB + 1;
  const auto layout = compute_guest_layout(16 * kMiB, kImageStart, too_far);
  ASSERT_FALSE(layout.has_value());
  EXPECT_EQ(layout.error().status, ExitStatus::kGuestMemoryTooSmall);
  EXPECT_TRUE(compute_guest_layout(16 * kMiB, kImageStart, fits->mmap_top - 2 * kMiB).has_value());
}

// The "--memory NM" hint must name a size that actually works.
std::uint64_t suggested_memory(const std::string& message) {
  std::smatch match;
  static const std::regex pattern("--memory ([0-9]+)M");
  if (!std::regex_search(message, match, pattern)) return 0;
  return std::stoull(match[1].str()) * kMiB;
}

TEST(GuestLayout, MemoryHintIsEnoughForSmallOverrun) {
  const auto layout = compute_guest_layout(16 * kMiB, kImageStart, 20 * kMiB);
  ASSERT_FALSE(layout.has_value());
  const std::uint64_t suggestion = suggested_memory(layout.error().message);
  ASSERT_NE(suggestion, 0u) << layout.error().message;
  EXPECT_TRUE(compute_guest_layout(suggestion, kImageStart, 20 * kMiB).has_value()) << layout.error().message;
}

// Stack and page tables grow with --memory (the stack is memory/16, up to 8 MiB),
// so a hint computed from the current size's would still be too small.
TEST(GuestLayout, MemoryHintIsEnoughForLargeImage) {
  const std::uint64_t image_end = 100 * kMiB;
  const auto layout = compute_guest_layout(8 * kMiB, kImageStart, image_end);
  ASSERT_FALSE(layout.has_value());
  const std::uint64_t suggestion = suggested_memory(layout.error().message);
  ASSERT_NE(suggestion, 0u) << layout.error().message;
  const auto retry = compute_guest_layout(suggestion, kImageStart, image_end);
  EXPECT_TRUE(retry.has_value()) << layout.error().message << "\nthen: " << retry.error().message;
}

// An image too big for any allowed size must not get a "--memory NM" hint with N
// above the 16G maximum that --memory then rejects.
TEST(GuestLayout, MemoryHintNeverExceedsMaximum) {
  const std::uint64_t image_end = kMaximumGuestMemory + kGiB;
  const auto layout = compute_guest_layout(16 * kMiB, kImageStart, image_end);
  ASSERT_FALSE(layout.has_value());
  EXPECT_EQ(layout.error().status, ExitStatus::kGuestMemoryTooSmall);
  const std::uint64_t suggestion = suggested_memory(layout.error().message);
  EXPECT_LE(suggestion, kMaximumGuestMemory) << layout.error().message;
}

TEST(GuestLayout, RejectsImageEndingBeforeItStarts) {
  const auto layout = compute_guest_layout(64 * kMiB, 0x500000, 0x400000);
  ASSERT_FALSE(layout.has_value());
  EXPECT_EQ(layout.error().status, ExitStatus::kBadImage);
}

TEST(GuestLayout, ImageEndIsRoundedUpToAPage) {
  const auto layout = compute_guest_layout(64 * kMiB, kImageStart, 0x500001);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(layout->image_end, 0x501000u);
  EXPECT_EQ(layout->heap_start, 0x501000u);
  const auto exact = compute_guest_layout(64 * kMiB, kImageStart, 0x500000);
  ASSERT_TRUE(exact.has_value());
  EXPECT_EQ(exact->image_end, 0x500000u);
}

void expect_invariants(const GuestLayout& l) {
  constexpr std::uint64_t kPage = abi::kPageSize;
  EXPECT_EQ(l.image_start % kPage, 0u);
  EXPECT_EQ(l.image_end % kPage, 0u);
  EXPECT_EQ(l.heap_start % kPage, 0u);
  EXPECT_EQ(l.mmap_top % kPage, 0u);
  EXPECT_EQ(l.stack_bottom % kPage, 0u);
  EXPECT_EQ(l.stack_top % kPage, 0u);
  EXPECT_EQ(l.page_tables_base % kPage, 0u);
  EXPECT_LE(abi::kUserSpaceStart, l.image_start);
  EXPECT_LE(l.image_start, l.image_end);
  EXPECT_LE(l.image_end, l.heap_start);
  EXPECT_LT(l.heap_start, l.mmap_top);
  EXPECT_GE(l.mmap_top - l.heap_start, 2 * kMiB);
  EXPECT_LT(l.mmap_top, l.stack_bottom);
  EXPECT_EQ(l.stack_bottom - l.mmap_top, kStackGuardSize);
  EXPECT_LT(l.stack_bottom, l.stack_top);
  EXPECT_LE(l.stack_top - l.stack_bottom, kMaximumStackSize);
  EXPECT_EQ(l.stack_top, l.page_tables_base);
  EXPECT_LT(l.page_tables_base, l.memory_size);
  // Page-table region: PML4, PDPT, one PD per GiB, one PT per 2 MiB, in that order.
  EXPECT_EQ(l.pml4, l.page_tables_base);
  EXPECT_EQ(l.pdpt, l.pml4 + kPage);
  EXPECT_EQ(l.page_directories, l.pdpt + kPage);
  EXPECT_EQ(l.page_directory_count, (l.memory_size + kGiB - 1) / kGiB);
  EXPECT_EQ(l.page_tables, l.page_directories + l.page_directory_count * kPage);
  EXPECT_EQ(l.page_table_count, l.memory_size / (2 * kMiB));
  EXPECT_EQ(l.page_tables + l.page_table_count * kPage, l.memory_size);
}

TEST(GuestLayout, RegionOrderingFor16MiB) {
  const auto layout = compute_guest_layout(16 * kMiB, kImageStart, kImageEnd);
  ASSERT_TRUE(layout.has_value()) << layout.error().message;
  expect_invariants(*layout);
  EXPECT_EQ(layout->memory_size, 16 * kMiB);
  EXPECT_EQ(layout->image_start, kImageStart);
  EXPECT_EQ(layout->image_end, 0x4a2000u);
  EXPECT_EQ(layout->heap_start, 0x4a2000u);
  // 2 + 1 + 8 table pages at the top; a 1 MiB stack (16M / 16) under them.
  EXPECT_EQ(layout->page_tables_base, 16 * kMiB - 11 * 4096);
  EXPECT_EQ(layout->stack_top - layout->stack_bottom, 1 * kMiB);
  EXPECT_EQ(layout->page_directory_count, 1u);
  EXPECT_EQ(layout->page_table_count, 8u);
}

TEST(GuestLayout, StackSizeIsClamped) {
  const auto small = compute_guest_layout(8 * kMiB, kImageStart, 0x401000);
  ASSERT_TRUE(small.has_value()) << small.error().message;
  EXPECT_EQ(small->stack_top - small->stack_bottom, 512 * 1024u);
  const auto large = compute_guest_layout(1 * kGiB, kImageStart, kImageEnd);
  ASSERT_TRUE(large.has_value());
  EXPECT_EQ(large->stack_top - large->stack_bottom, kMaximumStackSize);
}

class GuestLayoutSizes : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(GuestLayoutSizes, RegionOrderingInvariants) {
  const auto layout = compute_guest_layout(GetParam(), kImageStart, kImageEnd);
  ASSERT_TRUE(layout.has_value()) << layout.error().message;
  EXPECT_EQ(layout->memory_size, GetParam());
  expect_invariants(*layout);
}

INSTANTIATE_TEST_SUITE_P(MemorySizes, GuestLayoutSizes,
                         ::testing::Values(8 * kMiB, 10 * kMiB, 16 * kMiB, 128 * kMiB, 1 * kGiB, 1026 * kMiB,
                                           3 * kGiB + 2 * kMiB, 16 * kGiB));

}  // namespace
}  // namespace hyperlet
