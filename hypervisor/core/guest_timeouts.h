// A timeout the app passed (a timespec already checked: tv_sec >= 0 and
// 0 <= tv_nsec < 1e9) in the units a host call takes. tv_sec is the app's
// choice up to 2^63 - 1, so the products saturate instead of overflowing: a
// timeout beyond what the unit can hold waits as long as it can, as Linux's
// does (it clamps to KTIME_MAX).
#pragma once

#include <time.h>

#include <cstdint>
#include <limits>

namespace hyperlet {

inline constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

// Nanoseconds, at most INT64_MAX.
constexpr std::int64_t saturating_nanoseconds(const timespec& timeout) {
  constexpr std::int64_t kLargestSeconds = std::numeric_limits<std::int64_t>::max() / kNanosPerSecond - 1;
  if (timeout.tv_sec > kLargestSeconds) return std::numeric_limits<std::int64_t>::max();
  return timeout.tv_sec * kNanosPerSecond + timeout.tv_nsec;
}

// Milliseconds rounded up (a short wait must not become a busy poll), at most
// INT32_MAX: what poll and epoll_wait take.
constexpr int saturating_milliseconds_rounded_up(const timespec& timeout) {
  constexpr std::int64_t kLargest = std::numeric_limits<std::int32_t>::max();
  if (timeout.tv_sec > kLargest / 1000) return static_cast<int>(kLargest);
  const std::int64_t milliseconds = timeout.tv_sec * 1000 + (timeout.tv_nsec + 999'999) / 1'000'000;
  return static_cast<int>(milliseconds < kLargest ? milliseconds : kLargest);
}

}  // namespace hyperlet
