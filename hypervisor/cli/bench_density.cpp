#include "cli/bench_density.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "core/unique_fd.h"
#include "devices/network_policy.h"

extern char** environ;

namespace hyperlet::bench {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string read_text(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

std::uint64_t count_fds(int pid) {
  std::error_code error;
  std::uint64_t count = 0;
  for (auto it = std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid), error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++count;
  }
  return count;
}

std::uint64_t own_fds() { return count_fds(static_cast<int>(::getpid())); }

std::int64_t mem_available_kib() {
  std::istringstream meminfo(read_text("/proc/meminfo"));
  std::string key;
  std::int64_t value = 0;
  std::string unit;
  while (meminfo >> key >> value >> unit) {
    if (key == "MemAvailable:") return value;
  }
  return 0;
}

// The teardown reaper: hyperlet's only child process.
std::vector<int> child_processes(int pid) {
  std::vector<int> children;
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    std::istringstream words(read_text(it->path().string() + "/children"));
    int child = 0;
    while (words >> child) children.push_back(child);
  }
  return children;
}

// Idle: a task of hyperlet waits for the app's input or time, and the reaper
// exists (it is made after the vCPU, so the VM is up).
bool is_idle(int pid) {
  if (child_processes(pid).empty()) return false;
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator(fmt::format("/proc/{}/task", pid), error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    if (syscall_line_is_waiting(read_text(it->path().string() + "/syscall"))) return true;
  }
  return false;
}

bool same_address_space(int a, int b) { return ::syscall(SYS_kcmp, a, b, KCMP_VM, 0, 0) == 0; }

DensityVm measure(int pid) {
  DensityVm vm;
  vm.pid = pid;
  vm.pss_kib = parse_pss_kib(read_text(fmt::format("/proc/{}/smaps_rollup", pid))).value_or(0);
  vm.fds = count_fds(pid);
  for (int child : child_processes(pid)) {
    // The reaper shares hyperlet's address space (CLONE_VM): count it once.
    if (!same_address_space(pid, child)) {
      vm.pss_kib += parse_pss_kib(read_text(fmt::format("/proc/{}/smaps_rollup", child))).value_or(0);
    }
    vm.fds += count_fds(child);
  }
  return vm;
}

struct Started {
  int pid = 0;
  std::vector<int> reapers;
  bool idle = false;
  bool seen_waiting_once = false;
  bool reaped = false;
  double start_ms = 0;
};

