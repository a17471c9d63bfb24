// An app's timeouts in a host call's units: exact where they fit, saturated
// where the app's tv_sec (up to 2^63 - 1) would overflow the product.
#include "core/guest_timeouts.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace hyperlet {
namespace {

constexpr std::int64_t kMaxSeconds = std::numeric_limits<time_t>::max();

TEST(GuestTimeouts, NanosecondsAreExactWhereTheyFit) {
  EXPECT_EQ(saturating_nanoseconds({0, 0}), 0);
  EXPECT_EQ(saturating_nanoseconds({1, 5}), 1'000'000'005);
  EXPECT_EQ(saturating_nanoseconds({9'223'372'035, 999'999'999}), 9'223'372'035'999'999'999);
}

TEST(GuestTimeouts, NanosecondsSaturateInsteadOfOverflowing) {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(saturating_nanoseconds({9'223'372'037, 0}), kMax);
  EXPECT_EQ(saturating_nanoseconds({8'029'407'281'259'045'935, 0}), kMax);  // the fuzzer's epoll_pwait2 timeout
  EXPECT_EQ(saturating_nanoseconds({kMaxSeconds, 999'999'999}), kMax);
}

TEST(GuestTimeouts, MillisecondsRoundUpSoAShortWaitIsNoBusyPoll) {
  EXPECT_EQ(saturating_milliseconds_rounded_up({0, 0}), 0);
  EXPECT_EQ(saturating_milliseconds_rounded_up({0, 1}), 1);
  EXPECT_EQ(saturating_milliseconds_rounded_up({0, 1'000'000}), 1);
  EXPECT_EQ(saturating_milliseconds_rounded_up({2, 1'000'001}), 2002);
}

TEST(GuestTimeouts, MillisecondsSaturateAtWhatPollTakes) {
  constexpr int kMax = std::numeric_limits<std::int32_t>::max();
  EXPECT_EQ(saturating_milliseconds_rounded_up({2'147'482, 999'999'999}), 2'147'483'000);
  EXPECT_EQ(saturating_milliseconds_rounded_up({2'147'483, 0}), 2'147'483'000);
  EXPECT_EQ(saturating_milliseconds_rounded_up({2'147'483, 647'000'000}), kMax);
  EXPECT_EQ(saturating_milliseconds_rounded_up({2'147'483, 647'000'001}), kMax);
  EXPECT_EQ(saturating_milliseconds_rounded_up({2'147'484, 0}), kMax);
  EXPECT_EQ(saturating_milliseconds_rounded_up({8'029'407'281'259'045'935, 0}), kMax);
  EXPECT_EQ(saturating_milliseconds_rounded_up({kMaxSeconds, 999'999'999}), kMax);
}

}  // namespace
}  // namespace hyperlet
