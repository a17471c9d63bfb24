#include "memory/page_tables.h"

#include <cstdint>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include <hyperlet/abi.h>

#include "test_printers.h"

namespace hyperlet {
namespace {

constexpr std::uint64_t kMiB = 1ull << 20;
constexpr std::uint64_t kPage = abi::kPageSize;
constexpr std::uint64_t kUserRw = pte::kPresent | pte::kWritable | pte::kUser;
constexpr std::uint64_t kUserRo = pte::kPresent | pte::kUser;
constexpr std::uint64_t kKernelRw = pte::kPresent | pte::kWritable;

class PageTables : public ::testing::TestWithParam<std::uint64_t> {
 protected:
  void SetUp() override {
    auto layout = compute_guest_layout(GetParam(), 0x400000, 0x4a1234);
    ASSERT_TRUE(layout.has_value()) << layout.error().message;
    layout_ = *layout;
    auto memory = GuestMemory::create(layout_.memory_size);
    ASSERT_TRUE(memory.has_value()) << memory.error().message;
    memory_.emplace(std::move(*memory));
    auto built = build_page_tables(*memory_, layout_);
    ASSERT_TRUE(built.has_value()) << built.error().message;
  }

  std::optional<Translation> walk(std::uint64_t address) const {
    return translate(*memory_, layout_.pml4, address);
  }

  // Mapped, identity, with exactly these effective flags.
  void expect_mapped(std::uint64_t address, std::uint64_t flags) const {
    const auto t = walk(address);
    ASSERT_TRUE(t.has_value()) << std::hex << "address 0x" << address << " is not mapped";
    EXPECT_EQ(t->physical, address) << std::hex << "address 0x" << address;
    EXPECT_EQ(t->flags, flags) << std::hex << "address 0x" << address;
    EXPECT_EQ(page_flags(layout_, address), flags) << std::hex << "address 0x" << address;
  }
  void expect_unmapped(std::uint64_t address) const {
    EXPECT_FALSE(walk(address).has_value()) << std::hex << "address 0x" << address << " is mapped";
    EXPECT_EQ(page_flags(layout_, address), 0u) << std::hex << "address 0x" << address;
  }

