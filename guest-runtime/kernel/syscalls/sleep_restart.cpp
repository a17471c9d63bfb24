// restart_syscall for relative sleeps. A nanosleep or a relative
// clock_nanosleep that a signal interrupts without running a handler (a stop
// and continue, a signal ignored by the time it is taken, hyperlet's own kick
// of a host sleep) goes on, as on Linux, for the time it had left, not for its
// whole duration again: the return path makes it restart_syscall instead of
// the same call (signal_delivery.cpp), and restart_syscall waits here until the
// deadline noted when the sleep began. Interrupted again, it goes on again the
// same way, or answers EINTR with the time left when a handler runs.
#include <asm/unistd_64.h>

#include "../errno.h"
#include "../signal_state.h"
#include "../time.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr uint64_t kTimerAbstime = 1;
constexpr uint64_t kNanosecondsPerSecond = 1'000'000'000;

struct Timespec {
  int64_t seconds;
  int64_t nanoseconds;
};

bool is_relative_sleep(uint64_t number, const uint64_t (&args)[6]) {
  return number == __NR_nanosleep || (number == __NR_clock_nanosleep && (args[1] & kTimerAbstime) == 0);
}

void write_time_left(uint64_t out, uint64_t deadline) {
  auto* left_out = user_pointer<Timespec>(out);
  if (left_out == nullptr) return;
  const uint64_t now = kvmclock_ns();
  const uint64_t left = deadline > now ? deadline - now : 0;
  *left_out =
      Timespec{static_cast<int64_t>(left / kNanosecondsPerSecond), static_cast<int64_t>(left % kNanosecondsPerSecond)};
}

}  // namespace

void note_sleep_start(uint64_t number, const uint64_t (&args)[6]) {
  ThreadSignals& self = current_signals();
  self.sleep_deadline_ns = 0;
  if (!is_relative_sleep(number, args)) return;
  const auto* duration = user_pointer<Timespec>(number == __NR_nanosleep ? args[0] : args[2]);
  // A bad timespec is the host's to refuse (EFAULT, EINVAL); nothing to restart.
  if (duration == nullptr || duration->seconds < 0 || duration->nanoseconds < 0 ||
      duration->nanoseconds >= static_cast<int64_t>(kNanosecondsPerSecond)) {
    return;
  }
  constexpr int64_t kLongest = int64_t{1} << 33;  // seconds: centuries, and no overflow below
  const uint64_t seconds = static_cast<uint64_t>(duration->seconds < kLongest ? duration->seconds : kLongest);
  self.sleep_deadline_ns =
      kvmclock_ns() + seconds * kNanosecondsPerSecond + static_cast<uint64_t>(duration->nanoseconds);
  self.sleep_time_left_out = number == __NR_nanosleep ? args[1] : args[3];
}

uint64_t syscall_to_restart(const ThreadSignals& self) {
  const bool sleep = self.restart_number == __NR_nanosleep || self.restart_number == __NR_clock_nanosleep ||
                     self.restart_number == __NR_restart_syscall;
  return sleep && self.sleep_deadline_ns != 0 ? __NR_restart_syscall : self.restart_number;
}

int64_t sys_restart_syscall() {
  ThreadSignals& self = current_signals();
  const uint64_t deadline = self.sleep_deadline_ns;
  if (deadline == 0) return error(EINTR);  // nothing to go on with, as Linux answers
  for (;;) {
    if (kvmclock_ns() >= deadline) {
      self.sleep_deadline_ns = 0;
      return 0;
    }
    if (signal_interrupts_wait(__NR_restart_syscall) != 0) {
      // EINTR with the time left if a handler runs; else on again from here.
      write_time_left(self.sleep_time_left_out, deadline);
      return -kRestartNoHand;
    }
    wait_for_signal(deadline);
    self.restart_armed = false;
  }
}

}  // namespace hyperlet::kernel
