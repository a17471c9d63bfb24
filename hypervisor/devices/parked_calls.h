// Calls parked while other app threads run (abi::Hypercall::kParkableSyscall).
// When a forwarded call would block and the app has another thread, the host
// does not block the vCPU: the handler says what the call waits for (a
// ParkRequest), the guest kernel parks the calling thread and runs the others,
// and a watcher thread here polls what the parked calls wait for. When one may
// be ready, the watcher sets its waiter's bit in PreemptState.ready_waiters and
// kicks the vCPU thread out of KVM_RUN, whose run loop injects kPreemptVector;
// the guest then makes that call again. Each registration fires once: a stale
// wake-up only costs the guest one more attempt, a lost one would hang a thread.
#pragma once

#include <poll.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "core/unique_fd.h"

namespace hyperlet {

class GuestMemory;

// What a handler asked for instead of blocking (SyscallContext::park).
struct ParkRequest {
  std::vector<pollfd> wait;                 // host fds and events; empty: only a timeout
  std::optional<std::uint64_t> timeout_ns;  // give up this long after the first park...
  std::int64_t timeout_result = 0;          // ...answering this
};

class ParkedCalls {
 public:
  explicit ParkedCalls(GuestMemory& memory) : memory_(memory) {}
  ParkedCalls(const ParkedCalls&) = delete;
  ParkedCalls& operator=(const ParkedCalls&) = delete;
  ~ParkedCalls();  // stops the watcher

  // On the vCPU thread: `waiter` now waits for `fds` (replacing what it waited
  // for before). False if the guest's ready bits cannot be reached.
  bool park(std::uint32_t waiter, std::vector<pollfd> fds);
  // The waiter made another call: what it waited for no longer matters.
  void cancel(std::uint32_t waiter);
  // Forget every waiter (a reset VM starts over).
  void clear();
  // On the vCPU thread while no guest thread can run: returns when a parked
  // call's waiter is ready, after `timeout_ns` (nullopt: no timeout), or when a
  // signal interrupts the wait (then false).
  // `wake_fd` (an eventfd, or -1) ends it too, drained: another vCPU's kick.
  bool wait_idle(std::optional<std::uint64_t> timeout_ns, int wake_fd = -1);
  // Before vCPUs other than the first run (--cpus): the eventfds exist from
  // now on, so that a vCPU in wait_idle (without the file ring's mutex) never
  // sees them made.
  void prepare_for_vcpus();
  // In a forked child (one thread: the caller): the parent's watcher thread
  // does not exist here, its lock may have been held, and its eventfds are
  // shared with the parent. All of it starts over, the counters too; nothing is watched.
  void after_fork();
  // Whether a waiter's bit is set that the guest has not taken yet.
  bool ready_pending() const;
  // Sets every waiter's bit: after a restore the host watches nothing, so each
  // parked call is made again and parks anew.
  void wake_all();

  struct Counters {
    std::uint64_t parked = 0;  // calls parked
    std::uint64_t woken = 0;   // waiters found ready
  };
  Counters counters() const { return Counters{parked_.load(), woken_.load()}; }

 private:
  void start_watcher();
  void watch();
  // With mutex_ held: the waiter's registration fires (bit set, counted).
  void fire(std::uint32_t waiter);
  GuestMemory& memory_;
  std::uint64_t* ready_ = nullptr;  // PreemptState.ready_waiters in hyperlet's mapping (atomic_ref)
  mutable std::mutex mutex_;
  struct Registration {
    std::vector<pollfd> fds;
    std::uint64_t generation = 0;
  };
  std::map<std::uint32_t, Registration> waits_;
  std::uint64_t next_generation_ = 1;
  UniqueFd changed_;  // eventfd: the set changed, or stop
  UniqueFd fired_;    // eventfd: a waiter became ready (wait_idle sleeps on it)
  pthread_t vcpu_thread_{};
  bool stopping_ = false;
  std::thread watcher_;
  std::atomic<std::uint64_t> parked_{0};
  std::atomic<std::uint64_t> woken_{0};
};

}  // namespace hyperlet
