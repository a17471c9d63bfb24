// fork, vfork, wait and kill (programs/processes.cpp, busybox sh): each child
// process is a microVM in a hyperlet process of its own; execve boots another
// image in place. Every section's output is compared with the same program's
// native run. Skips without /dev/kvm.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/processes";
const std::string kBusybox = "/bin/busybox";

class Processes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
  static void expect_same_as_native(const std::vector<std::string>& arguments,
                                    const std::vector<std::string>& native_arguments = {}) {
    std::vector<std::string> native = {kProgram};
    const auto& given = native_arguments.empty() ? arguments : native_arguments;
    native.insert(native.end(), given.begin(), given.end());
    const ProcessResult expected = run_process(native);
    ASSERT_EQ(expected.status, 0) << describe(expected);
    std::vector<std::string> command = {kHyperlet, "run", "--timeout", "30s"};
    if (allow_processes) command.insert(command.end(), {"--processes", "30"});
    command.insert(command.end(), extra_options.begin(), extra_options.end());
    command.push_back(kProgram);
    command.insert(command.end(), arguments.begin(), arguments.end());
    const ProcessResult result = run_process(command);
    ASSERT_EQ(result.status, 0) << describe(result);
    EXPECT_EQ(result.out, expected.out);
    EXPECT_EQ(result.err, "");
  }
  static inline std::vector<std::string> extra_options;
  static inline bool allow_processes = true;
  // The program itself as /bin/processes in the guest (a file volume).
  static std::vector<std::string> program_volume() { return {"--volume", kProgram + ":/bin/processes"}; }
};

TEST_F(Processes, ChildHasACopyOfMemoryAndItsOwnPid) { expect_same_as_native({"cow"}); }

TEST_F(Processes, PipeBetweenParentAndChild) { expect_same_as_native({"pipe"}); }

// MAP_SHARED|MAP_ANONYMOUS and MAP_SHARED of /dev/zero are shared with a
// forked child, also after mremap moved them; a child's stores were lost
// (a silent wrong result: each VM had its own copy).
TEST_F(Processes, SharedAnonymousMemoryIsSharedWithAChild) { expect_same_as_native({"shared-memory"}); }

// Process-shared semaphores, mutexes and condition variables work between
// processes (the host's futex on the shared pages), also while the waiting
// process has another thread running. The waiter hung: each VM's futexes were its own.
TEST_F(Processes, ProcessSharedSemaphoreMutexAndConditionVariable) { expect_same_as_native({"shared-futexes"}); }

// The guest kernel keeps 256 shared mappings: the one too many is ENOMEM (an
// error path that must leave nothing mapped on the host), and after munmap a
// new one is shared with a child again. (Linux's limit is far higher: no native run.)
TEST_F(Processes, OneSharedMappingTooManyIsEnomemAndLeavesNothingBehind) {
  const ProcessResult result =
      run_process({kHyperlet, "run", "--timeout", "30s", "--processes", "4", kProgram, "many-shared"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "mapped 256, then ENOMEM\nchild: exited 0\nafter munmap a new one is shared again: yes\n");
  EXPECT_EQ(result.err, "");
}

// A snapshot of an app with shared memory mapped is refused with one line:
// restored, the memory would be a private copy (no longer shared with the file
// or other processes), which nothing would tell the app.
TEST_F(Processes, ASnapshotWithSharedMemoryMappedIsRefused) {
  TempDir directory;
  const std::string file = directory / "app.snapshot";
  const ProcessResult result = run_process({kHyperlet, "snapshot", "--timeout", "30s", "--at-syscall", "getcwd", "-o",
                                            file, kProgram, "shared-then-getcwd"});
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_NE(result.err.find("cannot snapshot the app: it has 1 MAP_SHARED mapping ([shared anonymous] at 0x"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(file));
}

// shm_open and sem_open work between processes in a /dev/shm volume; without
// one the denial line says what they need.
TEST_F(Processes, PosixSharedMemoryAndNamedSemaphoresInADevShmVolume) {
  const std::string name = "hyperlet-test-" + std::to_string(::getpid());
  TempDir shm;
  // Expected lines, not a native run: scripts/test-hw-kvm's machine has no /dev/shm.
  ProcessResult result = run_process({kHyperlet, "run", "--timeout", "30s", "--processes", "4", "--volume",
                                      shm.path().string() + ":/dev/shm", kProgram, "posix-shm", name});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "the child's post by name ended the wait: yes; it wrote 1234\nchild: exited 0\nunlinked: yes yes\n");
  EXPECT_EQ(result.err, "");
  EXPECT_TRUE(std::filesystem::is_empty(shm.path())) << "the app unlinked both";
  result = run_process({kHyperlet, "run", "--timeout", "30s", "--processes", "4", kProgram, "posix-shm", name});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "shm_open: ENOENT\n");
  EXPECT_NE(result.err.find("denied: /dev/shm/" + name +
                            "-memory is outside every --volume (shm_open and sem_open need one there: --volume "
                            "DIR:/dev/shm)"),
            std::string::npos)
      << result.err;
}

