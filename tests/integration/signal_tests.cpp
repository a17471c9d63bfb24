// Signals delivered as Linux delivers them (programs/signals.cpp): handlers,
// masks, flags, the alternate stack, registers across a handler, threads, the
// app's own fault handlers, and signals sent to hyperlet that the app handles.
// Each section's output in the microVM is compared with the same program's
// native run. Skips without /dev/kvm.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

using namespace std::chrono_literals;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgram = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/signals";
const std::string kTimers = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/signal_timers";

class Signals : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
  // `options`: hyperlet's (--cpus 2).
  static void expect_same_as_native(const std::string& section, const std::string& program = kProgram,
                                    const std::vector<std::string>& options = {}) {
    const ProcessResult expected = run_process({program, section});
    ASSERT_EQ(expected.status, 0) << describe(expected);
    std::vector<std::string> command = {kHyperlet, "run", "--timeout", "20s"};
    command.insert(command.end(), options.begin(), options.end());
    command.push_back(program);
    command.push_back(section);
    const ProcessResult result = run_process(command);
    ASSERT_EQ(result.status, 0) << describe(result);
    EXPECT_EQ(result.out, expected.out);
    EXPECT_EQ(result.err, "");
  }

  // Starts COMMAND (the app natively, or under hyperlet) in the background,
  // waits for the app's "ready", sends SIGNALS one after another, waits for
  // the end: the shell's output is the app's, then "status N".
  static ProcessResult signalled(const std::vector<std::string>& command, const std::string& signals,
                                 bool keep_stdin_open = false) {
    std::string script =
        "exec 3<&0; out=$(mktemp); \"$@\" <&3 >\"$out\" & pid=$!; "
        "for i in $(seq 1 400); do grep -q ready \"$out\" && break; sleep 0.05; done; "
        "for s in " +
        signals +
        "; do kill -$s $pid; sleep 0.3; done; "
        "wait $pid; status=$?; cat \"$out\"; rm -f \"$out\"; echo \"status $status\"";
    std::vector<std::string> argv = {"/bin/sh", "-c", script, "sh"};
    argv.insert(argv.end(), command.begin(), command.end());
    ProcessOptions options;
    options.safety_timeout = 30s;
    options.keep_stdin_open = keep_stdin_open;
    return run_process(argv, options);
  }
};

// ---- handlers run ----
TEST_F(Signals, HandlerRunsForRaiseKillTgkillTkillAndSignal) { expect_same_as_native("basic"); }

TEST_F(Signals, MaskBlocksPendingIsDeliveredOnUnblockIgnoringDiscards) { expect_same_as_native("mask"); }

TEST_F(Signals, NodeferResethandAndSaMask) { expect_same_as_native("flags"); }

TEST_F(Signals, SigaltstackAndSaOnstack) { expect_same_as_native("altstack"); }

TEST_F(Signals, EveryRegisterAndTheVectorStateSurviveAHandler) { expect_same_as_native("registers"); }

TEST_F(Signals, SigpipeHandlerRunsAndTheWriteFailsWithEpipe) { expect_same_as_native("sigpipe"); }

TEST_F(Signals, PerThreadMaskAndPthreadKillInterruptingAFutexWait) { expect_same_as_native("threads"); }

TEST_F(Signals, SigsuspendWithAPendingSignalAndOneSentWhileWaiting) { expect_same_as_native("suspend"); }

TEST_F(Signals, SigwaitinfoSigtimedwaitAndSigwait) { expect_same_as_native("timedwait"); }

TEST_F(Signals, PthreadCancelOfAThreadBlockedInSemWait) { expect_same_as_native("cancel"); }

// The reader's read is a parked host call (another thread lives): the cancel's
// signal interrupts it there.
TEST_F(Signals, PthreadCancelOfAThreadBlockedInRead) { expect_same_as_native("cancel-read"); }

TEST_F(Signals, MuslHandlersUcontextAndSiglongjmpFromAnAlternateStack) {
  const std::string program = HYPERLET_MUSL_SIGNALS;
  if (program.empty()) GTEST_SKIP() << "musl-gcc was not found at configure time";
  const ProcessResult expected = run_process({program});
  ASSERT_EQ(expected.status, 0) << describe(expected);
  ASSERT_EQ(expected.out, "usr1: 2\nsegv at 0x30\nSIGSEGV blocked after siglongjmp: 0\n");
  const ProcessResult result = run_process({kHyperlet, "run", "--timeout", "20s", program});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, expected.out);
}

