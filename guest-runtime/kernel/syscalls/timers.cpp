// Timers that send signals: alarm, setitimer/getitimer and the POSIX timers
// (timer_create, timer_settime, timer_gettime, timer_getoverrun, timer_delete)
// with SIGEV_SIGNAL, SIGEV_THREAD_ID (glibc's SIGEV_THREAD) and SIGEV_NONE.
//
// A timer is an expiry in kvmclock ns, which the kernel compares with the
// clock wherever it already looks at time; no host thread is involved:
// - schedule() (threads.cpp) fires due timers and counts the earliest expiry
//   among its deadlines, so a thread that sleeps, waits (pause, sigwait, a
//   futex) or is parked in a host call (read, accept, poll, nanosleep...) is
//   woken by it as by a pthread_kill; the vCPU sleeps on the host (kSleep) no
//   longer than that;
// - PreemptState.timer_deadline_ns tells the host the earliest expiry; while
//   the guest runs, the host interrupts it then with kPreemptVector (as a time
//   slice ends), and handle_preempt fires it: an app that computes without a
//   syscall still gets its SIGALRM.
// - While a timer that signals is armed, a single-threaded app's host calls
//   are parked as another thread's would be (host_forward.cpp), so the timer
//   interrupts them in the guest instead of finding the vCPU blocked on the host.
// A timer's signal is queued once: expiries while it is still pending count as
// overruns (si_overrun, timer_getoverrun), as on Linux. The ITIMER_REAL timer
// sends SIGALRM to the process. ITIMER_VIRTUAL and ITIMER_PROF, and POSIX
// timers on a CPU-time clock, count CPU time (cpu_time.cpp): a CPU timer's
// expiry is CPU-time ns, and the host is given the earliest moment it could be
// due (its CPU time left, spread over every vCPU) and interrupts then, when the
// timer is looked at again. A lone vCPU that idles cannot bring a CPU timer
// closer, so it sleeps without waking for one. CLOCK_REALTIME timers are kept
// on the monotonic clock (a change of the host's wall clock does not move them).
#include <hyperlet/clocks.h>

