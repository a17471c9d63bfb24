// The fiber scheduler (<hyperlet/fiber.h>): a ready queue, fibers parked on fds
// (one edge-triggered epoll registration per fd, made the first time a fiber
// waits on it), sleepers by deadline, and Events. Switching is Boost.Context's
// fiber::resume, a few dozen instructions in ring 3.
#include <fcntl.h>
#include <hyperlet/fiber.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <boost/context/fixedsize_stack.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <queue>
#include <unordered_map>
#include <vector>

namespace hyperlet::fiber {
namespace {

namespace context = boost::context;
using Clock = std::chrono::steady_clock;

struct Fiber {
  context::fiber self;    // resumes this fiber
  context::fiber caller;  // resumes the scheduler, while this fiber runs
  std::function<void()> body;
  bool finished = false;
};

struct FdWaiters {
  std::vector<Fiber*> readers;
  std::vector<Fiber*> writers;
};

struct Sleeper {
  Clock::time_point deadline;
  std::uint64_t order;  // equal deadlines wake in the order they slept
  Fiber* fiber;
  bool operator>(const Sleeper& other) const {
    return deadline != other.deadline ? deadline > other.deadline : order > other.order;
  }
};

}  // namespace

struct Scheduler::State {
  std::deque<Fiber*> ready;
  Fiber* current = nullptr;
  int epoll = -1;
  std::unordered_map<int, FdWaiters> fds;  // registered with epoll
  std::priority_queue<Sleeper, std::vector<Sleeper>, std::greater<>> sleepers;
  std::uint64_t sleep_order = 0;
  std::size_t parked_on_events = 0;  // fibers in Event::wait
  Counters counters;

  // Inside a fiber: back to the scheduler until something makes it ready again.
  void park() {
    Fiber* self = current;
    self->caller = std::move(self->caller).resume();
  }

  void wait_fd(int fd, bool for_writing) {
    auto [it, added] = fds.try_emplace(fd);
    if (added) {
      epoll_event event{};
      event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      event.data.fd = fd;
      if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0 && errno != EEXIST) {
        fds.erase(it);
        return;  // not pollable (a regular file never blocks): the caller simply tries again
      }
    }
    (for_writing ? it->second.writers : it->second.readers).push_back(current);
    park();
  }

  void forget_fd(int fd) {
    auto it = fds.find(fd);
    if (it == fds.end()) return;
    // Whoever waited on it gets its turn and meets EBADF, as with a closed fd.
    for (Fiber* fiber : it->second.readers) ready.push_back(fiber);
    for (Fiber* fiber : it->second.writers) ready.push_back(fiber);
    fds.erase(it);
  }

  void wake_sleepers() {
    const auto now = Clock::now();
    while (!sleepers.empty() && sleepers.top().deadline <= now) {
      ready.push_back(sleepers.top().fiber);
      sleepers.pop();
    }
  }

