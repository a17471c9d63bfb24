// Snapshots in real microVMs: `hyperlet snapshot` then `hyperlet run --restore`
// continues the app as if uninterrupted, restores share nothing they write,
// clocks and random bytes are fresh, the restoring command line is the policy,
// and a damaged snapshot is refused with one line.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
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
const std::string kProbe = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/snapshot_probe";
const std::string kHttpServer = HYPERLET_HTTP_SERVER_SAMPLE;

ProcessResult hyperlet(std::vector<std::string> args) {
  args.insert(args.begin(), kHyperlet);
  return run_process(args);
}

// The value after `key ` on its own line of `text`.
std::string line_value(const std::string& text, const std::string& key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key + " ", 0) == 0) return line.substr(key.size() + 1);
  }
  return "";
}

class Snapshot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
  // Takes a snapshot of the probe in `mode` at ready(); its output is what came before.
  void take(const std::string& mode, std::vector<std::string> options = {}) {
    std::vector<std::string> args{"snapshot", "-o", file_};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), {kProbe, mode});
    const auto result = hyperlet(args);
    ASSERT_EQ(result.status, 0) << describe(result);
    ASSERT_EQ(result.out, "before ready\n");
    ASSERT_NE(result.err.find("hyperlet: snapshot written to " + file_), std::string::npos) << result.err;
  }
  ProcessResult restore(std::vector<std::string> options = {}) {
    std::vector<std::string> args{"run", "--restore", file_};
    args.insert(args.end(), options.begin(), options.end());
    return hyperlet(args);
  }
  TempDir directory_;
  const std::string file_ = directory_ / "app.snapshot";
};

TEST_F(Snapshot, RestoreContinuesTheRunAsIfUninterrupted) {
  const auto whole = run_process({kHyperlet, "run", kProbe, "thread"});
  ASSERT_EQ(whole.status, 0) << describe(whole);
  take("thread");  // a second thread waits on a condition variable at the snapshot
  const auto restored = restore();
  EXPECT_EQ(restored.status, 0) << describe(restored);
  EXPECT_EQ("before ready\n" + restored.out, whole.out);
  EXPECT_EQ(restored.out, "thread saw counter 42\n");
  const auto stats = restore({"--stats"});
  EXPECT_NE(stats.err.find("snapshot restored"), std::string::npos) << stats.err;
  EXPECT_EQ(stats.err.find("first instruction"), std::string::npos) << stats.err;  // that was another run's
  // --trace is the restoring command line's, for the guest kernel's answers too.
  const auto traced = restore({"--trace"});
  EXPECT_NE(traced.err.find("[hyperlet guest] futex("), std::string::npos) << traced.err;
}

TEST_F(Snapshot, RandomBytesDifferAndClocksAreTheHostsAfterEachRestore) {
  take("counter");
  std::this_thread::sleep_for(1100ms);  // the snapshot's realtime is now a second old
  const auto first = restore();
  const auto second = restore();
  ASSERT_EQ(first.status, 0) << describe(first);
  ASSERT_EQ(second.status, 0) << describe(second);
  EXPECT_EQ(line_value(first.out, "after ready: counter"), "42");
  EXPECT_EQ(line_value(second.out, "after ready: counter"), "42");
  EXPECT_NE(line_value(first.out, "random"), line_value(second.out, "random")) << first.out << second.out;
  EXPECT_EQ(line_value(first.out, "monotonic"), "forward");
  const long long realtime = std::stoll(line_value(second.out, "realtime"));
  EXPECT_LE(std::llabs(realtime - static_cast<long long>(std::time(nullptr))), 1) << second.out;
}

// Both map the same file copy-on-write and run at once: each sees the counter
// the snapshot had, incremented once by itself.
TEST_F(Snapshot, ConcurrentRestoresOfOneFileDoNotSeeEachOthersWrites) {
  take("sleep");
  const std::string out_a = directory_ / "a.out", out_b = directory_ / "b.out";
  BackgroundProcess a({kHyperlet, "run", "--restore", file_}, out_a);
  BackgroundProcess b({kHyperlet, "run", "--restore", file_}, out_b);
  EXPECT_EQ(a.wait(), 0);
  EXPECT_EQ(b.wait(), 0);
  for (const std::string& out : {read_file(out_a), read_file(out_b)}) {
    EXPECT_EQ(line_value(out, "after ready: counter"), "42") << out;
    EXPECT_EQ(line_value(out, "after sleep: counter"), "42") << out;
  }
  EXPECT_NE(line_value(read_file(out_a), "random"), line_value(read_file(out_b), "random"));
}

// Pipes with waiting bytes (and one whose writer was closed), eventfd counts and
// timerfds (one to fire later, one fired and unread) come back as they were.
TEST_F(Snapshot, PipesEventfdsAndTimerfdsAreKept) {
  take("anonymous");
  const auto restored = restore();
  EXPECT_EQ(restored.status, 0) << describe(restored);
  EXPECT_EQ(restored.out,
            "pipe: waiting\npipe again: more\nclosed pipe: last\nclosed pipe then: 0\neventfd: 5\nsemaphore: 3\n"
            "expired timer: fired\nlater timer: fired 1, waited under 1 s\n")
      << restored.err;
}

