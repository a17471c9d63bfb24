// The embedding API (include/hyperlet/host.h): microVMs restored in this test's
// own process from a snapshot of programs/reset_probe.cpp, run with a request on
// stdin, reset, and run again; a pool of them. Every run after a reset must see
// exactly the snapshot's state: no counter, heap, buffer or fd of a run before.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hyperlet/host.h>
#include <unistd.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "process.h"

namespace {

using namespace hyperlet::testing;

const std::string kProbe = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/reset_probe";

// A pipe whose read end is a VM's stdin or whose write end is its stdout.
struct Pipe {
  Pipe() { EXPECT_EQ(::pipe2(ends, O_CLOEXEC), 0); }
  ~Pipe() {
    for (int end : ends) {
      if (end >= 0) ::close(end);
    }
  }
  int read_end() const { return ends[0]; }
  int write_end() const { return ends[1]; }
  int ends[2] = {-1, -1};
};

std::string drain(int fd) {
  std::string text;
  char buffer[4096];
  ::fcntl(fd, F_SETFL, O_NONBLOCK);
  for (ssize_t got; (got = ::read(fd, buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(got));
  return text;
}

class Embedding : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }

  // A snapshot of the probe at ready(), taken by the hyperlet command.
  hyperlet::Snapshot take(const std::string& mode = "plain", const std::vector<std::string>& options = {}) {
    std::vector<std::string> args{HYPERLET_BINARY, "snapshot", "-o", file_};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), {kProbe, mode});
    const auto taken = run_process(args);
    EXPECT_EQ(taken.status, 0) << describe(taken);
    auto snapshot = hyperlet::Snapshot::open(file_);
    EXPECT_TRUE(snapshot) << (snapshot ? "" : snapshot.error().message);
    return std::move(*snapshot);
  }

  // Runs `vm` with `request` on stdin: its status and output.
  std::pair<hyperlet::Result<int>, std::string> serve(hyperlet::Vm& vm, const std::string& request) {
    EXPECT_EQ(::write(input_.write_end(), request.data(), request.size()), static_cast<ssize_t>(request.size()));
    auto status = vm.run();
    return {status, drain(output_.read_end())};
  }

  hyperlet::VmOptions options() const {
    hyperlet::VmOptions options;
    options.console_fds = {input_.read_end(), output_.write_end(), 2};
    return options;
  }

  TempDir dir_;
  std::string file_ = dir_ / "probe.snap";
  Pipe input_, output_;
};

// "request R: runs 1, heap clean, buffer clean, next fd 3, remap zero, random X" -> without the random part.
std::string without_random(const std::string& line) {
  return std::regex_replace(line, std::regex(", random [0-9a-f]+\n"), "");
}
std::string random_of(const std::string& line) {
  std::smatch match;
  return std::regex_search(line, match, std::regex("random ([0-9a-f]+)")) ? match[1].str() : "";
}

TEST_F(Embedding, EveryRunAfterAResetSeesOnlyTheSnapshotsState) {
  auto snapshot = take();
  auto vm = hyperlet::Vm::restore(snapshot, options());
  ASSERT_TRUE(vm) << vm.error().message;
  std::set<std::string> randoms;
  for (int round = 1; round <= 4; ++round) {
    auto [status, output] = serve(*vm, "r" + std::to_string(round) + "\n");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, 0);
    EXPECT_EQ(without_random(output),
              "request r" + std::to_string(round) + ": runs 1, heap clean, buffer clean, next fd 3, remap zero");
    randoms.insert(random_of(output));
    auto reset = vm->reset();
    ASSERT_TRUE(reset) << reset.error().message;
    // The probe writes 256 pages of its buffer, a heap page, its stack...: all
    // given back, and far fewer than the whole snapshot.
    EXPECT_GE(vm->stats().reset_pages, 256u);
    EXPECT_LT(vm->stats().reset_pages, snapshot.page_count() + 300);
  }
  EXPECT_EQ(randoms.size(), 4u) << "getrandom repeated itself across resets";
}

// KVM's count of guest page faults it handled (write-protection faults of the
// dirty log among them) since the VM's vCPU was made.
std::uint64_t faults_taken(const hyperlet::Vm& vm) {
  const auto& counters = vm.stats().kvm_vcpu;
  const auto found = counters.find("pf_taken");
  return found == counters.end() ? 0 : found->second;
}

