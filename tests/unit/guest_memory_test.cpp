#include "memory/guest_memory.h"

#include <array>
#include <cstdint>
#include <limits>
#include <vector>

#include <gtest/gtest.h>

namespace hyperlet {
namespace {

constexpr std::uint64_t kSize = 1 << 20;
constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

GuestMemory make_memory() {
  auto memory = GuestMemory::create(kSize);
  EXPECT_TRUE(memory.has_value()) << memory.error().message;
  return std::move(*memory);
}

TEST(GuestMemory, CreateGivesZeroedMemoryOfTheRequestedSize) {
  GuestMemory memory = make_memory();
  EXPECT_EQ(memory.size(), kSize);
  EXPECT_NE(memory.host_base(), nullptr);
  EXPECT_EQ(memory.read<std::uint64_t>(0), 0u);
  EXPECT_EQ(memory.read<std::uint64_t>(kSize - 8), 0u);
}

TEST(GuestMemory, SpanBounds) {
  GuestMemory memory = make_memory();
  auto whole = memory.span(0, kSize);
  ASSERT_TRUE(whole.has_value());
  EXPECT_EQ(whole->data(), memory.host_base());
  EXPECT_EQ(whole->size(), kSize);

  auto inner = memory.span(0x1234, 16);
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->data(), memory.host_base() + 0x1234);
  EXPECT_EQ(inner->size(), 16u);

  auto empty_at_end = memory.span(kSize, 0);
  ASSERT_TRUE(empty_at_end.has_value());
  EXPECT_EQ(empty_at_end->size(), 0u);

  EXPECT_TRUE(memory.span(kSize - 1, 1).has_value());
  EXPECT_FALSE(memory.span(kSize, 1).has_value());
  EXPECT_FALSE(memory.span(kSize + 1, 0).has_value());
  EXPECT_FALSE(memory.span(kSize - 1, 2).has_value());
  EXPECT_FALSE(memory.span(0, kSize + 1).has_value());
}

TEST(GuestMemory, SpanRejectsOverflowingRanges) {
  GuestMemory memory = make_memory();
  EXPECT_FALSE(memory.span(16, kMax).has_value());        // 16 + max wraps to 15
  EXPECT_FALSE(memory.span(kMax, 2).has_value());         // wraps to 1
  EXPECT_FALSE(memory.span(kMax - 7, 16).has_value());
  EXPECT_FALSE(memory.span(1, kMax).has_value());
}

TEST(GuestMemory, ReadWriteRoundTrip) {
  GuestMemory memory = make_memory();
  EXPECT_TRUE(memory.write<std::uint64_t>(0x100, 0x1122334455667788ull));
  EXPECT_EQ(memory.read<std::uint64_t>(0x100), 0x1122334455667788ull);
  EXPECT_EQ(memory.read<std::uint32_t>(0x104), 0x11223344u);  // little-endian
  EXPECT_EQ(static_cast<std::uint8_t>(memory.host_base()[0x100]), 0x88);

  struct Pair {
    std::uint32_t a;
    std::uint16_t b;
  };
  EXPECT_TRUE(memory.write(kSize - sizeof(Pair), Pair{7, 9}));
  auto pair = memory.read<Pair>(kSize - sizeof(Pair));
  ASSERT_TRUE(pair.has_value());
  EXPECT_EQ(pair->a, 7u);
  EXPECT_EQ(pair->b, 9u);
}

TEST(GuestMemory, ReadWriteBounds) {
  GuestMemory memory = make_memory();
  EXPECT_TRUE(memory.write<std::uint32_t>(kSize - 4, 0xdeadbeef));
  EXPECT_FALSE(memory.write<std::uint32_t>(kSize - 3, 0xdeadbeef));
  EXPECT_FALSE(memory.write<std::uint32_t>(kMax - 1, 1));
  EXPECT_EQ(memory.read<std::uint32_t>(kSize - 4), 0xdeadbeefu);
  EXPECT_FALSE(memory.read<std::uint32_t>(kSize - 3).has_value());
  EXPECT_FALSE(memory.read<std::uint64_t>(kSize).has_value());
  EXPECT_FALSE(memory.read<std::uint64_t>(kMax - 3).has_value());
  // A failed write changes nothing.
  EXPECT_EQ(memory.read<std::uint8_t>(kSize - 1), 0xdeu);
}

TEST(GuestMemory, WriteBytes) {
  GuestMemory memory = make_memory();
  const std::array<std::byte, 3> bytes = {std::byte{1}, std::byte{2}, std::byte{3}};
  EXPECT_TRUE(memory.write_bytes(kSize - 3, bytes));
  EXPECT_FALSE(memory.write_bytes(kSize - 2, bytes));
  EXPECT_TRUE(memory.write_bytes(kSize, std::span<const std::byte>()));
  EXPECT_EQ(memory.read<std::uint8_t>(kSize - 3), 1u);
  EXPECT_EQ(memory.read<std::uint8_t>(kSize - 1), 3u);
}

TEST(GuestMemory, DiscardZeroesPages) {
  GuestMemory memory = make_memory();
  for (std::uint64_t address = 0x1000; address < 0x4000; address += 0x800) {
    ASSERT_TRUE(memory.write<std::uint64_t>(address, 0xabcdef));
  }
  ASSERT_TRUE(memory.discard(0x1000, 0x2000));
  EXPECT_EQ(memory.read<std::uint64_t>(0x1000), 0u);
  EXPECT_EQ(memory.read<std::uint64_t>(0x1800), 0u);
  EXPECT_EQ(memory.read<std::uint64_t>(0x2800), 0u);
  EXPECT_EQ(memory.read<std::uint64_t>(0x3000), 0xabcdefu);  // the page after is kept
  EXPECT_EQ(memory.read<std::uint64_t>(0x3800), 0xabcdefu);
}

TEST(GuestMemory, DiscardLowersResidentPages) {
  GuestMemory memory = make_memory();
  for (std::uint64_t address = 0; address < 64 * 4096; address += 4096) {
    ASSERT_TRUE(memory.write<std::uint8_t>(address, 1));
  }
  const std::uint64_t before = memory.resident_pages();
  EXPECT_GE(before, 64u);
  ASSERT_TRUE(memory.discard(0, 64 * 4096));
  EXPECT_EQ(memory.resident_pages(), before - 64);
}

TEST(GuestMemory, DiscardRejectsUnalignedOrOutOfBounds) {
  GuestMemory memory = make_memory();
  ASSERT_TRUE(memory.write<std::uint64_t>(0x1000, 5));
  EXPECT_FALSE(memory.discard(0x1001, 0x1000));
  EXPECT_FALSE(memory.discard(0x1000, 0x800));
  EXPECT_FALSE(memory.discard(kSize - 0x1000, 0x2000));
  EXPECT_FALSE(memory.discard(kSize, 0x1000));
  EXPECT_FALSE(memory.discard(0x1000, kMax & ~0xfffull));  // wraps
  EXPECT_EQ(memory.read<std::uint64_t>(0x1000), 5u);  // untouched
  EXPECT_TRUE(memory.discard(kSize - 0x1000, 0x1000));
}

TEST(GuestMemory, MoveTransfersOwnership) {
  GuestMemory memory = make_memory();
  ASSERT_TRUE(memory.write<std::uint32_t>(0, 42));
  std::byte* base = memory.host_base();
  GuestMemory moved = std::move(memory);
  EXPECT_EQ(moved.host_base(), base);
  EXPECT_EQ(moved.read<std::uint32_t>(0), 42u);
}

}  // namespace
}  // namespace hyperlet
