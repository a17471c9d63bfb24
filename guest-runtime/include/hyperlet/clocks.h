// The Linux clocks the guest serves from kvmclock, shared by the guest kernel
// (clock_gettime and friends as syscalls) and the vDSO (the same in ring 3),
// so that both answer every clock id identically.
#pragma once

#include <stdint.h>

#include <hyperlet/abi.h>

namespace hyperlet::clocks {

inline constexpr int64_t kNanosPerSecond = 1'000'000'000;

struct Timespec {
  int64_t seconds;
  int64_t nanoseconds;
};

struct Timeval {
  int64_t seconds;
  int64_t microseconds;
};

// Linux clock ids (linux/time.h), spelled out: the vDSO includes no kernel headers.
enum : uint64_t {
  kRealtime = 0,
  kMonotonic = 1,
  kProcessCputime = 2,
  kThreadCputime = 3,
  kMonotonicRaw = 4,
  kRealtimeCoarse = 5,
  kMonotonicCoarse = 6,
  kBoottime = 7,
};

// `since_boot` is kvmclock's value; false for a clock the guest does not serve.
inline bool clock_ns(uint64_t clock, int64_t since_boot, const abi::VdsoData& offsets, int64_t& ns) {
  switch (clock) {
    case kRealtime:
    case kRealtimeCoarse: ns = since_boot + offsets.realtime_offset_ns; return true;
    case kMonotonic:
    case kMonotonicRaw:
    case kMonotonicCoarse:
    case kBoottime: ns = since_boot + offsets.monotonic_offset_ns; return true;
    case kProcessCputime:
    case kThreadCputime: ns = since_boot; return true;  // the VM runs nothing else
    default: return false;
  }
}

inline Timespec to_timespec(int64_t ns) { return {ns / kNanosPerSecond, ns % kNanosPerSecond}; }
inline Timeval to_timeval(int64_t ns) { return {ns / kNanosPerSecond, ns % kNanosPerSecond / 1000}; }

}  // namespace hyperlet::clocks
