// Threads in real microVMs (programs/threads.cpp): each section's output in the
// microVM is compared with the same program's native run. Skips without /dev/kvm.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/threads";

class Threads : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
  static ProcessResult in_vm(const std::string& section) {
    return run_process({kHyperlet, "run", "--timeout", "20s", kProgram, section});
  }
  static ProcessResult native(const std::string& section) { return run_process({kProgram, section}); }
  // The section prints the same and exits 0 in a microVM as natively.
  static void expect_same_as_native(const std::string& section) {
    const ProcessResult expected = native(section);
    ASSERT_EQ(expected.status, 0) << describe(expected);
    const ProcessResult result = in_vm(section);
    ASSERT_EQ(result.status, 0) << describe(result);
    EXPECT_EQ(result.out, expected.out);
    EXPECT_EQ(result.err, "");
  }
};

TEST_F(Threads, ParallelSumInFourThreads) { expect_same_as_native("sum"); }

TEST_F(Threads, MutexAndConditionVariableProducerConsumer) { expect_same_as_native("producer-consumer"); }

TEST_F(Threads, ThreadLocalValuesPerThread) { expect_same_as_native("thread-local"); }

TEST_F(Threads, ExceptionThrownAndCaughtInsideAThread) { expect_same_as_native("exception"); }

TEST_F(Threads, AsyncFutures) { expect_same_as_native("async"); }

TEST_F(Threads, TwoHundredThreadsOneAfterAnotherAndEightAtOnce) { expect_same_as_native("many"); }

TEST_F(Threads, DeadlockEndsTheRunWithOneLine) {
  const ProcessResult result = in_vm("deadlock");
  EXPECT_FALSE(result.killed_by_safety_timeout) << describe(result);
  EXPECT_EQ(result.status, 119) << describe(result);
  EXPECT_EQ(result.out, "both hold a lock\n");
  EXPECT_EQ(result.err,
            "hyperlet: app deadlocked: all 2 of its threads wait on futexes with no timeout, and none can run\n")
      << describe(result);
}

// Preemption (host time slices): threads that never block still take turns.
TEST_F(Threads, TwoThreadsSpinningOnAtomicsForEachOther) { expect_same_as_native("spin-wait"); }

TEST_F(Threads, PrinterRunsBesideAThreadThatComputesWithoutBlocking) {
  expect_same_as_native("compute-and-print");
}

TEST_F(Threads, TimeSlicesEndOnlyWhileThreadsRun) {
  const ProcessResult result = run_process({kHyperlet, "run", "--stats", "--timeout", "20s", kProgram, "spin-wait"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.err.find("thread time slices: "), std::string::npos) << describe(result);
  EXPECT_NE(result.err.find("threads-started      1"), std::string::npos) << describe(result);
}

// No timer for a single-threaded app: 50 ms of computing is never interrupted.
TEST_F(Threads, SingleThreadedAppGetsNoTimeSlices) {
  const ProcessResult result =
      run_process({kHyperlet, "run", "--stats", "--timeout", "20s", kProgram, "compute-alone"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "computed alone for some rounds\n");
  EXPECT_EQ(result.err.find("interrupted"), std::string::npos) << describe(result);
  EXPECT_EQ(result.err.find("time slices"), std::string::npos) << describe(result);
  EXPECT_EQ(result.err.find("threads-started"), std::string::npos) << describe(result);
}

// Go's runtime·clone hands the child its function in r12: a child must start
// with all of the parent's registers, not zeroed callee-saved ones.
TEST_F(Threads, RawCloneChildStartsWithTheParentsRegisters) {
  expect_same_as_native("clone-registers");
  EXPECT_EQ(native("clone-registers").out,
            "rbx kept, rbp kept, r12 kept, r13 kept, r14 kept, r15 kept, r9 kept, rsp is the new stack\n");
}

TEST_F(Threads, ForkLikeCloneStillFails) {
  const ProcessResult result = in_vm("fork");
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "clone(SIGCHLD) failed\n");
}

}  // namespace
}  // namespace hyperlet::testing
