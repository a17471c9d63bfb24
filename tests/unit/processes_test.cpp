// wait4, waitid and kill for the app's children (devices/processes.h), without
// a VM: real host children in the table, hostile arguments from the "guest".
#include "devices/processes.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <span>
#include <string>

#include "devices/executables.h"
#include "test_guest.h"
#include "vm/app_signals.h"

namespace hyperlet {
namespace {

class ProcessesTest : public ::testing::Test, protected TestGuest {
 protected:
  std::uint64_t app_address() const { return layout_.heap_start; }

  // A real child of this test process, exiting with `status` (or paused).
  pid_t spawn(int status, bool pause_forever = false) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      if (pause_forever) {
        for (;;) ::pause();
      }
      ::_exit(status);
    }
    context_->children.add(pid, UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0))));
    return pid;
  }
};

TEST_F(ProcessesTest, Wait4ReportsTheChildAndForgetsIt) {
  const pid_t child = spawn(7);
  EXPECT_EQ(call(SYS_wait4, {static_cast<std::uint64_t>(child), app_address(), 0, 0, 0, 0}), child);
  const auto status = context_->read<int>(app_address());
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 7);
  EXPECT_FALSE(context_->children.contains(child));
  EXPECT_EQ(call(SYS_wait4, {static_cast<std::uint64_t>(child), 0, 0, 0, 0, 0}), -ECHILD);
}

TEST_F(ProcessesTest, Wait4OfAHostProcessThatIsNoChildOfTheAppIsEchild) {
  // The test runner's own pid, and pid 1: never the app's to wait for.
  EXPECT_EQ(call(SYS_wait4, {static_cast<std::uint64_t>(::getppid()), 0, 0, 0, 0, 0}), -ECHILD);
  spawn(0);
  EXPECT_EQ(call(SYS_wait4, {1, 0, 0, 0, 0, 0}), -ECHILD);
  EXPECT_GT(call(SYS_wait4, {static_cast<std::uint64_t>(-1), 0, 0, 0, 0, 0}), 0);
}

TEST_F(ProcessesTest, HostileWait4ArgumentsAreRefusedBeforeAnyWait) {
  const pid_t child = spawn(3);
  const auto pid = static_cast<std::uint64_t>(child);
  EXPECT_EQ(call(SYS_wait4, {pid, 0x10, 0, 0, 0, 0}), -EFAULT);  // the guest kernel's pages
  EXPECT_EQ(call(SYS_wait4, {pid, ~std::uint64_t{0} - 2, 0, 0, 0, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_wait4, {pid, 0, 0, 0x20, 0, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_wait4, {pid, 0, 0x10, 0, 0, 0}), -EINVAL);  // an unknown option
  EXPECT_TRUE(context_->children.contains(child));               // nothing was reaped
  EXPECT_EQ(call(SYS_wait4, {pid, 0, 0, 0, 0, 0}), child);
}

TEST_F(ProcessesTest, WaitidChecksItsArguments) {
  const pid_t child = spawn(5);
  const auto pid = static_cast<std::uint64_t>(child);
  EXPECT_EQ(call(SYS_waitid, {P_PID, pid, app_address(), 0, 0, 0}), -EINVAL);  // no WEXITED etc.
  EXPECT_EQ(call(SYS_waitid, {P_PID, 0, app_address(), WEXITED, 0, 0}), -EINVAL);
  EXPECT_EQ(call(SYS_waitid, {3 /* P_PIDFD */, 0, app_address(), WEXITED, 0, 0}), -EINVAL);
  EXPECT_EQ(call(SYS_waitid, {P_PID, pid, 0x10, WEXITED, 0, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_waitid, {P_PID, pid, app_address(), WEXITED, 0, 0}), 0);
  const auto info = context_->read<siginfo_t>(app_address());
  ASSERT_TRUE(info);
  EXPECT_EQ(info->si_pid, child);
  EXPECT_EQ(info->si_code, CLD_EXITED);
  EXPECT_EQ(info->si_status, 5);
}

TEST_F(ProcessesTest, KillReachesOnlyTheAppsChildren) {
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(::getpid()), 0, 0, 0, 0, 0}), -ESRCH);
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(::getppid()), SIGTERM, 0, 0, 0, 0}), -ESRCH);
  EXPECT_EQ(call(SYS_kill, {1, SIGKILL, 0, 0, 0, 0}), -ESRCH);
  const pid_t child = spawn(0, true);
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(child), 65, 0, 0, 0, 0}), -EINVAL);
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(child), SIGKILL, 0, 0, 0, 0}), 0);
  EXPECT_EQ(call(SYS_wait4, {static_cast<std::uint64_t>(child), app_address(), 0, 0, 0, 0}), child);
  const auto status = context_->read<int>(app_address());
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGKILL);
}