TEST_F(Snapshot, AtASyscallTheRestoreServesItFirst) {
  const auto result = hyperlet({"snapshot", "--at-syscall", "getcwd", "-o", file_, kProbe, "getcwd"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.err.find("taken at getcwd"), std::string::npos) << result.err;
  const auto restored = restore();
  EXPECT_EQ(restored.status, 0) << describe(restored);
  EXPECT_EQ(restored.out, "after getcwd: /\n");
  EXPECT_EQ(hyperlet({"snapshot", "--at-syscall", "no_such_call", "-o", file_, kProbe}).status, 125);
  // An app that never gets there: an error, not a silent success without a file.
  fs::remove(file_);
  auto never = hyperlet({"snapshot", "--at-syscall", "getcwd", "-o", file_, kProbe, "counter"});
  EXPECT_EQ(never.status, 125) << describe(never);
  EXPECT_NE(never.err.find("the app ended (status 0) before its first getcwd syscall: no snapshot was written"),
            std::string::npos)
      << never.err;
  EXPECT_FALSE(fs::exists(file_));
  never = hyperlet({"snapshot", "-o", file_, std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/exit_with", "3"});
  EXPECT_EQ(never.status, 125) << describe(never);
  EXPECT_NE(never.err.find("before it called hyperlet::ready()"), std::string::npos) << never.err;
}

// Files are reopened by guest path under the restoring command line's volumes.
TEST_F(Snapshot, VolumeFilesAreReopenedOnlyWhereTheRestoreGrantsThem) {
  TempDir volume;
  take("file", {"--volume", volume.path().string() + ":/data"});
  auto restored = restore({"--volume", volume.path().string() + ":/data"});
  EXPECT_EQ(restored.status, 0) << describe(restored);
  EXPECT_EQ(restored.out, "wrote two\n");
  EXPECT_EQ(read_file(volume / "log"), "one\ntwo\n");
  restored = restore();
  EXPECT_EQ(restored.status, 125) << describe(restored);
  EXPECT_NE(restored.err.find("the app had /data/log open, and no --volume of this command line grants it"),
            std::string::npos)
      << restored.err;
  restored = restore({"--volume", volume.path().string() + ":/data:ro"});
  EXPECT_EQ(restored.status, 125) << describe(restored);
  EXPECT_NE(restored.err.find("its --volume is :ro now"), std::string::npos) << restored.err;
}

// The HTTP sample, snapshotted at ready() with its listener and epoll set, is
// restored behind another host port and answers; without a --publish rule for
// its guest port the restore is refused.
TEST_F(Snapshot, TheHttpSampleRestoredServesOnTheRestoringRulesPort) {
  TempDir site;
  std::ofstream(site / "index.html") << "hello from a restored VM\n";
  const std::string volume = site.path().string() + ":/www:ro";
  const auto taken = hyperlet({"snapshot", "-o", file_, "--volume", volume, "--publish",
                               std::to_string(free_port()) + ":8080", kHttpServer, "--root", "/www", "--port", "8080"});
  ASSERT_EQ(taken.status, 0) << describe(taken);
  const int port = free_port();
  BackgroundProcess server({kHyperlet, "run", "--restore", file_, "--volume", volume, "--publish",
                            std::to_string(port) + ":8080", "--timeout", "20s"},
                           directory_ / "server.out");
  const std::string response = http_get(port, "/index.html");
  EXPECT_NE(response.find("200"), std::string::npos) << response;
  EXPECT_NE(response.find("hello from a restored VM"), std::string::npos) << response;
  const auto refused = restore({"--volume", volume});
  EXPECT_EQ(refused.status, 125) << describe(refused);
  EXPECT_NE(refused.err.find("the app serves guest port 8080/tcp, and no --publish rule of this command line "
                             "grants it"),
            std::string::npos)
      << refused.err;
}

// A crash after the restore is reported as in any run, the function named from
// the image as long as it is the file that was snapshotted.
TEST_F(Snapshot, ACrashAfterTheRestoreNamesTheFunction) {
  take("crash");
  const auto restored = restore();
  EXPECT_EQ(restored.status, 139) << describe(restored);
  EXPECT_NE(restored.err.find("(crash_after_restore+"), std::string::npos) << restored.err;
}

// Damage anywhere is refused before anything runs, with one line.
TEST_F(Snapshot, DamagedSnapshotsAreRefused) {
  take("counter");
  const auto size = fs::file_size(file_);
  std::string original = read_file(file_);
  auto damaged = [&](std::uint64_t offset, const std::string& message) {
    std::string bytes = original;
    bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
    std::ofstream(file_, std::ios::binary | std::ios::trunc) << bytes;
    const auto result = restore();
    EXPECT_EQ(result.status, 126) << offset << ": " << describe(result);
    EXPECT_EQ(result.out, "");
    EXPECT_NE(result.err.find(message), std::string::npos) << offset << ": " << result.err;
  };
  damaged(0, "not a hyperlet snapshot");
  damaged(8, "snapshot format");
  damaged(100, "its header is corrupt");
  damaged(4096 + 8, "its vCPU section is corrupt");
  damaged(size - 100, "its guest pages are corrupt");
  for (const std::uint64_t length : {std::uint64_t{10}, std::uint64_t{5000}, size - 4096}) {
    std::ofstream(file_, std::ios::binary | std::ios::trunc) << original.substr(0, length);
    const auto result = restore();
    EXPECT_EQ(result.status, 126) << length << ": " << describe(result);
    EXPECT_NE(result.err.find("cannot restore"), std::string::npos) << result.err;
  }
  EXPECT_EQ(hyperlet({"run", "--restore", directory_ / "missing"}).status, 127);
  EXPECT_EQ(hyperlet({"run", "--restore", file_, kProbe}).status, 125);  // an APP as well
}

}  // namespace
}  // namespace hyperlet::testing
