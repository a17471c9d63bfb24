// Threads on more than one vCPU (hyperlet run --cpus N): every section prints
// the same natively and in a microVM, whatever the number of vCPUs.
//   parallel          4 threads each compute a checksum; the results, in order
//   counters          4 threads x 20,000 increments under a mutex, of an atomic,
//                     and a condition-variable relay; the totals
//   ping-pong         2 threads hand a token back and forth 300 times through futexes
//   protect-reader    a thread reads a page in a loop; another makes it PROT_NONE:
//                     the reader must fault (SIGSEGV), never read on
//   blocking-read     a thread blocks reading a pipe while another computes, then writes
//   sigterm           2 threads compute until a SIGTERM handler (the signal comes from
//                     outside, after "ready") tells them to stop
//   kill-self         a thread sends the process SIGTERM while another computes;
//                     the handler runs and both stop
//   pthread-kill-computing  a thread that computes without syscalls gets a
//                     pthread_kill and runs its handler
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::uint64_t checksum(std::uint64_t seed, std::uint64_t rounds) {
  std::uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x += i;
  }
  return x;
}

int parallel() {
  constexpr int kThreads = 4;
  std::vector<std::uint64_t> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&results, t] { results[t] = checksum(static_cast<std::uint64_t>(t), 20'000'000); });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t)
    std::printf("thread %d: %016llx\n", t, static_cast<unsigned long long>(results[t]));
  return 0;
}

int counters() {
  constexpr int kThreads = 4;
  constexpr int kRounds = 20'000;
  std::mutex mutex;
  long locked = 0;
  std::atomic<long> atomic{0};
  // A relay: each thread waits for its turn, bumps, passes it on.
  std::condition_variable turn_changed;
  int turn = 0;
  long relayed = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        {
          std::lock_guard lock(mutex);
          ++locked;
        }
        atomic.fetch_add(1, std::memory_order_relaxed);
      }
      for (int i = 0; i < 200; ++i) {
        std::unique_lock lock(mutex);
        turn_changed.wait(lock, [&] { return turn == t; });
        ++relayed;
        turn = (turn + 1) % kThreads;
        turn_changed.notify_all();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::printf("mutex %ld atomic %ld relay %ld\n", locked, atomic.load(), relayed);
  return locked == long{kThreads} * kRounds && atomic.load() == long{kThreads} * kRounds && relayed == kThreads * 200
             ? 0
             : 1;
}

int ping_pong() {
  constexpr int kRounds = 300;
  std::atomic<int> token{0};
  std::thread other([&] {
    for (int i = 0; i < kRounds; ++i) {
      int seen;
      while ((seen = token.load()) % 2 == 0) token.wait(seen);
      token.fetch_add(1);
      token.notify_one();
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    token.fetch_add(1);
    token.notify_one();
    int seen;
    while ((seen = token.load()) % 2 == 1) token.wait(seen);
  }
  other.join();
  std::printf("token %d after %d round trips\n", token.load(), kRounds);
  return 0;
}

volatile std::uint64_t* protected_page;
std::atomic<bool> reading{false};

void reader_faulted(int) {
  const char line[] = "the reader faulted on the protected page\n";
  [[maybe_unused]] const ssize_t written = write(1, line, sizeof line - 1);
  _exit(0);
}

int protect_reader() {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 2;
  protected_page = static_cast<volatile std::uint64_t*>(page);
  protected_page[0] = 1;
  struct sigaction action {};
  action.sa_handler = reader_faulted;
  sigaction(SIGSEGV, &action, nullptr);
  std::thread reader([] {
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0;; ++i) {
      sum += protected_page[0];
      if (i == 1000) reading.store(true);
    }
    std::printf("%llu\n", static_cast<unsigned long long>(sum));
  });
  reader.detach();
  while (!reading.load()) {
  }
  // The reader keeps the page's translation cached (on another vCPU, with --cpus 2).
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  while (std::chrono::steady_clock::now() < until) {
  }
  if (mprotect(page, 4096, PROT_NONE) != 0) return 3;
  std::this_thread::sleep_for(std::chrono::seconds(3));
  std::printf("the reader read on after the page became PROT_NONE\n");
  return 1;
}

int blocking_read() {
  int fds[2];
  if (pipe(fds) != 0) return 2;
  std::atomic<bool> computed{false};
  std::thread reader([&] {
    char buffer[64] = {};
    const ssize_t got = read(fds[0], buffer, sizeof buffer - 1);
    std::printf("read %zd bytes: %s (the computation had %s)\n", got, buffer,
                computed.load() ? "finished" : "not finished");
  });
  std::thread computer([&] {
    const std::uint64_t result = checksum(7, 30'000'000);
    computed.store(true);
    std::printf("computed %016llx while the reader waited\n", static_cast<unsigned long long>(result));
    std::fflush(stdout);
    [[maybe_unused]] const ssize_t written = write(fds[1], "hello", 5);
  });
  computer.join();
  reader.join();
  return 0;
}

std::atomic<bool> stop_requested{false};

void on_sigterm(int) { stop_requested.store(true); }

int compute_until_sigterm(bool from_outside) {
  struct sigaction action {};
  action.sa_handler = on_sigterm;
  sigaction(SIGTERM, &action, nullptr);
  std::atomic<int> stopped{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::uint64_t x = static_cast<std::uint64_t>(t);
      while (!stop_requested.load()) x = checksum(x, 10'000);
      stopped.fetch_add(1);
    });
  }
  if (from_outside) {
    std::printf("ready\n");
    std::fflush(stdout);
  } else {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    kill(getpid(), SIGTERM);
  }
  for (auto& thread : threads) thread.join();
  std::printf("SIGTERM handled; %d threads stopped\n", stopped.load());
  return 0;
}

}  // namespace

std::atomic<bool> usr1_seen{false};

void on_usr1(int) { usr1_seen.store(true); }

// A thread that only computes (no syscall) gets a pthread_kill: with 2 vCPUs it
// runs alone on the other one, where no time slice would ever interrupt it.
int pthread_kill_computing() {
  struct sigaction action {};
  action.sa_handler = on_usr1;
  sigaction(SIGUSR1, &action, nullptr);
  std::atomic<bool> started{false};
  std::thread computer([&] {
    std::uint64_t x = 1;
    started.store(true);
    while (!usr1_seen.load()) x = checksum(x, 1000);
    std::printf("the computing thread ran its SIGUSR1 handler\n");
  });
  while (!started.load()) {
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  pthread_kill(computer.native_handle(), SIGUSR1);
  computer.join();
  return 0;
}

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const std::string section = argc > 1 ? argv[1] : "";
  if (section == "parallel") return parallel();
  if (section == "counters") return counters();
  if (section == "ping-pong") return ping_pong();
  if (section == "protect-reader") return protect_reader();
  if (section == "blocking-read") return blocking_read();
  if (section == "sigterm") return compute_until_sigterm(true);
  if (section == "kill-self") return compute_until_sigterm(false);
  if (section == "pthread-kill-computing") return pthread_kill_computing();
  std::fprintf(stderr, "unknown section '%s'\n", section.c_str());
  return 2;
}
