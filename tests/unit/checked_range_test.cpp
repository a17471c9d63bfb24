#include "core/checked_range.h"

#include <gtest/gtest.h>

#include <limits>

namespace hyperlet {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

TEST(CheckedRange, AddAndMultiplyReportOverflow) {
  EXPECT_EQ(checked_add(1, 2), 3u);
  EXPECT_EQ(checked_add(kMax, 0), kMax);
  EXPECT_FALSE(checked_add(kMax, 1).has_value());
  EXPECT_FALSE(checked_add(kMax - 1, 2).has_value());
  EXPECT_EQ(checked_multiply(1u << 20, 16), 16u << 20);
  EXPECT_FALSE(checked_multiply(kMax / 16 + 1, 16).has_value());
}

TEST(CheckedRange, FitsAcceptsRangesUpToTheEnd) {
  EXPECT_TRUE(range_fits(0, 0, 0));
  EXPECT_TRUE(range_fits(0, 10, 10));
  EXPECT_TRUE(range_fits(10, 0, 10));
  EXPECT_FALSE(range_fits(10, 1, 10));
  EXPECT_FALSE(range_fits(11, 0, 10));
}

// The bug these helpers replace: `offset + length <= size` holds when the sum wraps.
TEST(CheckedRange, FitsRefusesRangesWhoseEndWraps) {
  EXPECT_FALSE(range_fits(kMax, 2, 100));
  EXPECT_FALSE(range_fits(kMax - 1, 2, 100));
  EXPECT_FALSE(range_fits(2, kMax, 100));
  EXPECT_FALSE(range_fits(kMax, kMax, kMax - 1));
  EXPECT_TRUE(range_fits(kMax, 0, kMax));
}

TEST(CheckedRange, WithinARegionThatDoesNotStartAtZero) {
  EXPECT_TRUE(range_within(0x401000, 2, 0x401000, 0x1000));
  EXPECT_TRUE(range_within(0x401ffe, 2, 0x401000, 0x1000));
  EXPECT_FALSE(range_within(0x401fff, 2, 0x401000, 0x1000));
  EXPECT_FALSE(range_within(0x400fff, 2, 0x401000, 0x1000));
  EXPECT_FALSE(range_within(kMax, 2, 0x401000, 0x1000));
  EXPECT_FALSE(range_within(kMax - 1, 2, 0x401000, 0x1000));
}

TEST(CheckedRange, BetweenTwoBounds) {
  EXPECT_TRUE(range_between(0x10000, 0x1000, 0x10000, 0x20000));
  EXPECT_TRUE(range_between(0x1f000, 0x1000, 0x10000, 0x20000));
  EXPECT_FALSE(range_between(0x1f001, 0x1000, 0x10000, 0x20000));
  EXPECT_FALSE(range_between(0xf000, 0x1000, 0x10000, 0x20000));
  EXPECT_FALSE(range_between(0x10000, kMax, 0x10000, 0x20000));
  EXPECT_FALSE(range_between(0x10000, 0, 0x20000, 0x10000));  // an empty, inverted region holds nothing
}

}  // namespace
}  // namespace hyperlet
