// More than one vCPU (--cpus N) in real microVMs (programs/cpus.cpp): each
// section prints what it prints natively, with 2 vCPUs (and 1, the default).
// Skips without /dev/kvm; the sections that need two vCPUs skip on a one-CPU host.
#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

using namespace std::chrono_literals;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/cpus";
const std::string kThreadsProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/threads";

ProcessOptions long_run() {
  ProcessOptions options;
  options.safety_timeout = 90s;
  return options;
}

class Cpus : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
    if (::sysconf(_SC_NPROCESSORS_ONLN) < 2) GTEST_SKIP() << "one host CPU: --cpus 2 is refused here";
  }
  static ProcessResult in_vm(const std::string& program, const std::string& section, const std::string& cpus,
                             const std::vector<std::string>& options = {}) {
    std::vector<std::string> command = {kHyperlet, "run", "--cpus", cpus, "--timeout", "60s"};
    command.insert(command.end(), options.begin(), options.end());
    command.insert(command.end(), {program, section});
    return run_process(command, long_run());
  }
  static void expect_same_as_native(const std::string& section, const std::string& program = kProgram,
                                    const std::vector<std::string>& options = {}) {
    const ProcessResult expected = run_process({program, section});
    ASSERT_EQ(expected.status, 0) << describe(expected);
    for (const std::string cpus : {"2", "1"}) {
      const ProcessResult result = in_vm(program, section, cpus, options);
      ASSERT_EQ(result.status, 0) << "--cpus " << cpus << ": " << describe(result);
      EXPECT_EQ(result.out, expected.out) << "--cpus " << cpus;
      EXPECT_EQ(result.err, "") << "--cpus " << cpus;
    }
  }
};

TEST_F(Cpus, FourThreadsComputeTheNativeChecksums) { expect_same_as_native("parallel"); }

TEST_F(Cpus, MutexAtomicAndConditionVariableCountersUnderContention) { expect_same_as_native("counters"); }

TEST_F(Cpus, FutexPingPongAcrossVcpus) { expect_same_as_native("ping-pong"); }

// A stale translation on the reader's vCPU must not let it read on (TLB shootdown).
TEST_F(Cpus, AReaderOnAnotherVcpuFaultsWhenItsPageBecomesProtNone) { expect_same_as_native("protect-reader"); }

TEST_F(Cpus, ABlockingReadInOneThreadWhileAnotherComputes) { expect_same_as_native("blocking-read"); }

TEST_F(Cpus, SigtermSentByTheAppReachesItsHandler) { expect_same_as_native("kill-self"); }

// The target computes alone on the other vCPU: the sender interrupts that vCPU.
TEST_F(Cpus, PthreadKillReachesAThreadComputingOnAnotherVcpu) { expect_same_as_native("pthread-kill-computing"); }

// A fork, an execve or a posix_spawn (vfork) made by a thread on any vCPU while
// another thread computes: the other vCPUs wait outside the guest meanwhile,
// vCPU 0's host thread makes it, and a forked child continues the forking
// thread on one vCPU (with threads of its own); an exec'd image gets every vCPU again.
TEST_F(Cpus, ThreadsForkWhileOthersCompute) {
  expect_same_as_native("fork-from-threads", kProgram, {"--processes", "4"});
}

TEST_F(Cpus, AThreadExecsWhileAnotherComputes) { expect_same_as_native("exec-from-thread"); }

TEST_F(Cpus, ThreadsPosixSpawnWhileOthersCompute) {
  // --quiet: the spawn of a file outside every volume is also a denial line.
  expect_same_as_native("spawn-from-threads", kProgram, {"--processes", "4", "--quiet"});
}

// The --stats of the first forked child in `section` show vCPU 1 running.
void expect_first_child_ran_on_vcpu_one(const std::string& section) {
  const ProcessResult result = run_process(
      {kHyperlet, "run", "--cpus", "2", "--timeout", "60s", "--processes", "4", "--stats", kProgram, section},
      long_run());
  ASSERT_EQ(result.status, 0) << describe(result);
  const std::size_t child_stats = result.err.find("(forked from 1;");
  ASSERT_NE(child_stats, std::string::npos) << describe(result);
  // Up to the next process's stats.
  const std::size_t next_stats = result.err.find("hyperlet stats", child_stats);
  const std::string child_part = result.err.substr(child_stats, next_stats - child_stats);
  std::smatch vcpu_one;
  ASSERT_TRUE(std::regex_search(child_part, vcpu_one, std::regex(R"(vCPU 1 +(\d+) exits)"))) << describe(result);
  EXPECT_GT(std::stoull(vcpu_one[1].str()), 0u) << describe(result);
}

