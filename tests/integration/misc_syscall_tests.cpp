// statfs/fstatfs, the chown family, copy_file_range, socketpair and
// sendmmsg/recvmmsg in real microVMs (programs/misc_syscalls.cpp): results on a
// writable and a :ro volume, hostile arguments, and the network policy applied to
// each message of a sendmmsg; CPU time (programs/cpu_time.cpp) on one and two
// vCPUs and across a fork, against the native run; forwarded calls on the
// guest kernel's fast path and off it. Skips without /dev/kvm.
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "process.h"

namespace hyperlet::testing {
namespace {

namespace fs = std::filesystem;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/misc_syscalls";

class MiscSyscalls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
    std::ofstream(dir_ / "hello.txt") << "hello from the host\n";
    fs::create_symlink("/etc/passwd", dir_ / "abs");
  }
  ProcessResult run(const std::vector<std::string>& options, const std::string& section) {
    std::vector<std::string> args = {kHyperlet, "run", "--timeout", "20s"};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), {kProgram, section});
    return run_process(args);
  }
  TempDir dir_;
};

TEST_F(MiscSyscalls, StatfsChownAndCopyFileRangeOnAVolume) {
  struct statfs host {};
  ASSERT_EQ(::statfs(dir_.path().c_str(), &host), 0);
  struct stat before {};
  ASSERT_EQ(::stat((dir_ / "hello.txt").c_str(), &before), 0);
  const auto result = run({"--volume", dir_.path().string() + ":/data"}, "files");
  ASSERT_EQ(result.status, 0) << describe(result);
  std::ostringstream type;
  type << std::hex << host.f_type;
  const std::string read_only = std::to_string((host.f_flags & ST_RDONLY) != 0);
  const std::string statfs_lines =
      "statfs /data: 0\n  type 0x" + type.str() + ", read-only " + read_only +
      ", blocks > 0 1\nstatvfs /data/hello.txt: 0\n  read-only " + read_only + "\n";
  EXPECT_EQ(result.out, statfs_lines +
                            "fstatfs: 0\n"
                            "  same type 1\n"
                            "statfs /: 0\n"
                            "  ramfs 1, read-only 1, blocks 0\n"
                            "statfs /var: ENOENT\n"
                            "statfs through a symlink out: ENOENT\n"
                            "statfs into the kernel: EFAULT\n"
                            "fstatfs 99: EBADF\n"
                            "chown -1 -1: 0\n"
                            "chown to its own owner: 0\n"
                            "chown to another uid: EPERM\n"
                            "chown to a foreign group: EPERM\n"
                            "lchown symlink out: 0\n"
                            "chown symlink out: ENOENT\n"
                            "fchownat bad flags: EINVAL\n"
                            "fchown: 0\n"
                            "chown /: EROFS\n"
                            "chown /var/passwd: ENOENT\n"
                            "copy_file_range 4: 4\n"
                            "copy_file_range at offsets: 4\n"
                            "  offsets now 10 14\n"
                            "copy_file_range SIZE_MAX: 6\n"
                            "  dst [01234567896789]\n"
                            "copy_file_range flags 1: EINVAL\n"
                            "copy_file_range into a read-only fd: EBADF\n"
                            "copy_file_range offset in the kernel: EFAULT\n"
                            "copy_file_range from a directory: EISDIR\n"
                            "copy_file_range into a pipe: EINVAL\n");
  // The guest gave nothing away, even when hyperlet runs as root.
  struct stat after {};
  ASSERT_EQ(::stat((dir_ / "hello.txt").c_str(), &after), 0);
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, before.st_gid);
  EXPECT_EQ(read_file(dir_ / "dst.txt"), std::string("0123456789") + "6789");
}

TEST_F(MiscSyscalls, ReadOnlyVolumeIsAReadOnlyFileSystem) {
  const auto result = run({"--volume", dir_.path().string() + ":/data:ro"}, "files-ro");
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "statfs /data: 0\n"
            "  read-only 1\n"
            "chown: EROFS\n"
            "fchown: EROFS\n"
            "copy_file_range into the volume: EBADF\n");
  EXPECT_EQ(read_file(dir_ / "hello.txt"), "hello from the host\n");
}