// SIGTERM to every VM, reap them, then reap their reapers (reparented to this
// subreaper when hyperlet exits), with a deadline.
void stop_all(std::vector<Started>& vms) {
  for (Started& vm : vms) {
    if (!vm.reaped) ::kill(vm.pid, SIGTERM);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (Started& vm : vms) {
    while (!vm.reaped) {
      int status = 0;
      const pid_t got = ::waitpid(vm.pid, &status, WNOHANG);
      if (got == vm.pid || (got < 0 && errno == ECHILD)) {
        vm.reaped = true;
      } else if (Clock::now() > deadline) {
        ::kill(vm.pid, SIGKILL);
        ::waitpid(vm.pid, &status, 0);
        vm.reaped = true;
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    }
  }
  while (Clock::now() < deadline) {
    const pid_t got = ::waitpid(-1, nullptr, WNOHANG);
    if (got < 0) break;  // ECHILD: nothing left
    if (got == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

bool process_alive(int pid) {
  // A zombie or a recycled pid is not one of ours still running.
  const std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  if (stat.empty()) return false;
  const std::size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' &&
         stat.find("(hyperlet)") != std::string::npos;
}

}  // namespace

bool syscall_line_is_waiting(const std::string& line) {
  long number = -1;
  if (std::sscanf(line.c_str(), "%ld", &number) != 1) return false;  // "running"
  static constexpr long kWaiting[] = {
      SYS_read,     SYS_readv,      SYS_poll,        SYS_ppoll,           SYS_select,
      SYS_pselect6, SYS_epoll_wait, SYS_epoll_pwait, SYS_accept,          SYS_accept4,
      SYS_recvfrom, SYS_recvmsg,    SYS_nanosleep,   SYS_clock_nanosleep, SYS_pause,
  };
  return std::ranges::find(kWaiting, number) != std::end(kWaiting);
}

std::optional<std::uint64_t> parse_pss_kib(const std::string& smaps_rollup) {
  std::istringstream lines(smaps_rollup);
  std::string line;
  while (std::getline(lines, line)) {
    unsigned long long kib = 0;
    if (std::sscanf(line.c_str(), "Pss: %llu kB", &kib) == 1) return kib;
  }
  return std::nullopt;
}

std::string PublishEach::rule_for(int vm) const {
  return fmt::format("{}{}{}", before_host_port, first_host_port + static_cast<std::uint32_t>(vm), after_host_port);
}

Result<PublishEach> parse_publish_each(const std::string& text, int count) {
  auto rule = parse_publish_rule(text);
  if (!rule) return fail(ExitStatus::kUsage, "--publish-each: {}", rule.error().message);
  // The text is valid, so its last two ':'-separated fields before any
  // "/tcp" or "/udp" are the host and guest ports.
  const std::size_t slash = text.rfind('/');
  const std::size_t guest_colon = text.rfind(':', slash == std::string::npos ? std::string::npos : slash - 1);
  const std::size_t host_colon = guest_colon == 0 ? std::string::npos : text.rfind(':', guest_colon - 1);
  PublishEach each;
  each.before_host_port = host_colon == std::string::npos ? "" : text.substr(0, host_colon + 1);
  each.first_host_port = rule->host_port;
  each.after_host_port = text.substr(guest_colon);
  const std::uint64_t last_port = std::uint64_t{rule->host_port} + static_cast<std::uint64_t>(count) - 1;
  if (last_port > 65535) {
    return fail(ExitStatus::kUsage, "--publish-each {}: {} VMs from host port {} need ports up to {}, past 65535", text,
                count, rule->host_port, last_port);
  }
  return each;
}

std::optional<std::uint64_t> guest_written_kib(const std::string& smaps, const SnapshotMapping& snapshot) {
  struct Area {
    std::uint64_t start = 0, end = 0, anonymous_kib = 0;
  };
  std::vector<Area> areas;
  std::optional<std::uint64_t> guest_base;
  std::istringstream lines(smaps);
  std::string line;
  while (std::getline(lines, line)) {
    unsigned long long start = 0, end = 0, offset = 0, inode = 0, kib = 0;
    char permissions[8] = {};
    unsigned major = 0, minor = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %x:%x %llu", &start, &end, permissions, &offset, &major, &minor,
                    &inode) == 7) {
      areas.push_back(Area{start, end, 0});
      if (inode == snapshot.inode && offset == snapshot.pages_offset && std::string_view(permissions) == "rw-p" &&
          start >= snapshot.first_run_address) {
        guest_base = start - snapshot.first_run_address;
      }
    } else if (!areas.empty() && std::sscanf(line.c_str(), "Anonymous: %llu kB", &kib) == 1) {
      areas.back().anonymous_kib = kib;
    }
  }
  if (!guest_base) return std::nullopt;
  std::uint64_t written = 0;
  for (const Area& area : areas) {
    if (area.start >= *guest_base && area.end <= *guest_base + snapshot.memory_size) written += area.anonymous_kib;
  }
  return written;
}

Result<DensityMode> run_density(const DensityCommand& command, int count,
                                const std::function<void(int idle, int count)>& progress) {
  DensityMode mode;
  mode.name = command.name;
  auto argv_of_vm = [&](int vm) {
    std::vector<std::string> argv = command.argv;
    if (command.options_for_vm && argv.size() >= 2) {
      const std::vector<std::string> own = command.options_for_vm(vm);
      argv.insert(argv.begin() + 2, own.begin(), own.end());
    }
    return argv;
  };
  // The first VM's command stands for all.
  for (const std::string& word : argv_of_vm(0)) mode.command += (mode.command.empty() ? "" : " ") + word;
  // Reapers outlive their hyperlet by a moment; as subreaper this process
  // inherits and reaps them, so nothing started here outlives the command.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  mode.bench_fds_before = own_fds();
  const std::int64_t available_before = mem_available_kib();

  std::vector<Started> vms;
  vms.reserve(static_cast<std::size_t>(count));
  std::string failure;
  {
    int stdin_pipe[2];
    if (::pipe2(stdin_pipe, O_CLOEXEC) != 0) return fail(ExitStatus::kUsage, "pipe: {}", std::strerror(errno));
    UniqueFd stdin_read(stdin_pipe[0]);
    UniqueFd stdin_write(stdin_pipe[1]);  // held open, never written: the apps' reads of stdin wait
    UniqueFd error_output(::memfd_create("density-stderr", MFD_CLOEXEC));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, stdin_read.get(), 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, error_output.get(), 2);

    const Clock::time_point start = Clock::now();
    for (int i = 0; i < count && failure.empty(); ++i) {
      const std::vector<std::string> vm_argv = argv_of_vm(i);
      std::vector<char*> words;
      for (const std::string& word : vm_argv) words.push_back(const_cast<char*>(word.c_str()));
      words.push_back(nullptr);
      pid_t pid = 0;
      const int error = posix_spawn(&pid, words[0], &actions, nullptr, words.data(), environ);
      if (error != 0) {
        failure = fmt::format("cannot start VM {}: {}", i + 1, std::strerror(error));
        break;
      }
      Started started;
      started.pid = pid;
      vms.push_back(std::move(started));
    }
    posix_spawn_file_actions_destroy(&actions);

    int idle = 0;
    const std::chrono::seconds time_allowed(60 + count / 10);
    const auto deadline = start + time_allowed;
    while (failure.empty() && idle < static_cast<int>(vms.size())) {
      for (Started& vm : vms) {
        if (vm.idle) continue;
        int status = 0;
        if (::waitpid(vm.pid, &status, WNOHANG) == vm.pid) {
          vm.reaped = true;
          const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
          std::string said(4096, '\0');
          const ssize_t got = ::pread(error_output.get(), said.data(), said.size(), 0);
          said.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
          while (!said.empty() && said.back() == '\n') said.pop_back();
          failure = fmt::format(
              "a VM ended with status {} before it was idle{}{} (density needs an app that "
              "waits: for its stdin, a sleep, a connection)",
              code, said.empty() ? "" : ": ", said.substr(0, said.find('\n')));
          break;
        }
        // Twice in a row, so that a task passing through read() at start-up does not count.
        if (is_idle(vm.pid)) {
          if (vm.seen_waiting_once) {
            vm.idle = true;
            vm.start_ms = ms_since(start);
            ++idle;
          }
          vm.seen_waiting_once = true;
        } else {
          vm.seen_waiting_once = false;
        }
      }
      if (progress) progress(idle, count);
      if (Clock::now() > deadline)
        failure = fmt::format("only {} of {} VMs were idle after {} s", idle, count, time_allowed.count());
      if (failure.empty() && idle < static_cast<int>(vms.size())) {
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
    if (failure.empty()) {
      mode.all_idle_ms = 0;
      for (const Started& vm : vms) mode.all_idle_ms = std::max(mode.all_idle_ms, vm.start_ms);
      mode.host_memory_used_while_idle_kib = available_before - mem_available_kib();
      for (Started& vm : vms) {
        DensityVm measured = measure(vm.pid);
        if (command.snapshot) {
          measured.guest_written_kib =
              guest_written_kib(read_text(fmt::format("/proc/{}/smaps", vm.pid)), *command.snapshot);
        }
        measured.start_ms = vm.start_ms;
        vm.reapers = child_processes(vm.pid);
        mode.vms.push_back(measured);
      }
    }
    const Clock::time_point stopping = Clock::now();
    stop_all(vms);
    mode.stop_ms = ms_since(stopping);
  }  // the pipe and the memfd closed here: the fd count after compares with before
  for (const Started& vm : vms) {
    if (process_alive(vm.pid)) ++mode.leftover_processes;
    for (int reaper : vm.reapers) {
      if (process_alive(reaper)) ++mode.leftover_processes;
    }
  }
  // The VMs' memory comes back over a few seconds after their processes are
  // gone (measured here: ~75 MiB of 117 still missing at 0.2 s for 50 VMs,
  // ~20 MiB at 4 s), so wait until MemAvailable is back within 2 MiB, at most 5 s.
  const Clock::time_point settling = Clock::now();
  do {
    mode.host_memory_available_delta_kib = mem_available_kib() - available_before;
    if (mode.host_memory_available_delta_kib >= -2048) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (Clock::now() - settling < std::chrono::seconds(5));
  mode.memory_settle_ms = ms_since(settling);
  mode.bench_fds_after = own_fds();
  if (!failure.empty()) return fail(ExitStatus::kUsage, "bench density ({}): {}", command.name, failure);
  return mode;
}

}  // namespace hyperlet::bench