#include "../errno.h"
#include "../hypercall.h"
#include "../signal_state.h"
#include "../smp.h"
#include "../time.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {
namespace {

constexpr int kPosixTimers = 64;    // timer_create beyond: EAGAIN, as Linux at its limit
constexpr int kIntervalTimers = 3;  // ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF
constexpr int kSlots = kPosixTimers + kIntervalTimers;
constexpr uint64_t kIntervalSignals[kIntervalTimers] = {14 /* SIGALRM */, 26 /* SIGVTALRM */, 27 /* SIGPROF */};
constexpr int32_t kSiTimer = -2;
constexpr int32_t kSiKernel = 0x80;
constexpr uint32_t kSigevSignal = 0;
constexpr uint32_t kSigevNone = 1;
constexpr uint32_t kSigevThread = 2;  // accepted as SIGEV_SIGNAL, as Linux does (glibc never passes it)
constexpr uint32_t kSigevThreadId = 4;
constexpr uint64_t kTimerAbstime = 1;
constexpr uint64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kMaxSeconds = int64_t{1} << 33;  // ~272 years: no overflow in ns below

struct Timespec {
  int64_t seconds;
  int64_t nanoseconds;
};
struct Itimerspec {
  Timespec interval;
  Timespec value;
};
struct Timeval {
  int64_t seconds;
  int64_t microseconds;
};
struct Itimerval {
  Timeval interval;
  Timeval value;
};
// Linux's struct sigevent (64 bytes on x86-64).
struct Sigevent {
  uint64_t value;
  int32_t signal;
  int32_t notify;
  int32_t thread_id;
  int32_t pad[11];
};
static_assert(sizeof(Sigevent) == 64);

enum class Clock : uint8_t { kMonotonic, kRealtime, kProcessCpu, kThreadCpu };

struct Timer {
  bool in_use;
  bool queued;  // its signal waits in a pending set
  Clock clock;
  uint32_t notify;
  uint32_t signal;
  uint32_t tid;        // SIGEV_THREAD_ID
  uint32_t owner_tid;  // kThreadCpu: the thread whose CPU time it counts
  uint64_t value;
  uint64_t expiry;  // on its clock: kvmclock ns, or CPU-time ns for a CPU timer; 0: disarmed
  uint64_t interval;
  int32_t overrun;       // expiries since its signal was queued
  int32_t overrun_last;  // the overrun of the last signal taken (timer_getoverrun)
};

Timer timers[kSlots];  // .bss: nothing to do until the app makes a timer
int armed_count;       // timers with an expiry that send a signal
int armed_cpu_count;   // of those, the ones on a CPU-time clock
uint64_t wall_deadline;  // the earliest expiry among the armed timers on a wall clock (kvmclock ns)
bool any_made;         // a timer was ever in use: forget_timers has work (each pass is emulated on kvm_pvm)

bool on_cpu_clock(const Timer& timer) { return timer.clock == Clock::kProcessCpu || timer.clock == Clock::kThreadCpu; }

// The timer's clock now: kvmclock ns (`kvmclock_now`), or the CPU time it counts.
uint64_t now_on(const Timer& timer, uint64_t kvmclock_now) {
  if (timer.clock == Clock::kProcessCpu) return process_cpu_ns();
  if (timer.clock == Clock::kThreadCpu) {
    uint64_t ns = 0;
    return thread_cpu_ns(timer.owner_tid, ns) ? ns : 0;  // its thread is gone: it never expires
  }
  return kvmclock_now;
}

volatile abi::PreemptState& preempt_state() {
  return *reinterpret_cast<volatile abi::PreemptState*>(abi::kPreemptStateAddr);
}

// The host reads PreemptState after every VM exit, and vCPU 0's host thread
// arms its timer from it before KVM_RUN; a new deadline needs an exit now (the
// app may compute without one; a periodic timer's next expiry is set where an
// injected interrupt, no exit, brought the kernel), and vCPU 0 a wake-up from
// its kSleep and an interrupt out of its run when another vCPU set the timer.
void tell_host_deadline_moved() {
  const bool elsewhere = this_cpu() != 0;
  hypercall_args().cpus.cpus = elsewhere ? 1 : 0;
  hypercall(abi::Hypercall::kKickCpus);
  if (elsewhere) {
    hypercall_args().cpus.cpus = 1;
    hypercall(abi::Hypercall::kShootdown);
  }
}

// The earliest expiry that sends a signal goes to the host (PreemptState), a
// CPU timer's as the earliest moment it could be due.
void publish_deadline() {
  const uint64_t previous = preempt_state().timer_deadline_ns;
  const uint64_t now = kvmclock_ns();
  uint64_t earliest = 0;
  uint64_t earliest_wall = 0;
  int armed = 0;
  int armed_cpu = 0;
  for (const Timer& timer : timers) {
    if (!timer.in_use || timer.expiry == 0 || timer.notify == kSigevNone) continue;
    ++armed;
    uint64_t due = timer.expiry;
    if (on_cpu_clock(timer)) {
      ++armed_cpu;
      const uint64_t spent = now_on(timer, now);
      due = now + (timer.expiry > spent ? (timer.expiry - spent) / cpu_count : 0);
    } else if (earliest_wall == 0 || due < earliest_wall) {
      earliest_wall = due;
    }
    if (earliest == 0 || due < earliest) earliest = due;
  }
  armed_count = armed;
  set_direct_forward_blocker(DirectForwardBlocker::kTimers, armed != 0);
  armed_cpu_count = armed_cpu;
  wall_deadline = earliest_wall;
  preempt_state().timer_deadline_ns = earliest;
  if (earliest != 0 && earliest != previous) tell_host_deadline_moved();
}

uint64_t timespec_ns(const Timespec& time) {
  return static_cast<uint64_t>(time.seconds > kMaxSeconds ? kMaxSeconds : time.seconds) * kNanosPerSecond +
         static_cast<uint64_t>(time.nanoseconds);
}

bool timespec_valid(const Timespec& time) {
  return time.seconds >= 0 && time.nanoseconds >= 0 && static_cast<uint64_t>(time.nanoseconds) < kNanosPerSecond;
}

Timespec ns_timespec(uint64_t ns) {
  return Timespec{static_cast<int64_t>(ns / kNanosPerSecond), static_cast<int64_t>(ns % kNanosPerSecond)};
}

// An absolute time on the timer's clock as its expiry: kvmclock ns for a wall
// clock, as it is for a CPU clock (at least 1: 0 means disarmed).
uint64_t absolute_to_expiry(Clock clock, uint64_t ns) {
  if (clock == Clock::kProcessCpu || clock == Clock::kThreadCpu) return ns > 0 ? ns : 1;
  const auto& offsets = *reinterpret_cast<const abi::VdsoData*>(abi::kVdsoDataAddr);
  int64_t since_boot = static_cast<int64_t>(ns);
  if (clock == Clock::kRealtime) since_boot -= offsets.realtime_offset_ns;
  if (clock == Clock::kMonotonic) since_boot -= offsets.monotonic_offset_ns;
  return since_boot > 0 ? static_cast<uint64_t>(since_boot) : 1;
}

// Arms (value 0: disarms) the timer in `slot`, answering what it had left.
void arm(Timer& timer, uint64_t value_ns, uint64_t interval_ns, bool absolute, uint64_t& old_value,
         uint64_t& old_interval) {
  const uint64_t now = now_on(timer, kvmclock_ns());
  old_value = timer.expiry == 0 ? 0 : timer.expiry > now ? timer.expiry - now : 1;
  old_interval = timer.interval;
  if (value_ns == 0) {
    timer.expiry = 0;
    timer.interval = 0;
  } else {
    timer.expiry = absolute ? absolute_to_expiry(timer.clock, value_ns) : now + value_ns;
    timer.interval = interval_ns;
  }
  timer.overrun = 0;
  publish_deadline();
}

// A SIGEV_NONE timer is never fired: its expiry moves on when looked at.
void catch_up(Timer& timer, uint64_t now) {
  if (timer.expiry == 0 || timer.expiry > now) return;
  if (timer.interval == 0) {
    timer.expiry = 0;
    return;
  }
  timer.expiry += ((now - timer.expiry) / timer.interval + 1) * timer.interval;
}

Timer* posix_timer(uint64_t id) {
  const auto index = static_cast<uint32_t>(id);  // a timer_t is an int, as Linux reads it
  if (index >= static_cast<uint32_t>(kPosixTimers) || !timers[index].in_use) return nullptr;
  return &timers[index];
}

}  // namespace

