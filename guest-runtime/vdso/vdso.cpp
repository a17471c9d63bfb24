// The vDSO: clock_gettime, gettimeofday, time and clock_getres in ring 3, from
// rdtsc and kvmclock's pvclock page. glibc and musl find these functions through
// AT_SYSINFO_EHDR, so reading the time costs no trap and no VM exit (the
// CPU-time clocks excepted: they trap to the guest kernel, which counts them).
//
// Built as a tiny position-independent shared object; it must not need
// relocations, so it only uses fixed addresses from abi.h and local code.
#include <hyperlet/abi.h>
#include <hyperlet/clocks.h>
#include <hyperlet/pvclock.h>

namespace {

using namespace hyperlet;

constexpr long kEinval = 22;
constexpr long kClockGettime = 228;  // __NR_clock_gettime; the vDSO includes no kernel headers
constexpr long kClockGetres = 229;

// The CPU-time clocks are counted by the guest kernel per thread, so for them
// the vDSO makes the syscall, as Linux's does. `int 0x81` reaches the guest
// kernel on every KVM (entry.S); a `syscall` here would not on kvm_pvm.
long kernel_call(long number, long clock, void* out) {
  long result = number;
  asm volatile("int $0x81" : "+a"(result) : "D"(clock), "S"(out) : "rcx", "r11", "memory");
  return result;
}

bool is_cpu_clock(long clock) {
  clocks::CpuClock ignored{};
  return clocks::cpu_clock(static_cast<uint64_t>(clock), ignored);
}

bool now(long clock, int64_t& ns) {
  const auto since_boot = static_cast<int64_t>(
      pvclock::nanoseconds(*reinterpret_cast<const pvclock::TimeInfo*>(abi::kPvclockAddr)));
  return clocks::clock_ns(static_cast<uint64_t>(clock), since_boot,
                          *reinterpret_cast<const abi::VdsoData*>(abi::kVdsoDataAddr), ns);
}

}  // namespace

extern "C" {

[[gnu::visibility("default")]] long __vdso_clock_gettime(long clock, clocks::Timespec* out) {
  if (is_cpu_clock(clock)) return kernel_call(kClockGettime, clock, out);
  int64_t ns = 0;
  // The guest kernel knows exactly these clocks too, so a trap would only say EINVAL.
  if (!now(clock, ns)) return -kEinval;
  *out = clocks::to_timespec(ns);
  return 0;
}

[[gnu::visibility("default")]] long __vdso_gettimeofday(clocks::Timeval* out, void* timezone) {
  (void)timezone;
  if (out != nullptr) {
    int64_t ns = 0;
    now(clocks::kRealtime, ns);
    *out = clocks::to_timeval(ns);
  }
  return 0;
}

[[gnu::visibility("default")]] long __vdso_time(long* out) {
  int64_t ns = 0;
  now(clocks::kRealtime, ns);
  const long seconds = ns / clocks::kNanosPerSecond;
  if (out != nullptr) *out = seconds;
  return seconds;
}

[[gnu::visibility("default")]] long __vdso_clock_getres(long clock, clocks::Timespec* out) {
  if (is_cpu_clock(clock)) return kernel_call(kClockGetres, clock, out);
  int64_t ignored = 0;
  if (!now(clock, ignored)) return -kEinval;
  if (out != nullptr) *out = clocks::Timespec{0, 1};
  return 0;
}

[[gnu::visibility("default"), gnu::alias("__vdso_clock_gettime")]] long clock_gettime(long, clocks::Timespec*);
[[gnu::visibility("default"), gnu::alias("__vdso_gettimeofday")]] long gettimeofday(clocks::Timeval*, void*);
[[gnu::visibility("default"), gnu::alias("__vdso_time")]] long time(long*);
[[gnu::visibility("default"), gnu::alias("__vdso_clock_getres")]] long clock_getres(long, clocks::Timespec*);
}
