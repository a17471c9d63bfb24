// Threads blocked in host calls while other threads run (programs/blocking_threads.cpp):
// a call that would block parks its thread in the guest and the host watches
// its fd off the vCPU (devices/parked_calls.h). Each section's output in the
// microVM is compared with the native run's. Skips without /dev/kvm.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/blocking_threads";

class BlockingThreads : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
  static ProcessResult in_vm(const std::vector<std::string>& arguments) {
    std::vector<std::string> argv = {kHyperlet, "run", "--timeout", "20s"};
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    return run_process(argv);
  }
  static void expect_same_as_native(const std::string& section) {
    const ProcessResult expected = run_process({kProgram, section});
    ASSERT_EQ(expected.status, 0) << describe(expected);
    const ProcessResult result = in_vm({"--stats", kProgram, section});
    ASSERT_EQ(result.status, 0) << describe(result);
    EXPECT_EQ(result.out, expected.out);
    // The wait was parked, not served by blocking the vCPU.
    EXPECT_NE(result.err.find("parked calls: "), std::string::npos) << describe(result);
  }
};

TEST_F(BlockingThreads, ReadOnAPipeFedByAnotherThread) { expect_same_as_native("read-pipe"); }

TEST_F(BlockingThreads, ComputingThreadFinishesWhileAnotherSleeps) { expect_same_as_native("compute-beside-sleeper"); }

TEST_F(BlockingThreads, PollForeverOnAPipeAnotherThreadWrites) { expect_same_as_native("poll-pipe"); }

TEST_F(BlockingThreads, PollWithATimeoutTimesOutWhileAnotherThreadComputes) { expect_same_as_native("timed-poll"); }

TEST_F(BlockingThreads, EventfdWakeUpsFromAnotherThread) { expect_same_as_native("eventfd"); }

TEST_F(BlockingThreads, EpollWaitForeverOnAnEventfdAnotherThreadWrites) { expect_same_as_native("epoll-eventfd"); }

// Two threads asleep for 1.5 s: the host waits too, it does not spin. (Boot and
// thread start cost CPU, ~0.1 s here and several times that under emulation, so
// the bound is relative: a spinning host would use CPU the whole time.)
TEST_F(BlockingThreads, SleepingThreadsCostAlmostNoHostCpu) {
  const ProcessResult result = in_vm({kProgram, "idle-sleepers", "1500"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "both slept\n");
  EXPECT_GE(result.elapsed.count(), 1500);
  EXPECT_LT(result.cpu_time.count() * 2, result.elapsed.count())
      << "host CPU " << result.cpu_time.count() << " ms in " << result.elapsed.count() << " ms, 1500 of them asleep";
}

// The main thread blocks in accept while a detached thread serves each
// connection it accepted: every client gets its answer.
TEST_F(BlockingThreads, ThreadPerConnectionServerAnswersEveryClient) {
  const int port = free_port();
  const std::string address = "127.0.0.1:" + std::to_string(port) + ":" + std::to_string(port);
  ProcessResult result;
  std::thread server([&] {
    result = in_vm({"--publish", address, kProgram, "thread-per-connection", std::to_string(port), "3"});
  });
  for (int i = 0; i < 3; ++i) {
    const std::string response = http_get(port, "/");
    EXPECT_NE(response.find("served by a thread"), std::string::npos) << "client " << i << " got: " << response;
  }
  server.join();
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "served 3 connections\n");
}

// libuv's loop waits in epoll_wait while its pool threads write a file and run
// a work item, and another thread wakes it: the same output as natively.
TEST_F(BlockingThreads, LibuvLoopWithItsThreadPool) {
  const std::string uv_loop = HYPERLET_UV_LOOP;
  if (uv_loop.empty()) GTEST_SKIP() << "no static libuv (install libuv1-dev: scripts/install-deps does)";
  TempDir native_dir, guest_dir;
  const ProcessResult expected = run_process({uv_loop, native_dir.path().string()});
  ASSERT_EQ(expected.status, 0) << describe(expected);
  const ProcessResult result = in_vm({"--volume", guest_dir.path().string() + ":/data", uv_loop, "/data"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, expected.out);
  EXPECT_EQ(read_file((guest_dir.path() / "uv-output.txt").string()), "written by a libuv pool thread\n");
}

}  // namespace
}  // namespace hyperlet::testing
