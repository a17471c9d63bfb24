// The syscall-site rewrite (--syscall-entry trap, which works on every KVM)
// changes only provable code: `0f 05` bytes in data placed in .text stay as
// built, OpenSSL's P-256 gives the native run's keys and verifies every
// signature, and a `syscall` the analysis cannot see (made at run time) either
// works (hardware KVM takes it through LSTAR) or ends the run with a report
// naming it — never a hang or a wrong result.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <string>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kPlantedData = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/planted_data";
const std::string kP256 = HYPERLET_P256;

class SyscallSites : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
    // Each run analyses the image afresh: a site cache from elsewhere proves nothing.
    cache_ = std::filesystem::temp_directory_path() / ("hyperlet-site-cache-" + std::to_string(::getpid()));
  }
  void TearDown() override { std::filesystem::remove_all(cache_); }

  ProcessResult run_trapped(const std::vector<std::string>& app) const {
    std::vector<std::string> argv = {kHyperlet, "run", "--stats", "--syscall-entry", "trap"};
    argv.insert(argv.end(), app.begin(), app.end());
    ProcessOptions options;
    options.extra_environment = {"XDG_CACHE_HOME=" + cache_.string()};
    return run_process(argv, options);
  }

  std::filesystem::path cache_;
};

TEST_F(SyscallSites, DataInTextIsNotRewritten) {
  const ProcessResult result = run_trapped({kPlantedData, "tables"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "tables intact\n") << describe(result);
  EXPECT_NE(result.err.find("found by decoding the image"), std::string::npos) << result.err;
  // ... and the same from the site cache on the second run.
  const ProcessResult cached = run_trapped({kPlantedData, "tables"});
  EXPECT_EQ(cached.out, "tables intact\n") << describe(cached);
  EXPECT_NE(cached.err.find("from the site cache"), std::string::npos) << cached.err;
}

TEST_F(SyscallSites, OpenSslP256MatchesTheNativeRun) {
  if (kP256.empty()) GTEST_SKIP() << "no static libcrypto (install libssl-dev)";
  const ProcessResult native = run_process({kP256, "200"});
  ASSERT_EQ(native.status, 0) << describe(native);
  const ProcessResult guest = run_trapped({kP256, "200"});
  EXPECT_EQ(guest.status, 0) << describe(guest);
  EXPECT_EQ(guest.out, native.out);
  EXPECT_NE(guest.out.find("verified 200 of 200"), std::string::npos) << guest.out.substr(guest.out.size() - 200);
}

// A syscall no analysis can see. On hardware KVM it reaches the kernel through
// LSTAR; on kvm_pvm it reaches the LSTAR address in ring 3 and faults there, and
// the kernel has the host rewrite it (it ran, so it is code) and resumes at it.
// Either way it works, and --trace names a run-time rewrite where one happened.
TEST_F(SyscallSites, AnUnrewrittenSyscallWorks) {
  const ProcessResult result = run_trapped({"--trace", kPlantedData, "generated-syscall"});
  std::smatch address;
  ASSERT_TRUE(std::regex_search(result.out, address, std::regex("syscall at (0x[0-9a-f]+)"))) << describe(result);
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("getpid ok"), std::string::npos) << describe(result);
  if (result.err.find("syscall-site(") != std::string::npos) {
    EXPECT_NE(result.err.find("syscall-site(" + address[1].str() + ") = 0 (a `syscall` the analysis missed"),
              std::string::npos)
        << result.err;
  }
}

// The same with the app's own SIGSEGV handler (every Go program installs one):
// the stray `syscall` on kvm_pvm is not the app's fault and never its signal.
TEST_F(SyscallSites, AnUnrewrittenSyscallIsNotTheAppsSegv) {
  const ProcessResult result = run_trapped({kPlantedData, "generated-syscall-with-handler"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out.find("handler ran"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("getpid ok"), std::string::npos) << describe(result);
}

// A stripped musl program's threads, a signal and a read: as natively.
TEST_F(SyscallSites, StrippedMuslThreadsRunAsNatively) {
  const std::string program = HYPERLET_MUSL_THREADS;
  if (program.empty()) GTEST_SKIP() << "no musl-gcc (install musl-tools)";
  ProcessOptions input;
  input.stdin_data = "hello";
  const ProcessResult native = run_process({program}, input);
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_EQ(native.out, "usr1\nworker 0\nworker 1\nworker 2\nread 5\n");
  std::vector<std::string> argv = {kHyperlet, "run", "--syscall-entry", "trap", program};
  const ProcessResult guest = run_process(argv, input);
  EXPECT_EQ(guest.status, 0) << describe(guest);
  EXPECT_EQ(guest.out, native.out) << describe(guest);
}

}  // namespace
}  // namespace hyperlet::testing