// ---- timers that signal (programs/signal_timers.cpp), on one vCPU and two ----
const std::vector<std::string> kTwoCpus = {"--cpus", "2"};

TEST_F(Signals, AlarmFiresWhileTheAppComputes) { expect_same_as_native("alarm", kTimers); }

TEST_F(Signals, ItimerRealPeriodicAndItimerProfWhileComputing) {
  expect_same_as_native("itimer-compute", kTimers);
  expect_same_as_native("itimer-compute", kTimers, kTwoCpus);
}

// nanosleep, pause and a read of an empty pipe (a blocking host call of a
// single thread): EINTR, or the read made again after an SA_RESTART handler.
TEST_F(Signals, ATimerInterruptsSleepPauseAndABlockingReadAsLinux) {
  expect_same_as_native("itimer-block", kTimers);
  expect_same_as_native("itimer-block", kTimers, kTwoCpus);
}

TEST_F(Signals, PosixTimersSignalThreadIdNoneAndGlibcsSigevThread) {
  expect_same_as_native("posix-timers", kTimers);
  expect_same_as_native("posix-timers", kTimers, kTwoCpus);
}

// The reader's read is a parked host call (another thread computes).
TEST_F(Signals, ATimerReachesAThreadParkedInReadBesideAComputingOne) {
  expect_same_as_native("timer-threads", kTimers);
  expect_same_as_native("timer-threads", kTimers, kTwoCpus);
}

TEST_F(Signals, RealTimeSignalsQueueWithTheirValuesStandardOnesDoNot) { expect_same_as_native("queueing", kTimers); }

TEST_F(Signals, SigtimedwaitTimesOutWithEagainAndTakesATimersSignal) { expect_same_as_native("waiting", kTimers); }

TEST_F(Signals, SignalfdReadPollAndEpoll) {
  expect_same_as_native("signalfd", kTimers);
  expect_same_as_native("signalfd", kTimers, kTwoCpus);
}

TEST_F(Signals, SigtermToHyperletReachesASignalfdThatWatchesIt) {
  const ProcessResult native = signalled({kTimers, "signalfd-sigterm"}, "TERM");
  ASSERT_EQ(native.out, "ready\nsignalfd read 128 bytes: SIGTERM\nstatus 0\n") << describe(native);
  const ProcessResult result = signalled({kHyperlet, "run", kTimers, "signalfd-sigterm"}, "TERM");
  EXPECT_EQ(result.out, native.out) << describe(result);
}

TEST_F(Signals, BadTimerIdsClocksSigeventsAndPointersGetLinuxsErrno) { expect_same_as_native("errors", kTimers); }

// ---- synchronous faults ----
TEST_F(Signals, FaultsGoToTheAppsHandlerAndSiglongjmpRecovers) { expect_same_as_native("faults"); }

TEST_F(Signals, ABlockedFaultSignalStillEndsTheRunWithTheFaultReport) {
  const ProcessResult result = run_process({kHyperlet, "run", kProgram, "fault-blocked"});
  EXPECT_EQ(result.status, 139) << describe(result);
  EXPECT_EQ(result.out, "faulting with SIGSEGV blocked\n");
  EXPECT_NE(result.err.find("hyperlet: app crashed: page fault (#PF)"), std::string::npos) << describe(result);
}

TEST_F(Signals, AFrameThatCannotBeWrittenEndsTheRunWithSigsegvAsOnLinux) {
  const ProcessResult native = run_process({kProgram, "bad-altstack"});
  ASSERT_EQ(native.status, 139) << describe(native);
  const ProcessResult result = run_process({kHyperlet, "run", kProgram, "bad-altstack"});
  EXPECT_EQ(result.status, 139) << describe(result);
  EXPECT_EQ(result.out, native.out);
  EXPECT_EQ(result.err, "hyperlet: app killed by SIGSEGV (Segmentation fault)\n");
  // A fault's own handler that cannot run: the fault report, as without a handler.
  const ProcessResult fault = run_process({kHyperlet, "run", kProgram, "bad-altstack-fault"});
  EXPECT_EQ(fault.status, 139) << describe(fault);
  EXPECT_NE(fault.err.find("hyperlet: app crashed: page fault (#PF)"), std::string::npos) << describe(fault);
}

TEST_F(Signals, StackOverflowWithoutAnAlternateStackEndsWithTheFaultReport) {
  const ProcessResult result = run_process({kHyperlet, "run", kProgram, "overflow-without-altstack"});
  EXPECT_EQ(result.status, 139) << describe(result);
  EXPECT_NE(result.err.find("hyperlet: app crashed: page fault (#PF)"), std::string::npos) << describe(result);
  EXPECT_NE(result.err.find("stack overflow"), std::string::npos) << describe(result);
}