// The process's own timer (a guest timer, which needs the vCPU running) ends a
// process-shared wait with its handler and EINTR, as natively.
TEST_F(Processes, ATimerEndsAProcessSharedWait) { expect_same_as_native({"shared-wait-alarm"}); }

TEST_F(Processes, ProcessSharedWaitsLetTheWaitersOtherThreadsRun) { expect_same_as_native({"shared-futexes-threads"}); }

TEST_F(Processes, DeathsBySignalAndKillReachWait) { expect_same_as_native({"signals"}); }

TEST_F(Processes, WaitpidWaitidAndKillAnswerAsNatively) { expect_same_as_native({"waiting"}); }

TEST_F(Processes, ForkFromAThreadedProcessKeepsOnlyTheCaller) { expect_same_as_native({"threads"}); }

TEST_F(Processes, VforkParentWaitsAndSeesWhatTheChildStored) {
  TempDir data;
  extra_options = {"--volume", data.path().string() + ":/data"};
  expect_same_as_native({"vfork", "/data"}, {"vfork", data.path().string()});
  extra_options.clear();
}

TEST_F(Processes, AChildSignalsItsParent) { expect_same_as_native({"signal-parent"}); }

TEST_F(Processes, AnySignalReachesTheOtherProcessesApp) { expect_same_as_native({"relayed-signals"}); }

TEST_F(Processes, KillOfAGroupReachesEveryProcessInItAndNoOther) { expect_same_as_native({"group-signals"}); }

// siginfo of a signal from another of the app's processes is Linux's: SIGCHLD's
// code, pid and status (also through a signalfd), and the sender's pid of a
// kill, relayed or not, and of a group kill. It was SI_USER from pid 0 for all.
TEST_F(Processes, SiginfoNamesTheSenderAndTheChildsEnd) { expect_same_as_native({"siginfo"}); }

