// A helper thread of the run (the file ring's poller, the parked calls' watcher).
// The run's signals (stop signals, the flush timer's kick) must reach the vCPU
// thread, whose KVM_RUN they interrupt: a helper blocks them all, except
// SIGSYS, with which the host's seccomp filter reports a syscall it stopped.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <thread>
#include <utility>

namespace hyperlet {

template <typename Body>
std::thread start_background_thread(Body&& body) {
  sigset_t all, previous;
  sigfillset(&all);
  sigdelset(&all, SIGSYS);
  pthread_sigmask(SIG_BLOCK, &all, &previous);  // the new thread inherits this mask
  std::thread thread(std::forward<Body>(body));
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return thread;
}

}  // namespace hyperlet
