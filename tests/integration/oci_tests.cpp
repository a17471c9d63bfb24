// hyperlet-runc driven exactly as containerd's runc shim and podman's conmon
// drive runc: bundles written here, `create` with --pid-file and the stdio the
// caller passes, `start`, `state`, `kill`, `delete`. The test process is a child
// subreaper, as the shim and conmon are, so it reaps the container's process
// (hyperlet) and sees its exit status. Refusals need no KVM; runs skip without it.
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "process.h"

namespace hyperlet::testing {
namespace {

using nlohmann::json;

const std::string kRunc = HYPERLET_RUNC_BINARY;
const std::string kProgramsDir = HYPERLET_TEST_PROGRAMS_DIR;

std::string program(const std::string& name) { return kProgramsDir + "/" + name; }

// Shell-quotes one word for /bin/sh.
std::string quoted(const std::string& word) {
  std::string text = "'";
  for (char c : word) text += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return text + "'";
}

// GTEST_SKIP returns from the function it is in: the test's own body must skip.
#define REQUIRE_KVM()                                                      \
  if (const std::string reason = kvm_unusable_reason(); !reason.empty()) { \
    GTEST_SKIP() << "no usable /dev/kvm: " << reason;                      \
  }

class OciRuntime : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ::prctl(PR_SET_CHILD_SUBREAPER, 1); }

  void SetUp() override {
    root_ = dir_ / "state";
    bundle_ = dir_ / "bundle";
    std::filesystem::create_directories(bundle_ + "/rootfs/bin");
  }

