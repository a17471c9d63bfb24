// Clocks from kvmclock without leaving the VM. The vDSO serves the same clocks
// in ring 3; these are for apps that make the syscall anyway.
#include <linux/time.h>

#include "../boot_info.h"
#include "../errno.h"
#include "../time.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kNanosPerSecond = 1'000'000'000;

struct Timespec {
  int64_t seconds;
  int64_t nanoseconds;
};

struct Timeval {
  int64_t seconds;
  int64_t microseconds;
};

bool clock_now(uint64_t clock, int64_t& ns) {
  const int64_t since_boot = static_cast<int64_t>(kvmclock_ns());
  switch (clock) {
    case CLOCK_REALTIME:
    case CLOCK_REALTIME_COARSE:
      ns = since_boot + boot_info().realtime_offset_ns;
      return true;
    case CLOCK_MONOTONIC:
    case CLOCK_MONOTONIC_RAW:
    case CLOCK_MONOTONIC_COARSE:
    case CLOCK_BOOTTIME:
      ns = since_boot + boot_info().monotonic_offset_ns;
      return true;
    case CLOCK_PROCESS_CPUTIME_ID:
    case CLOCK_THREAD_CPUTIME_ID:
      ns = since_boot;  // the VM runs nothing else
      return true;
    default:
      return false;
  }
}

}  // namespace

int64_t sys_clock_gettime(uint64_t clock, uint64_t timespec) {
  int64_t ns = 0;
  if (!clock_now(clock, ns)) return error(EINVAL);
  auto* out = user_pointer<Timespec>(timespec);
  if (out == nullptr) return error(EFAULT);
  out->seconds = ns / static_cast<int64_t>(kNanosPerSecond);
  out->nanoseconds = ns % static_cast<int64_t>(kNanosPerSecond);
  return 0;
}

int64_t sys_clock_getres(uint64_t clock, uint64_t timespec) {
  int64_t ignored = 0;
  if (!clock_now(clock, ignored)) return error(EINVAL);
  if (timespec == 0) return 0;
  auto* out = user_pointer<Timespec>(timespec);
  if (out == nullptr) return error(EFAULT);
  out->seconds = 0;
  out->nanoseconds = 1;
  return 0;
}

int64_t sys_gettimeofday(uint64_t timeval, uint64_t timezone) {
  (void)timezone;
  if (timeval == 0) return 0;
  auto* out = user_pointer<Timeval>(timeval);
  if (out == nullptr) return error(EFAULT);
  int64_t ns = 0;
  clock_now(CLOCK_REALTIME, ns);
  out->seconds = ns / static_cast<int64_t>(kNanosPerSecond);
  out->microseconds = (ns % static_cast<int64_t>(kNanosPerSecond)) / 1000;
  return 0;
}

int64_t sys_time(uint64_t result) {
  int64_t ns = 0;
  clock_now(CLOCK_REALTIME, ns);
  const int64_t seconds = ns / static_cast<int64_t>(kNanosPerSecond);
  if (result != 0) {
    auto* out = user_pointer<int64_t>(result);
    if (out == nullptr) return error(EFAULT);
    *out = seconds;
  }
  return seconds;
}

}  // namespace hyperlet::kernel
