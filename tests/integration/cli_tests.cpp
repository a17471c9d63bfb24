// The command line as docker run users type it: short flags, --env KEY,
// --env-file, --name, --workdir, --hostname, fractional sizes, and what hyperlet
// says about misspelt words and options in the wrong place. Usage errors need no
// KVM; runs skip without a usable /dev/kvm.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgramsDir = HYPERLET_TEST_PROGRAMS_DIR;

std::string program(const std::string& name) { return kProgramsDir + "/" + name; }

ProcessResult hyperlet(std::vector<std::string> args, const ProcessOptions& options = {}) {
  args.insert(args.begin(), kHyperlet);
  return run_process(args, options);
}

ProcessResult hyperlet_run(std::vector<std::string> args, const ProcessOptions& options = {}) {
  args.insert(args.begin(), "run");
  return hyperlet(std::move(args), options);
}

// Exactly one line on stderr, matching `pattern` (ECMAScript regex, whole line).
void expect_one_line(const ProcessResult& result, const std::string& pattern) {
  ASSERT_FALSE(result.err.empty()) << describe(result);
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << "not one line\n" << describe(result);
  const std::string line = result.err.substr(0, result.err.size() - 1);
  EXPECT_TRUE(std::regex_match(line, std::regex(pattern))) << "pattern: " << pattern << '\n' << describe(result);
}

void write_file(const std::string& path, const std::string& contents) { std::ofstream(path) << contents; }

class HyperletCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
  }
};

// ---------------------------------------------------------------- short flags

