#include "vm/flush_timer.h"

#include <linux/kvm.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/exit_status.h"

namespace hyperlet {

thread_local std::atomic<kvm_run*> g_flush_vcpu{nullptr};

namespace {

void on_flush_timer(int) {
  if (kvm_run* run = g_flush_vcpu.load()) run->immediate_exit = 1;
}

int flush_signal() { return SIGRTMIN; }

}  // namespace

Result<void> FlushTimer::create() {
  struct sigaction action {};
  action.sa_handler = on_flush_timer;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // never seen outside KVM_RUN, but a restart is the harmless answer
  if (sigaction(flush_signal(), &action, nullptr) != 0) {
    return fail(ExitStatus::kUsage, "cannot install the flush timer's handler: {}", std::strerror(errno));
  }
  return create_timer();
}

Result<void> FlushTimer::create_timer() {
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = flush_signal();
  event._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
  if (timer_create(CLOCK_MONOTONIC, &event, &timer_) != 0) {
    return fail(ExitStatus::kUsage, "cannot create the flush timer: {}", std::strerror(errno));
  }
  created_ = true;
  return {};
}

void FlushTimer::arm() {
  if (!created_ || armed_) return;
  itimerspec spec{};
  spec.it_value.tv_nsec = std::chrono::nanoseconds(kFlushAfter).count();
  timer_settime(timer_, 0, &spec, nullptr);
  armed_ = true;
}

void FlushTimer::arm_at(std::uint64_t monotonic_ns) {
  if (!created_) return;
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(monotonic_ns / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(monotonic_ns % 1'000'000'000);
  // A time already past fires at once: KVM_RUN then returns before it enters the guest.
  timer_settime(timer_, TIMER_ABSTIME, &spec, nullptr);
  armed_ = true;
}

void FlushTimer::disarm() {
  if (!armed_) return;
  const itimerspec off{};
  timer_settime(timer_, 0, &off, nullptr);
  armed_ = false;
}

FlushTimer::~FlushTimer() {
  if (created_) timer_delete(timer_);
}

}  // namespace hyperlet