// `hyperlet snapshot` of an app that forks: a child never takes the snapshot
// (nor fails for want of it), and the parent cannot while it has a child.
TEST_F(Processes, ASnapshotIsTheFirstProcessAloneOrNone) {
  TempDir directory;
  const std::string file = (directory / "app.snapshot");
  const auto snapshot_at = [&](const std::string& call) {
    return run_process({kHyperlet, "snapshot", "--timeout", "30s", "--processes", "2", "--at-syscall", call, "-o", file,
                        kProgram, "snapshot-after-fork"});
  };
  // Only the child calls access: it runs on and ends as usual, no file.
  ProcessResult result = snapshot_at("access");
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_EQ(result.out, "getcwd: yes\nchild: exited 0\n");
  EXPECT_NE(result.err.find("the app ended (status 0) before its first access syscall"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("snapshot written"), std::string::npos) << result.err;
  EXPECT_FALSE(std::filesystem::exists(file));
  // The parent's getcwd comes while its ended child is not waited for.
  result = snapshot_at("getcwd");
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_NE(result.err.find("cannot take the snapshot at getcwd: the app has 1 child process"), std::string::npos)
      << result.err;
  EXPECT_FALSE(std::filesystem::exists(file));
}

TEST_F(Processes, AForkedChildStartsASessionThatItsExecKeeps) { expect_same_as_native({"session"}); }

TEST_F(Processes, ExecveatRelativeToADirectoryAndFexecveOfAnFd) {
  TempDir data;
  std::filesystem::copy_file(kProgram, data / "processes");
  std::filesystem::create_symlink("processes", data / "link");
  std::ofstream(data / "plain.txt") << "text\n";
  extra_options = {"--volume", data.path().string() + ":/data"};
  expect_same_as_native({"execveat", "/data"}, {"execveat", data.path().string()});
  extra_options.clear();
}

// SIGCHLD interrupts hyperlet's host sleep; the guest kernel goes on with the
// time left (restart_syscall), not the whole sleep again.
TEST_F(Processes, ASleepGoesOnForTheTimeItHadLeftWhenAChildEnds) { expect_same_as_native({"sleep-sigchld"}); }

// Each process's --stats are its own: the child's count from the fork, so the
// start-up calls only the parent made (arch_prctl, by glibc's start) are not in them.
TEST_F(Processes, AForkedChildsStatsCountFromTheFork) {
  const ProcessResult result =
      run_process({kHyperlet, "run", "--timeout", "30s", "--processes", "2", "--stats", kProgram, "cow"});
  ASSERT_EQ(result.status, 0) << describe(result);
  const std::size_t child = result.err.find(" stats of process ");
  const std::size_t parent = result.err.find(" stats:\n  boot phases");
  ASSERT_NE(child, std::string::npos) << result.err;
  ASSERT_NE(parent, std::string::npos) << result.err;
  ASSERT_LT(child, parent) << result.err;  // the child ends first
  const std::string child_stats = result.err.substr(child, parent - child);
  const std::string parent_stats = result.err.substr(parent);
  EXPECT_NE(child_stats.find("(forked from 1; from the fork on):\n  phases (ms since the fork):\n    vm created"),
            std::string::npos)
      << child_stats;
  EXPECT_EQ(child_stats.find("arch_prctl"), std::string::npos) << child_stats;
  EXPECT_EQ(child_stats.find("image loaded"), std::string::npos) << child_stats;
  EXPECT_NE(child_stats.find("exit_group"), std::string::npos) << child_stats;
  EXPECT_NE(parent_stats.find("arch_prctl"), std::string::npos) << parent_stats;
  EXPECT_NE(parent_stats.find("wait4"), std::string::npos) << parent_stats;
}

TEST_F(Processes, SigchldReachesAHandlerAndIgnoringItReapsChildren) {
  // Ten children one after another with room for two: each must be reaped.
  allow_processes = false;
  extra_options = {"--processes", "2"};
  expect_same_as_native({"sigchld"});
  extra_options.clear();
  allow_processes = true;
}

TEST_F(Processes, OpenFileAndItsOffsetAreShared) {
  TempDir native_dir;
  TempDir volume;
  extra_options = {"--volume", volume.path().string() + ":/data"};
  expect_same_as_native({"file", "/data/shared"}, {"file", native_dir / "shared"});
  extra_options.clear();
  EXPECT_EQ(read_file(volume / "shared"), "ABC");
}

TEST_F(Processes, ForkIsRefusedWithoutProcessesAndSaysSo) {
  const ProcessResult result = run_process({kHyperlet, "run", "--timeout", "30s", kProgram, "cow"});
  EXPECT_EQ(result.status, 1) << describe(result);
  EXPECT_EQ(result.out, "fork failed: EAGAIN\n");
  EXPECT_NE(result.err.find("hyperlet: denied: fork: the app may not start processes (--processes N allows N)"),
            std::string::npos)
      << result.err;
}

TEST_F(Processes, AtMostProcessesChildrenLiveAtOnce) {
  // "waiting" forks twenty children before it reaps any: with room for 2 the
  // third fork fails (the program then reports fewer statuses).
  const ProcessResult result =
      run_process({kHyperlet, "run", "--timeout", "30s", "--processes", "2", kProgram, "waiting"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("twenty children's statuses add up to 3\n"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("--processes allows no more"), std::string::npos) << result.err;
}

TEST_F(Processes, BusyboxShellSubshellsAndCommandSubstitution) {
  if (::access(kBusybox.c_str(), X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (apt install busybox-static)";
  const std::string script = "echo a; (echo b; exit 3); echo \"subshell $?\"; x=$(echo c); echo \"got $x\"";
  const ProcessResult native = run_process({kBusybox, "sh", "-c", script});
  const ProcessResult result =
      run_process({kHyperlet, "run", "--timeout", "30s", "--processes", "4", kBusybox, "sh", "-c", script});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, native.out);
  EXPECT_EQ(result.out, "a\nb\nsubshell 3\ngot c\n");
}

TEST_F(Processes, ExecKeepsThePidFdsWithoutCloexecAndIgnoredSignals) {
  extra_options = program_volume();
  expect_same_as_native({"exec", "/bin/processes"}, {"exec", kProgram});
  // exec makes no process: it needs no --processes.
  allow_processes = false;
  expect_same_as_native({"exec", "/bin/processes"}, {"exec", kProgram});
  allow_processes = true;
  extra_options.clear();
}

TEST_F(Processes, PosixSpawnForkExecAndExecErrorsAsNatively) {
  TempDir data;
  std::ofstream(data / "plain.txt") << "text\n";
  std::ofstream(data / "script") << "just words, no #!\n";
  std::filesystem::permissions(data / "script", std::filesystem::perms::owner_all);
  extra_options = program_volume();
  extra_options.insert(extra_options.end(), {"--volume", data.path().string() + ":/data"});
  expect_same_as_native({"spawn", "/bin/processes", "/data"}, {"spawn", kProgram, data.path().string()});
  extra_options.clear();
}

TEST_F(Processes, AScriptRunsItsInterpreterAsLinuxDoes) {
  TempDir data;
  const auto script = [&](const std::string& name, const std::string& text) {
    std::ofstream(data / name) << text;
    std::filesystem::permissions(data / name, std::filesystem::perms::owner_all);
  };
  script("direct", "#!/bin/processes print-args\nignored\n");
  script("spaced", "#!  /bin/processes   print-args  \t\n");
  script("nested", "#!/data/direct\n");
  script("loop", "#!/data/loop\n");
  script("missing", "#!/bin/missing\n");
  const auto run = [&](std::vector<std::string> arguments) {
    std::vector<std::string> command = {kHyperlet,   "run",
                                        "--timeout", "30s",
                                        "--volume",  kProgram + ":/bin/processes",
                                        "--volume",  data.path().string() + ":/data",
                                        kProgram,    "run"};
    command.insert(command.end(), arguments.begin(), arguments.end());
    return run_process(command);
  };
  EXPECT_EQ(run({"/data/direct", "a", "b"}).out, "print-args /data/direct a b\n");
  EXPECT_EQ(run({"/data/spaced"}).out, "print-args /data/spaced\n");
  EXPECT_EQ(run({"/data/nested", "x"}).out, "print-args /data/direct /data/nested x\n");
  EXPECT_EQ(run({"/data/loop"}).out, "execv of /data/loop: ELOOP\n");
  EXPECT_EQ(run({"/data/missing"}).out, "execv of /data/missing: ENOENT\n");
}

TEST_F(Processes, BusyboxShellRunsPipelinesOfOtherPrograms) {
  if (::access(kBusybox.c_str(), X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (apt install busybox-static)";
  TempDir bin;
  std::filesystem::copy_file(kBusybox, bin / "busybox");
  for (const char* applet : {"sh", "cat", "tr", "true", "false", "wc", "ls"}) {
    std::filesystem::create_symlink("busybox", bin / applet);
  }
  const std::string script =
      "echo hello | cat; echo abc | tr a-c x-z; /bin/true && echo true-ok; /bin/false || echo \"false $?\"; "
      "ls /bin | wc -l; /bin/missing; echo \"missing $?\"; exec echo replaced";
  const ProcessResult result = run_process({kHyperlet, "run", "--timeout", "30s", "--processes", "8", "--volume",
                                            bin.path().string() + ":/bin", "/bin/busybox", "sh", "-c", script});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "hello\nxyz\ntrue-ok\nfalse 1\n8\nmissing 127\nreplaced\n");
  EXPECT_EQ(result.err, "sh: /bin/missing: not found\n");
}

// The device files a shell script takes for granted (devices/device_nodes.h):
// a redirect to /dev/null, a background job (its stdin is /dev/null), /dev/zero,
// /dev/urandom, /dev/full, /dev/stderr and /dev/fd/N; /dev/tty is ENXIO (no
// controlling terminal) without a denial line. What Linux answers with /proc and
// /dev mounted (the expected lines are busybox's own there; not compared with a
// native run, which depends on the host's /dev: test-hw-kvm's has no /dev/fd).
TEST_F(Processes, BusyboxShellUsesTheDeviceFiles) {
  if (::access(kBusybox.c_str(), X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (apt install busybox-static)";
  const std::string script =
      "echo hidden > /dev/null; echo shown 2>/dev/null; (echo background) & wait; "
      "/bin/busybox head -c 4 /dev/zero | /bin/busybox wc -c; /bin/busybox head -c 8 /dev/urandom | /bin/busybox wc "
      "-c; "
      "echo to-stderr > /dev/stderr; echo x > /dev/full || echo \"full $?\"; test -c /dev/null && echo char-device; "
      "exec 5</dev/null; /bin/busybox cat /dev/fd/5 && echo fd-link; echo hi > /dev/tty 2>/dev/null || echo no-tty";
  const ProcessResult result = run_process({kHyperlet, "run", "--timeout", "30s", "--processes", "8", "--volume",
                                            kBusybox + ":/bin/busybox", "/bin/busybox", "sh", "-c", script});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "shown\nbackground\n4\n8\nfull 1\nchar-device\nfd-link\nno-tty\n");
  EXPECT_EQ(result.err,
            "to-stderr\nsh: write error: No space left on device\nsh: can't create /dev/tty: No such device or "
            "address\n");
}

TEST_F(Processes, BusyboxTarVforksGzipBothWays) {
  if (::access(kBusybox.c_str(), X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (apt install busybox-static)";
  TempDir bin;
  std::filesystem::copy_file(kBusybox, bin / "busybox");
  for (const char* applet : {"sh", "gzip", "tar", "cat", "mkdir"})
    std::filesystem::create_symlink("busybox", bin / applet);
  TempDir data;
  std::filesystem::create_directory(data / "in");
  std::ofstream(data / "in/a.txt") << "packed through a vforked gzip\n";
  const auto run = [&](std::vector<std::string> arguments) {
    std::vector<std::string> command = {kHyperlet,     "run",
                                        "--timeout",   "30s",
                                        "--processes", "4",
                                        "--volume",    bin.path().string() + ":/bin",
                                        "--volume",    data.path().string() + ":/data",
                                        "--workdir",   "/data"};
    command.insert(command.end(), arguments.begin(), arguments.end());
    return run_process(command);
  };
  const ProcessResult packed = run({kBusybox, "tar", "czf", "/data/out.tgz", "in"});
  ASSERT_EQ(packed.status, 0) << describe(packed);
  // The host's own tar reads what the guest's tar and gzip wrote.
  const ProcessResult listed = run_process({"/bin/tar", "tzf", data / "out.tgz"});
  EXPECT_EQ(listed.out, "in/\nin/a.txt\n") << describe(listed);
  const ProcessResult unpacked =
      run({kBusybox, "sh", "-c", "mkdir out && cd out && tar xzf /data/out.tgz && cat in/a.txt"});
  EXPECT_EQ(unpacked.status, 0) << describe(unpacked);
  EXPECT_EQ(unpacked.out, "packed through a vforked gzip\n");
}

TEST_F(Processes, BusyboxHttpdForksAChildPerConnection) {
  if (::access(kBusybox.c_str(), X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (apt install busybox-static)";
  TempDir www;
  std::ofstream(www / "index.html") << "hello from a forked child\n";
  const int port = free_port();
  // httpd ignores SIGCHLD: with room for two children, the twelve connections
  // work only if each child is reaped as it ends.
  BackgroundProcess server(
      {kHyperlet, "run", "--timeout", "60s", "--processes", "2", "--publish", std::to_string(port) + ":80", "--volume",
       www.path().string() + ":/www", kBusybox, "httpd", "-f", "-p", "80", "-h", "/www"},
      www / "server.out");
  for (int i = 0; i < 12; ++i) {
    const std::string response = http_get(port, "/index.html");
    EXPECT_NE(response.find("200 OK"), std::string::npos) << "request " << i << ": " << response;
    EXPECT_NE(response.find("hello from a forked child"), std::string::npos) << "request " << i << ": " << response;
  }
}

// Workers forked after listen accept on the shared socket, each in its own microVM.
TEST_F(Processes, APreForkedWorkerPoolSharesItsListeningSocket) {
  const std::string port = std::to_string(free_port());
  extra_options = {"--publish", "127.0.0.1:" + port + ":" + port, "--allow-connect", "127.0.0.1:" + port};
  expect_same_as_native({"worker-pool", port});
  extra_options.clear();
}

TEST_F(Processes, InvalidProcessesIsAUsageError) {
  for (const char* value : {"many", "-1", "4097"}) {
    const ProcessResult result = run_process({kHyperlet, "run", "--processes", value, kProgram, "cow"});
    EXPECT_EQ(result.status, 125) << describe(result);
    EXPECT_NE(result.err.find("invalid --processes"), std::string::npos) << result.err;
  }
}

}  // namespace
}  // namespace hyperlet::testing
