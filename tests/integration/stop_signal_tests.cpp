// SIGINT and SIGTERM stop a run wherever they land, start-up included, with the
// same status, line and --stats as during the run; and nothing of a run
// (hyperlet, its teardown reaper) outlives a kill.
//
// Start-up takes a few milliseconds, so a signal "during start-up" is made
// deterministic with hyperlet's test hook HYPERLET_TEST_SIGNAL_AT=STEP:SIG
// (vm/stop_signals.h): hyperlet sends itself SIG when start-up reaches STEP,
// as if it came from outside at that moment. The app is `spin`, which never
// ends by itself: a lost signal leaves it spinning until the safety timeout.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

using namespace std::chrono_literals;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kSpin = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/spin";
const std::vector<std::string> kStartupSteps = {"options", "image", "kvm", "guest"};

class StopSignals : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
};

ProcessOptions signal_at(const std::string& step, const std::string& signal) {
  ProcessOptions options;
  options.extra_environment = {"HYPERLET_TEST_SIGNAL_AT=" + step + ":" + signal};
  options.safety_timeout = 15s;
  return options;
}

// For a test that made itself the child subreaper: true once every child,
// orphans adopted included, has ended and been reaped. The reaper's exit signal
// is 0, so only __WALL waits for it.
bool no_child_left_within(std::chrono::milliseconds limit) {
  for (auto waited = 0ms; waited < limit; waited += 10ms) {
    int status = 0;
    const pid_t child = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (child < 0 && errno == ECHILD) return true;
    if (child == 0) std::this_thread::sleep_for(10ms);
  }
  return false;
}

// The regression: a background job of a non-interactive shell starts with
// SIGINT ignored, and hyperlet installed its handler only just before the run
// loop, so a SIGINT during start-up was dropped and the app ran on (issue 11:
// Network.SigintAndSigtermStopAnAppBlockedInAccept under a slow QEMU start).
TEST_F(StopSignals, SigintAtEveryStartupStepStopsTheRunEvenWhenItStartedIgnored) {
  for (const std::string& step : kStartupSteps) {
    SCOPED_TRACE("SIGINT at start-up step " + step);
    // `trap '' INT` makes the shell, and so the exec'd hyperlet, start with SIGINT ignored.
    const ProcessResult result = run_process(
        {"/bin/sh", "-c", "trap '' INT; exec \"$0\" run --stats \"$1\"", kHyperlet, kSpin}, signal_at(step, "INT"));
    EXPECT_FALSE(result.killed_by_safety_timeout) << "the signal was lost\n" << describe(result);
    EXPECT_EQ(result.status, 130) << describe(result);
    EXPECT_EQ(result.out, "") << "the app must not have started";
    EXPECT_NE(result.err.find("hyperlet stats:"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("hyperlet: stopped by SIGINT\n"), std::string::npos) << result.err;
  }
}

TEST_F(StopSignals, SigtermAtEveryStartupStepEndsWithTheRunsStatusAndLine) {
  for (const std::string& step : kStartupSteps) {
    SCOPED_TRACE("SIGTERM at start-up step " + step);
    const ProcessResult result = run_process({kHyperlet, "run", "--stats", kSpin}, signal_at(step, "TERM"));
    EXPECT_FALSE(result.killed_by_safety_timeout) << describe(result);
    EXPECT_EQ(result.status, 143) << describe(result);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find("hyperlet stats:"), std::string::npos) << result.err;
    EXPECT_NE(result.err.find("hyperlet: stopped by SIGTERM\n"), std::string::npos) << result.err;
  }
}

// The same signal during the run, for comparison: the same status and line.
TEST_F(StopSignals, SigintDuringTheRunStopsTheSpinningApp) {
  const ProcessResult result = run_process(
      {"/bin/sh", "-c", "trap '' INT; \"$0\" run --stats \"$1\" & sleep 1; kill -INT $!; wait $!", kHyperlet, kSpin});
  EXPECT_EQ(result.status, 130) << describe(result);
  EXPECT_EQ(result.out, "spinning\n");
  EXPECT_NE(result.err.find("hyperlet stats:"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("hyperlet: stopped by SIGINT\n"), std::string::npos) << result.err;
}

// hyperlet SIGKILLed once its VM, vCPU and teardown reaper exist: the reaper
// (a CLONE_VM process of its own, which blocks every other signal) must die
// with it (PR_SET_PDEATHSIG). The test is the subreaper, so an orphaned reaper
// would become its child: it must end, and so leave no child behind.
TEST_F(StopSignals, NothingOfAKilledRunOutlivesIt) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  for (const std::string& step : {std::string("kvm"), std::string("guest")}) {
    SCOPED_TRACE("SIGKILL at start-up step " + step);
    const ProcessResult result = run_process({kHyperlet, "run", kSpin}, signal_at(step, "KILL"));
    EXPECT_EQ(result.status, 137) << describe(result);
    EXPECT_TRUE(no_child_left_within(5s)) << "a process of the killed run is still alive after 5 s";
  }
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// A test's safety timeout kills the whole process group it started, not only
// the shell: a hyperlet started in the background by that shell used to live on.
TEST_F(StopSignals, SafetyTimeoutKillsTheWholeProcessGroup) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  ProcessOptions options;
  options.safety_timeout = 2s;
  const ProcessResult result = run_process({"/bin/sh", "-c", "\"$0\" run \"$1\" & wait", kHyperlet, kSpin}, options);
  EXPECT_TRUE(result.killed_by_safety_timeout) << describe(result);
  EXPECT_TRUE(no_child_left_within(5s)) << "the background hyperlet outlived the safety timeout's kill";
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

}  // namespace
}  // namespace hyperlet::testing