// The version (<hyperlet/guest.h>'s, which CMake reads) and the git commit this tree is built from.
TEST(CliUsage, VersionNamesTheReleaseAndTheCommit) {
  const auto result = hyperlet({"--version"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_TRUE(std::regex_match(result.out, std::regex(std::string(R"(hyperlet )") + HYPERLET_PROJECT_VERSION +
                                                      R"( \(commit [0-9a-f]{12}(-dirty)?, guest ABI [0-9]+\)\n)")))
      << describe(result);
}

TEST(CliUsage, HelpExplainsTheTraceFile) {
  const auto result = hyperlet({"run", "--help"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_NE(result.out.find("--trace-file"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("0600"), std::string::npos) << result.out;
}

// Whether `help` lists `option` in its option column (not merely mentions it).
bool lists(const std::string& help, const std::string& option) {
  return std::regex_search(help, std::regex("\n +" + option + "[ \n]"));
}

// "Every command's options on one page" (the man page is made from it): each
// command's own options are there, not only its name.
TEST(CliUsage, HelpAllShowsEveryCommandsOptions) {
  const auto result = hyperlet({"--help-all"});
  ASSERT_EQ(result.status, 0) << describe(result);
  for (const char* option :
       {"--restore", "--exit-on-ready", "--at-syscall", "--json", "--unset-env", "--port", "density", "compare"}) {
    EXPECT_TRUE(lists(result.out, option)) << option << " missing from\n" << result.out;
  }
}

TEST(CliUsage, EachCommandsHelpShowsItsOwnOptionsOnly) {
  const std::vector<std::pair<std::string, std::string>> owned = {{"run", "--restore"},  {"snapshot", "--at-syscall"},
                                                                  {"inspect", "--json"}, {"manifest", "--unset-env"},
                                                                  {"pack", "--port"},    {"bench", "density"}};
  for (const auto& [command, option] : owned) {
    const auto result = hyperlet({command, "--help"});
    ASSERT_EQ(result.status, 0) << describe(result);
    EXPECT_TRUE(lists(result.out, option)) << command << " --help lacks " << option << '\n' << result.out;
    for (const auto& [other, others_option] : owned) {
      if (other != command) {
        EXPECT_FALSE(lists(result.out, others_option)) << command << " --help lists " << others_option;
      }
    }
  }
}

// hyperlet starts without the dynamic loader: it is a static-pie (its addresses
// still randomized), since every run and restore pays for its process start.
TEST(CliUsage, HyperletIsAStaticPie) { EXPECT_EQ(static_pie_problem(kHyperlet), ""); }

TEST(CliUsage, ShortMemoryFlagIsMemory) {
  const auto result = hyperlet_run({"-m", "3M", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --memory '3M': must be a multiple of 2M between 8M and 16G");
}

TEST(CliUsage, ShortVolumeFlagIsVolume) {
  const auto result = hyperlet_run({"-v", "no-colon", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --volume 'no-colon'.*");
}

TEST(CliUsage, ShortPublishFlagIsPublish) {
  const auto result = hyperlet_run({"-p", "not-a-port", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --publish 'not-a-port'.*");
}

TEST(CliUsage, ShortWorkdirFlagIsWorkdir) {
  const auto result = hyperlet_run({"-w", "relative/dir", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --workdir 'relative/dir': must be an absolute guest path");
}

TEST(CliUsage, SnapshotSharesTheShortFlags) {
  const auto result = hyperlet({"snapshot", "-m", "3M", "-o", "/nonexistent/snap", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --memory '3M': must be a multiple of 2M between 8M and 16G");
}

TEST_F(HyperletCli, ShortFlagsRunTheApp) {
  TempDir dir;
  std::filesystem::create_directory(dir / "sub");
  const int port = free_port();
  const auto result = hyperlet_run({"-m", "16M", "-e", "A=1", "-eB=2", "-v", dir.path().string() + ":/data", "-w",
                                    "/data/sub", "-p", std::to_string(port) + ":8080", program("print_env")});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "A=1\nB=2\nend of environment\n");
  EXPECT_EQ(result.err, "");
}

// ---------------------------------------------------------------- --env KEY, --env-file

TEST_F(HyperletCli, EnvKeyTakesTheHostsValue) {
  ProcessOptions options;
  options.extra_environment = {"HYPERLET_TEST_FROM_HOST=from the host", "HYPERLET_TEST_OTHER=not asked for"};
  const auto result = hyperlet_run(
      {"--env", "HYPERLET_TEST_FROM_HOST", "-e", "HYPERLET_TEST_NOT_SET_ANYWHERE", program("print_env")}, options);
  ASSERT_EQ(result.status, 0) << describe(result);
  // A KEY unset on the host is left out, as docker run does.
  EXPECT_EQ(result.out, "HYPERLET_TEST_FROM_HOST=from the host\nend of environment\n");
}

TEST_F(HyperletCli, EnvFileInOrderAndEnvWins) {
  TempDir dir;
  write_file(dir / "app.env",
             "# settings\nGREETING=hello world\n\nMODE=file\nQUOTED=\"verbatim\"\nHYPERLET_TEST_FROM_HOST\n");
  ProcessOptions options;
  options.extra_environment = {"HYPERLET_TEST_FROM_HOST=host value"};
  const auto result =
      hyperlet_run({"--env-file", dir / "app.env", "--env", "MODE=command line", program("print_env")}, options);
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out,
            "GREETING=hello world\nMODE=command line\nQUOTED=\"verbatim\"\nHYPERLET_TEST_FROM_HOST=host value\n"
            "end of environment\n");
}

TEST(CliUsage, EnvFileMalformedLineNamesFileAndLine) {
  TempDir dir;
  write_file(dir / "bad.env", "GOOD=1\n# comment\nexport BAD=2\n");
  const auto result = hyperlet_run({"--env-file", dir / "bad.env", program("print_env")});
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_line(result, "hyperlet: invalid --env-file " + (dir / "bad.env") +
                              " line 3: the variable name contains whitespace: 'export BAD=2'");
}

TEST(CliUsage, EnvFileMissingIsUsageError) {
  const auto result = hyperlet_run({"--env-file", "/nonexistent/app.env", program("print_env")});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: cannot read --env-file /nonexistent/app.env: No such file or directory");
}

// ---------------------------------------------------------------- --name

TEST(CliUsage, NameInMessages) {
  const auto result = hyperlet_run({"--name", "web-1", "/nonexistent/app"});
  EXPECT_EQ(result.status, 127) << describe(result);
  expect_one_line(result, "hyperlet\\[web-1\\]: .*/nonexistent/app.*");
}

TEST(CliUsage, InvalidNameIsUsageError) {
  const auto result = hyperlet_run({"--name", "my web", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --name 'my web': .*");
}

TEST_F(HyperletCli, NameInStats) {
  const auto result = hyperlet_run({"--name", "web-1", "--stats", program("exit_with"), "3"});
  EXPECT_EQ(result.status, 3) << describe(result);
  EXPECT_TRUE(result.err.starts_with("hyperlet[web-1] stats:\n")) << describe(result);
}

// ---------------------------------------------------------------- --workdir, --hostname

TEST_F(HyperletCli, WorkdirInAVolumeIsTheAppsCwd) {
  TempDir dir;
  std::filesystem::create_directories(dir / "srv/www");
  const auto result = hyperlet_run(
      {"--volume", dir.path().string() + ":/data", "--workdir", "/data/srv/./www/", program("print_identity")});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "cwd=/data/srv/www\nnodename=hyperlet\n");
}

TEST_F(HyperletCli, WorkdirAboveAVolumeIsAllowedAsChdirWouldBe) {
  TempDir dir;
  const auto result =
      hyperlet_run({"--volume", dir.path().string() + ":/srv/app", "--workdir", "/srv", program("print_identity")});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "cwd=/srv\nnodename=hyperlet\n");
}

TEST_F(HyperletCli, DefaultWorkdirIsRoot) {
  const auto result = hyperlet_run({program("print_identity")});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "cwd=/\nnodename=hyperlet\n");
}

TEST_F(HyperletCli, WorkdirOutsideEveryVolumeIsRefused) {
  TempDir dir;
  const auto result =
      hyperlet_run({"--volume", dir.path().string() + ":/data", "--workdir", "/elsewhere", program("print_identity")});
  EXPECT_EQ(result.status, 125) << describe(result);
  EXPECT_EQ(result.out, "");
  expect_one_line(result, "hyperlet: invalid --workdir /elsewhere: outside every --volume .*");
}

TEST_F(HyperletCli, WorkdirMissingInItsVolumeIsRefused) {
  TempDir dir;
  const auto result = hyperlet_run(
      {"--volume", dir.path().string() + ":/data", "--workdir", "/data/missing", program("print_identity")});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --workdir /data/missing: No such file or directory in --volume .*");
}

TEST_F(HyperletCli, HostnameIsUnameNodename) {
  const auto result = hyperlet_run({"--hostname", "api.example.com", program("print_identity")});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "cwd=/\nnodename=api.example.com\n");
}

TEST_F(HyperletCli, LongestHostnameFitsUname) {
  const std::string longest(64, 'h');
  const auto result = hyperlet_run({"--hostname", longest, program("print_identity")});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "cwd=/\nnodename=" + longest + "\n");
}

TEST(CliUsage, InvalidHostnameIsUsageError) {
  const auto result = hyperlet_run({"--hostname", "under_score", program("print_identity")});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --hostname 'under_score': use only letters, digits, '-' and '.'");
}

TEST(CliUsage, RestoreTakesNoWorkdirHostnameEnvFileOrAddressSpace) {
  for (const std::vector<std::string>& option : {std::vector<std::string>{"--workdir", "/"},
                                                 {"--hostname", "web"},
                                                 {"--env-file", "/dev/null"},
                                                 {"--address-space", "2G"}}) {
    const auto result = hyperlet_run({"--restore", "/nonexistent/snapshot", option[0], option[1]});
    EXPECT_EQ(result.status, 125) << describe(result);
    expect_one_line(result, "hyperlet: --restore takes no APP, .*: the snapshot has them");
  }
}

// ---------------------------------------------------------------- sizes

TEST_F(HyperletCli, MemoryWithADecimalFractionIsAccepted) {
  const auto result = hyperlet_run({"--memory", "1.5G", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.err, "");
}

TEST(CliUsage, MemoryFractionThatIsNoWholeNumberOfBytesSaysSo) {
  const auto result = hyperlet_run({"--memory", "1.3G", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --memory: '1.3G' is not a whole number of bytes.*");
}

TEST(CliUsage, MemoryFractionThatIsNoMultipleOf2MSaysSo) {
  const auto result = hyperlet_run({"--memory", "9.5M", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: invalid --memory '9.5M': must be a multiple of 2M between 8M and 16G");
}

// ---------------------------------------------------------------- words in the wrong place

TEST(CliUsage, MemoryBeforeTheCommandExplainsTheOrder) {
  const auto result = hyperlet({"--memory", "64M", "run", "app", "arg"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result,
                  "hyperlet: --memory is an option of `hyperlet run` and must come after the command, before APP "
                  ".*; write: hyperlet run --memory 64M app arg");
}

// Only the named command's options are built (each `run` is a new process); a
// word before the command still finds the command whose option it is.
TEST(CliUsage, AnotherCommandsOptionBeforeTheCommandNamesItsCommand) {
  const auto result = hyperlet({"--json", "inspect", "app"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result,
                  "hyperlet: --json is an option of `hyperlet inspect` and must come after the command.*; "
                  "write: hyperlet inspect --json app");
}

TEST(CliUsage, MisspeltOptionSuggestsTheNearest) {
  const auto result = hyperlet_run({"--memroy", "64M", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: .*--memroy.* \\(did you mean --memory\\?\\) \\(see hyperlet run --help\\)");
}

TEST(CliUsage, MisspeltCommandSuggestsTheNearest) {
  const auto result = hyperlet({"rnu", program("exit_with"), "0"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result,
                  "hyperlet: unknown command 'rnu' \\(did you mean run\\?\\); the commands are run, snapshot, "
                  "inspect, manifest, pack, bench \\(see hyperlet --help\\)");
}

TEST(CliUsage, UnknownCommandSaysSo) {
  const auto result = hyperlet({"deploy"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: unknown command 'deploy'; the commands are .*");
}

TEST(CliUsage, ProgramWithoutRunSaysHow) {
  const auto result = hyperlet({"./app"});
  EXPECT_EQ(result.status, 125) << describe(result);
  expect_one_line(result, "hyperlet: unknown command './app' \\(to run a program: hyperlet run ./app\\).*");
}

TEST_F(HyperletCli, OptionsAfterAppWarnAndStayTheApps) {
  const auto result = hyperlet_run({program("print_args"), "--memory", "64M", "-v", "--trace", "--", "--stats"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "argc=7\n[--memory]\n[64M]\n[-v]\n[--trace]\n[--]\n[--stats]\n");
  expect_one_line(result, "hyperlet: warning: --memory, --trace after APP are the app's arguments, not hyperlet's: .*");
}

TEST_F(HyperletCli, DoubleDashAfterAppSilencesTheWarning) {
  const auto result = hyperlet_run({program("print_args"), "--", "--memory", "64M"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "argc=3\n[--memory]\n[64M]\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletCli, DoubleDashBeforeAppSilencesTheWarning) {
  const auto result = hyperlet_run({"--", program("print_args"), "--memory", "64M"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "argc=3\n[--memory]\n[64M]\n");
  EXPECT_EQ(result.err, "");
}

TEST_F(HyperletCli, HelpAfterAppIsTheAppsWithoutWarning) {
  const auto result = hyperlet_run({program("print_args"), "--help"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "argc=2\n[--help]\n");
  EXPECT_EQ(result.err, "");
}

}  // namespace
}  // namespace hyperlet::testing
