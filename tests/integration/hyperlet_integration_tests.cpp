// End-to-end tests: run the real hyperlet binary on real static programs and
// check what a user sees — stdout, stderr, exit status — exactly where possible.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

using namespace std::chrono_literals;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kHelloSample = HYPERLET_HELLO_SAMPLE;
const std::string kProgramsDir = HYPERLET_TEST_PROGRAMS_DIR;
const std::string kMuslHello = HYPERLET_MUSL_HELLO;
const std::string kBusybox = "/bin/busybox";

std::string program(const std::string& name) { return kProgramsDir + "/" + name; }

// `hyperlet run ARGS...`: ARGS holds hyperlet's options, APP and APP's argv.
ProcessResult hyperlet_run(std::vector<std::string> args, const ProcessOptions& options = {}) {
  args.insert(args.begin(), {kHyperlet, "run"});
  return run_process(args, options);
}

ProcessOptions with_stdin(std::string data) {
  ProcessOptions options;
  options.stdin_data = std::move(data);
  return options;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return lines;
}

// A temporary file removed when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    std::string pattern = (std::filesystem::temp_directory_path() / "hyperlet-test-XXXXXX").string();
    const int fd = ::mkstemp(pattern.data());
    path_ = pattern;
    if (fd >= 0) {
      const ssize_t written = ::write(fd, contents.data(), contents.size());
      (void)written;
      ::fchmod(fd, 0755);
      ::close(fd);
    }
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() { std::filesystem::remove(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

template <typename T>
void put(std::string& bytes, std::size_t offset, T value) {
  if (bytes.size() < offset + sizeof value) bytes.resize(offset + sizeof value, '\0');
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// Prints everything a failed assertion needs to explain a run.
class HyperletRun : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
};

// One line on stderr, "hyperlet: ..." matching `pattern` (ECMAScript regex).
void expect_one_hyperlet_line(const ProcessResult& result, const std::string& pattern) {
  const auto lines = lines_of(result.err);
  ASSERT_EQ(lines.size(), 1u) << describe(result);
  EXPECT_EQ(result.err.back(), '\n') << describe(result);
  EXPECT_TRUE(lines[0].starts_with("hyperlet: ")) << describe(result);
  EXPECT_TRUE(std::regex_match(lines[0], std::regex(pattern))) << "pattern: " << pattern << '\n'
                                                               << describe(result);
}

// ---------------------------------------------------------------- the sample

TEST_F(HyperletRun, HelloSamplePrintsExactOutput) {
  const auto result = hyperlet_run({kHelloSample, "first", "two words"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "Hello from hyperlet!\n"
            "argc = 3\n"
            "argv[0] = " + kHelloSample + "\n"
            "argv[1] = first\n"
            "argv[2] = two words\n"
            "words of length 2: 1\n"
            "words of length 3: 2\n"
            "words of length 4: 1\n"
            "words of length 5: 2\n"
            "caught: thrown inside the VM\n"
            "Goodbye!\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletRun, HelloSampleMatchesNativeRun) {
  const auto native = run_process({kHelloSample, "x"});
  const auto vm = hyperlet_run({kHelloSample, "x"});
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_EQ(vm.status, 0) << describe(vm);
  EXPECT_EQ(vm.out, native.out);
}

// ---------------------------------------------------------------- exit status

class ExitStatusTest : public HyperletRun, public ::testing::WithParamInterface<int> {};

TEST_P(ExitStatusTest, ReturnFromMainPassesThrough) {
  const auto result = hyperlet_run({program("exit_with"), std::to_string(GetParam())});
  EXPECT_EQ(result.status, GetParam()) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "");
}

TEST_P(ExitStatusTest, StdExitPassesThrough) {
  const auto result = hyperlet_run({program("exit_with"), std::to_string(GetParam()), "exit"});
  EXPECT_EQ(result.status, GetParam()) << describe(result);
  EXPECT_EQ(result.err, "");
}

INSTANTIATE_TEST_SUITE_P(Codes, ExitStatusTest, ::testing::Values(0, 1, 42, 255));

// ---------------------------------------------------------------- argv, env, stdin

TEST_F(HyperletRun, ArgvRoundTripIncludingHyperletLookingOptions) {
  const auto result = hyperlet_run({program("print_args"), "plain", "", "with space", "--memory", "3M",
                                    "--timeout=abc", "--trace", "--", "-h", "--env", "K=V", "ünï©ødé"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "argc=13\n[plain]\n[]\n[with space]\n[--memory]\n[3M]\n[--timeout=abc]\n[--trace]\n[--]\n[-h]\n"
            "[--env]\n[K=V]\n[ünï©ødé]\n");
  // --trace after APP belongs to the app: hyperlet must not trace, only warn once
  // about its own options up to the app's "--".
  expect_one_hyperlet_line(result,
                           "hyperlet: warning: --memory, --timeout, --trace after APP are the app's arguments, "
                           "not hyperlet's: .*");
}

TEST_F(HyperletRun, DoubleDashSeparatesAppFromItsArguments) {
  const auto result = hyperlet_run({"--", program("print_args"), "--stats"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "argc=2\n[--stats]\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletRun, LongArgvRoundTrip) {
  std::vector<std::string> args = {program("print_args")};
  std::string expected = "argc=201\n";
  for (int i = 0; i < 200; ++i) {
    args.push_back("argument-" + std::to_string(i) + std::string(static_cast<std::size_t>(i), 'x'));
    expected += "[" + args.back() + "]\n";
  }
  const auto result = hyperlet_run(args);
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, expected);
}

TEST_F(HyperletRun, EnvRoundTripAndNoHostEnvironmentLeaks) {
  ProcessOptions options;
  options.extra_environment = {"HYPERLET_TEST_CANARY=must-not-leak"};
  const auto result =
      hyperlet_run({"--env", "GREETING=hello world", "--env", "EQUALS=a=b=c", "--env", "EMPTY=", "--env",
                    "PATH=/guest/bin", program("print_env")},
                   options);
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "GREETING=hello world\nEQUALS=a=b=c\nEMPTY=\nPATH=/guest/bin\nend of environment\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletRun, NoEnvMeansEmptyEnvironment) {
  ProcessOptions options;
  options.extra_environment = {"HYPERLET_TEST_CANARY=must-not-leak"};
  const auto result = hyperlet_run({program("print_env")}, options);
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "end of environment\n");
}

TEST_F(HyperletRun, MalformedEnvIsUsageError) {
  const auto result = hyperlet_run({"--env", "=VALUE", program("print_env")});
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_hyperlet_line(result, "hyperlet: invalid --env '=VALUE': the variable name is empty.*");
}

TEST_F(HyperletRun, StdinIsPipedToTheApp) {
  const auto result = hyperlet_run({program("sum_stdin")}, with_stdin("1 2 3\n-4\n  100\n"));
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "count=5 sum=102\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletRun, LargeStdinIsPipedToTheApp) {
  std::string input;
  long long sum = 0;
  for (int i = 1; i <= 200000; ++i) {
    input += std::to_string(i * 7 % 1001) + "\n";
    sum += i * 7 % 1001;
  }
  ASSERT_GT(input.size(), 512u * 1024u);
  const auto result = hyperlet_run({program("sum_stdin")}, with_stdin(input));
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "count=200000 sum=" + std::to_string(sum) + "\n");
}

TEST_F(HyperletRun, EmptyStdinIsEof) {
  const auto result = hyperlet_run({program("sum_stdin")});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "count=0 sum=0\n");
}

// ---------------------------------------------------------------- console

TEST_F(HyperletRun, StdoutAndStderrStaySeparate) {
  const auto result = hyperlet_run({program("console_io"), "streams"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "to stdout\n");
  EXPECT_EQ(result.err, "to stderr 1\nto stderr 2\n");
}

TEST_F(HyperletRun, FourMegabytesOfStdoutArriveIntact) {
  const auto result = hyperlet_run({program("console_io"), "big"});
  ASSERT_EQ(result.status, 0) << describe(result);
  ASSERT_EQ(result.out.size(), 4u << 20);
  std::size_t first_wrong = std::string::npos;
  for (std::size_t i = 0; i < result.out.size() && first_wrong == std::string::npos; ++i) {
    if (result.out[i] != static_cast<char>('a' + i % 26)) first_wrong = i;
  }
  EXPECT_EQ(first_wrong, std::string::npos);
}

TEST_F(HyperletRun, PollAndPpollOnTheConsole) {
  const auto result = hyperlet_run({program("console_io"), "poll"}, with_stdin("input line\n"));
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "poll: 2 stdin=POLLIN skipped=0 invalid=POLLNVAL\n"
            "ppoll stdout: 1 POLLOUT\n"
            "read after poll: 11 [input line\n]\n");
}

TEST_F(HyperletRun, ConsoleErrorsAreLinuxErrors) {
  const auto result = hyperlet_run({program("console_io"), "errors"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "write to fd 7: -1 Bad file descriptor\n"
            "write from a null buffer: -1 Bad address\n"
            "read into a null buffer: -1 Bad address\n"
            "write of 0 bytes: 0 \n");
}

TEST_F(HyperletRun, WriteAfterClosingStdoutIsEbadf) {
  const auto result = hyperlet_run({program("console_io"), "closed"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "write after close(1): -1 Bad file descriptor\n");
}

TEST_F(HyperletRun, TimeoutStopsAnAppBlockedOnStdin) {
  // stdin stays open and empty (the write end is never closed before the kill):
  // the app blocks in read() on the host, and --timeout must still end the run.
  ProcessOptions options;
  options.safety_timeout = 20s;
  options.keep_stdin_open = true;
  const auto result = hyperlet_run({"--timeout", "500ms", program("sum_stdin")}, options);
  ASSERT_FALSE(result.killed_by_safety_timeout) << describe(result);
  EXPECT_EQ(result.status, 124) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_hyperlet_line(result, R"(hyperlet: the app ran past --timeout 0\.5s and was stopped at rip 0x[0-9a-f]+.*)");
  EXPECT_LT(result.elapsed, 5s);
}

// ---------------------------------------------------------------- real programs

TEST_F(HyperletRun, StdlibTourMatchesNativeRun) {
  const auto native = run_process({program("stdlib_tour")});
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_TRUE(native.out.ends_with("done\n")) << describe(native);
  const auto vm = hyperlet_run({program("stdlib_tour")});
  ASSERT_EQ(vm.status, 0) << describe(vm);
  EXPECT_EQ(vm.out, native.out);
  EXPECT_EQ(vm.err, "");
  // The deterministic parts, pinned down so that a wrong native run shows too.
  EXPECT_NE(vm.out.find("steady clock monotonic: true\nsystem clock plausible: true\n"
                        "90 minutes = 1h 30min = 5400s\n"),
            std::string::npos);
  EXPECT_NE(vm.out.find("sorted 1000000 ints: true "), std::string::npos);
  EXPECT_NE(vm.out.find("[      42][left    ]\n3.142 1.235e+05\n0.6666666667\n0xff 0XDEADBEEF 000123\n"),
            std::string::npos);
}

TEST_F(HyperletRun, StaticPieRuns) {
  const auto result = hyperlet_run({program("print_args_pie"), "pie", "is relocated"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "argc=3\n[pie]\n[is relocated]\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletRun, MuslProgramRuns) {
  if (kMuslHello.empty()) GTEST_SKIP() << "musl-gcc was not found at configure time";
  const std::string input = "first line\nsecond line\n";
  const auto native = run_process({kMuslHello, "alpha", "beta gamma"}, with_stdin(input));
  const auto vm = hyperlet_run({kMuslHello, "alpha", "beta gamma"}, with_stdin(input));
  ASSERT_EQ(vm.status, 0) << describe(vm);
  EXPECT_TRUE(vm.out.starts_with("musl: argc=3\narg 1: alpha\narg 2: beta gamma\nmin="));
  EXPECT_TRUE(vm.out.ends_with("stdin 1: first line\nstdin 2: second line\nfmt|   3.142|ab   |0xff\n"));
  EXPECT_EQ(vm.out, native.out);
  EXPECT_EQ(vm.err, "");
}

class BusyboxTest : public HyperletRun {
 protected:
  void SetUp() override {
    HyperletRun::SetUp();
    if (IsSkipped()) return;
    if (::access(kBusybox.c_str(), X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (apt install busybox-static)";
  }
};

TEST_F(BusyboxTest, Echo) {
  const auto result = hyperlet_run({kBusybox, "echo", "hello", "from", "busybox"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "hello from busybox\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(BusyboxTest, SortFromStdin) {
  const auto result = hyperlet_run({kBusybox, "sort"}, with_stdin("pear\napple\nfig\nbanana\napple\n"));
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "apple\napple\nbanana\nfig\npear\n");
}

TEST_F(BusyboxTest, Sha256sumOfStdinMatchesNative) {
  // Real, varied bytes larger than a pipe buffer: the busybox binary itself.
  const std::string input = read_file(kBusybox).substr(0, 700 * 1024);
  ASSERT_GT(input.size(), 100u * 1024u);
  const auto native = run_process({kBusybox, "sha256sum"}, with_stdin(input));
  ASSERT_EQ(native.status, 0) << describe(native);
  ASSERT_EQ(native.out.size(), 64u + 4u) << describe(native);  // "<hex>  -\n"
  const auto vm = hyperlet_run({kBusybox, "sha256sum"}, with_stdin(input));
  ASSERT_EQ(vm.status, 0) << describe(vm);
  EXPECT_EQ(vm.out, native.out);
}

TEST_F(BusyboxTest, ShellReadsLinesWithPoll) {
  // busybox's `read` builtin polls stdin before reading each byte.
  const auto result = hyperlet_run({kBusybox, "sh", "-c", "read x; read y; echo \"got $y then $x\"; read z; echo $?"},
                                   with_stdin("banana\napple\n"));
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "got apple then banana\n1\n");
}

TEST_F(BusyboxTest, ShellExitStatusAndArithmetic) {
  const auto result = hyperlet_run({kBusybox, "sh", "-c", "i=0; while [ $i -lt 5 ]; do i=$((i+1)); done; echo $i; exit 7"});
  EXPECT_EQ(result.status, 7) << describe(result);
  EXPECT_EQ(result.out, "5\n");
}

TEST_F(BusyboxTest, AwkSumsStdin) {
  const auto result = hyperlet_run({kBusybox, "awk", "{ s += $1 } END { print s, NR }"}, with_stdin("1\n2\n39\n"));
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "42 3\n");
}

TEST_F(BusyboxTest, FalseExitsOne) {
  const auto result = hyperlet_run({kBusybox, "false"});
  EXPECT_EQ(result.status, 1) << describe(result);
}

// ---------------------------------------------------------------- app faults

struct FaultCase {
  const char* argument;
  int status;
  const char* line_pattern;  // the whole stderr line
};

class FaultTest : public HyperletRun, public ::testing::WithParamInterface<FaultCase> {};

TEST_P(FaultTest, EndsWithStatusAndOneLineNamingExceptionRipAndFunction) {
  const auto& fault = GetParam();
  const auto result = hyperlet_run({program("faults"), fault.argument});
  ASSERT_FALSE(result.killed_by_safety_timeout) << describe(result);
  EXPECT_EQ(result.status, fault.status) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_hyperlet_line(result, fault.line_pattern);
  // Same status as the shell reports for the native run.
  const auto native = run_process({program("faults"), fault.argument});
  EXPECT_EQ(native.status, fault.status) << describe(native);
}

INSTANTIATE_TEST_SUITE_P(
    Faults, FaultTest,
    ::testing::Values(
        FaultCase{"null", 139,
                  R"(hyperlet: app crashed: page fault \(#PF\) at rip 0x[0-9a-f]+ \(crash_null_dereference\+0x[0-9a-f]+\))"
                  R"( reading address 0x0 \(null pointer dereference\))"},
        FaultCase{"divide", 136,
                  R"(hyperlet: app crashed: divide error \(#DE\) at rip 0x[0-9a-f]+ \(crash_divide_by_zero\+0x[0-9a-f]+\))"},
        FaultCase{"illegal", 132,
                  R"(hyperlet: app crashed: invalid opcode \(#UD\) at rip 0x[0-9a-f]+ )"
                  R"(\(crash_illegal_instruction\+0x[0-9a-f]+\))"},
        FaultCase{"recursion", 139,
                  R"(hyperlet: app crashed: page fault \(#PF\) at rip 0x[0-9a-f]+ \(crash_stack_overflow\+0x[0-9a-f]+\))"
                  R"( writing address 0x[0-9a-f]+ \(stack overflow: the stack is [0-9]+ KiB\))"}),
    [](const ::testing::TestParamInfo<FaultCase>& test) { return std::string(test.param.argument); });

TEST_F(HyperletRun, FaultInStaticPieNamesTheFunction) {
  const auto result = hyperlet_run({program("faults_pie"), "null"});
  EXPECT_EQ(result.status, 139) << describe(result);
  expect_one_hyperlet_line(
      result, R"(hyperlet: app crashed: page fault \(#PF\) at rip 0x[0-9a-f]+ \(crash_null_dereference\+0x[0-9a-f]+\).*)");
}

// ---------------------------------------------------------------- signals the app sends itself
// A signal the app sends itself whose default action terminates ends the run with
// 128 + signal and one "hyperlet: app killed by SIG..." line, as a shell would report.

TEST_F(HyperletRun, AbortEndsWithSigabrtStatus) {
  const auto result = hyperlet_run({program("raise_signal"), "abort"});
  EXPECT_EQ(result.status, 134) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_EQ(result.err, "hyperlet: app killed by SIGABRT (Aborted)\n") << describe(result);
}

TEST_F(HyperletRun, UncaughtExceptionEndsWithSigabrtStatus) {
  const auto result = hyperlet_run({program("raise_signal"), "uncaught"});
  EXPECT_EQ(result.status, 134) << describe(result);
  EXPECT_TRUE(result.err.starts_with("terminate called after throwing an instance of 'std::runtime_error'\n"
                                     "  what():  nobody catches this\n"))
      << describe(result);
  EXPECT_EQ(result.err.find("general protection"), std::string::npos) << describe(result);
}

TEST_F(HyperletRun, RaiseSigtermEndsWithSigtermStatus) {
  const auto result = hyperlet_run({program("raise_signal"), "term"});
  EXPECT_EQ(result.status, 143) << describe(result);
  EXPECT_EQ(result.out, "");
}

TEST_F(HyperletRun, RaisingAnIgnoredSignalGoesOn) {
  const auto result = hyperlet_run({program("raise_signal"), "ignored"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "still running\n");
}

// A path outside every volume is ENOENT for the app and, without --trace, one
// hyperlet line for the first such path only; --quiet: none.
TEST_F(HyperletRun, OnlyTheFirstPathOutsideEveryVolumeGetsALine) {
  if (::access(kBusybox.c_str(), X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (apt install busybox-static)";
  const auto result = hyperlet_run({kBusybox, "cat", "/var/first", "/var/second"});
  EXPECT_EQ(result.status, 1) << describe(result);
  const std::string line =
      "hyperlet: denied: /var/first is outside every --volume (the first denial only: --trace shows each, "
      "--quiet none)\n";
  EXPECT_NE(result.err.find(line), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("/var/second is outside"), std::string::npos) << result.err;
  const auto quiet = hyperlet_run({"--quiet", kBusybox, "cat", "/var/first"});
  EXPECT_EQ(quiet.err.find("hyperlet"), std::string::npos) << quiet.err;
}

// `hyperlet run APP | head -2` ends as natively: the app dies of SIGPIPE (141,
// no hyperlet line) when it writes after head is gone; one that ignores SIGPIPE
// gets EPIPE. Both quickly, and the same natively. "Quickly": within a second of
// what the same pipeline takes, measured in the same run, with a program that
// writes one line and exits (an emulated CPU takes about that to boot a VM).
TEST_F(HyperletRun, AWriterIntoAClosedPipeDiesOfSigpipeUnlessItIgnoresIt) {
  for (const bool in_microvm : {true, false}) {
    // The test process ignores SIGPIPE, which children inherit: the native run gets the default back.
    const std::string runner = in_microvm ? std::string(HYPERLET_BINARY) + " run " : "env --default-signal=PIPE ";
    const auto timed = [&](const std::string& mode) {
      const std::string command =
          runner + program("raise_signal") + " " + mode + " | head -2; echo status ${PIPESTATUS[0]}";
      const auto started = std::chrono::steady_clock::now();
      auto result = run_process({"/bin/bash", "-c", command});
      return std::pair{std::move(result), std::chrono::steady_clock::now() - started};
    };
    const auto [baseline, baseline_took] = timed("ignored");
    ASSERT_EQ(baseline.out, "still running\nstatus 0\n") << describe(baseline);
    for (const std::string mode : {"write-forever", "write-ignoring-sigpipe"}) {
      const auto [result, took] = timed(mode);
      const bool ignoring = mode == "write-ignoring-sigpipe";
      EXPECT_EQ(result.out, std::string("line\nline\nstatus ") + (ignoring ? "3" : "141") + "\n")
          << mode << (in_microvm ? " in a microVM" : " natively") << ": " << describe(result);
      EXPECT_EQ(result.err, ignoring ? "write failed: Broken pipe\n" : "") << describe(result);
      EXPECT_LT(took, baseline_took + std::chrono::seconds(1)) << mode;
    }
  }
}

TEST_F(HyperletRun, NativeRunsOfRaiseSignalEndBySignal) {
  // Pins down that the statuses the tests above expect are the native ones.
  EXPECT_EQ(run_process({program("raise_signal"), "abort"}).status, 134);
  EXPECT_EQ(run_process({program("raise_signal"), "uncaught"}).status, 134);
  EXPECT_EQ(run_process({program("raise_signal"), "term"}).status, 143);
}

TEST_F(HyperletRun, SyscallPointersIntoProtNonePagesAreEfault) {
  const auto result = hyperlet_run({program("protected_pointer")});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "protected=-1 EFAULT ok=0 straddle=-1 EFAULT\n") << describe(result);
  EXPECT_EQ(run_process({program("protected_pointer")}).out, result.out) << "the native run must agree";
}

// Whole 2 MiB regions made PROT_NONE and back (a thread stack's shape), a page
// taken out of such a region and given back, all checked page by page.
TEST_F(HyperletRun, ProtNoneOverWholeRegionsAndBackAsLinux) {
  const auto native = run_process({program("region_protection")});
  ASSERT_EQ(native.status, 0) << describe(native);
  const auto result = hyperlet_run({program("region_protection")});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, native.out);
}

// A 1 GiB PROT_NONE reservation in 64 MiB of memory (--address-space 2G): its
// pages cannot be touched, and parts made usable the Go runtime's way (MAP_FIXED)
// and glibc's (mprotect) work, as natively.
TEST_F(HyperletRun, ReservationsLargerThanTheMemoryWorkAsLinux) {
  const auto native = run_process({program("address_space"), "reserve"});
  ASSERT_EQ(native.status, 0) << describe(native);
  const auto result =
      hyperlet_run({"--memory", "64M", "--address-space", "2G", "--stats", program("address_space"), "reserve"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, native.out);
  // --stats: the 8 MiB and 1 MiB made usable were paid for, the 1 GiB reserved was not.
  std::smatch budget;
  ASSERT_TRUE(std::regex_search(result.err, budget,
                                std::regex("memory budget: ([0-9.]+) MiB in use at the end, ([0-9.]+) MiB at most, "
                                           "of ([0-9.]+) MiB \\(heap and usable mappings; --memory\\); "
                                           "address space 2048 MiB\n")))
      << describe(result);
  EXPECT_GE(std::stod(budget[2]), 9.0) << describe(result);
  EXPECT_LT(std::stod(budget[2]), 20.0) << describe(result);
  EXPECT_LT(std::stod(budget[1]), std::stod(budget[2])) << describe(result);
  EXPECT_GT(std::stod(budget[3]), 50.0) << describe(result);
  EXPECT_LE(std::stod(budget[3]), 64.0) << describe(result);
  EXPECT_NE(result.out.find("start -, middle -, last page -\n"), std::string::npos) << describe(result);
  EXPECT_NE(result.out.find("filled and read back: yes; below it -, above it -"), std::string::npos)
      << describe(result);
}

// Without --address-space the address space is the memory, as before: the
// reservation does not fit.
TEST_F(HyperletRun, WithoutAnAddressSpaceAReservationLargerThanTheMemoryIsEnomem) {
  const auto result = hyperlet_run({"--memory", "64M", program("address_space"), "reserve"});
  EXPECT_EQ(result.status, 1) << describe(result);
  EXPECT_EQ(result.out, "reserve 1024 MiB PROT_NONE: Cannot allocate memory\n") << describe(result);
}

// What `address_space budget` prints with 64 MiB of memory in 2 GiB of address space.
const std::string kBudgetOutput =
    "reserve 1024 MiB PROT_NONE: ok\n"
    "mmap 100 MiB read-write: Cannot allocate memory\n"
    "mprotect 100 MiB of the reservation read-write: Cannot allocate memory\n"
    "the first page of it -\n"
    "MAP_FIXED 100 MiB read-write in the reservation: Cannot allocate memory\n"
    "12 rounds of mmap, fill and munmap of 24 MiB: 12 ok\n"
    "12 rounds of mprotect read-write, fill and PROT_NONE of 24 MiB: 12 ok\n"
    "three 20 MiB mappings: ok, ok, Cannot allocate memory\n"
    "munmap the reservation: ok\n";

// --memory is the budget for what is usable at once, wherever it lies; what
// munmap and mprotect(PROT_NONE) give back is paid back.
TEST_F(HyperletRun, UsableMemoryBeyondTheBudgetIsEnomemAndWhatIsGivenBackIsReused) {
  const auto result = hyperlet_run({"--memory", "64M", "--address-space", "2G", program("address_space"), "budget"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, kBudgetOutput) << describe(result);
}

// The heap and mremap's growth count against the budget as mappings do, and an
// execve keeps the budget for the next image.
TEST_F(HyperletRun, TheHeapAndMremapCountAgainstTheBudgetAndExecKeepsIt) {
  const auto result = hyperlet_run({"--memory", "64M", "--address-space", "2G", program("address_space"), "heap"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "sbrk 100 MiB: Cannot allocate memory, the break unchanged: yes\n"
            "sbrk 30 MiB: ok, filled and read back: yes\n"
            "then mmap 30 MiB: Cannot allocate memory\n"
            "sbrk -30 MiB: ok\n"
            "then mmap 30 MiB: ok\n"
            "mremap 8 to 100 MiB: Cannot allocate memory\n"
            "mremap 8 to 40 MiB: ok, contents kept: yes\n"
            "beside it mmap 30 MiB: Cannot allocate memory\n"
            "shrunk to 4 MiB: ok; then mmap 30 MiB: ok\n"
            "after exec: mmap 100 MiB: Cannot allocate memory, 40 MiB: ok\n")
      << describe(result);
}

// The same sizes from the image's manifest (`hyperlet manifest --address-space`),
// which inspect shows; a manifest whose address space is below its memory is refused.
TEST_F(HyperletRun, TheManifestCarriesTheAddressSpace) {
  TempDir directory;
  const std::string image = (directory.path() / "address_space").string();
  std::filesystem::copy_file(program("address_space"), image);
  const auto set = run_process({kHyperlet, "manifest", image, "--memory", "64M", "--address-space", "2G"});
  ASSERT_EQ(set.status, 0) << describe(set);
  const auto result = hyperlet_run({image, "budget"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, kBudgetOutput) << describe(result);
  const auto inspect = run_process({kHyperlet, "inspect", image});
  EXPECT_EQ(inspect.status, 0) << describe(inspect);
  EXPECT_NE(inspect.out.find("               address space 2G\n"), std::string::npos) << describe(inspect);
  EXPECT_NE(inspect.out.find("address space: 2048 MiB (the manifest's;"), std::string::npos) << describe(inspect);
  const auto refused = run_process({kHyperlet, "manifest", image, "--memory", "4G"});
  EXPECT_EQ(refused.status, 125) << describe(refused);
  EXPECT_NE(refused.err.find("\"address_space\" 2G is less than \"memory\" 4G"), std::string::npos)
      << describe(refused);
}

TEST_F(HyperletRun, AnAddressSpaceSmallerThanTheMemoryIsAUsageError) {
  const auto result = hyperlet_run({"--memory", "128M", "--address-space", "64M", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_NE(result.err.find("--address-space 64M is smaller than the guest memory, 128M (--memory)"), std::string::npos)
      << describe(result);
  const auto bad = hyperlet_run({"--address-space", "3M", program("exit_with"), "0"});
  EXPECT_EQ(bad.status, 125) << describe(bad);
  EXPECT_NE(bad.err.find("invalid --address-space '3M': must be a multiple of 2M"), std::string::npos) << describe(bad);
}

TEST_F(HyperletRun, SyscallPointersIntoTheStackGuardAreEfault) {
  const auto result = hyperlet_run({program("guard_pointer")});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "clock_gettime=-1 EFAULT uname=-1 EFAULT\n") << describe(result);
}

// Runs as an unprivileged user (needs root and util-linux's setpriv): /dev/kvm is
// then not permitted, and hyperlet must say so and how to fix it.
TEST(KvmAccess, PermissionDeniedSaysHowToFix) {
  if (::geteuid() != 0 || ::access("/usr/bin/setpriv", X_OK) != 0) {
    GTEST_SKIP() << "needs root and /usr/bin/setpriv to run hyperlet as an unprivileged user";
  }
  struct stat device {};
  if (::stat("/dev/kvm", &device) != 0 || (device.st_mode & S_IROTH) != 0) {
    GTEST_SKIP() << "/dev/kvm is missing or world-accessible here";
  }
  const auto result = run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                   kHyperlet, "run", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 120) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("hyperlet: cannot open /dev/kvm: permission denied"), std::string::npos)
      << describe(result);
  EXPECT_NE(result.err.find("kvm group"), std::string::npos) << describe(result);
}

// ---------------------------------------------------------------- limits

TEST_F(HyperletRun, InfiniteLoopStoppedByTimeout) {
  ProcessOptions options;
  options.safety_timeout = 20s;
  const auto result = hyperlet_run({"--timeout", "500ms", program("spin")}, options);
  ASSERT_FALSE(result.killed_by_safety_timeout) << describe(result);
  EXPECT_EQ(result.status, 124) << describe(result);
  EXPECT_EQ(result.out, "spinning\n");
  expect_one_hyperlet_line(result, R"(hyperlet: the app ran past --timeout 0\.5s and was stopped at rip 0x[0-9a-f]+ \(main\+0x[0-9a-f]+\))");
  EXPECT_GE(result.elapsed, 450ms);
  EXPECT_LT(result.elapsed, 5s);
}

TEST_F(HyperletRun, TimeoutDoesNotFireForAShortProgram) {
  const auto result = hyperlet_run({"--timeout", "20s", program("exit_with"), "7"});
  EXPECT_EQ(result.status, 7) << describe(result);
  EXPECT_LT(result.elapsed, 10s);
}

TEST_F(HyperletRun, ImageLargerThanMemoryIs121) {
  const auto result = hyperlet_run({"--memory", "8M", program("stdlib_tour")});
  EXPECT_EQ(result.status, 121) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_hyperlet_line(result, R"(hyperlet: the app image ends at 0x[0-9a-f]+ and does not fit in 8 MiB of guest memory \(use --memory [0-9]+M or more\))");
}

TEST_F(HyperletRun, NewLargerThanMemoryThrowsBadAlloc) {
  const auto result = hyperlet_run({"--memory", "64M", program("allocate"), "new", "256"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "caught std::bad_alloc\nstill alive: 1000\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletRun, MallocLargerThanMemoryReturnsNull) {
  const auto result = hyperlet_run({"--memory", "64M", program("allocate"), "malloc", "256"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "malloc returned NULL\nstill alive: 1000\n");
  EXPECT_EQ(result.err, "");
}

// An app that dies of std::bad_alloc hears that it ran out of guest memory and
// which --memory to try; one that caught it (above) hears nothing.
TEST_F(HyperletRun, UncaughtBadAllocSaysTheAppRanOutOfGuestMemory) {
  const auto result = hyperlet_run({"--memory", "64M", program("allocate"), "new-uncaught", "256"});
  EXPECT_EQ(result.status, 134) << describe(result);
  EXPECT_NE(result.err.find("terminate called after throwing an instance of 'std::bad_alloc'"), std::string::npos)
      << describe(result);
  // glibc asks twice (mmap, then its fallback), for 256 MiB and its chunk header.
  EXPECT_NE(result.err.find("hyperlet: app killed by SIGABRT (Aborted) (before that it ran out of guest memory: "
                            "2 allocations were refused, the largest 257 MiB, with --memory 64M; try --memory 512M)\n"),
            std::string::npos)
      << describe(result);
}

TEST_F(HyperletRun, AllocationThatFitsSucceeds) {
  const auto result = hyperlet_run({"--memory", "64M", program("allocate"), "new", "16"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "new succeeded\nstill alive: 1000\n");
}

// ---------------------------------------------------------------- refused files

TEST_F(HyperletRun, MissingFileIs127) {
  const auto result = hyperlet_run({"/nonexistent/hyperlet-test-app"});
  EXPECT_EQ(result.status, 127) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_hyperlet_line(result, "hyperlet: cannot open /nonexistent/hyperlet-test-app: No such file or directory");
}

// ENOTDIR is "no such file" too, as a shell reports it (127), not a bad file (126).
TEST_F(HyperletRun, PathThroughANonDirectoryIs127) {
  const auto result = hyperlet_run({program("exit_with") + "/app"});
  EXPECT_EQ(result.status, 127) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: cannot open " + program("exit_with") + "/app: Not a directory");
}

TEST_F(HyperletRun, NonElfIs126) {
  const TempFile file("#!/bin/sh\necho this is a script, not an ELF\n");
  const auto result = hyperlet_run({file.path()});
  EXPECT_EQ(result.status, 126) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_hyperlet_line(result, "hyperlet: cannot run " + file.path() + ": not an ELF file");
}

TEST_F(HyperletRun, EmptyFileIs126) {
  const TempFile file("");
  const auto result = hyperlet_run({file.path()});
  EXPECT_EQ(result.status, 126) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: cannot run " + file.path() + ": .*");
}

// A plausible ELF32 i386 executable header (what g++ -m32 -static would start with).
std::string elf32_i386_header() {
  std::string bytes(52 + 32, '\0');
  bytes.replace(0, 4, "\x7f" "ELF");
  bytes[4] = 1;  // ELFCLASS32
  bytes[5] = 1;  // ELFDATA2LSB
  bytes[6] = 1;  // EV_CURRENT
  put<std::uint16_t>(bytes, 16, 2);           // ET_EXEC
  put<std::uint16_t>(bytes, 18, 3);           // EM_386
  put<std::uint32_t>(bytes, 20, 1);           // e_version
  put<std::uint32_t>(bytes, 24, 0x08049000);  // e_entry
  put<std::uint32_t>(bytes, 28, 52);          // e_phoff
  put<std::uint16_t>(bytes, 40, 52);          // e_ehsize
  put<std::uint16_t>(bytes, 42, 32);          // e_phentsize
  put<std::uint16_t>(bytes, 44, 1);           // e_phnum
  put<std::uint32_t>(bytes, 52, 1);           // PT_LOAD
  return bytes;
}

TEST_F(HyperletRun, Elf32Is126) {
  const TempFile file(elf32_i386_header());
  const auto result = hyperlet_run({file.path()});
  EXPECT_EQ(result.status, 126) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: cannot run " + file.path() + ": a 32-bit ELF file.*");
}

TEST_F(HyperletRun, NonX86ElfIs126) {
  // A real static x86-64 program relabelled as AArch64 (EM_AARCH64 = 183).
  std::string bytes = read_file(program("exit_with"));
  ASSERT_GT(bytes.size(), 64u);
  put<std::uint16_t>(bytes, 18, 183);
  const TempFile file(bytes);
  const auto result = hyperlet_run({file.path(), "0"});
  EXPECT_EQ(result.status, 126) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: cannot run " + file.path() + ": an ELF file for machine 183 \\(not x86-64\\)");
}

TEST_F(HyperletRun, TruncatedElfIs126) {
  const TempFile file(read_file(program("exit_with")).substr(0, 4096));
  const auto result = hyperlet_run({file.path(), "0"});
  ASSERT_FALSE(result.killed_by_safety_timeout) << describe(result);
  EXPECT_EQ(result.status, 126) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: cannot run " + file.path() + ": .*");
}

TEST_F(HyperletRun, DynamicallyLinkedElfIs126) {
  const auto result = hyperlet_run({program("dynamic_hello")});
  EXPECT_EQ(result.status, 126) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_hyperlet_line(result, "hyperlet: cannot run .*dynamic_hello: dynamically linked.*-static.*");
}

// ---------------------------------------------------------------- bad options

TEST_F(HyperletRun, MemoryNotMultipleOf2MIsUsageError) {
  const auto result = hyperlet_run({"--memory", "3M", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_hyperlet_line(result, "hyperlet: invalid --memory '3M': must be a multiple of 2M between 8M and 16G");
}

TEST_F(HyperletRun, MemoryAboveTheMaximumIsUsageError) {
  const auto result = hyperlet_run({"--memory", "17G", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: invalid --memory '17G': must be a multiple of 2M between 8M and 16G");
}

TEST_F(HyperletRun, UnparsableTimeoutIsUsageError) {
  const auto result = hyperlet_run({"--timeout", "abc", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: invalid --timeout: 'abc' is not a duration.*");
}

TEST_F(HyperletRun, UnknownOptionIsUsageError) {
  const auto result = hyperlet_run({"--no-such-option", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: .*--no-such-option.*");
}

TEST_F(HyperletRun, MissingAppIsUsageError) {
  const auto result = hyperlet_run({});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: APP is required.*");
}

// ---------------------------------------------------------------- diagnostics

TEST_F(HyperletRun, TracePrintsSyscallsToStderr) {
  const auto result = hyperlet_run({"--trace", kHelloSample});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_TRUE(result.out.starts_with("Hello from hyperlet!\n")) << describe(result);
  EXPECT_NE(result.err.find("write(1, "), std::string::npos) << describe(result);
  EXPECT_NE(result.err.find("exit_group(0)"), std::string::npos) << describe(result);
  // stdout stays clean: the trace goes to stderr only.
  EXPECT_EQ(result.out.find("write("), std::string::npos);
}

// --trace-file: the trace in a file of its own (0600), strace's decoding, and
// the app's stdout and stderr exactly as without it.
TEST_F(HyperletRun, TraceFileHoldsDecodedSyscalls) {
  TempDir directory;
  const std::string trace = (directory.path() / "trace").string();
  const auto result = hyperlet_run({"--trace-file", trace, program("console_io"), "streams"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "to stdout\n");
  EXPECT_EQ(result.err, "to stderr 1\nto stderr 2\n");
  const std::string text = read_file(trace);
  EXPECT_NE(text.find("[hyperlet host] write(2, \"to stderr 1\\n\", 12) = 12\n"), std::string::npos) << text;
  EXPECT_NE(text.find("[hyperlet host] write(1, \"to stdout\\n\", 10) = 10\n"), std::string::npos) << text;
  // The end, as strace ends.
  EXPECT_TRUE(text.ends_with("[hyperlet guest] exit_group(0) = ?\n+++ exited with 0 +++\n")) << text;
  struct stat info {};
  ASSERT_EQ(::stat(trace.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  // A path the policy refuses: the path quoted, the flags and errno by name.
  if (::access(kBusybox.c_str(), X_OK) == 0) {
    const auto missing = hyperlet_run({"--trace-file", trace, kBusybox, "cat", "/nonexistent"});
    EXPECT_EQ(missing.status, 1) << describe(missing);
    const std::string again = read_file(trace);
    EXPECT_EQ(again.find("to stderr 1"), std::string::npos) << "truncated: " << again;
    EXPECT_NE(again.find("\"/nonexistent\", O_RDONLY"), std::string::npos) << again;
    EXPECT_NE(again.find(") = -1 ENOENT (No such file or directory)\n"), std::string::npos) << again;
  }
}

TEST_F(HyperletRun, TraceEndsWithTheSignalThatKilledTheApp) {
  TempDir directory;
  const std::string trace = (directory.path() / "trace").string();
  const auto result = hyperlet_run({"--trace-file", trace, program("raise_signal"), "term"});
  EXPECT_EQ(result.status, 143) << describe(result);
  const std::string text = read_file(trace);
  EXPECT_TRUE(text.ends_with("+++ killed by SIGTERM +++\n")) << text;
}

TEST_F(HyperletRun, TraceFileThatCannotBeOpenedIsAUsageError) {
  TempDir directory;
  const auto result = hyperlet_run({"--trace-file", (directory.path() / "no/such/dir/trace").string(), kHelloSample});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_hyperlet_line(result, "hyperlet: --trace-file .*/no/such/dir/trace: No such file or directory");
  EXPECT_EQ(result.out, "");
}

// On a stderr the app also writes to, a trace line never continues the app's
// unfinished line: it starts on a line of its own, and is written whole.
TEST_F(HyperletRun, TraceLinesStartAtALineStart) {
  const auto result = hyperlet_run({"--trace", program("console_io"), "partial"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "pid 1\n");
  EXPECT_NE(result.err.find("partial\n[hyperlet host] write(2, \"partial\", 7) = 7\n"), std::string::npos)
      << result.err;
  std::size_t start = 0;
  while (start < result.err.size()) {
    const std::size_t end = result.err.find('\n', start);
    const std::string line = result.err.substr(start, end - start);
    const auto tag = line.find("[hyperlet ");
    EXPECT_TRUE(tag == std::string::npos || tag == 0) << "a trace line inside another: " << line;
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

// hyperlet leaves the VM's teardown to a reaper process (vm/teardown_reaper.h)
// that ends as soon as hyperlet does. As a subreaper, this test inherits it and
// sees it end; nothing of the run is left behind.
TEST_F(HyperletRun, TeardownReaperEndsWithHyperlet) {
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const auto result = hyperlet_run({program("exit_with"), "7"});
  EXPECT_EQ(result.status, 7) << describe(result);
  int reaped = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG | __WALL);
    if (pid > 0) {
      ++reaped;
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;  // PR_SET_PDEATHSIG
      continue;
    }
    if (pid < 0 && errno == ECHILD) break;  // no children left at all
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "a process of the run outlived hyperlet";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(reaped, 1);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// hyperlet drops to a seccomp filter before the run loop (vm/host_seccomp.h);
// every other test runs under it. --no-seccomp is the documented way around it.
TEST_F(HyperletRun, NoSeccompRunsWithoutTheHostFilter) {
  const auto help = run_process({kHyperlet, "run", "--help"});
  EXPECT_NE(help.out.find("--no-seccomp"), std::string::npos) << describe(help);
  const auto result = hyperlet_run({"--no-seccomp", program("exit_with"), "3"});
  EXPECT_EQ(result.status, 3) << describe(result);
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletRun, StatsPrintsVmExits) {
  const auto result = hyperlet_run({"--stats", program("exit_with"), "3"});
  EXPECT_EQ(result.status, 3) << describe(result);
  EXPECT_EQ(result.out, "");
  EXPECT_NE(result.err.find("VM exits"), std::string::npos) << describe(result);
  EXPECT_NE(result.err.find("exit_group"), std::string::npos) << describe(result);
}

}  // namespace
}  // namespace hyperlet::testing
