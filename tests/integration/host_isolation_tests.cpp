// What the host keeps to itself whatever the app does: the run does not depend
// on the image file once it is loaded, and every host task of a run (hyperlet's
// threads and the teardown reaper) runs under a seccomp filter.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgramsDir = HYPERLET_TEST_PROGRAMS_DIR;
std::string program(const std::string& name) { return kProgramsDir + "/" + name; }

class HostIsolation : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
};

// The app truncates its own image through a writable volume. Its segments were
// file mappings: the kernel takes truncated pages from every mapping, so the
// next instruction fetch ended the run with "KVM_RUN failed: Bad address" (122)
// and a crash report died of SIGBUS (135, no hyperlet line). Now the segments
// are read into guest memory and the file is not mapped at all.
TEST_F(HostIsolation, TruncatingTheImageWhileItRunsChangesNothing) {
  TempDir volume;
  const std::string image = volume / "self_truncate";
  fs::copy_file(program("self_truncate"), image);
  auto result =
      run_process({kHyperlet, "run", "--volume", volume.path().string() + ":/app", image, "/app/self_truncate"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "truncated; checksum " + std::to_string([] {
                          unsigned long value = 7;
                          for (int i = 0; i < 1000; ++i) value = value * 6364136223846793005ul + 1442695040888963407ul;
                          return value % 1000;
                        }()) +
                            "\n");
  EXPECT_EQ(fs::file_size(image), 0u);  // it really was truncated

  fs::copy_file(program("self_truncate"), image, fs::copy_options::overwrite_existing);
  result = run_process(
      {kHyperlet, "run", "--volume", volume.path().string() + ":/app", image, "/app/self_truncate", "crash"});
  // The crash is still reported in full; only the function name is left out,
  // because the file that would name it is no longer the one that was loaded.
  EXPECT_EQ(result.status, 139) << describe(result);
  EXPECT_NE(result.err.find("hyperlet: app crashed: page fault (#PF) at rip 0x"), std::string::npos)
      << describe(result);
  EXPECT_EQ(result.err.find("crash_after_truncate"), std::string::npos) << describe(result);
}

// "Seccomp" and "NoNewPrivs" of /proc/<pid>/task/<tid>/status.
std::string filter_state(const fs::path& status_file) {
  std::ifstream in(status_file);
  std::string line, seccomp = "?", no_new_privs = "?";
  while (std::getline(in, line)) {
    if (line.rfind("Seccomp:", 0) == 0) seccomp = line.substr(line.find_first_not_of(" \t", 8));
    if (line.rfind("NoNewPrivs:", 0) == 0) no_new_privs = line.substr(line.find_first_not_of(" \t", 11));
  }
  return "Seccomp " + seccomp + ", NoNewPrivs " + no_new_privs;
}

// The teardown reaper is a process of its own (CLONE_VM, not a thread), so
// hyperlet's TSYNC filter never reached it, yet it shares hyperlet's memory and
// holds /dev/kvm and the VM's fds. Now it installs its own filter, and hyperlet
// serves the guest only after that.
TEST_F(HostIsolation, EveryHostTaskOfARunIsFiltered) {
  TempDir directory;
  const std::string out = directory / "out";
  BackgroundProcess run({kHyperlet, "run", "--timeout", "20s", program("spin")}, out);
  ASSERT_GT(run.pid(), 0);
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  while (read_file(out) != "spinning\n") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the app never started";
    std::this_thread::sleep_for(10ms);
  }
  const fs::path process = "/proc/" + std::to_string(run.pid());
  std::vector<std::string> children;
  int threads = 0;
  for (const auto& task : fs::directory_iterator(process / "task")) {
    ++threads;
    EXPECT_EQ(filter_state(task.path() / "status"), "Seccomp 2, NoNewPrivs 1") << task.path();
    std::istringstream listed(read_file((task.path() / "children").string()));
    for (std::string child; listed >> child;) children.push_back(child);
  }
  EXPECT_GE(threads, 1);
  ASSERT_EQ(children.size(), 1u) << "expected the teardown reaper as hyperlet's only child";
  EXPECT_EQ(filter_state("/proc/" + children[0] + "/status"), "Seccomp 2, NoNewPrivs 1");
}

}  // namespace
}  // namespace hyperlet::testing