void forget_timers() {
  if (!any_made) return;
  for (Timer& timer : timers) timer = Timer{};
  armed_count = 0;
  armed_cpu_count = 0;
  set_direct_forward_blocker(DirectForwardBlocker::kTimers, false);
  wall_deadline = 0;
  preempt_state().timer_deadline_ns = 0;
}

void fire_due_timers(uint64_t now) {
  if (armed_count == 0) return;
  // A CPU timer not yet due has its earliest moment estimated again.
  bool changed = armed_cpu_count != 0;
  const uint64_t kvmclock_now = now;
  for (int slot = 0; slot < kSlots; ++slot) {
    Timer& timer = timers[slot];
    if (!timer.in_use || timer.expiry == 0 || timer.notify == kSigevNone) continue;
    now = now_on(timer, kvmclock_now);
    if (timer.expiry > now) continue;
    // Expiries that passed since: one signal, the rest overruns.
    uint64_t expiries = 1;
    if (timer.interval != 0) {
      const uint64_t late = (now - timer.expiry) / timer.interval;
      expiries += late;
      timer.expiry += (late + 1) * timer.interval;
    } else {
      timer.expiry = 0;
    }
    changed = true;
    const auto count = static_cast<int32_t>(expiries > 0x7fffffff ? 0x7fffffff : expiries);
    if (timer.queued) {
      timer.overrun = timer.overrun > 0x7fffffff - count ? 0x7fffffff : timer.overrun + count;
      continue;
    }
    timer.overrun = count - 1;
    const bool interval_timer = slot >= kPosixTimers;
    const PendingInfo info{interval_timer ? kSiKernel : kSiTimer, interval_timer ? 0 : slot, 0, slot + 1, timer.value};
    const int target = timer.notify == kSigevThreadId ? thread_slot_of(timer.tid) : -1;
    bool queued = false;
    send_signal(target, timer.signal, info, &queued);
    timer.queued = queued;
  }
  if (changed) publish_deadline();
}

