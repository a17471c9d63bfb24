// The CPU as an app sees it, and what syscalls and thread switches may change
// of it (tests/integration/programs/cpu_state.cpp). The register and SSE
// contracts hold in every mode and run everywhere; what only hardware KVM has —
// the LSTAR (`syscall`) entry path, SSE3+ passed through in CPUID, XSAVE and
// AVX state — is tested only where it exists (scripts/test-hw-kvm runs them
// under QEMU with nested SVM) and skips with the reason elsewhere.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kCpuState = std::string(HYPERLET_TEST_PROGRAMS_DIR) + "/cpu_state";

class CpuState : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }

  // Whether this KVM takes a ring-3 `syscall` into ring 0: what `auto` picked.
  static bool lstar_path_available() {
    static const bool available = [] {
      const ProcessResult result =
          run_process({kHyperlet, "run", "--stats", "--syscall-entry", "auto", kCpuState, "cpuid"});
      return result.err.find("syscall entry: syscall (LSTAR)") != std::string::npos;
    }();
    return available;
  }

  static std::map<std::string, int> app_cpuid(const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv = {kHyperlet, "run"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {kCpuState, "cpuid"});
    const ProcessResult result = run_process(argv);
    EXPECT_EQ(result.status, 0) << describe(result);
    std::map<std::string, int> features;
    std::istringstream lines(result.out);
    std::string name;
    int value = 0;
    while (lines >> name >> value) features[name] = value;
    return features;
  }
};

#define SKIP_UNLESS_HARDWARE_KVM()                                                                        \
  if (!lstar_path_available()) {                                                                          \
    GTEST_SKIP() << "needs hardware KVM: a ring-3 syscall does not reach ring 0 on this KVM (kvm_pvm?); " \
                    "scripts/test-hw-kvm runs this under QEMU with nested SVM";                           \
  }

TEST_F(CpuState, EveryRegisterButRaxRcxR11SurvivesASyscall) {
  const ProcessResult result = run_process({kHyperlet, "run", kCpuState, "registers"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "registers ok\n");
}

TEST_F(CpuState, SseStateSurvivesSyscalls) {
  const ProcessResult result = run_process({kHyperlet, "run", kCpuState, "sse"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "sse ok\n");
}

TEST_F(CpuState, SseStateSurvivesThreadSwitchesAndTimeSlices) {
  const ProcessResult result = run_process({kHyperlet, "run", kCpuState, "sse-threads"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "sse-threads ok\n");
}

// glibc uses AVX only when the OS enabled its state (CPUID.OSXSAVE, XCR0): the
// app must never be told AVX is usable when it is not, and where it is, ymm
// state must survive (Avx.* below).
TEST_F(CpuState, AvxIsUsableExactlyWhenTheAppIsToldSo) {
  auto features = app_cpuid();
  EXPECT_EQ(features["sse2"], 1);
  if (features["osxsave"] == 0) {
    EXPECT_EQ(features["avx-usable"], 0);
    EXPECT_EQ(features["glibc-avx"], 0);
    EXPECT_EQ(features["glibc-avx2"], 0);
  }
  EXPECT_EQ(features["glibc-avx"], features["avx-usable"]);
}

// On the LSTAR path (hardware KVM only), the same contracts, and a guest kernel
// built without SSE (-mgeneral-regs-only) entered natively in ring 0 never faults.
TEST_F(CpuState, LstarPathKeepsRegistersAndSseState) {
  SKIP_UNLESS_HARDWARE_KVM();
  for (const std::string mode : {"registers", "sse", "sse-threads"}) {
    const ProcessResult result =
        run_process({kHyperlet, "run", "--stats", "--syscall-entry", "syscall", kCpuState, mode});
    EXPECT_EQ(result.status, 0) << mode << ": " << describe(result);
    EXPECT_EQ(result.out, mode + " ok\n") << describe(result);
    EXPECT_NE(result.err.find("syscall entry: syscall (LSTAR) (0 sites rewritten"), std::string::npos) << result.err;
  }
}

// The host CPU's flags from /proc/cpuinfo, space-separated with a space at
// each end (so " avx " finds a whole flag); empty if there is no flags line.
std::string host_cpu_flags() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.starts_with("flags")) return " " + line.substr(line.find(':') + 1) + " ";
  }
  return "";
}