  void TearDown() override {
    for (const std::string& id : created_) runc({"delete", "--force", id});
    // Reap whatever this test's containers left (the subreaper inherits them).
    while (::waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  ProcessResult runc(std::vector<std::string> args) {
    args.insert(args.begin(), {kRunc, "--root", root_, "--log", dir_ / "runc.log", "--log-format", "json"});
    return run_process(args);
  }

  // Puts the test program `name` into the rootfs as /bin/NAME and writes config.json around `process`.
  void write_bundle(const std::string& name, json process, json extra = json::object()) {
    std::filesystem::copy_file(program(name), bundle_ + "/rootfs/bin/" + name,
                               std::filesystem::copy_options::overwrite_existing);
    process["cwd"] = process.value("cwd", "/");
    process["env"] = process.value("env", json::array({"PATH=/bin"}));
    json config = {
        {"ociVersion", "1.0.2"}, {"root", {{"path", "rootfs"}}}, {"process", process}, {"hostname", "oci-test"}};
    config.merge_patch(extra);
    std::ofstream(bundle_ + "/config.json") << config.dump(2);
  }

  // `create` with its stdio in files, as the shim hands it fifos: the container's
  // process keeps them, so nothing here waits for it to end.
  ProcessResult create(const std::string& id) {
    created_.push_back(id);
    const std::string command = fmt_command({kRunc, "--root", root_, "--log", dir_ / "runc.log", "--log-format", "json",
                                             "create", "--bundle", bundle_, "--pid-file", dir_ / (id + ".pid"), id}) +
                                " </dev/null >" + quoted(dir_ / (id + ".out")) + " 2>" + quoted(dir_ / (id + ".err"));
    auto result = run_process({"/bin/sh", "-c", command});
    result.err += read_file(dir_ / (id + ".err"));
    return result;
  }

  static std::string fmt_command(const std::vector<std::string>& words) {
    std::string command;
    for (const std::string& word : words) command += (command.empty() ? "" : " ") + quoted(word);
    return command;
  }

  json state(const std::string& id) {
    const auto result = runc({"state", id});
    EXPECT_EQ(result.status, 0) << describe(result);
    return json::parse(result.out, nullptr, false);
  }

  int pid_of(const std::string& id) { return std::stoi(read_file(dir_ / (id + ".pid"))); }

  // The container process's exit status as a shell reports it.
  static int wait_for(int pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  TempDir dir_{"hyperlet-oci"};
  std::string root_, bundle_;
  std::vector<std::string> created_;
};

TEST_F(OciRuntime, CreateStartStateAndExitStatus) {
  REQUIRE_KVM();
  write_bundle("print_args", {{"args", {"/bin/print_args", "one", "two words"}}});
  auto created = create("c1");
  ASSERT_EQ(created.status, 0) << describe(created);
  const int pid = pid_of("c1");
  json before = state("c1");
  EXPECT_EQ(before["status"], "created");
  EXPECT_EQ(before["id"], "c1");
  EXPECT_EQ(before["pid"], pid);
  EXPECT_EQ(before["ociVersion"], "1.0.2");
  EXPECT_EQ(before["bundle"], std::filesystem::canonical(bundle_).string());
  EXPECT_FALSE(before["created"].get<std::string>().empty());

  auto started = runc({"start", "c1"});
  ASSERT_EQ(started.status, 0) << describe(started);
  EXPECT_EQ(wait_for(pid), 0);
  EXPECT_EQ(read_file(dir_ / "c1.out"), "argc=3\n[one]\n[two words]\n");
  EXPECT_EQ(state("c1")["status"], "stopped");

  auto again = runc({"start", "c1"});
  EXPECT_EQ(again.status, 1) << describe(again);
  EXPECT_EQ(again.err, "hyperlet-runc: cannot start container c1: it is stopped, not created\n");

  auto deleted = runc({"delete", "c1"});
  EXPECT_EQ(deleted.status, 0) << describe(deleted);
  auto gone = runc({"state", "c1"});
  EXPECT_EQ(gone.status, 1);
  EXPECT_EQ(gone.err, "hyperlet-runc: container c1 does not exist\n");
}

TEST_F(OciRuntime, ExitStatusAndEnvironmentPassThrough) {
  REQUIRE_KVM();
  write_bundle("exit_with", {{"args", {"exit_with", "7"}}});  // found through PATH=/bin
  ASSERT_EQ(create("c2").status, 0);
  const int pid = pid_of("c2");
  ASSERT_EQ(runc({"start", "c2"}).status, 0);
  EXPECT_EQ(wait_for(pid), 7);

  write_bundle("print_env", {{"args", {"/bin/print_env"}}, {"env", {"PATH=/bin", "GREETING=hi there"}}});
  ASSERT_EQ(create("c3").status, 0);
  const int env_pid = pid_of("c3");
  ASSERT_EQ(runc({"start", "c3"}).status, 0);
  EXPECT_EQ(wait_for(env_pid), 0);
  EXPECT_EQ(read_file(dir_ / "c3.out"), "PATH=/bin\nGREETING=hi there\nend of environment\n");
}

TEST_F(OciRuntime, KillTermStopsTheAppWith143) {
  REQUIRE_KVM();
  write_bundle("spin", {{"args", {"/bin/spin"}}});
  ASSERT_EQ(create("c4").status, 0);
  const int pid = pid_of("c4");
  ASSERT_EQ(runc({"start", "c4"}).status, 0);
  EXPECT_EQ(state("c4")["status"], "running");
  // The cgroup's processes: hyperlet (and, while a VM is torn down, its reaper).
  auto ps = runc({"ps", "--format", "json", "c4"});
  const json pids = json::parse(ps.out, nullptr, false);
  EXPECT_TRUE(pids.is_array() && std::find(pids.begin(), pids.end(), pid) != pids.end()) << describe(ps);

  auto refused = runc({"delete", "c4"});
  EXPECT_EQ(refused.status, 1);
  EXPECT_EQ(refused.err, "hyperlet-runc: cannot delete container c4: it is running (stop it first, or --force)\n");

  auto killed = runc({"kill", "c4", "15"});  // containerd's shim passes the number
  ASSERT_EQ(killed.status, 0) << describe(killed);
  EXPECT_EQ(wait_for(pid), 143);
  EXPECT_EQ(state("c4")["status"], "stopped");
  EXPECT_EQ(state("c4")["pid"], 0);
  auto not_running = runc({"kill", "c4", "TERM"});
  EXPECT_EQ(not_running.err, "hyperlet-runc: container not running\n");
  EXPECT_EQ(runc({"delete", "c4"}).status, 0);
}

TEST_F(OciRuntime, ForceDeleteKillsTheVm) {
  REQUIRE_KVM();
  write_bundle("spin", {{"args", {"/bin/spin"}}});
  ASSERT_EQ(create("c5").status, 0);
  const int pid = pid_of("c5");
  ASSERT_EQ(runc({"start", "c5"}).status, 0);
  auto deleted = runc({"delete", "--force", "c5"});
  EXPECT_EQ(deleted.status, 0) << describe(deleted);
  EXPECT_EQ(wait_for(pid), 128 + SIGKILL);
  EXPECT_EQ(runc({"list", "--format", "json"}).out, "[]\n");
}

TEST_F(OciRuntime, DeleteOfACreatedContainerEndsItsProcess) {
  REQUIRE_KVM();
  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}}});
  ASSERT_EQ(create("c6").status, 0);
  const int pid = pid_of("c6");
  auto listed = runc({"list", "--format", "json"});
  EXPECT_EQ(json::parse(listed.out)[0]["status"], "created") << describe(listed);
  EXPECT_EQ(runc({"delete", "c6"}).status, 0);
  EXPECT_EQ(wait_for(pid), 128 + SIGKILL);
}