uint64_t timer_deadline() { return armed_count == 0 ? 0 : preempt_state().timer_deadline_ns; }

uint64_t timer_deadline_when_idle() {
  if (armed_count == 0) return 0;
  // While the only vCPU idles no CPU time passes: only a wall-clock timer can be due.
  return cpu_count == 1 ? wall_deadline : preempt_state().timer_deadline_ns;
}

bool timers_armed() { return armed_count != 0; }

int32_t timer_signal_taken(int32_t timer) {
  if (timer <= 0 || timer > kSlots) return 0;
  Timer& taken = timers[timer - 1];
  taken.queued = false;
  taken.overrun_last = taken.overrun;
  taken.overrun = 0;
  return taken.overrun_last;
}

int64_t sys_timer_create(uint64_t clock, uint64_t event, uint64_t id_out) {
  Clock kind = Clock::kMonotonic;
  uint32_t owner = 0;
  switch (static_cast<int32_t>(clock)) {
    case 0:
      kind = Clock::kRealtime;
      break;  // CLOCK_REALTIME
    case 1:
    case 7:
      kind = Clock::kMonotonic;
      break;  // CLOCK_MONOTONIC, CLOCK_BOOTTIME
    case 4:
    case 5:
    case 6:
      return error(EOPNOTSUPP);  // raw and coarse clocks have no timers
    default: {
      // The process's or a thread's CPU time (CLOCK_PROCESS_CPUTIME_ID,
      // CLOCK_THREAD_CPUTIME_ID, or an id clock_getcpuclockid made).
      clocks::CpuClock cpu{};
      uint64_t ignored = 0;
      if (!clocks::cpu_clock(clock, cpu)) return error(EINVAL);
      if (!cpu.per_thread) {
        if (cpu.id != 0 && static_cast<uint32_t>(cpu.id) != process_id()) return error(EINVAL);
        kind = Clock::kProcessCpu;
        break;
      }
      owner = cpu.id == 0 ? current_tid() : static_cast<uint32_t>(cpu.id);
      if (cpu.id < 0 || !thread_cpu_ns(owner, ignored)) return error(EINVAL);
      kind = Clock::kThreadCpu;
      break;
    }
  }
  Sigevent wanted{0, 14 /* SIGALRM */, static_cast<int32_t>(kSigevSignal), 0, {}};
  if (event != 0) {
    const auto* in = user_pointer<Sigevent>(event);
    if (in == nullptr) return error(EFAULT);
    wanted = *in;
  }
  auto* out = user_pointer<int32_t>(id_out);
  if (out == nullptr) return error(EFAULT);
  // Linux's good_sigevent: a SIGEV_THREAD_ID thread of this process, a valid
  // signal for anything that signals.
  const auto notify = static_cast<uint32_t>(wanted.notify);
  if (notify != kSigevSignal && notify != kSigevNone && notify != kSigevThread && notify != kSigevThreadId) {
    return error(EINVAL);
  }
  if (notify == kSigevThreadId &&
      (wanted.thread_id <= 0 || thread_slot_of(static_cast<uint64_t>(wanted.thread_id)) < 0)) {
    return error(EINVAL);
  }
  if (notify != kSigevNone && (wanted.signal <= 0 || static_cast<uint64_t>(wanted.signal) > kSignalCount)) {
    return error(EINVAL);
  }
  int slot = 0;
  while (slot < kPosixTimers && timers[slot].in_use) ++slot;
  if (slot == kPosixTimers) return error(EAGAIN);
  Timer& timer = timers[slot];
  timer = Timer{};
  timer.in_use = true;
  any_made = true;
  timer.clock = kind;
  timer.owner_tid = owner;
  timer.notify = notify == kSigevThread ? kSigevSignal : notify;
  timer.signal = static_cast<uint32_t>(wanted.signal);
  timer.tid = static_cast<uint32_t>(wanted.thread_id);
  timer.value = event != 0 ? wanted.value : static_cast<uint64_t>(slot);  // no sigevent: si_value is the id
  *out = slot;
  return 0;
}

