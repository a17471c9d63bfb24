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
//   fork-from-threads 2 threads fork 3 times each while the other computes; each
//                     child computes, starts and joins 2 threads of its own, and
//                     exits with a status its parent's waitpid reports
//   exec-from-thread  a thread execs this program's `parallel` while another computes
//   fork-exec         a forked child execs this program's `parallel`; the parent waits
//   spawn-from-threads  2 threads posix_spawn this program (`spawned`) while the
//                     other computes, and one spawns a path that does not exist
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
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

// One line for a child's end, as waitpid saw it.
std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

// Thread `index` forks three times while the other thread computes; what each
// child printed and how it ended go to `lines`, in order.
void fork_three_times(int index, std::vector<std::string>& lines) {
  for (int round = 0; round < 3; ++round) {
    int channel[2];
    if (pipe(channel) != 0) std::abort();
    const pid_t child = fork();
    if (child == 0) {
      // The child has this thread alone; its own threads run wherever it has vCPUs.
      close(channel[0]);
      std::uint64_t results[2] = {};
      std::thread first(
          [&results, index] { results[0] = checksum(static_cast<std::uint64_t>(index * 10), 2'000'000); });
      std::thread second([&results, round] { results[1] = checksum(static_cast<std::uint64_t>(round), 2'000'000); });
      first.join();
      second.join();
      char line[128];
      const int length =
          std::snprintf(line, sizeof line, "child of thread %d round %d: %016llx %016llx", index, round,
                        static_cast<unsigned long long>(results[0]), static_cast<unsigned long long>(results[1]));
      if (write(channel[1], line, static_cast<std::size_t>(length)) != length) _exit(99);
      _exit(10 * index + round);
    }
    if (child < 0) {
      lines.push_back(std::string("fork failed: ") + std::strerror(errno));
      return;
    }
    close(channel[1]);
    char line[128] = {};
    std::size_t got = 0;
    for (ssize_t n; (n = read(channel[0], line + got, sizeof line - 1 - got)) > 0;) got += static_cast<std::size_t>(n);
    close(channel[0]);
    int status = 0;
    if (waitpid(child, &status, 0) != child) lines.push_back(std::string("waitpid failed: ") + std::strerror(errno));
    lines.push_back(std::string(line) + ", " + describe_status(status));
  }
}

// Two threads each run `calls` (index, its output lines) while the other
// computes: thread 1 computes first, thread 0 after; then the lines in order.
int calls_while_the_other_computes(void (*calls)(int, std::vector<std::string>&), std::uint64_t seed) {
  std::vector<std::string> lines[2];
  std::uint64_t computed[2] = {};
  std::thread threads[2];
  for (int t = 0; t < 2; ++t) {
    threads[t] = std::thread([&lines, &computed, calls, seed, t] {
      if (t == 1) computed[t] = checksum(seed, 30'000'000);
      calls(t, lines[t]);
      if (t == 0) computed[t] = checksum(seed + 1, 30'000'000);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& per_thread : lines) {
    for (const std::string& line : per_thread) std::printf("%s\n", line.c_str());
  }
  std::printf("computed: %016llx %016llx\n", static_cast<unsigned long long>(computed[0]),
              static_cast<unsigned long long>(computed[1]));
  return 0;
}

int fork_from_threads() { return calls_while_the_other_computes(fork_three_times, 7); }

int exec_from_thread() {
  // The exec'ing thread starts first, so that it likely runs on a vCPU other
  // than the first (vCPU 0 goes on with the main thread), and execs once the
  // computing thread runs too.
  std::atomic<bool> computing_started{false};
  std::atomic<bool> stop{false};
  std::thread exec_thread([&computing_started] {
    while (!computing_started.load()) checksum(1, 1000);
    char self[] = "/proc/self/exe";
    char section[] = "parallel";
    char* arguments[] = {self, section, nullptr};
    execv(self, arguments);
    std::printf("execv failed: %s\n", std::strerror(errno));
    std::exit(1);
  });
  std::thread computing([&stop, &computing_started] {
    computing_started = true;
    std::uint64_t x = 1;
    while (!stop.load(std::memory_order_relaxed)) x = checksum(x, 100'000);
  });
  exec_thread.join();
  stop = true;
  computing.join();
  return 1;  // never: the exec replaced the process
}

int fork_exec() {
  std::fflush(stdout);
  const pid_t child = fork();
  if (child == 0) {
    char self[] = "/proc/self/exe";
    char section[] = "parallel";
    char* arguments[] = {self, section, nullptr};
    execv(self, arguments);
    _exit(127);
  }
  int status = 0;
  if (child < 0 || waitpid(child, &status, 0) != child) return 1;
  std::printf("the child %s\n", describe_status(status).c_str());
  return 0;
}

// Thread `index` spawns this program twice, then a file that does not exist.
void spawn_from_thread(int index, std::vector<std::string>& lines) {
  char self[] = "/proc/self/exe";
  char section[] = "spawned";
  for (int round = 0; round < 2; ++round) {
    std::string code = std::to_string(20 + 10 * index + round);
    char* arguments[] = {self, section, code.data(), nullptr};
    pid_t child = 0;
    const int failed = posix_spawn(&child, self, nullptr, nullptr, arguments, environ);
    if (failed != 0) {
      lines.push_back(std::string("posix_spawn failed: ") + std::strerror(failed));
      continue;
    }
    int status = 0;
    waitpid(child, &status, 0);
    lines.push_back("thread " + std::to_string(index) + " spawn " + std::to_string(round) + ": " +
                    describe_status(status));
  }
  char missing[] = "/no/such/program";
  char* arguments[] = {missing, nullptr};
  pid_t child = 0;
  const int failed = posix_spawn(&child, missing, nullptr, nullptr, arguments, environ);
  lines.push_back("thread " + std::to_string(index) +
                  " spawn of a missing file: " + (failed != 0 ? std::strerror(failed) : std::string("started")));
}

int spawn_from_threads() { return calls_while_the_other_computes(spawn_from_thread, 9); }

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
  if (section == "fork-from-threads") return fork_from_threads();
  if (section == "exec-from-thread") return exec_from_thread();
  if (section == "fork-exec") return fork_exec();
  if (section == "spawn-from-threads") return spawn_from_threads();
  if (section == "spawned") return argc > 2 ? std::atoi(argv[2]) : 2;
  std::fprintf(stderr, "unknown section '%s'\n", section.c_str());
  return 2;
}