// ---------------------------------------------------------------- the container's cgroup

// The host's cgroup filesystem as hyperlet-runc writes it: v2 (one tree, as in
// the hardware-KVM test VM) or v1 (a tree per controller, as on hybrid hosts).
class OciCgroup : public OciRuntime {
 protected:
  void SetUp() override {
    OciRuntime::SetUp();
    v2_ = std::filesystem::exists(kMount + "/cgroup.controllers");
    if (!v2_ && !std::filesystem::exists(kMount + "/memory/cgroup.procs")) {
      GTEST_SKIP() << "no cgroup filesystem at " << kMount;
    }
    if (::access((v2_ ? kMount : kMount + "/memory").c_str(), W_OK) != 0) {
      GTEST_SKIP() << "the cgroup filesystem at " << kMount << " is not writable here";
    }
    parent_ = "/hyperlet-oci-test-" + std::to_string(::getpid());
  }

  void TearDown() override {
    OciRuntime::TearDown();
    if (parent_.empty()) return;
    for (const std::string& tree :
         {std::string(""), std::string("/memory"), std::string("/cpu"), std::string("/cpuset"), std::string("/pids"),
          std::string("/freezer"), std::string("/blkio"), std::string("/systemd"), std::string("/cpuacct")}) {
      ::rmdir((kMount + tree + parent_).c_str());
    }
  }

  // config.json's linux section for a container in the test's own cgroup parent.
  json linux_section(const std::string& id, const json& resources) const {
    return {{"linux", {{"cgroupsPath", parent_ + "/" + id}, {"resources", resources}}}};
  }

  // A control file of the container's cgroup: v1 in the tree of `controller`.
  std::string file(const std::string& id, const std::string& controller, const std::string& v1_name,
                   const std::string& v2_name) const {
    return v2_ ? kMount + parent_ + "/" + id + "/" + v2_name
               : kMount + "/" + controller + parent_ + "/" + id + "/" + v1_name;
  }
  std::string value(const std::string& path) const {
    std::string text = read_file(path);
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return text;
  }

  // CPU time (user + system, clock ticks) a process has used so far.
  static long cpu_ticks(int pid) {
    const std::string text = read_file("/proc/" + std::to_string(pid) + "/stat");
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    long user = 0, system = 0;
    for (int index = 3; index < 14 && fields >> field; ++index) {
    }
    fields >> user >> system;
    return user + system;
  }

  const std::string kMount = "/sys/fs/cgroup";
  bool v2_ = false;
  std::string parent_;
};