int64_t sys_timer_settime(uint64_t id, uint64_t flags, uint64_t value, uint64_t old_value) {
  Timer* timer = posix_timer(id);
  if (timer == nullptr) return error(EINVAL);
  if (value == 0) return error(EINVAL);
  const auto* in = user_pointer<Itimerspec>(value);
  if (in == nullptr) return error(EFAULT);
  if (!timespec_valid(in->value) || !timespec_valid(in->interval)) return error(EINVAL);
  Itimerspec* out = nullptr;
  if (old_value != 0 && (out = user_pointer<Itimerspec>(old_value)) == nullptr) return error(EFAULT);
  catch_up(*timer, now_on(*timer, kvmclock_ns()));
  uint64_t left = 0, interval = 0;
  arm(*timer, timespec_ns(in->value), timespec_ns(in->interval), (flags & kTimerAbstime) != 0, left, interval);
  if (out != nullptr) *out = Itimerspec{ns_timespec(interval), ns_timespec(left)};
  return 0;
}

int64_t sys_timer_gettime(uint64_t id, uint64_t value) {
  Timer* timer = posix_timer(id);
  if (timer == nullptr) return error(EINVAL);
  auto* out = user_pointer<Itimerspec>(value);
  if (out == nullptr) return error(EFAULT);
  const uint64_t now = now_on(*timer, kvmclock_ns());
  if (timer->notify == kSigevNone) catch_up(*timer, now);
  const uint64_t left = timer->expiry == 0 ? 0 : timer->expiry > now ? timer->expiry - now : 1;
  *out = Itimerspec{ns_timespec(timer->expiry == 0 ? 0 : timer->interval), ns_timespec(left)};
  return 0;
}

int64_t sys_timer_getoverrun(uint64_t id) {
  const Timer* timer = posix_timer(id);
  return timer == nullptr ? error(EINVAL) : timer->overrun_last;
}

int64_t sys_timer_delete(uint64_t id) {
  Timer* timer = posix_timer(id);
  if (timer == nullptr) return error(EINVAL);
  *timer = Timer{};
  publish_deadline();
  return 0;
}