TEST_F(ProcessesTest, KillOfTheParentReachesItsHyperletWithTheSignalsItHandsToTheApp) {
  // The parent's hyperlet: a host process that is not in the children table.
  const pid_t parent = ::fork();
  if (parent == 0) {
    for (;;) ::pause();
  }
  context_->children.set_parent(1, parent);  // a child of the run's first process
  EXPECT_EQ(call(SYS_kill, {1, 0, 0, 0, 0, 0}), 0);
  EXPECT_EQ(::kill(parent, 0), 0);
  // Only the parent's guest pid names it; its host pid is no pid of the app's.
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(parent), SIGUSR1, 0, 0, 0, 0}), -ESRCH);
  EXPECT_EQ(call(SYS_kill, {1, SIGUSR1, 0, 0, 0, 0}), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(parent, &status, 0), parent);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGUSR1);
}

// Any other signal would reach hyperlet itself (SIGALRM is its --timeout,
// SIGSEGV would look like its own crash): it travels inside kRelayedAppSignal,
// its number as the queued value.
TEST_F(ProcessesTest, OtherSignalsTravelInsideTheRelayedSignal) {
  sigset_t relayed, old;
  sigemptyset(&relayed);
  sigaddset(&relayed, kRelayedAppSignal);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &relayed, &old), 0);
  const auto receiver = [&](int expected_count) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      // Exits with the sum of the values it got, or 255 for anything but a sigqueue.
      int sum = 0;
      for (int i = 0; i < expected_count; ++i) {
        siginfo_t info{};
        if (::sigwaitinfo(&relayed, &info) != kRelayedAppSignal || info.si_code != SI_QUEUE) ::_exit(255);
        sum += info.si_value.sival_int;
      }
      ::_exit(sum);
    }
    return pid;
  };
  const pid_t parent = receiver(2);
  context_->children.set_parent(1, parent);
  EXPECT_EQ(call(SYS_kill, {1, SIGALRM, 0, 0, 0, 0}), 0);
  EXPECT_EQ(call(SYS_kill, {1, SIGSEGV, 0, 0, 0, 0}), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(parent, &status, 0), parent);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), SIGALRM + SIGSEGV);

  // To a child: the same; SIGCONT both as itself (it continues a stopped
  // process) and relayed (the app's handler).
  const pid_t child = receiver(2);
  context_->children.add(child, UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0))));
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(child), SIGCONT, 0, 0, 0, 0}), 0);
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(child), static_cast<std::uint64_t>(SIGRTMIN + 3), 0, 0, 0, 0}),
            0);
  const auto waited = call(SYS_wait4, {static_cast<std::uint64_t>(child), app_address(), 0, 0, 0, 0});
  EXPECT_EQ(waited, child);
  status = *context_->read<int>(app_address());
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), SIGCONT + SIGRTMIN + 3);
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &old, nullptr), 0);
}

// kill of a group or of every process: the guest kernel passes it on, and
// the answer says whether the caller is in it (1: its kernel signals it).
TEST_F(ProcessesTest, AGroupSignalAloneReachesOnlyTheCallersOwnGroup) {
  EXPECT_EQ(call(SYS_kill, {0, SIGUSR1, 0, 0, 0, 0}), 1);
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(-1), SIGUSR1, 0, 0, 0, 0}), -ESRCH);  // never the caller
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(-1), 0, 0, 0, 0, 0}), -ESRCH);
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(-1234), SIGUSR1, 0, 0, 0, 0}), -ESRCH);
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::min()), SIGUSR1, 0, 0, 0, 0}),
            -ESRCH);
  EXPECT_EQ(call(SYS_kill, {static_cast<std::uint64_t>(-1), 65, 0, 0, 0, 0}), -EINVAL);
}

