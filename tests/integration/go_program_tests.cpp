// Static Go programs in real microVMs, compared with their native runs: Debian's
// shfmt and gojq, and a net/http server built here with Debian's Go. They cover
// the Go runtime's start (a clone child that takes its function from r12, the
// heap's address-space reservation, sigaltstack and signal handlers for every
// signal, its probes of /sys and /proc), goroutines on one and two vCPUs, and the
// netpoller on epoll serving curl. `inspect` describes them without KVM.
// scripts/install-deps installs shfmt, gojq and golang-go; the tests skip, saying
// so, where one is missing or there is no /dev/kvm.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kShfmt = "/usr/bin/shfmt";
const std::string kGojq = "/usr/bin/gojq";
const std::string kGoHttpServer = HYPERLET_GO_HTTP_SERVER;  // empty without the go command
const std::string kCurl = "/usr/bin/curl";
// Badly formatted shell that shfmt rewrites: a native run says what it becomes.
const std::string kScript = "if true;then echo   hi;fi\nfor x in a b;do\necho $x;done\n";

bool executable(const std::string& path) { return !path.empty() && ::access(path.c_str(), X_OK) == 0; }
bool shfmt_present() { return executable(kShfmt); }

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

TEST_F(GoProgram, TooLittleAddressSpaceIsWarnedAboutBeforeGoFails) {
  const ProcessResult vm = in_vm({"--address-space", "256M"}, {"--version"});
  EXPECT_NE(vm.status, 0) << describe(vm);
  EXPECT_NE(vm.err.find("warning: " + kShfmt + " is a Go program and gets 256 MiB of address space"), std::string::npos)
      << describe(vm);
  EXPECT_NE(vm.err.find("--address-space 1024M"), std::string::npos) << describe(vm);
}

// The runtime's reservations take address space, not memory: 64 MiB of memory
// is enough for a small Go program, as it is natively, with no warning.
TEST_F(GoProgram, RunsInLittleMemoryBesideItsReservations) {
  ProcessOptions input;
  input.stdin_data = "if true;then echo  hi;fi\n";
  const ProcessResult native = run_process({kShfmt}, input);
  ASSERT_EQ(native.status, 0) << describe(native);
  const ProcessResult vm = in_vm({"--memory", "64M"}, {}, input.stdin_data);
  EXPECT_EQ(vm.status, 0) << describe(vm);
  EXPECT_EQ(vm.out, native.out) << describe(vm);
  EXPECT_EQ(vm.err.find("warning"), std::string::npos) << describe(vm);
}

TEST(GoProgramInspect, SaysGoAndItsDefaultMemoryAndAddressSpace) {
  if (!shfmt_present()) GTEST_SKIP() << kShfmt << " is missing (Debian's shfmt: scripts/install-deps installs it)";
  const ProcessResult result = run_process({kHyperlet, "inspect", kShfmt});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("memory:        256 MiB (default)\n"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("address space: 1280 MiB (default; the part beyond the memory holds reservations only)"),
            std::string::npos)
      << describe(result);
  EXPECT_NE(result.out.find("runtime:       Go"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("runs:          yes\n"), std::string::npos) << describe(result);
  const ProcessResult json = run_process({kHyperlet, "inspect", "--json", kShfmt});
  EXPECT_EQ(json.status, 0) << describe(json);
  EXPECT_NE(json.out.find("\"go_runtime\": true"), std::string::npos) << describe(json);
  EXPECT_NE(json.out.find("\"memory\": 268435456"), std::string::npos) << describe(json);
  EXPECT_NE(json.out.find("\"address_space\": 1342177280"), std::string::npos) << describe(json);
}

// A manifest that gives a Go program little memory: its reservations still get
// their address space, so inspect says it runs.
TEST(GoProgramInspect, AManifestWithLittleMemoryStillRuns) {
  if (!shfmt_present()) GTEST_SKIP() << kShfmt << " is missing (Debian's shfmt: scripts/install-deps installs it)";
  TempDir dir;
  const std::string image = dir / "shfmt";
  std::filesystem::copy_file(kShfmt, image);
  const ProcessResult set = run_process({kHyperlet, "manifest", image, "--memory", "64M"});
  ASSERT_EQ(set.status, 0) << describe(set);
  const ProcessResult result = run_process({kHyperlet, "inspect", image});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("address space: 1088 MiB"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("runs:          yes\n"), std::string::npos) << describe(result);
}

// gojq (a second static Go program from Debian): JSON from stdin and from a file
// on a volume, and its error for bad input, each as natively.
class GoJq : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!executable(kGojq)) GTEST_SKIP() << kGojq << " is missing (Debian's gojq: scripts/install-deps installs it)";
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
};

const std::string kJson = R"({"items":[{"name":"b","size":3},{"name":"a","size":5}],"when":"2026-12-02"})";

TEST_F(GoJq, FiltersStdinAndAVolumeFileAsNatively) {
  const std::vector<std::string> filter = {"-c", "{total: ([.items[].size] | add), names: ([.items[].name] | sort)}"};
  ProcessOptions input;
  input.stdin_data = kJson;
  std::vector<std::string> native_argv = {kGojq};
  native_argv.insert(native_argv.end(), filter.begin(), filter.end());
  const ProcessResult native = run_process(native_argv, input);
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_EQ(native.out, "{\"names\":[\"a\",\"b\"],\"total\":8}\n");
  std::vector<std::string> vm_argv = {kHyperlet, "run", "--quiet", "--timeout", "60s", kGojq, "--"};
  vm_argv.insert(vm_argv.end(), filter.begin(), filter.end());
  const ProcessResult vm = run_process(vm_argv, input);
  EXPECT_EQ(vm.status, 0) << describe(vm);
  EXPECT_EQ(vm.out, native.out) << describe(vm);

  TempDir dir;
  std::ofstream(dir / "data.json") << kJson;
  const ProcessResult from_file =
      run_process({kHyperlet, "run", "--quiet", "--cpus", "2", "--volume", dir.path().string() + ":/data:ro", kGojq,
                   "--", "-r", ".items[] | \"\\(.name)=\\(.size)\"", "/data/data.json"});
  EXPECT_EQ(from_file.status, 0) << describe(from_file);
  EXPECT_EQ(from_file.out, "b=3\na=5\n") << describe(from_file);
}

