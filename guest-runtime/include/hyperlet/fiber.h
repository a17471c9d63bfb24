// Fibers: many cooperative tasks on one thread, switched in ring 3 (Boost.Context),
// so a switch costs no trap and no VM exit. A fiber that waits for I/O parks in
// the scheduler, and when no fiber can run the scheduler makes one epoll_wait
// for all of them: one wait (one exit at most) wakes every fiber whose
// connection has input. The same header and library work natively, so the
// same binary can be compared in and out of a microVM.
//
//   hyperlet::fiber::Scheduler scheduler;
//   scheduler.spawn([] { ... hyperlet::fiber::read(fd, buffer, size) ... });
//   scheduler.run();  // returns when every fiber has finished
//
// Link hyperlet::fiber (it brings Boost.Context). One scheduler per thread; the
// functions below act on the calling thread's running scheduler and must be
// called from inside one of its fibers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace hyperlet::fiber {

class Scheduler {
 public:
  Scheduler();
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // A new fiber, run after the ones already ready. Its stack is `stack_size`
  // bytes of the heap (no guard page: keep deep recursion out of fibers).
  void spawn(std::function<void()> body, std::size_t stack_size = 64 * 1024);
  // Runs fibers until all have finished. An exception that leaves a fiber's
  // body ends the program (std::terminate), as it would leave a thread's.
  void run();

  struct Counters {
    std::uint64_t switches = 0;  // fibers resumed
    std::uint64_t waits = 0;     // epoll_waits made because no fiber could run
  };
  Counters counters() const;

  struct State;  // fiber.cpp

 private:
  std::unique_ptr<State> state_;
};

// Lets the other ready fibers run first.
void yield();
// Parks the calling fiber until `fd` is readable (or writable), its peer hung
// up, or an error is pending.
void wait_readable(int fd);
void wait_writable(int fd);
void sleep_for(std::chrono::nanoseconds duration);

// The usual calls, parking the fiber instead of blocking the thread. The fd is
// made non-blocking the first time. write() writes everything unless an error
// comes (then -1 and errno, as write).
ssize_t read(int fd, void* buffer, std::size_t length);
ssize_t write(int fd, const void* buffer, std::size_t length);
int accept(int listener);
// Closes `fd` and forgets it (an fd number the scheduler watched may come back).
int close(int fd);

// Wakes fibers of the same scheduler that wait for it. A notify_one that finds
// no fiber waiting is kept, and the next wait() returns at once (a semaphore);
// notify_all wakes only the fibers waiting now.
class Event {
 public:
  Event();
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void wait();  // until notified
  void notify_one();
  void notify_all();

  struct Waiters;  // fiber.cpp

 private:
  std::unique_ptr<Waiters> waiters_;
};

}  // namespace hyperlet::fiber