TEST_F(ProcessesTest, AGroupSignalSpreadsToTheParentAndChildrenButNotBack) {
  sigset_t relayed, old;
  sigemptyset(&relayed);
  sigaddset(&relayed, kRelayedAppSignal);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &relayed, &old), 0);
  // Each neighbour exits with what it got: the signal, 100 for the group
  // flag, 50 for "every process", 1 for a sender other than `sender`, or 255
  // for anything but a group signal.
  const auto neighbour = [&](int sender = 0) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      siginfo_t info{};
      if (::sigwaitinfo(&relayed, &info) != kRelayedAppSignal || info.si_code != SI_QUEUE) ::_exit(255);
      const auto value = reinterpret_cast<std::uintptr_t>(info.si_value.sival_ptr);
      if (!is_group_signal(value)) ::_exit(255);
      const GroupSignal group = decode_group_signal(value);
      ::_exit(group.signal + (group.every ? 50 : 0) + (group.pgid == 77 ? 100 : 0) + (group.sender == sender ? 0 : 1));
    }
    return pid;
  };
  const auto exit_status = [](pid_t pid) {
    int status = 0;
    return ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  context_->process_group = ProcessGroup{77, 77, 1};
  // kill(0) names the caller (guest pid 77) as the sender.
  const pid_t parent = neighbour(77);
  const pid_t child = neighbour(77);
  context_->children.set_parent(1, parent);
  context_->children.add(child, UniqueFd(static_cast<int>(::syscall(SYS_pidfd_open, child, 0))));
  EXPECT_EQ(call(SYS_kill, {0, SIGUSR2, 0, 0, 0, 0}), 1);  // its own group, 77: the caller too
  EXPECT_EQ(exit_status(parent), SIGUSR2 + 100);
  EXPECT_EQ(exit_status(child), SIGUSR2 + 100);

  // Received from the parent: passed to the child, not back; this process is in group 77.
  const pid_t new_parent = neighbour();
  const pid_t new_child = neighbour();
  context_->children.set_parent(1, new_parent);
  context_->children.all().clear();
  context_->children.add(new_child, UniqueFd());
  EXPECT_TRUE(spread_group_signal(*context_, GroupSignal{SIGTERM, 77, false}, new_parent));
  EXPECT_EQ(exit_status(new_child), SIGTERM + 100);
  // kill(-1) from the child: this process (pid 77) is one of "every", and the parent hears of it.
  EXPECT_TRUE(spread_group_signal(*context_, GroupSignal{SIGTERM, 5, true}, new_child));
  EXPECT_EQ(exit_status(new_parent), SIGTERM + 50);
  // The run's first process (pid 1) is never one of them, as init on Linux.
  context_->process_group = ProcessGroup{1, 1, 1};
  context_->children.all().clear();
  EXPECT_FALSE(spread_group_signal(*context_, GroupSignal{SIGTERM, 5, true}, new_parent));
  ASSERT_EQ(::pthread_sigmask(SIG_SETMASK, &old, nullptr), 0);
}

TEST(GroupSignalMessage, CarriesTheSignalTheGroupEveryAndTheSender) {
  for (const GroupSignal sent : {GroupSignal{SIGTERM, 77, false, 12}, GroupSignal{64, 4'194'303, true, 4'194'303},
                                 GroupSignal{1, 1, false, 0}}) {
    const std::uint64_t value = encode_group_signal(sent);
    EXPECT_TRUE(is_group_signal(value));
    const GroupSignal got = decode_group_signal(value);
    EXPECT_EQ(got.signal, sent.signal);
    EXPECT_EQ(got.pgid, sent.pgid);
    EXPECT_EQ(got.every, sent.every);
    EXPECT_EQ(got.sender, sent.sender);
  }
}

// A signal's sender as siginfo shows it to the app: its parent by the parent's
// guest pid, a child by its own, anyone else (outside the app) as 0.
TEST_F(ProcessesTest, ASignalsSenderIsNamedAsTheAppKnowsIt) {
  context_->children.set_parent(1, 4242);
  const pid_t child = spawn(0);
  EXPECT_EQ(context_->children.guest_pid_of(4242), 1);
  EXPECT_EQ(context_->children.guest_pid_of(child), child);
  EXPECT_EQ(context_->children.guest_pid_of(::getpid()), 0);
  EXPECT_EQ(context_->children.guest_pid_of(0), 0);
  EXPECT_EQ(context_->children.guest_pid_of(-4242), 0);
  int status = 0;
  ::waitpid(child, &status, 0);
}

TEST_F(ProcessesTest, WithoutChildrenEveryWaitIsEchild) {
  EXPECT_EQ(call(SYS_wait4, {static_cast<std::uint64_t>(-1), 0, WNOHANG, 0, 0, 0}), -ECHILD);
  EXPECT_EQ(call(SYS_waitid, {P_ALL, 0, app_address(), WEXITED, 0, 0}), -ECHILD);
}

