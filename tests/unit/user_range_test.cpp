// The guest kernel's overflow-safe range arithmetic (guest-runtime/kernel/user_range.h).
#include "kernel/user_range.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kStart = 0x200000;
constexpr uint64_t kLimit = 0x8000000;
constexpr uint64_t kMax = ~uint64_t{0};

TEST(RangeWithin, AcceptsRangesInsideIncludingBothEnds) {
  EXPECT_TRUE(range_within(kStart, 0, kStart, kLimit));
  EXPECT_TRUE(range_within(kStart, kLimit - kStart, kStart, kLimit));
  EXPECT_TRUE(range_within(kLimit - 8, 8, kStart, kLimit));
  EXPECT_TRUE(range_within(kLimit, 0, kStart, kLimit));
}

TEST(RangeWithin, RefusesRangesThatStartOrEndOutside) {
  EXPECT_FALSE(range_within(kStart - 1, 1, kStart, kLimit));
  EXPECT_FALSE(range_within(kLimit - 8, 9, kStart, kLimit));
  EXPECT_FALSE(range_within(kLimit + 1, 0, kStart, kLimit));
  EXPECT_FALSE(range_within(0x1000, 16, kStart, kLimit));
}

TEST(RangeWithin, RefusesLengthsWhoseEndWouldWrap) {
  // address + length wraps to a small number that a naive end <= limit accepts.
  EXPECT_FALSE(range_within(kStart, kMax, kStart, kLimit));
  EXPECT_FALSE(range_within(kStart + 0x1000, kMax - 0xfff, kStart, kLimit));
  EXPECT_FALSE(range_within(kMax, 1, kStart, kLimit));
  EXPECT_FALSE(range_within(kMax - 0xfff, 0x2000, kStart, kLimit));
}

TEST(RangeOverlaps, FindsAnySharedByte) {
  constexpr uint64_t kGuard = 0x7000000;
  constexpr uint64_t kGuardEnd = kGuard + 0x10000;
  EXPECT_TRUE(range_overlaps(kGuard - 1, 2, kGuard, kGuardEnd));
  EXPECT_TRUE(range_overlaps(kGuard + 8, 1, kGuard, kGuardEnd));
  EXPECT_TRUE(range_overlaps(kGuardEnd - 1, 0x100000, kGuard, kGuardEnd));
  EXPECT_TRUE(range_overlaps(kStart, kMax, kGuard, kGuardEnd)) << "a wrapping length covers the range";
  EXPECT_FALSE(range_overlaps(kGuard - 16, 16, kGuard, kGuardEnd));
  EXPECT_FALSE(range_overlaps(kGuardEnd, 16, kGuard, kGuardEnd));
  EXPECT_FALSE(range_overlaps(kGuard, 0, kGuard, kGuardEnd)) << "an empty range touches nothing";
  EXPECT_FALSE(range_overlaps(kStart, kMax, kGuard, kGuard)) << "nor does an empty guard";
}

TEST(RoundUpToPages, RoundsUpAndRefusesWhatWouldWrap) {
  uint64_t length = 0;
  EXPECT_TRUE(round_up_to_pages(length));
  EXPECT_EQ(length, 0u);
  length = 1;
  EXPECT_TRUE(round_up_to_pages(length));
  EXPECT_EQ(length, 4096u);
  length = 8192;
  EXPECT_TRUE(round_up_to_pages(length));
  EXPECT_EQ(length, 8192u);
  length = kMax - 4095;  // the largest page multiple
  EXPECT_TRUE(round_up_to_pages(length));
  EXPECT_EQ(length, kMax - 4095);
  length = kMax - 4094;
  EXPECT_FALSE(round_up_to_pages(length));
  EXPECT_EQ(length, kMax - 4094) << "left unchanged";
  length = kMax;
  EXPECT_FALSE(round_up_to_pages(length));
}

TEST(SegmentBase, AllowsTheUserHalfBelowTaskSizeMaxOnly) {
  EXPECT_TRUE(segment_base_ok(0));
  EXPECT_TRUE(segment_base_ok(0x7ffff7d8a740));
  EXPECT_TRUE(segment_base_ok((uint64_t{1} << 47) - 4097));
  EXPECT_FALSE(segment_base_ok((uint64_t{1} << 47) - 4096));
  EXPECT_FALSE(segment_base_ok(uint64_t{1} << 47)) << "non-canonical";
  EXPECT_FALSE(segment_base_ok(0x8000000000000000));
  EXPECT_FALSE(segment_base_ok(0xffffffff81000000)) << "kernel half";
}

}  // namespace
}  // namespace hyperlet::kernel