// A forked child starts on one vCPU and gets the run's others (made in the
// child, with their threads) when its second thread appears or it execs.
TEST_F(Cpus, AForkedChildsExecdImageRunsOnEveryVcpu) {
  expect_same_as_native("fork-exec", kProgram, {"--processes", "2"});
  expect_first_child_ran_on_vcpu_one("fork-exec");
}

TEST_F(Cpus, AForkedChildsThreadsRunOnEveryVcpu) { expect_first_child_ran_on_vcpu_one("fork-from-threads"); }

TEST_F(Cpus, SigtermSentToHyperletReachesTheHandlerWhileThreadsCompute) {
  const std::string script =
      "out=$(mktemp); \"$@\" >\"$out\" & pid=$!; "
      "for i in $(seq 1 400); do grep -q ready \"$out\" && break; sleep 0.05; done; "
      "sleep 0.2; kill -TERM $pid; wait $pid; status=$?; cat \"$out\"; rm -f \"$out\"; echo \"status $status\"";
  const ProcessResult result = run_process(
      {"/bin/sh", "-c", script, "sh", kHyperlet, "run", "--cpus", "2", "--timeout", "60s", kProgram, "sigterm"},
      long_run());
  EXPECT_EQ(result.out, "ready\nSIGTERM handled; 2 threads stopped\nstatus 0\n") << describe(result);
}

// The existing thread programs, on two vCPUs.
TEST_F(Cpus, ThreadSuiteSectionsOnTwoVcpus) {
  for (const std::string section : {"sum", "producer-consumer", "thread-local", "exception", "async", "many",
                                    "spin-wait", "compute-and-print", "clone-registers"}) {
    SCOPED_TRACE(section);
    const ProcessResult expected = run_process({kThreadsProgram, section});
    ASSERT_EQ(expected.status, 0) << describe(expected);
    const ProcessResult result = in_vm(kThreadsProgram, section, "2");
    ASSERT_EQ(result.status, 0) << describe(result);
    EXPECT_EQ(result.out, expected.out);
  }
}

TEST_F(Cpus, DeadlockOnTwoVcpusStillEndsTheRun) {
  const ProcessResult result = in_vm(kThreadsProgram, "deadlock", "2");
  EXPECT_EQ(result.status, 119) << describe(result);
  EXPECT_EQ(result.out, "both hold a lock\n");
}

TEST_F(Cpus, StatsShowEachVcpu) {
  const ProcessResult result =
      run_process({kHyperlet, "run", "--cpus", "2", "--stats", "--timeout", "60s", kProgram, "parallel"}, long_run());
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.err.find("vCPU 0 "), std::string::npos) << describe(result);
  EXPECT_NE(result.err.find("vCPU 1 "), std::string::npos) << describe(result);
}

// --cpus is checked before anything runs: what is wrong, in one line, status 125.
class CpusOption : public ::testing::Test {};

TEST_F(CpusOption, ZeroTooManyAndNotANumberAreRefused) {
  const long host = ::sysconf(_SC_NPROCESSORS_ONLN);
  const std::string too_many = std::to_string(host + 1);
  struct Case {
    std::string value;
    std::string message;
  };
  for (const Case& bad : {Case{"0", "hyperlet: invalid --cpus 0: a VM needs at least 1 vCPU\n"},
                          Case{"two", "hyperlet: invalid --cpus 'two': not a whole number of vCPUs (e.g. --cpus 2)\n"},
                          Case{"-1", "hyperlet: invalid --cpus '-1': not a whole number of vCPUs (e.g. --cpus 2)\n"},
                          Case{too_many, "at most"}}) {
    const ProcessResult result = run_process({kHyperlet, "run", "--cpus", bad.value, kProgram, "parallel"});
    EXPECT_EQ(result.status, 125) << bad.value << ": " << describe(result);
    EXPECT_NE(result.err.find(bad.message), std::string::npos) << describe(result);
    EXPECT_EQ(result.out, "");
  }
}

}  // namespace
}  // namespace hyperlet::testing