// Hardware KVM passes the host's SSE3+ through (kvm_pvm offers none): the app
// sees what the host CPU has.
TEST_F(CpuState, AppSeesTheHostsSseExtensionsOnHardwareKvm) {
  SKIP_UNLESS_HARDWARE_KVM();
  const std::string flags = host_cpu_flags();
  ASSERT_FALSE(flags.empty());
  const auto features = app_cpuid({"--syscall-entry", "syscall"});
  for (const auto& [host_flag, app_name] : std::map<std::string, std::string>{
           {"pni", "sse3"}, {"ssse3", "ssse3"}, {"sse4_1", "sse4_1"}, {"sse4_2", "sse4_2"}, {"popcnt", "popcnt"}}) {
    if (flags.find(" " + host_flag + " ") == std::string::npos) continue;
    EXPECT_EQ(features.at(app_name), 1) << app_name << " is on the host but hidden from the app";
  }
}

// ---- AVX: only where the app's CPUID shows AVX with OSXSAVE ----
// hyperlet enables XSAVE state (CR4.OSXSAVE, XCR0 = x87|SSE|AVX) where KVM's
// supported CPUID offers XSAVE: hardware KVM. kvm_pvm offers none, but there the
// app's CPUID and XGETBV are the host's, not intercepted: an app on a host with
// AVX (or AVX-512) uses it, and the guest kernel keeps that state through the
// host (kBootFlagHostVectorState). Where the app sees no AVX these skip;
// scripts/test-hw-kvm runs them under QEMU with nested SVM.

class Avx : public CpuState {
 protected:
  void SetUp() override {
    CpuState::SetUp();
    if (IsSkipped()) return;
    static const bool app_has_avx = [] {
      auto features = app_cpuid();
      return features["avx"] == 1 && features["osxsave"] == 1;
    }();
    if (!app_has_avx) {
      GTEST_SKIP() << "the app's CPUID shows no AVX with OSXSAVE on this KVM (kvm_pvm offers guests no XSAVE); "
                      "scripts/test-hw-kvm runs this under QEMU with nested SVM";
    }
  }

  static void expect_mode_ok(const std::string& mode, const std::vector<std::string>& options = {}) {
    std::vector<std::string> argv = {kHyperlet, "run"};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {kCpuState, mode});
    const ProcessResult result = run_process(argv);
    EXPECT_EQ(result.status, 0) << mode << ": " << describe(result);
    EXPECT_EQ(result.out, mode + " ok\n") << describe(result);
  }
};

// On hardware KVM, an app gets AVX whenever the host CPU has it: hyperlet must
// not leave it unusable (as it did before it set CR4.OSXSAVE).
TEST_F(CpuState, AppCanUseAvxOnHardwareKvmWhenTheHostCan) {
  SKIP_UNLESS_HARDWARE_KVM();
  const std::string flags = host_cpu_flags();
  ASSERT_FALSE(flags.empty());
  if (flags.find(" avx ") == std::string::npos || flags.find(" xsave ") == std::string::npos) {
    GTEST_SKIP() << "this host CPU has no AVX (or no XSAVE)";
  }
  auto features = app_cpuid();
  EXPECT_EQ(features["xsave"], 1);
  EXPECT_EQ(features["osxsave"], 1);
  EXPECT_EQ(features["avx"], 1);
  EXPECT_EQ(features["avx-usable"], 1);
  EXPECT_EQ(features["glibc-avx"], 1);
  if (flags.find(" avx2 ") != std::string::npos) {
    EXPECT_EQ(features["glibc-avx2-active"], 1);
  }
}