TEST_F(MiscSyscalls, SocketpairWorksWithReadWritePollAndEpoll) {
  const auto result = run({}, "socketpair");
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "socketpair stream: 0\n"
            "write: 4\n"
            "poll: 1\n"
            "read: 4\n"
            "  [ping]\n"
            "send back: 4\n"
            "epoll_wait: 1\n"
            "  data 42\n"
            "recv: 4\n"
            "  [pong]\n"
            "FD_CLOEXEC: 1\n"
            "read after close: 0\n"
            "write after close: EPIPE\n"
            "socketpair dgram nonblock: 0\n"
            "read empty: EAGAIN\n"
            "first datagram: 3\n"
            "second datagram: 5\n"
            "socketpair AF_INET: EOPNOTSUPP\n"
            "socketpair AF_NETLINK: EAFNOSUPPORT\n"
            "socketpair into the kernel: EFAULT\n");
}

// Forwarded calls take entry.S's fast path only while nothing in the guest
// kernel must see them (direct_forward.cpp); each blocker in turn (a second
// thread, an armed timer, an open signalfd) sends them the other way and goes
// again. Every call answers as natively, each is counted once in --stats, an
// EPIPE answered on the fast path still raises SIGPIPE first, and a direct
// syscall site (abi.h) reached with another number goes to the guest kernel.
TEST_F(MiscSyscalls, ForwardedCallsAnswerAndCountTheSameOnEveryPath) {
  const ProcessResult native = run_process({kProgram, "forward-paths"});
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_EQ(native.out,
            "alone: 7 of 7\nbeside a thread: 5 of 5\nafter the join: 1 of 1\ntimer_create: 0\n"
            "timer_settime: 0\nwith a timer armed: 3 of 3\ntimer_delete: 0\nsignalfd: ok\n"
            "with a signalfd open: 2 of 2\npipe: 0\nwrite to a closed pipe: EPIPE\nSIGPIPE handled: 1\n"
            "at the end: 1 of 1\ngetpid through a fcntl site: 3 of 3\nand then: 2 of 2\n");
  const auto result = run({"--stats"}, "forward-paths");
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, native.out);
  EXPECT_NE(result.err.find("\n    fcntl                21\n"), std::string::npos) << describe(result);
  // Rewritten sites: the SIGPIPE write went straight to the host (its EPIPE
  // finished by the guest kernel), and each getpid came back to the kernel. On
  // kvm_pvm that must happen; QEMU's TCG (scripts/test-hw-kvm) refuses port
  // access with a busy TSS, so there every direct site takes the #GP way instead.
  const bool trap = result.err.find("syscall entry: trap") != std::string::npos;
  const bool direct = result.err.find("\n    direct-syscall ") != std::string::npos;
  if (trap && fs::exists("/sys/module/kvm_pvm")) {
    EXPECT_TRUE(direct) << describe(result);
  }
  if (direct) {
    EXPECT_NE(result.err.find("\n    direct-syscall-sent-back 3\n"), std::string::npos) << describe(result);
  }
  for (const char* cpus : {"1", "2"}) {
    const auto on_cpus = run({"--cpus", cpus}, "forward-paths");
    EXPECT_EQ(on_cpus.out, native.out) << "--cpus " << cpus << "\n" << describe(on_cpus);
  }
}

// set_robust_list is a direct syscall answered by the host (devices/robust_list.cpp)
// while the port is open, and by the guest kernel otherwise: the same answers as
// natively either way, counted once each in --stats.
TEST_F(MiscSyscalls, SetRobustListAnswersAsNativelyDirectOrNot) {
  const ProcessResult native = run_process({kProgram, "robust-list"});
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_EQ(native.out,
            "direct, size 24: 0\ndirect, size 23: EINVAL\nsyscall(), size 24: 0\nsyscall(), size 0: EINVAL\n"
            "direct from a second thread, size 25: EINVAL\n");
  const auto result = run({"--stats"}, "robust-list");
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, native.out);
  // glibc's own registration of the main thread and of the second one, then the five above.
  EXPECT_NE(result.err.find("\n    set_robust_list      7\n"), std::string::npos) << describe(result);
  if (result.err.find("syscall entry: trap") != std::string::npos && fs::exists("/sys/module/kvm_pvm")) {
    EXPECT_NE(result.err.find("\n    direct-syscall "), std::string::npos) << describe(result);
  }
}