// vm/kept_dirty_pages.h: a page a run wrote is not write-protected by the reset,
// so the next run writes it without a fault; the reset still gives it the
// snapshot's bytes every time (the first test's rounds see a clean buffer).
TEST_F(Embedding, PagesARunWroteStayWritableSoTheNextRunWritesThemWithoutFaults) {
  auto snapshot = take();
  hyperlet::VmOptions with_stats = options();
  with_stats.stats = true;
  auto vm = hyperlet::Vm::restore(snapshot, with_stats);
  ASSERT_TRUE(vm) << vm.error().message;
  std::vector<std::uint64_t> faults;
  std::uint64_t before = 0;
  for (int round = 1; round <= 4; ++round) {
    auto [status, output] = serve(*vm, "k\n");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(without_random(output), "request k: runs 1, heap clean, buffer clean, next fd 3, remap zero");
    faults.push_back(faults_taken(*vm) - before);
    before = faults_taken(*vm);
    ASSERT_TRUE(vm->reset());
    EXPECT_FALSE(vm->stats().reset_protected) << "round " << round;
    EXPECT_GE(vm->stats().reset_pages, 256u) << "round " << round;
  }
  if (faults[0] == 0) GTEST_SKIP() << "this KVM does not report pf_taken";
  // The first run touches its 256-page buffer for the first time; later runs
  // fault only where the run maps memory afresh (the probe's 16 remapped pages).
  EXPECT_GE(faults[0], 256u);
  EXPECT_LT(faults[2], 64u) << "faults per run: " << faults[0] << ", " << faults[1] << ", " << faults[2];
  EXPECT_LT(faults[3], 64u);
}

// ...until there are too many of them to copy at each reset, or after
// KeptDirtyPages::kResetsBetweenProtections resets: then the reset protects
// them again and the next run's writes fault (and are recorded) again.
TEST_F(Embedding, ResetProtectsWrittenPagesAgainWhenTooManyOrAfterEnoughResets) {
  auto snapshot = take();
  hyperlet::VmOptions with_stats = options();
  with_stats.stats = true;
  auto vm = hyperlet::Vm::restore(snapshot, with_stats);
  ASSERT_TRUE(vm) << vm.error().message;
  EXPECT_EQ(without_random(serve(*vm, "wide\n").second),
            "request wide: runs 1, heap clean, buffer clean, next fd 3, remap zero");
  ASSERT_TRUE(vm->reset());
  EXPECT_TRUE(vm->stats().reset_protected) << "a run that wrote 1,800 pages left them all writable";
  EXPECT_GE(vm->stats().reset_pages, 1536u + 256u);
  std::uint64_t before = faults_taken(*vm);
  EXPECT_EQ(without_random(serve(*vm, "a\n").second),
            "request a: runs 1, heap clean, buffer clean, next fd 3, remap zero");
  const std::uint64_t after_protection = faults_taken(*vm) - before;
  if (faults_taken(*vm) != 0) {
    EXPECT_GE(after_protection, 256u) << "the buffer's pages were not write-protected again";
  }
  for (unsigned reset = 1; reset <= 64; ++reset) {
    ASSERT_TRUE(vm->reset());
    EXPECT_EQ(vm->stats().reset_protected, reset == 64) << "reset " << reset;
    if (reset < 64) {
      EXPECT_EQ(without_random(serve(*vm, "b\n").second),
                "request b: runs 1, heap clean, buffer clean, next fd 3, remap zero");
    }
  }
}

TEST_F(Embedding, TwoVmsOfOneSnapshotDoNotSeeEachOthersWrites) {
  auto snapshot = take();
  auto first = hyperlet::Vm::restore(snapshot, options());
  ASSERT_TRUE(first) << first.error().message;
  auto second = hyperlet::Vm::restore(snapshot, options());
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(without_random(serve(*first, "a\n").second),
            "request a: runs 1, heap clean, buffer clean, next fd 3, remap zero");
  EXPECT_EQ(without_random(serve(*second, "b\n").second),
            "request b: runs 1, heap clean, buffer clean, next fd 3, remap zero");
}

