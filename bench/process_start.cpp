// Process start of whole commands, compared in one run: each COMMAND is spawned
// and waited for RUNS times, the commands taking turns (so that a busy minute
// slows them all alike), after 5 unrecorded warm-up rounds. Per command: the
// median, p25 and p75 of spawn → wait in ms, and the median of its minor page
// faults (a trap each on a nested host). stdout and stderr go to /dev/null; the
// exit status is not judged (`hyperlet run --restore FILE` on a machine without
// /dev/kvm ends at its /dev/kvm open, which is what is measured there).
//
//   process_start RUNS 'LABEL=PROGRAM ARG...' ['LABEL=PROGRAM ARG...' ...]
//
// A command's words are split at spaces (no quoting); PROGRAM is a path.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Command {
  std::string label;
  std::vector<std::string> words;
  std::vector<double> milliseconds;
  std::vector<long> faults;
};

double now_ms() {
  timespec time{};
  clock_gettime(CLOCK_MONOTONIC, &time);
  return static_cast<double>(time.tv_sec) * 1e3 + static_cast<double>(time.tv_nsec) / 1e6;
}

template <typename T>
T quantile(std::vector<T> values, double q) {
  std::sort(values.begin(), values.end());
  return values[static_cast<std::size_t>(q * static_cast<double>(values.size() - 1) + 0.5)];
}

// One spawn → wait; false when the program could not be started at all.
bool run_once(Command& command, int null_fd, bool record) {
  std::vector<char*> argv;
  for (std::string& word : command.words) argv.push_back(word.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, null_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, null_fd, STDERR_FILENO);
  const double started = now_ms();
  pid_t pid = 0;
  const int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) return false;
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid) return false;
  const double ended = now_ms();
  if (record) {
    command.milliseconds.push_back(ended - started);
    command.faults.push_back(usage.ru_minflt);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s RUNS 'LABEL=PROGRAM ARG...' ['LABEL=PROGRAM ARG...' ...]\n", argv[0]);
    return 2;
  }
  const int runs = std::atoi(argv[1]);
  if (runs < 1) {
    std::fprintf(stderr, "process_start: RUNS must be a whole number above 0, not '%s'\n", argv[1]);
    return 2;
  }
  std::vector<Command> commands;
  for (int i = 2; i < argc; ++i) {
    const std::string text = argv[i];
    const std::size_t equals = text.find('=');
    if (equals == std::string::npos || equals == 0) {
      std::fprintf(stderr, "process_start: '%s' is not LABEL=PROGRAM ARG...\n", argv[i]);
      return 2;
    }
    Command command{text.substr(0, equals), {}, {}, {}};
    std::istringstream words(text.substr(equals + 1));
    for (std::string word; words >> word;) command.words.push_back(word);
    if (command.words.empty()) {
      std::fprintf(stderr, "process_start: '%s' names no program\n", argv[i]);
      return 2;
    }
    commands.push_back(std::move(command));
  }
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return 1;
  constexpr int kWarmUp = 5;
  for (int round = 0; round < kWarmUp + runs; ++round) {
    for (Command& command : commands) {
      if (!run_once(command, null_fd, round >= kWarmUp)) {
        std::fprintf(stderr, "process_start: cannot start %s\n", command.words[0].c_str());
        return 1;
      }
    }
  }
  for (const Command& command : commands) {
    std::printf("%-32s median %7.3f ms  p25 %7.3f  p75 %7.3f  page faults %ld  (n=%zu)\n", command.label.c_str(),
                quantile(command.milliseconds, 0.5), quantile(command.milliseconds, 0.25),
                quantile(command.milliseconds, 0.75), quantile(command.faults, 0.5), command.milliseconds.size());
  }
  return 0;
}
