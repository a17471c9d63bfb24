// fork, vfork, wait and kill (programs/processes.cpp, busybox sh): each child
// process is a microVM in a hyperlet process of its own. Every section's output
// is compared with the same program's native run. Skips without /dev/kvm.
#include <gtest/gtest.h>
#include <unistd.h>

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
    std::vector<std::string> command = {kHyperlet, "run", "--timeout", "30s", "--processes", "30"};
    command.insert(command.end(), extra_options.begin(), extra_options.end());
    command.push_back(kProgram);
    command.insert(command.end(), arguments.begin(), arguments.end());
    const ProcessResult result = run_process(command);
    ASSERT_EQ(result.status, 0) << describe(result);
    EXPECT_EQ(result.out, expected.out);
    EXPECT_EQ(result.err, "");
  }
  static inline std::vector<std::string> extra_options;
};

TEST_F(Processes, ChildHasACopyOfMemoryAndItsOwnPid) { expect_same_as_native({"cow"}); }

TEST_F(Processes, PipeBetweenParentAndChild) { expect_same_as_native({"pipe"}); }

TEST_F(Processes, DeathsBySignalAndKillReachWait) { expect_same_as_native({"signals"}); }

TEST_F(Processes, WaitpidWaitidAndKillAnswerAsNatively) { expect_same_as_native({"waiting"}); }

TEST_F(Processes, ForkFromAThreadedProcessKeepsOnlyTheCaller) { expect_same_as_native({"threads"}); }

TEST_F(Processes, VforkChildExits) { expect_same_as_native({"vfork"}); }

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

TEST_F(Processes, InvalidProcessesIsAUsageError) {
  for (const char* value : {"many", "-1", "4097"}) {
    const ProcessResult result = run_process({kHyperlet, "run", "--processes", value, kProgram, "cow"});
    EXPECT_EQ(result.status, 125) << describe(result);
    EXPECT_NE(result.err.find("invalid --processes"), std::string::npos) << result.err;
  }
}

}  // namespace
}  // namespace hyperlet::testing
