// What siginfo will say of a signal hyperlet hands its app (vm/stop_signals.h):
// the first instance's info stays while the signal waits (standard signals
// coalesce, and Linux keeps the first one's siginfo); once taken, the next
// instance brings its own.
#include <gtest/gtest.h>
#include <signal.h>

#include "vm/stop_signals.h"

namespace hyperlet {
namespace {

class AppSignalInfoTest : public ::testing::Test {
 protected:
  void SetUp() override { g_app_signals.store(0); }
  void TearDown() override { g_app_signals.store(0); }
};

TEST_F(AppSignalInfoTest, TheFirstInstancesInfoStaysUntilTheSignalIsTaken) {
  signal_for_app(SIGCHLD, AppSignalInfo{CLD_EXITED, 4321, 7});
  signal_for_app(SIGCHLD, AppSignalInfo{CLD_KILLED, 4322, SIGTERM});
  EXPECT_EQ(g_app_signals.load(), std::uint64_t{1} << (SIGCHLD - 1));
  AppSignalInfo info = app_signal_info(SIGCHLD);
  EXPECT_EQ(info.code, CLD_EXITED);
  EXPECT_EQ(info.sender, 4321);
  EXPECT_EQ(info.status, 7);
  EXPECT_FALSE(info.sender_is_guest_pid);

  g_app_signals.exchange(0);  // the run loop took it
  signal_for_app(SIGCHLD, AppSignalInfo{CLD_KILLED, 4322, SIGTERM});
  info = app_signal_info(SIGCHLD);
  EXPECT_EQ(info.code, CLD_KILLED);
  EXPECT_EQ(info.sender, 4322);
  EXPECT_EQ(info.status, SIGTERM);
}

TEST_F(AppSignalInfoTest, EachSignalKeepsItsOwnAndOutOfRangeSignalsAreIgnored) {
  signal_for_app(SIGUSR1, AppSignalInfo{SI_USER, 12, 0, true});
  signal_for_app(SIGRTMIN + 3, AppSignalInfo{SI_USER, 0, 0});
  signal_for_app(0, AppSignalInfo{SI_USER, 99, 0});
  signal_for_app(65, AppSignalInfo{SI_USER, 99, 0});
  EXPECT_EQ(g_app_signals.load(), (std::uint64_t{1} << (SIGUSR1 - 1)) | (std::uint64_t{1} << (SIGRTMIN + 3 - 1)));
  EXPECT_EQ(app_signal_info(SIGUSR1).sender, 12);
  EXPECT_TRUE(app_signal_info(SIGUSR1).sender_is_guest_pid);
  EXPECT_EQ(app_signal_info(SIGRTMIN + 3).sender, 0);
  EXPECT_EQ(app_signal_info(0).sender, 0);
  EXPECT_EQ(app_signal_info(65).code, SI_USER);
}

}  // namespace
}  // namespace hyperlet
