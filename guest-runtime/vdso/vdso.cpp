// The vDSO: clock_gettime, gettimeofday, time and clock_getres in ring 3, from
// rdtsc and kvmclock's pvclock page. glibc and musl find these functions through
// AT_SYSINFO_EHDR, so reading the time costs no trap and no VM exit.
//
// Built as a tiny position-independent shared object; it must not need
// relocations, so it only uses fixed addresses from abi.h and local code.
#include <hyperlet/abi.h>
#include <hyperlet/pvclock.h>

namespace {

using namespace hyperlet;

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int kEinval = 22;

struct Timespec {
  int64_t seconds;
  int64_t nanoseconds;
};

struct Timeval {
  int64_t seconds;
  int64_t microseconds;
};

enum Clock : long {
  kRealtime = 0,
  kMonotonic = 1,
  kProcessCputime = 2,
  kThreadCputime = 3,
  kMonotonicRaw = 4,
  kRealtimeCoarse = 5,
  kMonotonicCoarse = 6,
  kBoottime = 7,
};

int64_t kvmclock_ns() {
  return static_cast<int64_t>(
      pvclock::nanoseconds(*reinterpret_cast<const pvclock::TimeInfo*>(abi::kPvclockAddr)));
}

const abi::VdsoData& data() { return *reinterpret_cast<const abi::VdsoData*>(abi::kVdsoDataAddr); }

bool now(long clock, int64_t& ns) {
  switch (clock) {
    case kRealtime:
    case kRealtimeCoarse: ns = kvmclock_ns() + data().realtime_offset_ns; return true;
    case kMonotonic:
    case kMonotonicRaw:
    case kMonotonicCoarse:
    case kBoottime: ns = kvmclock_ns() + data().monotonic_offset_ns; return true;
    case kProcessCputime:
    case kThreadCputime: ns = kvmclock_ns(); return true;
    default: return false;
  }
}

}  // namespace

extern "C" {

[[gnu::visibility("default")]] long __vdso_clock_gettime(long clock, Timespec* out) {
  int64_t ns = 0;
  // The guest kernel knows exactly these clocks too, so a trap would only say EINVAL.
  if (!now(clock, ns)) return -kEinval;
  out->seconds = ns / kNanosPerSecond;
  out->nanoseconds = ns % kNanosPerSecond;
  return 0;
}

[[gnu::visibility("default")]] long __vdso_gettimeofday(Timeval* out, void* timezone) {
  (void)timezone;
  if (out != nullptr) {
    int64_t ns = 0;
    now(kRealtime, ns);
    out->seconds = ns / kNanosPerSecond;
    out->microseconds = ns % kNanosPerSecond / 1000;
  }
  return 0;
}

[[gnu::visibility("default")]] long __vdso_time(long* out) {
  int64_t ns = 0;
  now(kRealtime, ns);
  const long seconds = ns / kNanosPerSecond;
  if (out != nullptr) *out = seconds;
  return seconds;
}

[[gnu::visibility("default")]] long __vdso_clock_getres(long clock, Timespec* out) {
  int64_t ignored = 0;
  if (!now(clock, ignored)) return -kEinval;
  if (out != nullptr) {
    out->seconds = 0;
    out->nanoseconds = 1;
  }
  return 0;
}

[[gnu::visibility("default"), gnu::alias("__vdso_clock_gettime")]] long clock_gettime(long, Timespec*);
[[gnu::visibility("default"), gnu::alias("__vdso_gettimeofday")]] long gettimeofday(Timeval*, void*);
[[gnu::visibility("default"), gnu::alias("__vdso_time")]] long time(long*);
[[gnu::visibility("default"), gnu::alias("__vdso_clock_getres")]] long clock_getres(long, Timespec*);
}