TEST_F(OciCgroup, CreatePutsTheContainersProcessInItsCgroupWithItsLimits) {
  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}}},
               linux_section("g1", json::parse(R"({"memory": {"limit": 67108864},
                   "cpu": {"shares": 512, "quota": 50000, "period": 100000}, "pids": {"limit": 64}})")));
  auto created = create("g1");
  ASSERT_EQ(created.status, 0) << describe(created);
  const int pid = pid_of("g1");
  EXPECT_NE(read_file("/proc/" + std::to_string(pid) + "/cgroup").find(parent_ + "/g1\n"), std::string::npos)
      << read_file("/proc/" + std::to_string(pid) + "/cgroup");
  EXPECT_EQ(value(file("g1", "memory", "memory.limit_in_bytes", "memory.max")), "67108864");
  EXPECT_EQ(value(file("g1", "cpu", "cpu.cfs_quota_us", "cpu.max")), v2_ ? "50000 100000" : "50000");
  EXPECT_EQ(value(file("g1", "cpu", "cpu.shares", "cpu.weight")), v2_ ? "20" : "512");
  EXPECT_EQ(value(file("g1", "pids", "pids.max", "pids.max")), "64");

  // update: flags, and linux.resources JSON on standard input as containerd passes it.
  auto updated = runc({"update", "--memory", "96M", "--cpu-quota", "-1", "g1"});
  EXPECT_EQ(updated.status, 0) << describe(updated);
  EXPECT_EQ(value(file("g1", "memory", "memory.limit_in_bytes", "memory.max")), "100663296");
  EXPECT_EQ(value(file("g1", "cpu", "cpu.cfs_quota_us", "cpu.max")), v2_ ? "max 100000" : "-1");
  std::ofstream(dir_ / "resources.json") << R"({"pids": {"limit": 128}})";
  auto from_json = run_process(
      {"/bin/sh", "-c",
       fmt_command({kRunc, "--root", root_, "update", "-r", "-", "g1"}) + " <" + quoted(dir_ / "resources.json")});
  EXPECT_EQ(from_json.status, 0) << describe(from_json);
  EXPECT_EQ(value(file("g1", "pids", "pids.max", "pids.max")), "128");
  auto nothing = runc({"update", "g1"});
  EXPECT_EQ(nothing.err, "hyperlet-runc: update: nothing to change (see hyperlet-runc update --help)\n");
  auto bad = runc({"update", "--cpuset-cpus", "3-1", "g1"});
  EXPECT_EQ(bad.status, 1);
  EXPECT_NE(bad.err.find("cpu.cpus: '3-1' is not a CPU list"), std::string::npos) << bad.err;

  // Only a running container pauses.
  auto paused = runc({"pause", "g1"});
  EXPECT_EQ(paused.err, "hyperlet-runc: cannot pause container g1: it is created, not running\n");

  EXPECT_EQ(runc({"delete", "g1"}).status, 0);
  EXPECT_EQ(wait_for(pid), 128 + SIGKILL);
  EXPECT_FALSE(std::filesystem::exists(file("g1", "memory", "", "")));
}

TEST_F(OciCgroup, LimitsTheCgroupCannotTakeFailCreateAndLeaveNothing) {
  // A cpuset naming a CPU this host does not have: the kernel refuses it.
  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}}},
               linux_section("g2", json::parse(R"({"cpu": {"cpus": "4000"}})")));
  auto created = create("g2");
  EXPECT_EQ(created.status, 1) << describe(created);
  EXPECT_NE(created.err.find("cpuset.cpus"), std::string::npos) << created.err;
  EXPECT_FALSE(std::filesystem::exists(file("g2", "cpuset", "", "")));
  EXPECT_EQ(runc({"list", "--format", "json"}).out, "[]\n");
}

