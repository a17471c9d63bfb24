// Sleeping: the vCPU's thread sleeps on the host, so a sleeping guest costs no CPU.
// Reading clocks never comes here (the guest kernel and vDSO use kvmclock).
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

constexpr long kNanosPerSecond = 1'000'000'000;

std::int64_t sleep(SyscallContext& context, clockid_t clock, int flags, std::uint64_t request,
                   std::uint64_t remaining) {
  auto duration = context.read<timespec>(request);
  if (!duration) return -EFAULT;
  if (duration->tv_sec < 0 || duration->tv_nsec < 0 || duration->tv_nsec >= kNanosPerSecond) {
    return -EINVAL;
  }
  if (context.may_park) {
    // Other threads could run: the guest sleeps this thread itself, with no
    // host wait (0 when the time is already past).
    constexpr std::int64_t kMaxSeconds = std::int64_t{1} << 33;  // ~272 years: no overflow below
    std::int64_t nanoseconds =
        std::min<std::int64_t>(duration->tv_sec, kMaxSeconds) * kNanosPerSecond + duration->tv_nsec;
    if ((flags & TIMER_ABSTIME) != 0) {
      timespec now{};
      ::clock_gettime(clock, &now);
      nanoseconds -= now.tv_sec * kNanosPerSecond + now.tv_nsec;
    }
    if (nanoseconds <= 0) return 0;
    context.park = ParkRequest{{}, static_cast<std::uint64_t>(nanoseconds), 0};
    return 0;
  }
  timespec left{};
  const int status = ::clock_nanosleep(clock, flags, &*duration, &left);
  if (status == EINTR) {
    context.interrupted = true;
    if (remaining != 0 && (flags & TIMER_ABSTIME) == 0 && !context.write(remaining, left)) {
      return -EFAULT;
    }
    return -EINTR;
  }
  return -status;
}

}  // namespace

void register_clock_syscalls(HostSyscallTable& table) {
  table.add(SYS_nanosleep, [](SyscallContext& context, const SyscallArguments& a) {
    return sleep(context, CLOCK_MONOTONIC, 0, a[0], a[1]);
  });
  table.add(SYS_clock_nanosleep, [](SyscallContext& context, const SyscallArguments& a) -> std::int64_t {
    const auto clock = static_cast<clockid_t>(a[0]);
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC && clock != CLOCK_BOOTTIME) return -EINVAL;
    // The guest's clocks are the host's (boot_info offsets), so absolute times carry over.
    return sleep(context, clock, static_cast<int>(a[1]) & TIMER_ABSTIME, a[2], a[3]);
  });
}

}  // namespace hyperlet
