// CPU time: the CPU-time clocks (CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID
// and the ids clock_getcpuclockid and pthread_getcpuclockid make), getrusage and
// times. Each thread's time is what it ran on a vCPU (threads.cpp, measured
// against the host's run clock, abi::VcpuRunClock): time the vCPU spent on the
// host — a forwarded call, a halt while every thread waits — counts for no one,
// so a sleeping app uses no CPU time, as on Linux. All of it is user time: the
// guest kernel's own share is not told apart (ru_stime and tms_stime are 0), and
// children, each its own microVM, report none.
#include <hyperlet/clocks.h>

#include "../errno.h"
#include "../time.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr int32_t kRusageSelf = 0;
constexpr int32_t kRusageChildren = -1;
constexpr int32_t kRusageThread = 1;
constexpr int64_t kNanosPerTick = 10'000'000;  // USER_HZ = 100, times()'s clock_t unit

struct Rusage {
  clocks::Timeval user_time;
  clocks::Timeval system_time;
  int64_t counters[14];  // ru_maxrss .. ru_nivcsw: not kept, 0
};
static_assert(sizeof(Rusage) == 144, "struct rusage on x86-64");

struct Tms {
  int64_t user_ticks;
  int64_t system_ticks;
  int64_t children_user_ticks;
  int64_t children_system_ticks;
};

}  // namespace

int64_t cpu_clock_ns(uint64_t clock, int64_t& ns) {
  clocks::CpuClock which{};
  if (!clocks::cpu_clock(clock, which)) return error(EINVAL);
  if (which.per_thread) {
    uint64_t thread_ns = 0;
    if (which.id < 0 || !thread_cpu_ns(static_cast<uint32_t>(which.id), thread_ns)) return error(EINVAL);
    ns = static_cast<int64_t>(thread_ns);
    return 0;
  }
  if (which.id != 0 && static_cast<uint32_t>(which.id) != process_id()) return error(EINVAL);
  ns = static_cast<int64_t>(process_cpu_ns());
  return 0;
}

int64_t sys_getrusage(uint64_t who, uint64_t usage) {
  const auto whose = static_cast<int32_t>(static_cast<uint32_t>(who));
  if (whose != kRusageSelf && whose != kRusageChildren && whose != kRusageThread) return error(EINVAL);
  auto* out = user_pointer<Rusage>(usage);
  if (out == nullptr) return error(EFAULT);
  uint64_t ns = 0;
  if (whose == kRusageSelf) ns = process_cpu_ns();
  if (whose == kRusageThread) thread_cpu_ns(0, ns);
  *out = Rusage{};
  out->user_time = clocks::to_timeval(static_cast<int64_t>(ns));
  return 0;
}

int64_t sys_times(uint64_t buffer) {
  if (buffer != 0) {
    auto* out = user_pointer<Tms>(buffer);
    if (out == nullptr) return error(EFAULT);
    *out = Tms{};
    out->user_ticks = static_cast<int64_t>(process_cpu_ns()) / kNanosPerTick;
  }
  return monotonic_ns() / kNanosPerTick;  // ticks since an arbitrary point, as Linux's: the monotonic clock's
}

}  // namespace hyperlet::kernel