TEST_F(MiscSyscalls, SendmmsgChecksEachMessagesDestination) {
  const auto result = run({"--trace", "--allow-connect", "127.0.0.1:*"}, "mmsg");
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "bind port 0: 0\n"
            "sendmmsg with a denied second: 1\n"
            "  msg_len 3\n"
            "sendmmsg denied first: EACCES\n"
            "sendmmsg the rest: 2\n"
            "sendmmsg vlen 0: 0\n"
            "sendmmsg from the kernel: EFAULT\n"
            "recvmmsg: 3\n"
            "  [one] 3 bytes, from itself 1\n"
            "  [two] 3 bytes, from itself 1\n"
            "  [three] 5 bytes, from itself 1\n"
            "recvmmsg empty: EAGAIN\n"
            "recvmmsg bad timeout: EINVAL\n"
            "recvmmsg timeout in the kernel: EFAULT\n");
  const std::string denied =
      "[hyperlet policy] denied: sendmmsg to 10.255.255.1:9 (no --allow-connect rule)\n";
  const auto first = result.err.find(denied);
  ASSERT_NE(first, std::string::npos) << result.err;
  EXPECT_NE(result.err.find(denied, first + 1), std::string::npos)
      << "both denials: " << result.err;
  // --trace names the calls and prints their own arguments.
  EXPECT_NE(result.err.find("sendmmsg(3, 0x"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("recvmmsg(3, 0x"), std::string::npos) << result.err;
}

const std::string kCpuTimeProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/cpu_time";

// A sleep costs no CPU time, computing does, per thread and per process, as
// clock_gettime, clock(), getrusage and times() report it; bad clock ids and
// arguments get Linux's errors. On one vCPU and on two (a thread's clock read
// from another vCPU while that thread waits there).
// The machine an app sees is its VM: as many CPUs as vCPUs (glibc finds no /sys
// or /proc and asks sched_getaffinity, with no denial line for its probes), and
// memory within --memory (sysinfo, _SC_PHYS_PAGES: before, sysinfo was ENOSYS and
// glibc's _SC_PHYS_PAGES answered petabytes).
TEST_F(MiscSyscalls, TheMachineAnAppSeesIsItsVm) {
  for (const std::string cpus : {"1", "2"}) {
    const std::string memory = std::to_string(64ull << 20);
    const ProcessResult answered = run_process(
        {kHyperlet, "run", "--timeout", "20s", "--cpus", cpus, "--memory", "64M", kProgram, "machine", cpus, memory});
    ASSERT_EQ(answered.status, 0) << describe(answered);
    const std::string expected =
        "hardware_concurrency, get_nprocs, get_nprocs_conf, _SC_NPROCESSORS_ONLN: the vCPUs\n"
        "sched_getaffinity: 0, " +
        cpus + " CPUs\n" +
        "sched_getaffinity of 4 bytes: EINVAL\n"
        "sched_getaffinity of pid 999999: ESRCH\n"
        "sched_setaffinity to none: EINVAL\n"
        "sched_setaffinity to CPU 0: ok\n"
        "sysinfo: 0, memory within the limit: yes, free below total: yes, phys pages agree: yes\n"
        "sysinfo of a bad pointer: EFAULT\n";
    EXPECT_EQ(answered.out, expected) << "--cpus " << cpus;
    EXPECT_EQ(answered.err, "") << "--cpus " << cpus;
  }
}

TEST_F(MiscSyscalls, CpuTimeCountsWhatThreadsRanAndNotTheirSleep) {
  const ProcessResult native = run_process({kCpuTimeProgram});
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_EQ(native.out.find(": no"), std::string::npos) << "the native run disagrees: " << native.out;
  for (const char* cpus : {"1", "2"}) {
    const ProcessResult result = run_process({kHyperlet, "run", "--timeout", "60s", "--cpus", cpus, kCpuTimeProgram});
    ASSERT_EQ(result.status, 0) << "--cpus " << cpus << ": " << describe(result);
    EXPECT_EQ(result.out, native.out) << "--cpus " << cpus;
  }
}

// A forked child is a new process: its CPU time starts again; the parent's stays.
TEST_F(MiscSyscalls, AForkedChildStartsWithNoCpuTime) {
  const ProcessResult result =
      run_process({kHyperlet, "run", "--timeout", "60s", "--processes", "1", kCpuTimeProgram, "fork"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "the child starts with under 100 ms of CPU time: yes\n"
            "the parent keeps its 200 ms: yes\n");
}

// An execve replaces the image, not the process: its CPU time goes on, as natively.
TEST_F(MiscSyscalls, CpuTimeGoesOnAcrossAnExecve) {
  const ProcessResult native = run_process({kCpuTimeProgram, "exec", kCpuTimeProgram});
  ASSERT_EQ(native.status, 0) << describe(native);
  const ProcessResult result = run_process({kHyperlet, "run", "--timeout", "60s", "--processes", "1", "--volume",
                                            std::string(HYPERLET_TEST_PROGRAMS_DIR) + ":/programs:ro", kCpuTimeProgram,
                                            "exec", "/programs/cpu_time"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, native.out);
  EXPECT_EQ(result.out, "the CPU time goes on across an execve: yes\n");
}

}  // namespace
}  // namespace hyperlet::testing
