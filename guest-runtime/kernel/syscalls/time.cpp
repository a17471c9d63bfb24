// Clocks from kvmclock without leaving the VM. The vDSO serves the same clocks
// in ring 3 (<hyperlet/clocks.h> holds what both share); these are for apps
// that make the syscall anyway.
#include <hyperlet/clocks.h>

#include "../errno.h"
#include "../time.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

bool clock_now(uint64_t clock, int64_t& ns) {
  const auto& offsets = *reinterpret_cast<const abi::VdsoData*>(abi::kVdsoDataAddr);
  return clocks::clock_ns(clock, static_cast<int64_t>(kvmclock_ns()), offsets, ns);
}

}  // namespace

int64_t sys_clock_gettime(uint64_t clock, uint64_t timespec) {
  int64_t ns = 0;
  clocks::CpuClock cpu{};
  if (clocks::cpu_clock(clock, cpu)) {
    if (const int64_t result = cpu_clock_ns(clock, ns); result != 0) return result;
  } else if (!clock_now(clock, ns)) {
    return error(EINVAL);
  }
  auto* out = user_pointer<clocks::Timespec>(timespec);
  if (out == nullptr) return error(EFAULT);
  *out = clocks::to_timespec(ns);
  return 0;
}

int64_t sys_clock_getres(uint64_t clock, uint64_t timespec) {
  int64_t ignored = 0;
  clocks::CpuClock cpu{};
  if (clocks::cpu_clock(clock, cpu)) {
    if (const int64_t result = cpu_clock_ns(clock, ignored); result != 0) return result;
  } else if (!clock_now(clock, ignored)) {
    return error(EINVAL);
  }
  if (timespec == 0) return 0;
  auto* out = user_pointer<clocks::Timespec>(timespec);
  if (out == nullptr) return error(EFAULT);
  *out = clocks::Timespec{0, 1};
  return 0;
}

int64_t sys_gettimeofday(uint64_t timeval, uint64_t timezone) {
  (void)timezone;
  if (timeval == 0) return 0;
  auto* out = user_pointer<clocks::Timeval>(timeval);
  if (out == nullptr) return error(EFAULT);
  int64_t ns = 0;
  clock_now(clocks::kRealtime, ns);
  *out = clocks::to_timeval(ns);
  return 0;
}

int64_t sys_time(uint64_t result) {
  int64_t ns = 0;
  clock_now(clocks::kRealtime, ns);
  const int64_t seconds = ns / clocks::kNanosPerSecond;
  if (result != 0) {
    auto* out = user_pointer<int64_t>(result);
    if (out == nullptr) return error(EFAULT);
    *out = seconds;
  }
  return seconds;
}

}  // namespace hyperlet::kernel