// XGETBV: x87, SSE and AVX enabled, AVX-512 neither enabled nor advertised,
// and CPUID leaf 0xD describing exactly XCR0's state (832 bytes). On kvm_pvm the
// app sees the host's XCR0 and CPUID, which hyperlet cannot narrow: there they
// must agree with each other (what is advertised is enabled, leaf 0xD sizes it).
TEST_F(Avx, XgetbvShowsAvxEnabledAndLeafDAgrees) {
  auto features = app_cpuid();
  if (!lstar_path_available()) {
    EXPECT_EQ(features["xcr0-x87"], 1);
    EXPECT_EQ(features["xcr0-sse"], 1);
    EXPECT_EQ(features["xcr0-avx"], 1);
    EXPECT_EQ(features["avx512f"], features["xcr0-avx512"]) << "AVX-512 advertised and enabled disagree";
    EXPECT_EQ(features["xsave-leaf-matches-xcr0"], 1);
    EXPECT_EQ(features["avx-usable"], 1);
    EXPECT_EQ(features["glibc-avx"], 1);
    return;
  }
  EXPECT_EQ(features["xcr0-x87"], 1);
  EXPECT_EQ(features["xcr0-sse"], 1);
  EXPECT_EQ(features["xcr0-avx"], 1);
  EXPECT_EQ(features["xcr0-avx512"], 0);
  EXPECT_EQ(features["avx512f"], 0) << "AVX-512 advertised while its state is disabled";
  EXPECT_EQ(features["xsave-leaf-matches-xcr0"], 1);
  EXPECT_EQ(features["xsave-size"], 832);
  EXPECT_EQ(features["avx-usable"], 1);
  EXPECT_EQ(features["glibc-avx"], 1);
}

// ymm0-15, all 256 bits, across syscalls answered in the guest and forwarded
// to the host, in either entry mode.
TEST_F(Avx, YmmStateSurvivesSyscalls) {
  expect_mode_ok("avx");
  expect_mode_ok("avx", {"--syscall-entry", "trap"});
}

// Two threads holding different ymm values across yields, futex sleeps,
// forwarded nanosleeps and time slices: the guest kernel's xsave64/xrstor64
// (on kvm_pvm, the host's KVM_GET_XSAVE/KVM_SET_XSAVE).
TEST_F(Avx, YmmStateSurvivesThreadSwitches) {
  expect_mode_ok("avx-threads");
  expect_mode_ok("avx-threads", {"--syscall-entry", "trap"});
}

// The same on two vCPUs: each vCPU's switches keep its threads' state.
TEST_F(Avx, YmmStateSurvivesThreadSwitchesOnTwoVcpus) { expect_mode_ok("avx-threads", {"--cpus", "2"}); }

// AVX-512 (zmm0-31, k1-k7) across switches and time slices, where the app has it:
// on kvm_pvm whenever the host has it (the app runs with the host's XCR0).
TEST_F(Avx, Avx512StateSurvivesThreadSwitches) {
  const auto features = app_cpuid();
  if (features.at("avx512f") != 1 || features.at("xcr0-avx512") != 1) {
    GTEST_SKIP() << "the app has no AVX-512 here (hyperlet enables none on hardware KVM; kvm_pvm passes the host's)";
  }
  expect_mode_ok("avx512-threads");
  expect_mode_ok("avx512-threads", {"--cpus", "2"});
}

// A signal handler that overwrites every ymm register: the interrupted code gets
// its values back at sigreturn (the frame holds the XSAVE area, as on Linux).
TEST_F(Avx, YmmStateSurvivesSignalHandlers) {
  expect_mode_ok("avx-signal");
  expect_mode_ok("avx-signal", {"--syscall-entry", "trap"});
}

// glibc picks its AVX2 string functions and they give right answers.
TEST_F(Avx, GlibcAvx2StringFunctionsAreUsedAndRight) {
  if (app_cpuid()["glibc-avx2-active"] != 1) GTEST_SKIP() << "the host CPU has AVX but not AVX2";
  expect_mode_ok("avx2-strings");
}

// A snapshot taken while the app holds ymm values restores them (KVM_GET_XSAVE).
TEST_F(Avx, SnapshotKeepsYmmState) {
  TempDir directory;
  const std::string file = directory / "avx.snapshot";
  const ProcessResult taken = run_process({kHyperlet, "snapshot", "-o", file, kCpuState, "avx-snapshot"});
  ASSERT_EQ(taken.status, 0) << describe(taken);
  ASSERT_EQ(taken.out, "before ready\n");
  for (int restore = 0; restore < 2; ++restore) {
    const ProcessResult restored = run_process({kHyperlet, "run", "--restore", file});
    EXPECT_EQ(restored.status, 0) << describe(restored);
    EXPECT_EQ(restored.out, "avx-snapshot ok\n") << describe(restored);
  }
}

}  // namespace
}  // namespace hyperlet::testing
