// Ordinary C++ threads, one section per argv[1]; the output must be the same in
// a microVM (one vCPU, cooperative guest-kernel threads) as natively.
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <future>
#include <mutex>
#include <numeric>
#include <queue>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

int parallel_sum() {
  std::vector<long> values(400'000);
  std::iota(values.begin(), values.end(), 1);
  long partial[4] = {};
  std::vector<std::thread> workers;
  const std::size_t chunk = values.size() / 4;
  for (int i = 0; i < 4; ++i) {
    workers.emplace_back([&, i] {
      long sum = 0;
      for (std::size_t j = i * chunk; j < (i + 1) * chunk; ++j) sum += values[j];
      partial[i] = sum;
    });
  }
  for (auto& worker : workers) worker.join();
  long total = 0;
  for (long part : partial) {
    std::printf("part %ld\n", part);
    total += part;
  }
  std::printf("total %ld (expected %ld)\n", total, 400'000L * 400'001L / 2);
  return 0;
}

int producer_consumer() {
  std::mutex mutex;
  std::condition_variable changed;
  std::queue<int> queue;
  bool done = false;
  long consumed = 0;
  int items = 0;
  std::thread consumer([&] {
    std::unique_lock lock(mutex);
    for (;;) {
      changed.wait(lock, [&] { return !queue.empty() || done; });
      while (!queue.empty()) {
        consumed += queue.front();
        ++items;
        queue.pop();
        changed.notify_all();
      }
      if (done) return;
    }
  });
  for (int i = 1; i <= 1000; ++i) {
    std::unique_lock lock(mutex);
    changed.wait(lock, [&] { return queue.size() < 8; });  // a bounded queue: the producer waits too
    queue.push(i);
    changed.notify_all();
  }
  {
    std::lock_guard lock(mutex);
    done = true;
  }
  changed.notify_all();
  consumer.join();
  std::printf("consumed %d items, sum %ld\n", items, consumed);
  // A timed wait that times out, with another thread alive but waiting.
  std::unique_lock lock(mutex);
  const auto start = std::chrono::steady_clock::now();
  const bool woken = changed.wait_for(lock, std::chrono::milliseconds(30), [] { return false; });
  const auto waited = std::chrono::steady_clock::now() - start;
  std::printf("wait_for: %d, waited >= 30 ms: %d\n", woken, waited >= std::chrono::milliseconds(30));
  return 0;
}

thread_local int per_thread = 7;
thread_local std::string per_thread_name = "main";

int thread_locals() {
  per_thread = 1;
  std::vector<std::thread> threads;
  std::mutex print;
  std::vector<std::string> seen(3);
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      const int initial = per_thread;
      per_thread = 100 + i;
      per_thread_name = "worker " + std::to_string(i);
      std::this_thread::yield();
      seen[i] = per_thread_name + ": initial " + std::to_string(initial) + ", now " + std::to_string(per_thread);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& line : seen) std::printf("%s\n", line.c_str());
  std::printf("main: %s %d\n", per_thread_name.c_str(), per_thread);
  return 0;
}

int exception_in_thread() {
  std::string caught;
  std::thread thrower([&] {
    try {
      throw std::runtime_error("thrown in a thread");
    } catch (const std::exception& error) {
      caught = error.what();
    }
  });
  thrower.join();
  std::printf("caught: %s\n", caught.c_str());
  // An exception carried to the joining thread through a promise.
  std::promise<int> promise;
  auto future = promise.get_future();
  std::thread failer([&] {
    try {
      throw std::logic_error("through a future");
    } catch (...) {
      promise.set_exception(std::current_exception());
    }
  });
  try {
    future.get();
  } catch (const std::logic_error& error) {
    std::printf("future rethrew: %s\n", error.what());
  }
  failer.join();
  return 0;
}

int async_future() {
  auto square = std::async(std::launch::async, [](int x) { return x * x; }, 12);
  auto text = std::async(std::launch::async, [] { return std::string("from async"); });
  double floating = 0.5;
  auto fp = std::async(std::launch::async, [floating] { return floating * 3.25; });
  std::printf("%d %s %.4f\n", square.get(), text.get().c_str(), fp.get());
  return 0;
}

int many_threads() {
  long total = 0;
  for (int i = 0; i < 200; ++i) {
    long value = 0;
    std::thread worker([&value, i] { value = i; });
    worker.join();
    total += value;
  }
  std::printf("200 threads, total %ld\n", total);
  // Eight alive at once (each stack is 8 MiB of the 128 MiB guest), sharing a mutex.
  std::mutex mutex;
  long counter = 0;
  std::vector<std::thread> workers;
  for (int i = 0; i < 8; ++i) {
    workers.emplace_back([&] {
      for (int j = 0; j < 100; ++j) {
        std::lock_guard lock(mutex);
        ++counter;
        if (j % 10 == 0) std::this_thread::yield();
      }
    });
  }
  for (auto& worker : workers) worker.join();
  std::printf("8 threads, counter %ld\n", counter);
  return 0;
}

// Each thread holds one mutex and waits for the other's: they never finish.
int deadlock() {
  std::mutex first, second;
  std::atomic<int> holding{0};
  std::thread other([&] {
    std::lock_guard hold(second);
    ++holding;
    while (holding.load() < 2) std::this_thread::yield();
    std::lock_guard wait(first);
  });
  std::lock_guard hold(first);
  ++holding;
  while (holding.load() < 2) std::this_thread::yield();
  std::printf("both hold a lock\n");
  std::fflush(stdout);
  std::lock_guard wait(second);
  other.join();
  return 0;
}

