// --cpus: parallel speed-up and cross-vCPU futex wake-ups (docs/PERFORMANCE.md).
//
//   parallel_speedup compute        2 threads compute a fixed checksum each; prints the ms
//                                   from the first thread's start to the last join
//   parallel_speedup pingpong       2 threads hand a token back and forth through futexes
//                                   (std::atomic wait/notify); prints us per round trip
//   parallel_speedup driver HYPERLET [RUNS]
//                                   runs both natively, under `HYPERLET run --cpus 1` and
//                                   `--cpus 2`, RUNS times each (default 7) in rotating
//                                   order, and prints the medians and ratios
// The measured spans are inside the program, so boot and teardown are not counted.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

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

int compute() {
  std::uint64_t results[2] = {};
  const auto start = Clock::now();
  std::thread first([&] { results[0] = checksum(1, 400'000'000); });
  std::thread second([&] { results[1] = checksum(2, 400'000'000); });
  first.join();
  second.join();
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  std::printf("%.3f %llx\n", ms, static_cast<unsigned long long>(results[0] ^ results[1]));
  return 0;
}

int pingpong() {
  constexpr int kRounds = 500;
  std::atomic<int> token{0};
  std::thread other([&] {
    for (int i = 0; i < kRounds; ++i) {
      int seen;
      while ((seen = token.load()) % 2 == 0) token.wait(seen);
      token.fetch_add(1);
      token.notify_one();
    }
  });
  // The first round trip includes the other thread's start: not counted.
  token.fetch_add(1);
  token.notify_one();
  int seen;
  while ((seen = token.load()) % 2 == 1) token.wait(seen);
  const auto start = Clock::now();
  for (int i = 1; i < kRounds; ++i) {
    token.fetch_add(1);
    token.notify_one();
    while ((seen = token.load()) % 2 == 1) token.wait(seen);
  }
  const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count() / (kRounds - 1);
  other.join();
  std::printf("%.3f\n", us);
  return 0;
}

// Runs argv, returns the first number it printed (NaN if it failed).
double run_for_number(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return std::nan("");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_addclose(&actions, pipe_fds[0]);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  std::string out;
  char buffer[256];
  ssize_t got;
  while ((got = read(pipe_fds[0], buffer, sizeof buffer)) > 0) out.append(buffer, static_cast<std::size_t>(got));
  close(pipe_fds[0]);
  if (spawned != 0) return std::nan("");
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nan("");
  return std::strtod(out.c_str(), nullptr);
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  if (values.empty()) return std::nan("");
  return values[values.size() / 2];
}

int driver(const std::string& self, const std::string& hyperlet, int runs) {
  struct Setup {
    const char* name;
    std::vector<std::string> prefix;
  };
  const std::vector<Setup> setups = {
      {"native", {}},
      {"hyperlet --cpus 1", {hyperlet, "run", "--cpus", "1", "--"}},
      {"hyperlet --cpus 2", {hyperlet, "run", "--cpus", "2", "--"}},
  };
  for (const char* mode : {"compute", "pingpong"}) {
    std::vector<std::vector<double>> samples(setups.size());
    for (int run = 0; run < runs; ++run) {
      for (std::size_t i = 0; i < setups.size(); ++i) {
        const std::size_t which = (i + static_cast<std::size_t>(run)) % setups.size();  // rotating order
        std::vector<std::string> argv = setups[which].prefix;
        argv.push_back(self);
        argv.emplace_back(mode);
        const double value = run_for_number(argv);
        if (!std::isnan(value)) samples[which].push_back(value);
      }
    }
    const double native = median(samples[0]);
    std::printf("%s (%s, median of %d runs):\n", mode,
                std::string(mode) == "compute" ? "ms for 2 threads x 400M rounds" : "us per round trip", runs);
    for (std::size_t i = 0; i < setups.size(); ++i) {
      const double value = median(samples[i]);
      std::printf("  %-20s %10.3f  (%.2f x native, %zu good runs)\n", setups[i].name, value, value / native,
                  samples[i].size());
    }
    if (std::string(mode) == "compute") {
      std::printf("  speed-up --cpus 2 over --cpus 1: %.2f\n", median(samples[1]) / median(samples[2]));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "compute") return compute();
  if (mode == "pingpong") return pingpong();
  if (mode == "driver" && argc > 2) {
    char self[4096];
    const ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0) return 2;
    self[length] = '\0';
    return driver(self, argv[2], argc > 3 ? std::atoi(argv[3]) : 7);
  }
  std::fprintf(stderr, "usage: %s compute | pingpong | driver HYPERLET [RUNS]\n", argv[0]);
  return 2;
}