// Rootless (or a read-only cgroup filesystem): as runc, no cgroup unless a limit needs one.
TEST_F(OciCgroup, WithoutAWritableCgroupTreeALimitIsRefusedAndNoLimitIsANote) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run hyperlet-runc as nobody";
  std::filesystem::permissions(dir_.path(), std::filesystem::perms::all, std::filesystem::perm_options::add);
  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}}});
  std::filesystem::permissions(bundle_, std::filesystem::perms::all, std::filesystem::perm_options::add);
  // Output to files, as create() does: the container's process keeps its stdio, so pipes would not end.
  auto as_nobody = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", kRunc, "--root",
                               dir_ / "nobody-state", "--log", dir_ / "nobody.log"});
    auto result = run_process(
        {"/bin/sh", "-c",
         fmt_command(args) + " </dev/null >" + quoted(dir_ / "nobody.out") + " 2>" + quoted(dir_ / "nobody.err")});
    result.err += read_file(dir_ / "nobody.err");
    return result;
  };
  auto created = as_nobody({"create", "--bundle", bundle_, "n1"});
  ASSERT_EQ(created.status, 0) << describe(created);
  EXPECT_NE(read_file(dir_ / "nobody.log").find("is not writable here: the container's process is in no cgroup"),
            std::string::npos)
      << read_file(dir_ / "nobody.log");
  auto paused = as_nobody({"pause", "n1"});
  EXPECT_EQ(paused.status, 1);
  EXPECT_EQ(as_nobody({"delete", "n1"}).status, 0);

  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}}},
               json::parse(R"({"linux": {"resources": {"pids": {"limit": 10}}}})"));
  auto refused = as_nobody({"create", "--bundle", bundle_, "n2"});
  EXPECT_EQ(refused.status, 1);
  EXPECT_NE(refused.err.find("cannot apply linux.resources: "), std::string::npos) << refused.err;
}

TEST_F(OciCgroup, PauseFreezesTheVmAndResumeThawsIt) {
  REQUIRE_KVM();
  write_bundle("spin", {{"args", {"/bin/spin"}}}, linux_section("g3", json::parse(R"({"pids": {"limit": 64}})")));
  ASSERT_EQ(create("g3").status, 0);
  const int pid = pid_of("g3");
  ASSERT_EQ(runc({"start", "g3"}).status, 0);
  for (int waited = 0; waited < 3000 && read_file(dir_ / "g3.out").empty(); waited += 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(read_file(dir_ / "g3.out"), "spinning\n");

  auto paused = runc({"pause", "g3"});
  ASSERT_EQ(paused.status, 0) << describe(paused);
  EXPECT_EQ(state("g3")["status"], "paused");
  const long frozen_at = cpu_ticks(pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_LE(cpu_ticks(pid) - frozen_at, 1) << "a paused VM went on using CPU";
  EXPECT_EQ(runc({"pause", "g3"}).err, "hyperlet-runc: cannot pause container g3: it is paused, not running\n");

  auto resumed = runc({"resume", "g3"});
  ASSERT_EQ(resumed.status, 0) << describe(resumed);
  EXPECT_EQ(state("g3")["status"], "running");
  const long thawed_at = cpu_ticks(pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_GT(cpu_ticks(pid) - thawed_at, 5) << "a resumed VM did not run";

  // A paused container still ends when killed.
  ASSERT_EQ(runc({"pause", "g3"}).status, 0);
  auto killed = runc({"kill", "g3", "KILL"});
  EXPECT_EQ(killed.status, 0) << describe(killed);
  EXPECT_EQ(wait_for(pid), 128 + SIGKILL);
  EXPECT_EQ(runc({"delete", "g3"}).status, 0);
  EXPECT_FALSE(std::filesystem::exists(file("g3", "pids", "", "")));
}

// ---------------------------------------------------------------- refusals at create (no KVM)

TEST_F(OciRuntime, MissingConfigIsOneLine) {
  auto result = create("bad1");
  EXPECT_EQ(result.status, 1);
  EXPECT_EQ(result.err, "hyperlet-runc: cannot read " + std::filesystem::canonical(bundle_).string() +
                            "/config.json: No such file or directory\n");
  EXPECT_FALSE(std::filesystem::exists(root_ + "/bad1"));
}

TEST_F(OciRuntime, MalformedConfigIsOneLine) {
  std::ofstream(bundle_ + "/config.json") << "{\"process\": ";
  auto result = create("bad2");
  EXPECT_EQ(result.status, 1);
  EXPECT_TRUE(result.err.starts_with("hyperlet-runc: " + std::filesystem::canonical(bundle_).string() +
                                     "/config.json: not valid JSON: "))
      << describe(result);
  // The shim reads the reason from the JSON log's last error line.
  const std::string log = read_file(dir_ / "runc.log");
  const json last = json::parse(log.substr(log.rfind('\n', log.size() - 2) + 1));
  EXPECT_EQ(last["level"], "error");
  EXPECT_TRUE(last["msg"].get<std::string>().find("not valid JSON") != std::string::npos);
}

TEST_F(OciRuntime, UnsupportedFieldsAreRefusedNamingThem) {
  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}}},
               {{"linux", {{"devices", {{{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229}}}}}}});
  auto devices = create("bad3");
  EXPECT_EQ(devices.status, 1);
  EXPECT_EQ(devices.err,
            "hyperlet-runc: config.json: linux.devices: the app reaches no host devices from the microVM\n");

  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}}, {"terminal", true}});
  auto terminal = create("bad4");
  EXPECT_EQ(terminal.err, "hyperlet-runc: config.json: process.terminal: a terminal needs --console-socket\n");

  write_bundle("exit_with", {{"args", {"/bin/missing"}}});
  auto missing = create("bad5");
  EXPECT_TRUE(
      missing.err.starts_with("hyperlet-runc: config.json: process.args[0]: /bin/missing is not in the "
                              "image"))
      << describe(missing);
}

