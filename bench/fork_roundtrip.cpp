// fork → the child's first instruction (it reads CLOCK_MONOTONIC and sends it
// through a pipe), and fork → _exit → waitpid in the parent, N times each;
// then, given SELF (this program's path as the app sees it), fork → execve
// SELF --exit → waitpid, as `sh -c true` does. Median, p90, min and max in µs.
// The same static binary runs natively and under `hyperlet run --processes 1`
// (with SELF in a --volume), where each child is a new microVM.
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace {

long long now_ns() {
  timespec time{};
  clock_gettime(CLOCK_MONOTONIC, &time);
  return time.tv_sec * 1'000'000'000ll + time.tv_nsec;
}

void report(const char* what, std::vector<long long> samples) {
  std::sort(samples.begin(), samples.end());
  const std::size_t n = samples.size();
  std::printf("%-28s median %8.0f us  p90 %8.0f  min %8.0f  max %8.0f  (n=%zu)\n", what,
              static_cast<double>(samples[n / 2]) / 1e3, static_cast<double>(samples[n * 9 / 10]) / 1e3,
              static_cast<double>(samples.front()) / 1e3, static_cast<double>(samples.back()) / 1e3, n);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "--exit") return 0;
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 50;
  int ends[2];
  if (pipe(ends) != 0) return 1;
  std::vector<long long> first_instruction, round_trip;
  for (int i = 0; i < runs; ++i) {
    const long long before = now_ns();
    const pid_t child = fork();
    if (child < 0) {
      std::perror("fork");
      return 1;
    }
    if (child == 0) {
      const long long started = now_ns();
      _exit(write(ends[1], &started, sizeof started) == sizeof started ? 0 : 1);
    }
    long long started = 0;
    if (read(ends[0], &started, sizeof started) != sizeof started) return 1;
    int status = 0;
    waitpid(child, &status, 0);
    round_trip.push_back(now_ns() - before);
    first_instruction.push_back(started - before);
  }
  report("fork -> child running", first_instruction);
  report("fork -> exit -> waitpid", round_trip);
  if (argc < 3) return 0;
  std::vector<long long> exec_round_trip;
  char* const arguments[] = {argv[2], const_cast<char*>("--exit"), nullptr};
  for (int i = 0; i < runs; ++i) {
    const long long before = now_ns();
    const pid_t child = fork();
    if (child == 0) {
      execv(argv[2], arguments);
      _exit(127);
    }
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      std::fprintf(stderr, "fork_roundtrip: the exec'd child ended with status %#x\n", status);
      return 1;
    }
    exec_round_trip.push_back(now_ns() - before);
  }
  report("fork -> execve -> waitpid", exec_round_trip);
  return 0;
}