TEST_F(Embedding, ResetClosesTheFilesARunOpened) {
  TempDir data;
  auto snapshot = take("files", {"--volume", data.path().string() + ":/data"});
  auto volume = hyperlet::parse_volume_spec(data.path().string() + ":/data");
  ASSERT_TRUE(volume);
  hyperlet::VmOptions with_volume = options();
  with_volume.volumes.push_back(*volume);
  auto vm = hyperlet::Vm::restore(snapshot, with_volume);
  ASSERT_TRUE(vm) << vm.error().message;
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(without_random(serve(*vm, "f\n").second),
              "request f: runs 1, heap clean, buffer clean, next fd 3, remap zero");
    ASSERT_TRUE(vm->reset());
  }
}

TEST_F(Embedding, AThreadStillRunningAtTheEndDoesNotReachTheNextRun) {
  auto snapshot = take("threads");
  auto vm = hyperlet::Vm::restore(snapshot, options());
  ASSERT_TRUE(vm) << vm.error().message;
  for (int round = 0; round < 3; ++round) {
    auto [status, output] = serve(*vm, "t\n");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, 0);
    EXPECT_EQ(without_random(output), "request t: runs 1, heap clean, buffer clean, next fd 3, remap zero");
    ASSERT_TRUE(vm->reset());
  }
}

TEST_F(Embedding, AFaultEndsOneRunAndTheResetVmServesAgain) {
  auto snapshot = take();
  auto vm = hyperlet::Vm::restore(snapshot, options());
  ASSERT_TRUE(vm) << vm.error().message;
  auto [crashed, ignored] = serve(*vm, "crash\n");
  EXPECT_TRUE(!crashed || *crashed != 0) << "a null-pointer read ended with status 0";
  ASSERT_TRUE(vm->reset());
  auto [status, output] = serve(*vm, "after\n");
  ASSERT_TRUE(status) << status.error().message;
  EXPECT_EQ(without_random(output), "request after: runs 1, heap clean, buffer clean, next fd 3, remap zero");
}

TEST_F(Embedding, APoolLendsEachVmOnceAndTakesItBackReset) {
  auto snapshot = take();
  auto pool = hyperlet::VmPool::create(snapshot, options(), 2);
  ASSERT_TRUE(pool) << pool.error().message;
  auto first = (*pool)->acquire();
  ASSERT_TRUE(first);
  auto second = (*pool)->acquire();
  ASSERT_TRUE(second);
  auto none = (*pool)->acquire();
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("every VM of the pool (2) is in use"), std::string::npos);
  EXPECT_EQ(without_random(serve(first->vm(), "p\n").second),
            "request p: runs 1, heap clean, buffer clean, next fd 3, remap zero");
  ASSERT_TRUE(first->release());
  EXPECT_EQ((*pool)->available(), 1u);
  auto again = (*pool)->acquire();
  ASSERT_TRUE(again);
  EXPECT_EQ(without_random(serve(again->vm(), "q\n").second),
            "request q: runs 1, heap clean, buffer clean, next fd 3, remap zero");
}

TEST_F(Embedding, SnapshotTakeRunsTheAppToReadyInProcess) {
  auto taken = hyperlet::Snapshot::take(kProbe, {"plain"}, file_);
  ASSERT_TRUE(taken) << taken.error().message;
  auto vm = hyperlet::Vm::restore(*taken, options());
  ASSERT_TRUE(vm) << vm.error().message;
  EXPECT_EQ(without_random(serve(*vm, "t\n").second),
            "request t: runs 1, heap clean, buffer clean, next fd 3, remap zero");
}

