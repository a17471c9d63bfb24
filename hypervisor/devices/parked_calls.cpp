#include "devices/parked_calls.h"

#include <hyperlet/abi.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <ctime>

#include "core/background_thread.h"
#include "memory/guest_memory.h"

namespace hyperlet {
namespace {

// The signal that takes the vCPU thread out of KVM_RUN (vm/flush_timer.cpp
// handles it: it sets immediate_exit).
int kick_signal() { return SIGRTMIN; }

void signal_eventfd(int fd) {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(fd, &one, sizeof one);
}

void drain_eventfd(int fd) {
  std::uint64_t count = 0;
  [[maybe_unused]] const ssize_t got = ::read(fd, &count, sizeof count);
}

}  // namespace

ParkedCalls::~ParkedCalls() {
  if (!watcher_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  signal_eventfd(changed_.get());
  watcher_.join();
}

void ParkedCalls::after_fork() {
  // The copies of another process's thread and lock: left as they are, never used.
  new (&watcher_) std::thread();
  new (&mutex_) std::mutex();
  waits_.clear();
  stopping_ = false;
  vcpu_thread_ = pthread_self();
  const bool had_eventfds = fired_.valid();
  changed_.reset();
  fired_.reset();
  if (had_eventfds) prepare_for_vcpus();
  if (ready_ != nullptr) std::atomic_ref(*ready_).store(0);
  parked_.store(0);  // the child's --stats count its own
  woken_.store(0);
}

bool ParkedCalls::park(std::uint32_t waiter, std::vector<pollfd> fds) {
  if (waiter >= abi::kMaxParkedWaiters) return false;
  if (ready_ == nullptr) {
    auto words = memory_.span(abi::kPreemptStateAddr + offsetof(abi::PreemptState, ready_waiters),
                              sizeof(abi::PreemptState::ready_waiters));
    if (!words) return false;
    ready_ = reinterpret_cast<std::uint64_t*>(words->data());
  }
  parked_.fetch_add(1, std::memory_order_relaxed);
  if (fds.empty()) {
    cancel(waiter);
    return true;
  }
  {
    std::lock_guard lock(mutex_);
    waits_[waiter] = Registration{std::move(fds), next_generation_++};
    vcpu_thread_ = pthread_self();
  }
  if (!watcher_.joinable()) start_watcher();
  signal_eventfd(changed_.get());
  return true;
}

void ParkedCalls::cancel(std::uint32_t waiter) {
  std::lock_guard lock(mutex_);
  waits_.erase(waiter);  // the watcher notices at its next look; a stale wake-up is harmless
}

void ParkedCalls::clear() {
  std::lock_guard lock(mutex_);
  waits_.clear();
}

bool ParkedCalls::ready_pending() const {
  if (ready_ == nullptr) return false;
  return std::atomic_ref(ready_[0]).load() != 0 || std::atomic_ref(ready_[1]).load() != 0;
}

void ParkedCalls::wake_all() {
  auto state = memory_.read<abi::PreemptState>(abi::kPreemptStateAddr);
  if (!state || state->live_threads <= 1) return;  // one thread never parks
  if (ready_ == nullptr) {
    auto words = memory_.span(abi::kPreemptStateAddr + offsetof(abi::PreemptState, ready_waiters),
                              sizeof(abi::PreemptState::ready_waiters));
    if (!words) return;
    ready_ = reinterpret_cast<std::uint64_t*>(words->data());
  }
  clear();
  std::atomic_ref(ready_[0]).store(~std::uint64_t{0});
  std::atomic_ref(ready_[1]).store(~std::uint64_t{0});
}

bool ParkedCalls::wait_idle(std::optional<std::uint64_t> timeout_ns, int wake_fd) {
  if (ready_pending()) return true;
  timespec timeout{};
  if (timeout_ns) {
    constexpr std::uint64_t kNanosPerSecond = 1'000'000'000;
    constexpr std::uint64_t kMaxSeconds = std::uint64_t{1} << 40;
    timeout = timespec{static_cast<time_t>(std::min(*timeout_ns / kNanosPerSecond, kMaxSeconds)),
                       static_cast<long>(*timeout_ns % kNanosPerSecond)};
  }
  if (fired_.get() < 0 && wake_fd < 0) {
    // Nothing was ever watched: only the timeout can end the wait.
    if (!timeout_ns) return true;
    return ::clock_nanosleep(CLOCK_MONOTONIC, 0, &timeout, nullptr) != EINTR;
  }
  // (A negative fd is ignored by ppoll: nothing was watched yet, or one vCPU.)
  pollfd fds[2] = {{fired_.get(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
  // The watcher sets a bit before it signals `fired_`, and we looked at the
  // bits after it could have: no wake-up falls between.
  if (::ppoll(fds, 2, timeout_ns ? &timeout : nullptr, nullptr) < 0) return errno != EINTR;
  if ((fds[0].revents & POLLIN) != 0) drain_eventfd(fired_.get());
  if ((fds[1].revents & POLLIN) != 0) drain_eventfd(wake_fd);
  return true;
}

void ParkedCalls::prepare_for_vcpus() {
  if (!fired_.valid()) {
    changed_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    fired_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  }
}

void ParkedCalls::start_watcher() {
  prepare_for_vcpus();
  watcher_ = start_background_thread([this] { watch(); });
}

void ParkedCalls::fire(std::uint32_t waiter) {
  waits_.erase(waiter);
  std::atomic_ref(ready_[waiter / 64]).fetch_or(std::uint64_t{1} << (waiter % 64));
  woken_.fetch_add(1, std::memory_order_relaxed);
}

void ParkedCalls::watch() {
  struct Owner {
    std::uint32_t waiter;
    std::uint64_t generation;
  };
  std::vector<pollfd> fds;
  std::vector<Owner> owners;  // owners[i] for fds[i + 1]
  for (;;) {
    fds.assign(1, pollfd{changed_.get(), POLLIN, 0});
    owners.clear();
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      for (const auto& [waiter, registration] : waits_) {
        for (const pollfd& fd : registration.fds) {
          fds.push_back(pollfd{fd.fd, fd.events, 0});
          owners.push_back(Owner{waiter, registration.generation});
        }
      }
    }
    if (::ppoll(fds.data(), fds.size(), nullptr, nullptr) < 0) continue;
    if ((fds[0].revents & POLLIN) != 0) drain_eventfd(changed_.get());
    bool fired = false;
    pthread_t vcpu_thread{};
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        const Owner& owner = owners[i - 1];
        auto it = waits_.find(owner.waiter);
        // Only the registration that was polled: the waiter may have parked anew meanwhile.
        if (it == waits_.end() || it->second.generation != owner.generation) continue;
        fire(owner.waiter);
        fired = true;
      }
      vcpu_thread = vcpu_thread_;
    }
    if (fired) {
      signal_eventfd(fired_.get());
      pthread_kill(vcpu_thread, kick_signal());
    }
  }
}

}  // namespace hyperlet