TEST_F(GoJq, BadJsonFailsAsNatively) {
  ProcessOptions input;
  input.stdin_data = "{\"unterminated\": [1, 2\n";
  const ProcessResult native = run_process({kGojq, "."}, input);
  ASSERT_NE(native.status, 0) << describe(native);
  const ProcessResult vm = run_process({kHyperlet, "run", "--quiet", "--timeout", "60s", kGojq, "--", "."}, input);
  EXPECT_EQ(vm.status, native.status) << describe(vm);
  EXPECT_EQ(vm.err, native.err) << describe(vm);
}

// A Go net/http server (goroutine per connection, the netpoller on epoll, a
// worker pool of goroutines, a graceful Shutdown) answering curl on a published
// port, on one vCPU and on two.
class GoHttpServer : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (!executable(kGoHttpServer)) {
      GTEST_SKIP() << "the Go HTTP server was not built (no go command: scripts/install-deps installs golang-go)";
    }
    if (!executable(kCurl)) GTEST_SKIP() << "curl is missing (scripts/install-deps installs it)";
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
};

TEST_P(GoHttpServer, AnswersCurlAndShutsDownGracefully) {
  TempDir dir;
  std::ofstream(dir / "page.txt") << "a file served by Go\n";
  const int port = free_port();
  const std::string cpus = std::to_string(GetParam());
  std::future<ProcessResult> server = std::async(std::launch::async, [&] {
    ProcessOptions options;
    options.safety_timeout = std::chrono::seconds(150);
    return run_process(
        {kHyperlet, "run", "--timeout", "120s", "--cpus", cpus, "--volume", dir.path().string() + ":/srv:ro",
         "--publish", "127.0.0.1:" + std::to_string(port) + ":8080", kGoHttpServer, "--", "0.0.0.0:8080"},
        options);
  });
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  // Retried while the VM starts (slowly under emulation); the first answer says it is up.
  ProcessOptions patient;
  patient.safety_timeout = std::chrono::seconds(100);
  const ProcessResult first = run_process({kCurl, "-sS", "--retry", "90", "--retry-connrefused", "--retry-delay", "1",
                                           "--max-time", "60", base + "/hello?name=vm"},
                                          patient);
  EXPECT_EQ(first.out, "hello from Go vm\n") << describe(first);
  // Several URLs on one keep-alive connection: a sum from four goroutines, a file
  // from the volume, a missing file (404, Go's own message), a bad argument (400).
  const ProcessResult curl =
      run_process({kCurl, "-sS", "--max-time", "60", "-w", "[%{http_code}]\n", base + "/sum?n=100000",
                   base + "/file?path=/srv/page.txt", base + "/file?path=/srv/missing", base + "/sum?n=x"});
  EXPECT_EQ(curl.status, 0) << describe(curl);
  EXPECT_EQ(curl.out,
            "5000050000\n[200]\n"
            "a file served by Go\n[200]\n"
            "open /srv/missing: no such file or directory\n[404]\n"
            "n must be a non-negative integer\n[400]\n")
      << describe(curl);
  // Ten clients at once: each gets its own goroutine.
  std::vector<std::future<ProcessResult>> clients;
  for (int i = 0; i < 10; ++i) {
    clients.push_back(std::async(std::launch::async, [&, i] {
      return run_process({kCurl, "-sS", "--max-time", "60", base + "/hello?name=" + std::to_string(i)});
    }));
  }
  for (int i = 0; i < 10; ++i) {
    const ProcessResult client = clients[static_cast<std::size_t>(i)].get();
    EXPECT_EQ(client.out, "hello from Go " + std::to_string(i) + "\n") << describe(client);
  }
  const ProcessResult quit = run_process({kCurl, "-sS", "--max-time", "60", base + "/quit"});
  EXPECT_EQ(quit.out, "bye\n") << describe(quit);
  const ProcessResult result = server.get();
  EXPECT_EQ(result.status, 0) << describe(result);
  // Go listens on a dual-stack socket for 0.0.0.0 and says [::], natively too.
  EXPECT_EQ(result.out, "listening on [::]:8080\nshut down\n") << describe(result);
  // Its probe of the listen backlog (/proc/sys/net/core/somaxconn) is no denial line.
  EXPECT_EQ(result.err, "") << describe(result);
}

INSTANTIATE_TEST_SUITE_P(Vcpus, GoHttpServer, ::testing::Values(1, 2), [](const ::testing::TestParamInfo<int>& param) {
  return std::to_string(param.param) + "Cpus";
});

TEST(GoHttpServerInspect, SaysGo) {
  if (!executable(kGoHttpServer)) GTEST_SKIP() << "the Go HTTP server was not built (no go command)";
  const ProcessResult result = run_process({kHyperlet, "inspect", kGoHttpServer});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("runtime:       Go"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("runs:          yes\n"), std::string::npos) << describe(result);
}

}  // namespace
}  // namespace hyperlet::testing