int64_t sys_setitimer(uint64_t which_argument, uint64_t value, uint64_t old_value) {
  const auto which = static_cast<uint32_t>(which_argument);  // an int
  if (which >= static_cast<uint32_t>(kIntervalTimers)) return error(EINVAL);
  Itimerval wanted{};
  if (value != 0) {  // Linux still takes NULL as "disarm"
    const auto* in = user_pointer<Itimerval>(value);
    if (in == nullptr) return error(EFAULT);
    wanted = *in;
  }
  const auto valid = [](const Timeval& time) {
    return time.seconds >= 0 && time.microseconds >= 0 && time.microseconds < 1'000'000;
  };
  if (!valid(wanted.value) || !valid(wanted.interval)) return error(EINVAL);
  Itimerval* out = nullptr;
  if (old_value != 0 && (out = user_pointer<Itimerval>(old_value)) == nullptr) return error(EFAULT);
  Timer& timer = timers[kPosixTimers + which];
  if (!timer.in_use) {
    timer.in_use = true;
    any_made = true;
    timer.clock = which == 0 ? Clock::kMonotonic : Clock::kProcessCpu;  // ITIMER_VIRTUAL, ITIMER_PROF: CPU time
    timer.notify = kSigevSignal;
    timer.signal = static_cast<uint32_t>(kIntervalSignals[which]);
  }
  const auto to_ns = [](const Timeval& time) { return timespec_ns(Timespec{time.seconds, time.microseconds * 1000}); };
  uint64_t left = 0, interval = 0;
  arm(timer, to_ns(wanted.value), to_ns(wanted.interval), false, left, interval);
  if (out != nullptr) {
    out->value =
        Timeval{static_cast<int64_t>(left / kNanosPerSecond), static_cast<int64_t>(left % kNanosPerSecond / 1000)};
    out->interval = Timeval{static_cast<int64_t>(interval / kNanosPerSecond),
                            static_cast<int64_t>(interval % kNanosPerSecond / 1000)};
    // Linux reports a timer about to fire as 1 us left, never as disarmed.
    if (left != 0 && out->value.seconds == 0 && out->value.microseconds == 0) out->value.microseconds = 1;
  }
  return 0;
}

int64_t sys_getitimer(uint64_t which_argument, uint64_t value) {
  const auto which = static_cast<uint32_t>(which_argument);  // an int
  if (which >= static_cast<uint32_t>(kIntervalTimers)) return error(EINVAL);
  auto* out = user_pointer<Itimerval>(value);
  if (out == nullptr) return error(EFAULT);
  const Timer& timer = timers[kPosixTimers + which];
  const uint64_t now = now_on(timer, kvmclock_ns());
  const uint64_t left = timer.expiry == 0 ? 0 : timer.expiry > now ? timer.expiry - now : 1000;
  out->value =
      Timeval{static_cast<int64_t>(left / kNanosPerSecond), static_cast<int64_t>(left % kNanosPerSecond / 1000)};
  if (left != 0 && out->value.seconds == 0 && out->value.microseconds == 0) out->value.microseconds = 1;
  out->interval = Timeval{static_cast<int64_t>(timer.interval / kNanosPerSecond),
                          static_cast<int64_t>(timer.interval % kNanosPerSecond / 1000)};
  return 0;
}

// alarm: ITIMER_REAL in whole seconds; answers the seconds the previous one
// had left, rounded as Linux rounds them (never 0 for an armed one).
int64_t sys_alarm(uint64_t seconds) {
  Timer& timer = timers[kPosixTimers];
  if (!timer.in_use) {
    timer.in_use = true;
    any_made = true;
    timer.clock = Clock::kMonotonic;
    timer.notify = kSigevSignal;
    timer.signal = static_cast<uint32_t>(kIntervalSignals[0]);
  }
  const uint64_t wanted = (seconds & 0xffffffff) > 0x7fffffff ? 0x7fffffff : (seconds & 0xffffffff);
  uint64_t left = 0, interval = 0;
  arm(timer, wanted * kNanosPerSecond, 0, false, left, interval);
  const uint64_t microseconds = left % kNanosPerSecond / 1000;
  uint64_t old_seconds = left / kNanosPerSecond;
  if ((old_seconds == 0 && left != 0) || microseconds >= 500'000) ++old_seconds;
  return static_cast<int64_t>(old_seconds);
}

}  // namespace hyperlet::kernel