  // Nothing is ready: wait for I/O or the next sleeper, once for every fiber.
  // False when nothing could ever make a fiber ready again.
  bool wait_for_events() {
    bool waiting_on_fds = false;
    for (const auto& [fd, waiters] : fds)
      waiting_on_fds = waiting_on_fds || !waiters.readers.empty() || !waiters.writers.empty();
    if (!waiting_on_fds && sleepers.empty()) return false;
    int timeout_ms = -1;
    if (!sleepers.empty()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(sleepers.top().deadline - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<long long>(left.count(), 0, 1'000'000'000));
    }
    ++counters.waits;
    epoll_event events[128];
    const int count = epoll_wait(epoll, events, 128, timeout_ms);
    for (int i = 0; i < count; ++i) {
      auto it = fds.find(events[i].data.fd);
      if (it == fds.end()) continue;
      const std::uint32_t happened = events[i].events;
      if ((happened & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
        for (Fiber* fiber : it->second.readers) ready.push_back(fiber);
        it->second.readers.clear();
      }
      if ((happened & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) {
        for (Fiber* fiber : it->second.writers) ready.push_back(fiber);
        it->second.writers.clear();
      }
    }
    wake_sleepers();
    return true;
  }
};

namespace {

thread_local Scheduler::State* running = nullptr;

Scheduler::State& running_scheduler(const char* what) {
  if (running == nullptr || running->current == nullptr) {
    std::fprintf(stderr, "hyperlet::fiber::%s: called outside a running scheduler's fiber\n", what);
    std::abort();
  }
  return *running;
}

// Fds the fiber calls use are non-blocking (once; O_NONBLOCK already set is left).
void make_non_blocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0 && (flags & O_NONBLOCK) == 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

}  // namespace

Scheduler::Scheduler() : state_(std::make_unique<State>()) { state_->epoll = epoll_create1(EPOLL_CLOEXEC); }

Scheduler::~Scheduler() {
  for (Fiber* fiber : state_->ready) delete fiber;  // never started or never resumed
  if (state_->epoll >= 0) ::close(state_->epoll);
}

void Scheduler::spawn(std::function<void()> body, std::size_t stack_size) {
  auto* fiber = new Fiber;
  fiber->body = std::move(body);
  fiber->self =
      context::fiber(std::allocator_arg, context::fixedsize_stack(stack_size), [fiber](context::fiber&& caller) {
        fiber->caller = std::move(caller);
        fiber->body();
        fiber->finished = true;
        return std::move(fiber->caller);
      });
  state_->ready.push_back(fiber);
}

void Scheduler::run() {
  State* previous = running;
  running = state_.get();
  for (;;) {
    if (state_->ready.empty()) {
      state_->wake_sleepers();
      if (state_->ready.empty() && !state_->wait_for_events()) break;
      continue;
    }
    Fiber* fiber = state_->ready.front();
    state_->ready.pop_front();
    state_->current = fiber;
    ++state_->counters.switches;
    fiber->self = std::move(fiber->self).resume();
    state_->current = nullptr;
    if (fiber->finished) delete fiber;
  }
  running = previous;
  if (state_->parked_on_events != 0) {
    std::fprintf(stderr, "hyperlet::fiber: %zu fibers wait on events nothing can notify any more\n",
                 state_->parked_on_events);
  }
}

Scheduler::Counters Scheduler::counters() const { return state_->counters; }

void yield() {
  Scheduler::State& scheduler = running_scheduler("yield");
  scheduler.ready.push_back(scheduler.current);
  scheduler.park();
}

void wait_readable(int fd) { running_scheduler("wait_readable").wait_fd(fd, false); }

void wait_writable(int fd) { running_scheduler("wait_writable").wait_fd(fd, true); }

void sleep_for(std::chrono::nanoseconds duration) {
  Scheduler::State& scheduler = running_scheduler("sleep_for");
  scheduler.sleepers.push(Sleeper{Clock::now() + duration, scheduler.sleep_order++, scheduler.current});
  scheduler.park();
}

ssize_t read(int fd, void* buffer, std::size_t length) {
  make_non_blocking(fd);
  for (;;) {
    const ssize_t got = ::read(fd, buffer, length);
    if (got >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return got;
    wait_readable(fd);
  }
}

ssize_t write(int fd, const void* buffer, std::size_t length) {
  make_non_blocking(fd);
  const auto* bytes = static_cast<const char*>(buffer);
  std::size_t done = 0;
  while (done < length) {
    const ssize_t wrote = ::write(fd, bytes + done, length - done);
    if (wrote > 0) {
      done += static_cast<std::size_t>(wrote);
    } else if (wrote < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      wait_writable(fd);
    } else if (wrote < 0 && errno != EINTR) {
      return done > 0 ? static_cast<ssize_t>(done) : -1;
    }
  }
  return static_cast<ssize_t>(done);
}

int accept(int listener) {
  make_non_blocking(listener);
  for (;;) {
    const int connection = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (connection >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return connection;
    wait_readable(listener);
  }
}

int close(int fd) {
  if (running != nullptr) running->forget_fd(fd);
  return ::close(fd);
}

struct Event::Waiters {
  std::deque<Fiber*> fibers;
  std::uint64_t pending = 0;  // notifications that found no waiter
};

Event::Event() : waiters_(std::make_unique<Waiters>()) {}
Event::~Event() = default;

void Event::wait() {
  Scheduler::State& scheduler = running_scheduler("Event::wait");
  if (waiters_->pending != 0) {
    --waiters_->pending;
    return;
  }
  waiters_->fibers.push_back(scheduler.current);
  ++scheduler.parked_on_events;
  scheduler.park();
}

void Event::notify_one() {
  if (waiters_->fibers.empty() || running == nullptr) {
    ++waiters_->pending;
    return;
  }
  running->ready.push_back(waiters_->fibers.front());
  waiters_->fibers.pop_front();
  --running->parked_on_events;
}

void Event::notify_all() {
  while (!waiters_->fibers.empty() && running != nullptr) notify_one();
}

}  // namespace hyperlet::fiber