// Two threads that wait for each other by spinning on atomics, never blocking:
// in a microVM only the host's time slices let the other one run.
int spin_wait() {
  std::atomic<int> ping{0}, pong{0};
  std::thread other([&] {
    while (ping.load() == 0) {
    }
    pong.store(1);
  });
  ping.store(1);
  while (pong.load() == 0) {
  }
  other.join();
  std::printf("ping and pong seen by spinning\n");
  return 0;
}

// A thread that computes until told to stop, and one that prints and exits:
// the printer must get its turn while the computing thread never blocks.
int compute_and_print() {
  std::atomic<bool> stop{false};
  std::atomic<unsigned long> rounds{0};
  std::thread computer([&] {
    while (!stop.load(std::memory_order_relaxed)) rounds.fetch_add(1, std::memory_order_relaxed);
  });
  std::thread printer([&] {
    while (rounds.load(std::memory_order_relaxed) == 0) {
    }
    for (int i = 1; i <= 3; ++i) std::printf("printer line %d\n", i);
    std::fflush(stdout);
  });
  printer.join();
  stop.store(true);
  computer.join();
  std::printf("computer stopped\n");
  return 0;
}

// One thread computing for ~50 ms without a syscall: no time slice may end it.
int compute_alone() {
  const auto start = std::chrono::steady_clock::now();
  unsigned long rounds = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(50)) ++rounds;
  std::printf("computed alone for %s rounds\n", rounds > 0 ? "some" : "no");
  return 0;
}

// A clone without CLONE_THREAD (a new process) is refused: fork() fails.
int fork_like() {
  const long result = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (result == 0) _exit(0);  // natively: the child
  std::printf("clone(SIGCHLD) %s\n", result > 0 ? "made a process" : "failed");
  return 0;
}

// A raw clone as Go's runtime·clone makes it: no TLS, no tid words, the
// child's work passed in callee-saved registers. As on Linux the child must
// start with every register of the parent but rax (0) and rsp (the new stack).
struct CloneRecord {
  uint64_t rbx, rbp, r12, r13, r14, r15, r9, rsp;
  uint64_t done;
};

}  // namespace

// long clone_with_marked_registers(flags, stack, record): the child writes the
// registers it started with into *record (r12 points at it), sets done, exits.
extern "C" long clone_with_marked_registers(unsigned long flags, void* stack, CloneRecord* record);
asm(R"(
  .text
  .globl clone_with_marked_registers
  .type clone_with_marked_registers, @function
clone_with_marked_registers:
  pushq %rbx
  pushq %rbp
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rdx, %r12
  movabsq $0x1111222233334444, %rbx
  movabsq $0x5555666677778888, %rbp
  movabsq $0x0123456789abcdef, %r13
  movabsq $0x7edcba9876543210, %r14
  movabsq $0x0f0f0f0f0f0f0f0f, %r15
  movabsq $0x3c3c3c3c3c3c3c3c, %r9
  xorl %edx, %edx
  xorl %r10d, %r10d
  xorl %r8d, %r8d
  movl $56, %eax
  syscall
  testq %rax, %rax
  jz 1f
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbp
  popq %rbx
  ret
1:
  movq %rbx, 0(%r12)
  movq %rbp, 8(%r12)
  movq %r12, 16(%r12)
  movq %r13, 24(%r12)
  movq %r14, 32(%r12)
  movq %r15, 40(%r12)
  movq %r9, 48(%r12)
  movq %rsp, 56(%r12)
  movq $1, 64(%r12)
  movl $60, %eax
  xorl %edi, %edi
  syscall
  ud2
  .size clone_with_marked_registers, .-clone_with_marked_registers
)");

namespace {

int clone_registers() {
  alignas(16) static unsigned char child_stack[64 * 1024];
  static CloneRecord record;
  unsigned char* const stack_top = child_stack + sizeof child_stack;
  const unsigned long flags =
      CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_SYSVSEM | CLONE_THREAD;  // Go's cloneFlags
  const long tid = clone_with_marked_registers(flags, stack_top, &record);
  if (tid <= 0) {
    std::printf("clone failed: %s\n", std::strerror(static_cast<int>(-tid)));
    return 1;
  }
  while (__atomic_load_n(&record.done, __ATOMIC_ACQUIRE) == 0) sched_yield();
  const auto same = [](uint64_t seen, uint64_t expected) { return seen == expected ? "kept" : "CHANGED"; };
  std::printf("rbx %s, rbp %s, r12 %s, r13 %s, r14 %s, r15 %s, r9 %s, rsp %s\n", same(record.rbx, 0x1111222233334444),
              same(record.rbp, 0x5555666677778888), same(record.r12, reinterpret_cast<uint64_t>(&record)),
              same(record.r13, 0x0123456789abcdef), same(record.r14, 0x7edcba9876543210),
              same(record.r15, 0x0f0f0f0f0f0f0f0f), same(record.r9, 0x3c3c3c3c3c3c3c3c),
              record.rsp == reinterpret_cast<uint64_t>(stack_top) ? "is the new stack" : "WRONG");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string section = argc > 1 ? argv[1] : "";
  if (section == "sum") return parallel_sum();
  if (section == "producer-consumer") return producer_consumer();
  if (section == "thread-local") return thread_locals();
  if (section == "exception") return exception_in_thread();
  if (section == "async") return async_future();
  if (section == "many") return many_threads();
  if (section == "deadlock") return deadlock();
  if (section == "fork") return fork_like();
  if (section == "clone-registers") return clone_registers();
  if (section == "spin-wait") return spin_wait();
  if (section == "compute-and-print") return compute_and_print();
  if (section == "compute-alone") return compute_alone();
  std::fprintf(
      stderr,
      "usage: threads sum|producer-consumer|thread-local|exception|async|many|deadlock|fork|clone-registers|spin-wait|"
      "compute-and-print|compute-alone\n");
  return 2;
}
