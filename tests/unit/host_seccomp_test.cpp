// The host's seccomp filter (vm/host_seccomp.h), installed in a forked child:
// what serving a guest needs still works, the rest stops hyperlet with one line.
#include "vm/host_seccomp.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "vm/app_signals.h"

namespace hyperlet {
namespace {

struct ChildResult {
  int status = -1;  // exit code, or 128 + signal
  std::string output;
};

// Runs `body` in a forked child with the filter installed; its stderr and stdout
// go to a pipe that the parent reads.
ChildResult run_filtered(const std::function<void()>& body, bool processes = false) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return {};
  const pid_t child = ::fork();
  if (child == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::close(pipe_fds[0]);
    if (!restrict_host_syscalls(processes)) ::_exit(99);
    body();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  ChildResult result;
  char buffer[512];
  for (ssize_t got; (got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) {
    result.output.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

void say(const char* text) { (void)!::write(STDOUT_FILENO, text, std::strlen(text)); }

TEST(HostSeccomp, WhatServingAGuestNeedsStillWorks) {
  const ChildResult result = run_filtered([] {
    char path[] = "/tmp/hyperlet-seccomp-XXXXXX";
    const int fd = ::mkstemp(path);  // openat
    char byte = 0;
    if (fd < 0 || ::write(fd, "x", 1) != 1 || ::pread(fd, &byte, 1, 0) != 1 || byte != 'x') ::_exit(2);
    if (::unlinkat(AT_FDCWD, path, 0) != 0) ::_exit(2);
    ::close(fd);
    int sockets[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) != 0) ::_exit(3);
    // A thread, as the file ring's poller: clone3 answers ENOSYS, and glibc
    // falls back to clone with CLONE_THREAD, which runs.
    if (::syscall(SYS_clone3, nullptr, 0) != -1 || errno != ENOSYS) ::_exit(4);
    bool ran = false;
    std::thread([&] { ran = true; }).join();
    if (!ran) ::_exit(5);
    // An execve's boot sets the run's own vCPU afresh: the filter lets these
    // through (on a pipe they are ENOTTY, never SIGSYS).
    for (const unsigned long request : {KVM_SET_REGS, KVM_SET_SREGS}) {
      if (::ioctl(sockets[0], request, nullptr) != -1 || errno != ENOTTY) ::_exit(6);
    }
    say("served\n");
  });
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_EQ(result.output, "served\n");
}

TEST(HostSeccomp, ExecForkAndNewVmsStopHyperletWithOneLine) {
  const auto expect_stopped = [](const std::function<void()>& body, const std::string& number) {
    const ChildResult result = run_filtered(body);
    EXPECT_EQ(result.status, 125) << result.output;
    EXPECT_NE(result.output.find("seccomp filter stopped hyperlet's own syscall " + number + " "), std::string::npos)
        << result.output;
  };
  expect_stopped(
      [] {
        char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
        ::syscall(SYS_execve, "/bin/true", argv, nullptr);
      },
      std::to_string(SYS_execve));
  expect_stopped([] { ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); }, std::to_string(SYS_clone));  // a process
  expect_stopped([] { ::syscall(SYS_ptrace, 0, 0, 0, 0); }, std::to_string(SYS_ptrace));
  expect_stopped([] { ::ioctl(0, KVM_CREATE_VM, 0); }, std::to_string(SYS_ioctl));  // only the run's ioctls
}

// --processes: the filter lets hyperlet fork as glibc's fork does, wait for the
// child and signal it, and the child create its VM; still no exec, no other
// clone of a process, no ptrace.
TEST(HostSeccomp, ProcessesFilterAllowsForkWaitAndANewVm) {
  const ChildResult result = run_filtered(
      [] {
        const pid_t child = ::fork();
        if (child == 0) {
          const int kvm = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
          // With or without /dev/kvm here: the filter must let the ioctl through
          // (ENOTTY on another fd, never SIGSYS).
          ::ioctl(kvm >= 0 ? kvm : 0, KVM_CREATE_VM, 0);
          ::_exit(7);
        }
        int status = 0;
        if (child < 0 || ::wait4(child, &status, 0, nullptr) != child || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 7) {
          ::_exit(2);
        }
        const pid_t sleeper = ::fork();
        if (sleeper == 0) {
          for (;;) ::usleep(100'000);  // (pause is not in the filter)
        }
        // A guest signal for another process rides the relayed signal.
        sigval value{};
        value.sival_int = SIGWINCH;
        if (::sigqueue(sleeper, kRelayedAppSignal, value) != 0) ::_exit(4);
        if (::waitpid(sleeper, &status, 0) != sleeper || !WIFSIGNALED(status) ||
            WTERMSIG(status) != kRelayedAppSignal) {
          ::_exit(3);
        }
        say("forked\n");
      },
      true);
  EXPECT_EQ(result.status, 0) << result.output;
  EXPECT_EQ(result.output, "forked\n");
}

TEST(HostSeccomp, ProcessesFilterStillStopsExecAndOtherClones) {
  const auto expect_stopped = [](const std::function<void()>& body, const std::string& number) {
    const ChildResult result = run_filtered(body, true);
    EXPECT_EQ(result.status, 125) << result.output;
    EXPECT_NE(result.output.find("seccomp filter stopped hyperlet's own syscall " + number + " "), std::string::npos)
        << result.output;
  };
  expect_stopped(
      [] {
        char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
        ::syscall(SYS_execve, "/bin/true", argv, nullptr);
      },
      std::to_string(SYS_execve));
  // A process sharing hyperlet's memory, or a plain clone(SIGCHLD): not what fork() makes.
  expect_stopped([] { ::syscall(SYS_clone, CLONE_VM | SIGCHLD, 0, 0, 0, 0); }, std::to_string(SYS_clone));
  expect_stopped([] { ::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0); }, std::to_string(SYS_clone));
  expect_stopped([] { ::syscall(SYS_ptrace, 0, 0, 0, 0); }, std::to_string(SYS_ptrace));
  expect_stopped([] { ::prctl(PR_SET_DUMPABLE, 1, 0, 0, 0); }, std::to_string(SYS_prctl));
  // Only the relayed signal may be queued.
  expect_stopped(
      [] {
        sigval value{};
        ::sigqueue(::getpid(), SIGUSR1, value);
      },
      std::to_string(SYS_rt_sigqueueinfo));
}

}  // namespace
}  // namespace hyperlet