TEST_F(OciRuntime, DynamicEntrypointIsRefused) {
  write_bundle("dynamic_hello", {{"args", {"/bin/dynamic_hello"}}});
  auto result = create("bad6");
  EXPECT_EQ(result.status, 1);
  EXPECT_NE(result.err.find("dynamically linked"), std::string::npos) << describe(result);
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << describe(result);
}

TEST_F(OciRuntime, AnRlimitThatCannotApplyIsOneLine) {
  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}},
                             {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"soft", 1ull << 40}, {"hard", 1ull << 40}}}}});
  auto result = create("bad7");
  EXPECT_EQ(result.status, 1);
  EXPECT_TRUE(result.err.starts_with("hyperlet-runc: config.json: process.rlimits: cannot apply RLIMIT_NOFILE "))
      << describe(result);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/bad7"));
}

TEST_F(OciRuntime, DuplicateIdIsRefused) {
  REQUIRE_KVM();
  write_bundle("exit_with", {{"args", {"/bin/exit_with", "0"}}});
  ASSERT_EQ(create("dup").status, 0);
  auto second = create("dup");
  EXPECT_EQ(second.status, 1);
  EXPECT_EQ(second.err, "hyperlet-runc: container dup already exists\n");
}

// Like hyperlet: podman and containerd start it once per create, start, state, kill, delete.
TEST(OciRuntimeCli, HyperletRuncIsAStaticPie) { EXPECT_EQ(static_pie_problem(kRunc), ""); }

TEST(OciRuntimeCli, FeaturesVersionAndUnsupportedCommands) {
  auto features = run_process({kRunc, "features"});
  ASSERT_EQ(features.status, 0) << describe(features);
  EXPECT_EQ(json::parse(features.out)["ociVersionMin"], "1.0.0");
  auto version = run_process({kRunc, "--version"});
  EXPECT_TRUE(version.out.starts_with("hyperlet-runc version ")) << describe(version);
  auto exec = run_process({kRunc, "exec", "c1", "/bin/sh"});
  EXPECT_EQ(exec.status, 1);
  EXPECT_TRUE(exec.err.starts_with("hyperlet-runc: exec is not supported")) << describe(exec);
  // Global flags as the shim and conmon pass them, before and after the command.
  auto list = run_process({kRunc, "--root", "/nonexistent-hyperlet-root", "--systemd-cgroup", "list", "--format",
                           "json", "--log-format", "json"});
  EXPECT_EQ(list.status, 0) << describe(list);
  EXPECT_EQ(list.out, "[]\n");
}

}  // namespace
}  // namespace hyperlet::testing
