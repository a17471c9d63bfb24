// A static Go program from Debian's packages (shfmt) in real microVMs, compared
// with its native run: the Go runtime's start (a clone child that takes its
// function from r12, the heap's address-space reservation, sigaltstack and
// signal handlers for every signal, its probes of /sys), on one and two vCPUs.
// `inspect` describes it without KVM. scripts/install-deps installs shfmt; the
// tests skip, saying so, where it is missing or there is no /dev/kvm.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kShfmt = "/usr/bin/shfmt";
// Badly formatted shell that shfmt rewrites: a native run says what it becomes.
const std::string kScript = "if true;then echo   hi;fi\nfor x in a b;do\necho $x;done\n";

bool shfmt_present() { return ::access(kShfmt.c_str(), X_OK) == 0; }

class GoProgram : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!shfmt_present()) GTEST_SKIP() << kShfmt << " is missing (Debian's shfmt: scripts/install-deps installs it)";
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
  static ProcessResult in_vm(const std::vector<std::string>& options, const std::vector<std::string>& arguments,
                             const std::string& input = "") {
    std::vector<std::string> argv = {kHyperlet, "run", "--timeout", "60s"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(kShfmt);
    if (!arguments.empty()) argv.push_back("--");
    argv.insert(argv.end(), arguments.begin(), arguments.end());
    ProcessOptions process;
    process.stdin_data = input;
    process.safety_timeout = std::chrono::seconds(90);
    return run_process(argv, process);
  }
};

TEST_F(GoProgram, ShfmtFormatsStdinAsNatively) {
  ProcessOptions input;
  input.stdin_data = kScript;
  const ProcessResult native = run_process({kShfmt}, input);
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_NE(native.out, kScript) << "the script should need formatting";
  const ProcessResult vm = in_vm({}, {}, kScript);
  EXPECT_EQ(vm.status, 0) << describe(vm);
  EXPECT_EQ(vm.out, native.out) << describe(vm);
  // No warning (the Go default memory applies), and the first denial is shfmt's
  // own look for an .editorconfig, not the Go runtime's /sys probe before it.
  EXPECT_EQ(vm.err,
            "hyperlet: denied: /.editorconfig is outside every --volume (the first denial only: --trace shows each, "
            "--quiet none)\n")
      << describe(vm);
}

TEST_F(GoProgram, ShfmtOnTwoVcpusAndAFileOnAVolume) {
  TempDir dir;
  std::ofstream(dir / "script.sh") << kScript;
  const ProcessResult native = run_process({kShfmt, "-i", "2", dir / "script.sh"});
  ASSERT_EQ(native.status, 0) << describe(native);
  const ProcessResult vm =
      in_vm({"--cpus", "2", "--volume", dir.path().string() + ":/work:ro"}, {"-i", "2", "/work/script.sh"});
  EXPECT_EQ(vm.status, 0) << describe(vm);
  EXPECT_EQ(vm.out, native.out) << describe(vm);
}

TEST_F(GoProgram, ShfmtVersionAndItsUsageErrorAsNatively) {
  const ProcessResult native = run_process({kShfmt, "--version"});
  ASSERT_EQ(native.status, 0) << describe(native);
  const ProcessResult vm = in_vm({}, {"--version"});
  EXPECT_EQ(vm.status, 0) << describe(vm);
  EXPECT_EQ(vm.out, native.out) << describe(vm);
  // A parse error: the same message and exit status as natively.
  ProcessOptions bad_input;
  bad_input.stdin_data = "if then fi\n";
  const ProcessResult native_error = run_process({kShfmt}, bad_input);
  ASSERT_NE(native_error.status, 0) << describe(native_error);
  const ProcessResult vm_error = in_vm({"--quiet"}, {}, "if then fi\n");
  EXPECT_EQ(vm_error.status, native_error.status) << describe(vm_error);
  EXPECT_EQ(vm_error.err, native_error.err) << describe(vm_error);
}

TEST_F(GoProgram, TooLittleMemoryIsWarnedAboutBeforeGoFails) {
  const ProcessResult vm = in_vm({"--memory", "256M"}, {"--version"});
  EXPECT_NE(vm.status, 0) << describe(vm);
  EXPECT_NE(vm.err.find("warning: " + kShfmt + " is a Go program and gets 256 MiB"), std::string::npos) << describe(vm);
  EXPECT_NE(vm.err.find("--memory 1024M"), std::string::npos) << describe(vm);
}

TEST(GoProgramInspect, SaysGoAndItsDefaultMemory) {
  if (!shfmt_present()) GTEST_SKIP() << kShfmt << " is missing (Debian's shfmt: scripts/install-deps installs it)";
  const ProcessResult result = run_process({kHyperlet, "inspect", kShfmt});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("memory:        1024 MiB (default for a Go program)\n"), std::string::npos)
      << describe(result);
  EXPECT_NE(result.out.find("runtime:       Go"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("runs:          yes\n"), std::string::npos) << describe(result);
  const ProcessResult json = run_process({kHyperlet, "inspect", "--json", kShfmt});
  EXPECT_EQ(json.status, 0) << describe(json);
  EXPECT_NE(json.out.find("\"go_runtime\": true"), std::string::npos) << describe(json);
  EXPECT_NE(json.out.find("\"memory\": 1073741824"), std::string::npos) << describe(json);
}

// A manifest that gives a Go program less than its runtime reserves: inspect says it cannot run.
TEST(GoProgramInspect, AManifestWithTooLittleMemoryIsNotRunnable) {
  if (!shfmt_present()) GTEST_SKIP() << kShfmt << " is missing (Debian's shfmt: scripts/install-deps installs it)";
  TempDir dir;
  const std::string image = dir / "shfmt";
  std::filesystem::copy_file(kShfmt, image);
  const ProcessResult set = run_process({kHyperlet, "manifest", image, "--memory", "256M"});
  ASSERT_EQ(set.status, 0) << describe(set);
  const ProcessResult result = run_process({kHyperlet, "inspect", image});
  EXPECT_NE(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("runs:          no: " + image + " is a Go program and gets 256 MiB"), std::string::npos)
      << describe(result);
}

}  // namespace
}  // namespace hyperlet::testing