// A toolchain image's hyperlet::ready() and glibc's _exit are direct syscall
// sites (abi::is_direct_syscall): the snapshot is taken in ring 3, so a reset VM
// starts there and not in the guest kernel's syscall return, and exit_group ends
// the run without entering the guest kernel. On kvm_pvm, where ring-0
// instructions are emulated, that is ~120 fewer per request; under QEMU's TCG
// (scripts/test-hw-kvm) direct sites take the #GP way, and the answers must be
// the same.
TEST_F(Embedding, AToolchainImageResumesInRingThreeAndExitsStraightToTheHost) {
  auto snapshot = hyperlet::Snapshot::take(PER_REQUEST_VM_HANDLER, {}, file_);
  ASSERT_TRUE(snapshot) << snapshot.error().message;
  hyperlet::VmOptions with_stats = options();
  with_stats.stats = true;
  auto vm = hyperlet::Vm::restore(*snapshot, with_stats);
  ASSERT_TRUE(vm) << vm.error().message;
  std::uint64_t emulated_before = 0;
  for (int round = 1; round <= 3; ++round) {
    auto [status, output] = serve(*vm, "GET /r" + std::to_string(round) + " HTTP/1.1\r\nHost: a\r\n\r\n");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_EQ(*status, 0);
    EXPECT_NE(output.find("path /r" + std::to_string(round) + ", requests seen by this memory 1,"), std::string::npos)
        << output;
    const auto& stats = vm->stats();
    const auto counter = [&](const std::map<std::string, std::uint64_t>& map, const std::string& name) {
      const auto found = map.find(name);
      return found == map.end() ? std::uint64_t{0} : found->second;
    };
    const std::uint64_t emulated = counter(stats.kvm_vcpu, "insn_emulation") - emulated_before;
    emulated_before = counter(stats.kvm_vcpu, "insn_emulation");
    const bool direct = counter(stats.hypercalls, "direct-syscall") != 0;
    if (stats.syscall_entry.find("trap") != std::string::npos && std::filesystem::exists("/sys/module/kvm_pvm")) {
      EXPECT_TRUE(direct) << "round " << round;
    }
    if (direct) {
      // read, write, exit_group: all three from ring 3; no kExit from the guest kernel.
      EXPECT_EQ(counter(stats.hypercalls, "direct-syscall"), 3u) << "round " << round;
      EXPECT_EQ(counter(stats.hypercalls, "exit"), 0u) << "round " << round;
      if (std::filesystem::exists("/sys/module/kvm_pvm")) {
        EXPECT_LT(emulated, 20u) << "round " << round;
      }
    } else {
      EXPECT_EQ(counter(stats.hypercalls, "exit"), 1u) << "round " << round;
    }
    ASSERT_TRUE(vm->reset());
  }
}

// samples/per-request-vm: every request in a freshly reset VM; each answer says
// its memory saw one request, and the front end reports its numbers at the end.
TEST_F(Embedding, ThePerRequestVmSampleAnswersEachRequestFromAFreshVm) {
  const int port = free_port();
  BackgroundProcess front({PER_REQUEST_VM, "--port", std::to_string(port), "--requests", "3", "--pool", "2"},
                          dir_ / "front.out");
  std::set<std::string> bodies;
  for (const std::string path : {"/one", "/two", "/three"}) {
    const std::string response = http_get(port, path);
    EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
    EXPECT_NE(response.find("from a fresh microVM: path " + path + ", requests seen by this memory 1, token "),
              std::string::npos)
        << response;
    bodies.insert(response.substr(response.find("token ")));
  }
  EXPECT_EQ(bodies.size(), 3u) << "two requests got the same random token";
  EXPECT_EQ(front.wait(), 0);
  const std::string report = read_file(dir_ / "front.out");
  EXPECT_NE(report.find("per-request-vm: 3 requests (0 failed)"), std::string::npos) << report;
  EXPECT_NE(report.find("reset to the snapshot: median "), std::string::npos) << report;
}

// Parsing needs no KVM: hostile files are refused by Snapshot::open with one line.
TEST(EmbeddingSnapshotFile, HostileFilesAreRefusedWhenOpened) {
  TempDir dir;
  const std::string path = dir / "bad.snap";
  { std::ofstream(path) << "not a snapshot at all"; }
  auto short_file = hyperlet::Snapshot::open(path);
  ASSERT_FALSE(short_file);
  EXPECT_NE(short_file.error().message.find("not a hyperlet snapshot"), std::string::npos)
      << short_file.error().message;
  {
    std::ofstream out(path);
    out << std::string(8192, 'x');
  }
  auto garbage = hyperlet::Snapshot::open(path);
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("not a hyperlet snapshot"), std::string::npos) << garbage.error().message;
  auto missing = hyperlet::Snapshot::open(dir / "missing.snap");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("cannot open the snapshot"), std::string::npos) << missing.error().message;
}

}  // namespace