// ---- signals sent to hyperlet reach the app ----
TEST_F(Signals, SigtermToHyperletRunsTheAppsHandlerWhileItComputes) {
  const ProcessResult native = signalled({kProgram, "service-compute"}, "TERM");
  ASSERT_EQ(native.out, "ready\ndraining\nstatus 0\n") << describe(native);
  const ProcessResult result = signalled({kHyperlet, "run", kProgram, "service-compute"}, "TERM");
  EXPECT_EQ(result.out, native.out) << describe(result);
}

TEST_F(Signals, SigtermEndsAPauseLoop) {
  const ProcessResult native = signalled({kProgram, "service-pause"}, "TERM");
  ASSERT_EQ(native.out, "ready\ndraining\nstatus 0\n") << describe(native);
  const ProcessResult result = signalled({kHyperlet, "run", kProgram, "service-pause"}, "TERM");
  EXPECT_EQ(result.out, native.out) << describe(result);
}

TEST_F(Signals, SigtermInterruptsABlockingReadWithEintr) {
  const ProcessResult native = signalled({kProgram, "service-read"}, "TERM", true);
  ASSERT_EQ(native.out, "ready\nread returned -1 (EINTR) after 0 SIGUSR1\ndraining\nstatus 0\n") << describe(native);
  const ProcessResult result = signalled({kHyperlet, "run", kProgram, "service-read"}, "TERM", true);
  EXPECT_EQ(result.out, native.out) << describe(result);
}

// SIGUSR1's handler has SA_RESTART: the read goes on after it; SIGTERM's has not.
TEST_F(Signals, ABlockingReadIsRestartedAfterAnSaRestartHandler) {
  const ProcessResult native = signalled({kProgram, "service-read-restart"}, "USR1 TERM", true);
  ASSERT_EQ(native.out, "ready\nread returned -1 (EINTR) after 1 SIGUSR1\ndraining\nstatus 0\n") << describe(native);
  const ProcessResult result = signalled({kHyperlet, "run", kProgram, "service-read-restart"}, "USR1 TERM", true);
  EXPECT_EQ(result.out, native.out) << describe(result);
}

TEST_F(Signals, SigtermInterruptsABlockingAcceptWithEintr) {
  const std::string native_section = "service-accept:" + std::to_string(free_port());
  const ProcessResult native = signalled({kProgram, native_section}, "TERM");
  ASSERT_EQ(native.out, "ready\naccept returned -1 (EINTR)\ndraining\nstatus 0\n") << describe(native);
  const int port = free_port();
  const ProcessResult result =
      signalled({kHyperlet, "run", "--publish", "127.0.0.1:" + std::to_string(port) + ":" + std::to_string(port),
                 kProgram, "service-accept:" + std::to_string(port)},
                "TERM");
  EXPECT_EQ(result.out, native.out) << describe(result);
}

TEST_F(Signals, Sigusr1ToHyperletRunsTheAppsHandlerEachTime) {
  const ProcessResult native = signalled({kProgram, "service-usr1"}, "USR1 USR1");
  ASSERT_EQ(native.out, "ready\nSIGUSR1 handled 2 times\nstatus 0\n") << describe(native);
  const ProcessResult result = signalled({kHyperlet, "run", kProgram, "service-usr1"}, "USR1 USR1");
  EXPECT_EQ(result.out, native.out) << describe(result);
}

TEST_F(Signals, WithoutAHandlerSigtermStillStopsTheRunWith143) {
  const ProcessResult result = signalled({kHyperlet, "run", kProgram, "service-no-handler"}, "TERM");
  EXPECT_EQ(result.out, "ready\nstatus 143\n") << describe(result);
  EXPECT_NE(result.err.find("hyperlet: stopped by SIGTERM\n"), std::string::npos) << describe(result);
}

TEST_F(Signals, StopTimeoutEndsAnAppWhoseHandlerDoesNotExit) {
  const ProcessResult result =
      signalled({kHyperlet, "run", "--stop-timeout", "1s", kProgram, "service-stubborn"}, "TERM");
  EXPECT_EQ(result.out, "ready\nstatus 143\n") << describe(result);
  EXPECT_NE(result.err.find("hyperlet: stopped by SIGTERM: the app did not exit within --stop-timeout 1s"),
            std::string::npos)
      << describe(result);
  EXPECT_LT(result.elapsed, 10s);
}

}  // namespace
}  // namespace hyperlet::testing