TEST_F(ProcessesTest, AnAppIgnoringSigchldWaitsForItsChildrenThenGetsEchild) {
  volatile std::uint64_t reap = 1;  // abi::SignalState::reap_children as the guest kernel sets it
  context_->children.watch_reap_flag(&reap);
  const pid_t first = spawn(1);
  spawn(2);
  EXPECT_EQ(call(SYS_wait4, {static_cast<std::uint64_t>(-1), app_address(), 0, 0, 0, 0}), -ECHILD);
  EXPECT_TRUE(context_->children.empty());
  EXPECT_EQ(::waitpid(first, nullptr, WNOHANG), -1);  // reaped on the host too: no zombie left
  const pid_t running = spawn(0, true);
  EXPECT_EQ(call(SYS_wait4, {static_cast<std::uint64_t>(-1), 0, WNOHANG, 0, 0, 0}), 0);
  ::kill(running, SIGKILL);
  EXPECT_EQ(call(SYS_waitid, {P_ALL, 0, app_address(), WEXITED, 0, 0}), -ECHILD);
  context_->children.watch_reap_flag(nullptr);
}

// execveat's lookups (devices/executables.h): relative to a directory fd,
// without following a final symlink, and an fd's own file.
TEST_F(ProcessesTest, ExecutablesAreFoundRelativeToADirectoryFdOrAsAnFdsOwnFile) {
  const std::string host_dir = mount_temp_volume("exec-at");
  {
    std::ofstream(host_dir + "/tool") << "#!/bin/sh\n";
    std::ofstream(host_dir + "/plain") << "text\n";
  }
  ::chmod((host_dir + "/tool").c_str(), 0755);
  ::symlink("tool", (host_dir + "/link").c_str());
  const std::uint64_t path = app_address();
  const auto open_guest = [&](const char* name, std::uint64_t flags) {
    const std::string text = name;
    EXPECT_TRUE(memory_->write_bytes(path, std::as_bytes(std::span(text.c_str(), text.size() + 1))));
    return call(SYS_openat, {static_cast<std::uint64_t>(AT_FDCWD), path, flags, 0, 0, 0});
  };
  const auto directory = open_guest("/data", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(directory, 0);
  auto found = open_executable_at(*context_, directory, "tool", true);
  ASSERT_TRUE(found.has_value()) << found.error();
  EXPECT_EQ(found->guest_path, "/data/tool");
  EXPECT_EQ(open_executable_at(*context_, directory, "link", true)->guest_path, "/data/link");
  EXPECT_EQ(open_executable_at(*context_, directory, "link", false).error(), ELOOP);
  EXPECT_EQ(open_executable_at(*context_, directory, "plain", true).error(), EACCES);
  EXPECT_EQ(open_executable_at(*context_, directory, "missing", true).error(), ENOENT);
  EXPECT_EQ(open_executable_at(*context_, 99, "tool", true).error(), EBADF);

  const auto tool = open_guest("/data/tool", O_PATH);
  ASSERT_GE(tool, 0);
  auto own = open_executable_fd(*context_, tool);
  ASSERT_TRUE(own.has_value()) << own.error();
  EXPECT_EQ(own->guest_path, "/dev/fd/" + std::to_string(tool));
  EXPECT_EQ(open_executable_fd(*context_, open_guest("/data/plain", O_RDONLY)).error(), EACCES);
  EXPECT_EQ(open_executable_fd(*context_, directory).error(), EACCES);
  EXPECT_EQ(open_executable_fd(*context_, 99).error(), EBADF);
}

TEST(InterpreterLine, ReadAsLinuxReadsIt) {
  EXPECT_FALSE(
      read_interpreter_line("\x7f"
                            "ELF"));
  EXPECT_FALSE(read_interpreter_line("#!"));
  EXPECT_FALSE(read_interpreter_line("#!   \n/bin/sh"));
  auto plain = read_interpreter_line("#!/bin/sh\necho hi\n");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->path, "/bin/sh");
  EXPECT_FALSE(plain->argument);
  auto with_argument = read_interpreter_line("#! /usr/bin/env  python3 -u \r\n");
  ASSERT_TRUE(with_argument);
  EXPECT_EQ(with_argument->path, "/usr/bin/env");
  EXPECT_EQ(with_argument->argument, "python3 -u");  // one argument: the rest of the line
  // Only the first 255 bytes count.
  auto long_line = read_interpreter_line("#!/bin/" + std::string(400, 'x'));
  ASSERT_TRUE(long_line);
  EXPECT_EQ(long_line->path.size(), 253u);
}

TEST_F(ProcessesTest, TheLimitSaysWhenTheTableIsFull) {
  ChildProcesses children;
  EXPECT_TRUE(children.full());  // 0 by default: the app may not fork
  children.set_limit(1);
  EXPECT_FALSE(children.full());
  children.add(12345, UniqueFd());
  EXPECT_TRUE(children.full());
  children.remove(12345);
  EXPECT_FALSE(children.full());
}

}  // namespace
}  // namespace hyperlet
