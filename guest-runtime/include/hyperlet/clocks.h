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
    default: return false;  // the CPU-time clocks (cpu_clock below) are the guest kernel's
  }
}

// A CPU-time clock: CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID, or one
// that clock_getcpuclockid / pthread_getcpuclockid made, which Linux encodes as
// (~pid << 3) | per-thread bit (4) | kind (0 prof, 1 virt, 2 sched; 3 is invalid).
struct CpuClock {
  bool per_thread;
  int32_t id;  // pid or tid; 0: the caller's own process or thread
};

// False: not a CPU-time clock, or a malformed one (Linux: EINVAL).
inline bool cpu_clock(uint64_t clock, CpuClock& out) {
  const auto id = static_cast<int32_t>(static_cast<uint32_t>(clock));
  if (id == static_cast<int32_t>(kProcessCputime) || id == static_cast<int32_t>(kThreadCputime)) {
    out = {id == static_cast<int32_t>(kThreadCputime), 0};
    return true;
  }
  if (id >= 0 || (id & 3) == 3) return false;
  out = {(id & 4) != 0, ~(id >> 3)};
  return true;
}

inline Timespec to_timespec(int64_t ns) { return {ns / kNanosPerSecond, ns % kNanosPerSecond}; }
inline Timeval to_timeval(int64_t ns) { return {ns / kNanosPerSecond, ns % kNanosPerSecond / 1000}; }

}  // namespace hyperlet::clocks