  GuestLayout layout_{};
  std::optional<GuestMemory> memory_;
};

TEST_P(PageTables, PageZeroIsUnmapped) {
  expect_unmapped(0);
  expect_unmapped(0x10);
  expect_unmapped(kPage - 1);
}

TEST_P(PageTables, KernelAreaIsSupervisorOnly) {
  expect_mapped(kPage, kKernelRw);
  expect_mapped(abi::kBootInfoAddr, kKernelRw);
  expect_mapped(abi::kGdtAddr, kKernelRw);
  expect_mapped(abi::kIdtAddr, kKernelRw);
  expect_mapped(abi::kTssAddr, kKernelRw);
  expect_mapped(abi::kHypercallArgsAddr, kKernelRw);
  expect_mapped(abi::kSyscallCountsAddr, kKernelRw);
  expect_mapped(abi::kKernelStackBottom, kKernelRw);
  expect_mapped(abi::kFaultStackTop - 8, kKernelRw);
  expect_mapped(abi::kPvclockAddr - kPage, kKernelRw);
  expect_mapped(abi::kPvclockAddr + kPage, kKernelRw);
  expect_mapped(abi::kKernelImageBase, kKernelRw);
  expect_mapped(abi::kKernelImageLimit - 1, kKernelRw);
}

TEST_P(PageTables, PvclockAndVdsoAreUserReadOnly) {
  expect_mapped(abi::kPvclockAddr, kUserRo);
  expect_mapped(abi::kPvclockAddr + kPage - 1, kUserRo);
  expect_mapped(abi::kVdsoAddr, kUserRo);
  expect_mapped(abi::kVdsoAddr + abi::kVdsoMaxSize - kPage, kUserRo);
  expect_mapped(abi::kVdsoAddr + abi::kVdsoMaxSize, kKernelRw);
}

TEST_P(PageTables, AppMemoryIsUserWritable) {
  expect_mapped(abi::kUserSpaceStart, kUserRw);
  expect_mapped(layout_.image_start, kUserRw);
  expect_mapped(layout_.image_end - kPage, kUserRw);
  expect_mapped(layout_.heap_start, kUserRw);
  expect_mapped(layout_.mmap_top - kPage, kUserRw);
  expect_mapped(layout_.stack_bottom, kUserRw);
  expect_mapped(layout_.stack_top - 8, kUserRw);
}

TEST_P(PageTables, StackGuardIsUnmapped) {
  for (std::uint64_t address = layout_.mmap_top; address < layout_.stack_bottom; address += kPage) {
    expect_unmapped(address);
  }
  expect_unmapped(layout_.stack_bottom - 1);
}

TEST_P(PageTables, PageTableRegionIsSupervisorOnly) {
  for (std::uint64_t address = layout_.page_tables_base; address < layout_.memory_size; address += kPage) {
    expect_mapped(address, kKernelRw);
  }
}

TEST_P(PageTables, NothingBeyondMemoryIsMapped) {
  expect_unmapped(layout_.memory_size);
  expect_unmapped(layout_.memory_size + kPage);
  expect_unmapped(layout_.memory_size + (1ull << 30));
  EXPECT_FALSE(walk(512ull << 30).has_value());     // second PML4 slot
  EXPECT_FALSE(walk(1ull << 47).has_value());       // non-canonical
  EXPECT_FALSE(walk(0xffff'8000'0000'0000ull).has_value());  // kernel half: not used
}

TEST_P(PageTables, TranslateKeepsPageOffset) {
  const auto t = walk(layout_.heap_start + 0x123);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->physical, layout_.heap_start + 0x123);
}

TEST_P(PageTables, EveryPageMatchesPageFlags) {
  // Exhaustive: the tables say what page_flags says, for every page.
  for (std::uint64_t address = 0; address < layout_.memory_size; address += kPage) {
    const std::uint64_t flags = page_flags(layout_, address);
    const auto t = walk(address);
    if (flags == 0) {
      ASSERT_FALSE(t.has_value()) << std::hex << address;
    } else {
      ASSERT_TRUE(t.has_value()) << std::hex << address;
      ASSERT_EQ(t->physical, address);
      ASSERT_EQ(t->flags, flags) << std::hex << address;
    }
  }
}

TEST_P(PageTables, UpperLevelEntries) {
  constexpr std::uint64_t kAddress = 0x000f'ffff'ffff'f000ull;
  auto pml4e = memory_->read<std::uint64_t>(layout_.pml4);
  ASSERT_TRUE(pml4e.has_value());
  EXPECT_EQ(*pml4e & kAddress, layout_.pdpt);
  EXPECT_EQ(*pml4e & 0xfffull, kUserRw | pte::kAccessed);
  for (std::uint64_t i = 0; i < layout_.page_directory_count; ++i) {
    auto pdpte = memory_->read<std::uint64_t>(layout_.pdpt + i * 8);
    ASSERT_TRUE(pdpte.has_value());
    EXPECT_EQ(*pdpte & kAddress, layout_.page_directories + i * kPage);
    EXPECT_EQ(*pdpte & 0xfffull, kUserRw | pte::kAccessed);  // a directory, not a 1 GiB page
  }
  // The PDPT entry after the last directory is empty.
  EXPECT_EQ(memory_->read<std::uint64_t>(layout_.pdpt + layout_.page_directory_count * 8), 0u);
}

TEST_P(PageTables, DirectoryEntriesPointAtTheirPageTableOrMapAUniformRegion) {
  constexpr std::uint64_t kLargePage = 1ull << 7;
  constexpr std::uint64_t kAddress = 0x000f'ffff'ffff'f000ull;
  constexpr std::uint64_t kRegion = 2 * kMiB;
  for (std::uint64_t r = 0; r < layout_.page_table_count; ++r) {
    // Directories are contiguous: the PDE of 2 MiB region r is at page_directories + r * 8.
    const auto pde = memory_->read<std::uint64_t>(layout_.page_directories + r * 8);
    ASSERT_TRUE(pde.has_value());
    const std::uint64_t start = r * kRegion;
    if ((*pde & kLargePage) != 0) {
      // A 2 MiB page may only cover a region whose pages all have the same flags.
      EXPECT_EQ(*pde & kAddress, start) << "region " << r;
      for (std::uint64_t a = start; a < start + kRegion; a += kPage) {
        ASSERT_EQ(page_flags(layout_, a), page_flags(layout_, start)) << std::hex << a;
      }
      EXPECT_EQ(*pde & kUserRw, page_flags(layout_, start)) << "region " << r;
    } else {
      EXPECT_EQ(*pde & kAddress, layout_.page_tables + r * kPage) << "region " << r;
      EXPECT_EQ(*pde & 0xfffull, kUserRw | pte::kAccessed) << "region " << r;
    }
  }
}

TEST_P(PageTables, LeafEntriesWhereTheAppWorks) {
  // PTE(A) = page_tables + A / 4096 * 8 (BootInfo::pte_base); leaves are preset
  // Accessed+Dirty so KVM's shadow MMU may prefetch them (see page_tables.cpp).
  auto pte_of = [&](std::uint64_t a) { return memory_->read<std::uint64_t>(layout_.page_tables + a / kPage * 8); };
  const std::uint64_t kAd = pte::kAccessed | pte::kDirty;
  EXPECT_EQ(pte_of(layout_.heap_start), layout_.heap_start | kUserRw | kAd);
  EXPECT_EQ(pte_of(layout_.image_start), layout_.image_start | kUserRw | kAd);
  EXPECT_EQ(pte_of(layout_.stack_top - kPage), (layout_.stack_top - kPage) | kUserRw | kAd);
  EXPECT_EQ(pte_of(abi::kPvclockAddr), abi::kPvclockAddr | kUserRo | kAd);
  EXPECT_EQ(pte_of(abi::kGdtAddr), abi::kGdtAddr | kKernelRw | kAd);
  EXPECT_EQ(pte_of(0), 0u);                  // page 0: empty entry
  EXPECT_EQ(pte_of(layout_.mmap_top), 0u);   // stack guard: empty entry
}

INSTANTIATE_TEST_SUITE_P(MemorySizes, PageTables,
                         ::testing::Values(16 * kMiB, 1026 * kMiB),
                         [](const auto& test) { return std::to_string(test.param >> 20) + "MiB"; });

TEST(PageFlags, FollowTheLayout) {
  auto layout = compute_guest_layout(16 * kMiB, 0x400000, 0x500000);
  ASSERT_TRUE(layout.has_value());
  EXPECT_EQ(page_flags(*layout, 0), 0u);
  EXPECT_EQ(page_flags(*layout, abi::kGdtAddr), kKernelRw);
  EXPECT_EQ(page_flags(*layout, abi::kPvclockAddr), kUserRo);
  EXPECT_EQ(page_flags(*layout, abi::kVdsoAddr + 0x8000), kUserRo);
  EXPECT_EQ(page_flags(*layout, abi::kUserSpaceStart - 1), kKernelRw);
  EXPECT_EQ(page_flags(*layout, abi::kUserSpaceStart), kUserRw);
  EXPECT_EQ(page_flags(*layout, layout->mmap_top - 1), kUserRw);
  EXPECT_EQ(page_flags(*layout, layout->mmap_top), 0u);
  EXPECT_EQ(page_flags(*layout, layout->stack_bottom), kUserRw);
  EXPECT_EQ(page_flags(*layout, layout->page_tables_base - 1), kUserRw);
  EXPECT_EQ(page_flags(*layout, layout->page_tables_base), kKernelRw);
  EXPECT_EQ(page_flags(*layout, layout->memory_size - 1), kKernelRw);
  EXPECT_EQ(page_flags(*layout, layout->memory_size), 0u);
}

TEST(PageTablesBuild, FailsWhenMemoryIsSmallerThanLayout) {
  auto layout = compute_guest_layout(16 * kMiB, 0x400000, 0x500000);
  ASSERT_TRUE(layout.has_value());
  auto memory = GuestMemory::create(8 * kMiB);
  ASSERT_TRUE(memory.has_value());
  const auto built = build_page_tables(*memory, *layout);
  ASSERT_FALSE(built.has_value());
  EXPECT_EQ(built.error().status, ExitStatus::kUsage);
}

TEST(Translate, RejectsCr3OutsideMemory) {
  auto memory = GuestMemory::create(2 * kMiB);
  ASSERT_TRUE(memory.has_value());
  EXPECT_FALSE(translate(*memory, 4 * kMiB, 0x1000).has_value());
  EXPECT_FALSE(translate(*memory, 0, 0x1000).has_value());  // zeroed memory: nothing present
}

}  // namespace
}  // namespace hyperlet
