// Deferred socket writes (devices/socket_buffers.h) normally go out at the
// app's next syscall. An app that writes and then computes without one would
// hold them back; while socket buffers are in use, a one-shot timer armed
// around each KVM_RUN takes the vCPU out of the guest after kFlushAfter, and the
// run loop sends what was deferred. Outside KVM_RUN the timer is off, so no
// blocking host call is ever interrupted by it.
#pragma once

#include <linux/kvm.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdint>

#include "core/error.h"

namespace hyperlet {

// The vCPU whose KVM_RUN the timer interrupts (set by the run loop). One per
// thread: the timer signals the thread that created it, and a program that
// embeds hyperlet may run VMs on several threads.
extern thread_local std::atomic<kvm_run*> g_flush_vcpu;

class FlushTimer {
 public:
  static constexpr std::chrono::milliseconds kFlushAfter{10};

  // For the calling thread (the vCPU's), whose KVM_RUN the signal interrupts.
  Result<void> create();
  void arm();
  // Fires at `monotonic_ns` (host CLOCK_MONOTONIC, absolute) instead: the app's
  // earliest timer (abi::PreemptState::timer_deadline_ns), while the guest runs.
  void arm_at(std::uint64_t monotonic_ns);
  void disarm();
  // In a forked child, which inherits no POSIX timers (but keeps the handler): a new one for its thread.
  Result<void> create_after_fork() {
    created_ = armed_ = false;
    return create_timer();
  }
  ~FlushTimer();

 private:
  Result<void> create_timer();  // for the calling thread

  timer_t timer_{};
  bool created_ = false;
  bool armed_ = false;
};

}  // namespace hyperlet
