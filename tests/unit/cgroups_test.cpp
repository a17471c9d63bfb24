// The container cgroup hyperlet-runc makes: linux.cgroupsPath as runc reads it,
// the conversions, and the files written, against cgroup v1 and v2 trees laid
// out in a temporary directory (the real filesystem is tested in oci_tests).
#include "runc/cgroups.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "oci/cgroup_resources.h"

namespace hyperlet::runc {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

void touch(const fs::path& path, const std::string& text = "") { std::ofstream(path) << text; }

bool task_is_kernel_thread(const std::string& tid) {
  std::stringstream fields(read("/proc/" + tid + "/stat"));
  std::string field;
  for (int index = 1; index < 9 && fields >> field; ++index) {
  }
  unsigned long flags = 0;
  fields >> flags;
  return (flags & 0x00200000) != 0;
}

class TempTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("hyperlet-cgroups-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // A v1 host: a tree per controller ("cpu,cpuacct" combined), the unified tree of a hybrid host, devices.
  void make_v1() {
    for (const char* tree : {"memory", "cpu,cpuacct", "cpuset", "pids", "freezer", "devices", "unified"}) {
      fs::create_directories(root_ / tree);
      touch(root_ / tree / "cgroup.procs");
    }
    fs::create_symlink("cpu,cpuacct", root_ / "cpu");
  }

  fs::path root_;
};

TEST(CgroupPath, AsRuncReadsIt) {
  EXPECT_EQ(oci::cgroup_path("/kubepods/pod1/c1", "c1", false).value(), "/kubepods/pod1/c1");
  EXPECT_EQ(oci::cgroup_path("/a//b/./c/", "x", false).value(), "/a/b/c");
  EXPECT_EQ(oci::cgroup_path("libpod/c", "c", false).value(), "libpod/c");  // beneath the runtime's own
  EXPECT_EQ(oci::cgroup_path("", "web", false).value(), "web");
  EXPECT_FALSE(oci::cgroup_path("/a/../../etc", "x", false));
  EXPECT_FALSE(oci::cgroup_path("/", "x", false));
  EXPECT_FALSE(oci::cgroup_path("..", "x", false));
}

TEST(CgroupPath, SystemdSliceScope) {
  EXPECT_EQ(oci::cgroup_path("system.slice:libpod:abc", "abc", true).value(), "/system.slice/libpod-abc.scope");
  EXPECT_EQ(oci::cgroup_path("kubepods-burstable-pod1.slice:cri-containerd:c1", "c1", true).value(),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-c1.scope");
  EXPECT_EQ(oci::cgroup_path(":p:n", "n", true).value(), "/system.slice/p-n.scope");
  EXPECT_EQ(oci::cgroup_path("-.slice:p:n", "n", true).value(), "/p-n.scope");
  EXPECT_EQ(oci::cgroup_path("", "c9", true).value(), "/system.slice/hyperlet-runc-c9.scope");
  EXPECT_FALSE(oci::cgroup_path("/plain/path", "x", true));
  EXPECT_FALSE(oci::cgroup_path("bad:p:n", "n", true));
  EXPECT_FALSE(oci::cgroup_path("a--b.slice:p:n", "n", true));
  EXPECT_FALSE(oci::cgroup_path("system.slice:p:n/../x", "n", true));
}

TEST(CgroupResources, Conversions) {
  EXPECT_EQ(oci::count_cpu_list("0-3,6"), 5u);
  EXPECT_EQ(oci::count_cpu_list("7"), 1u);
  EXPECT_FALSE(oci::count_cpu_list(""));
  EXPECT_FALSE(oci::count_cpu_list("1,,2"));
  EXPECT_FALSE(oci::count_cpu_list("4-2"));
  EXPECT_FALSE(oci::count_cpu_list("a"));
  EXPECT_EQ(oci::cpu_weight_from_shares(2), 1u);
  EXPECT_EQ(oci::cpu_weight_from_shares(1024), 39u);  // runc's conversion of the default share
  EXPECT_EQ(oci::cpu_weight_from_shares(262144), 10000u);
  EXPECT_EQ(oci::guest_memory_for_limit(64ull << 20), 56ull << 20);
  EXPECT_FALSE(oci::guest_memory_for_limit(8ull << 20));
  EXPECT_FALSE(oci::guest_memory_for_limit(0));
}

TEST(OwnCgroup, FromProcSelfCgroup) {
  const std::string hybrid = "12:cpu,cpuacct:/user.slice\n4:memory:/session/abc\n1:name=systemd:/init.scope\n0::/u\n";
  EXPECT_EQ(own_cgroup(hybrid, "memory"), "/session/abc");
  EXPECT_EQ(own_cgroup(hybrid, "cpu,cpuacct"), "/user.slice");
  EXPECT_EQ(own_cgroup(hybrid, "systemd"), "/init.scope");
  EXPECT_EQ(own_cgroup(hybrid, ""), "/u");
  EXPECT_EQ(own_cgroup(hybrid, "pids"), "/");
}

TEST_F(TempTree, VersionIsReadFromTheTree) {
  EXPECT_EQ(detect_cgroup_version(root_), CgroupVersion::kNone);
  touch(root_ / "cgroup.controllers", "cpu memory pids\n");
  EXPECT_EQ(detect_cgroup_version(root_), CgroupVersion::kV2);
  fs::remove(root_ / "cgroup.controllers");
  make_v1();
  EXPECT_EQ(detect_cgroup_version(root_), CgroupVersion::kV1);
}

TEST_F(TempTree, V1MakesTheCgroupInEveryControllerTreeButDevices) {
  make_v1();
  const std::string proc = "4:memory:/sessions/s1\n3:pids:/\n";
  auto cgroup = ContainerCgroup::create(CgroupVersion::kV1, root_, "pods/c1", proc);
  ASSERT_TRUE(cgroup) << cgroup.error().message;
  // Relative: beneath this process's own cgroup in each tree. The symlink and devices are not used.
  EXPECT_EQ(
      cgroup->directories(),
      (std::vector<std::string>{root_ / "cpu,cpuacct/pods/c1", root_ / "cpuset/pods/c1", root_ / "freezer/pods/c1",
                                root_ / "memory/sessions/s1/pods/c1", root_ / "pids/pods/c1"}));
  EXPECT_FALSE(fs::exists(root_ / "devices/pods"));
  EXPECT_FALSE(fs::exists(root_ / "unified/pods"));

  // The kernel makes the control files; here the test does.
  touch(root_ / "memory/sessions/s1/pods/c1/memory.limit_in_bytes");
  touch(root_ / "memory/sessions/s1/pods/c1/memory.soft_limit_in_bytes");
  for (const char* file : {"cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"}) {
    touch(root_ / "cpu,cpuacct/pods/c1" / file);
  }
  touch(root_ / "cpuset/pods/c1/cpuset.cpus");
  touch(root_ / "pids/pods/c1/pids.max");
  oci::CgroupResources resources;
  resources.memory_limit = 128 << 20;
  resources.memory_reservation = -1;
  resources.cpu_shares = 512;
  resources.cpu_quota = 50000;
  resources.cpu_period = 100000;
  resources.cpuset_cpus = "0";
  resources.pids_limit = 0;
  ASSERT_TRUE(cgroup->apply(resources));
  EXPECT_EQ(read(root_ / "memory/sessions/s1/pods/c1/memory.limit_in_bytes"), "134217728");
  EXPECT_EQ(read(root_ / "memory/sessions/s1/pods/c1/memory.soft_limit_in_bytes"), "-1");
  EXPECT_EQ(read(root_ / "cpu,cpuacct/pods/c1/cpu.shares"), "512");
  EXPECT_EQ(read(root_ / "cpu,cpuacct/pods/c1/cpu.cfs_period_us"), "100000");
  EXPECT_EQ(read(root_ / "cpu,cpuacct/pods/c1/cpu.cfs_quota_us"), "50000");
  EXPECT_EQ(read(root_ / "cpuset/pods/c1/cpuset.cpus"), "0");
  EXPECT_EQ(read(root_ / "pids/pods/c1/pids.max"), "max");

  // Swap the host does not account cannot apply: said, not ignored.
  oci::CgroupResources swap;
  swap.memory_swap = 256 << 20;
  auto refused = cgroup->apply(swap);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("accounts no swap"), std::string::npos);

  for (const std::string& directory : cgroup->directories()) touch(fs::path(directory) / "cgroup.procs");
  ASSERT_TRUE(cgroup->add_process(4242));
  EXPECT_EQ(read(root_ / "pids/pods/c1/cgroup.procs"), "4242");
  EXPECT_EQ(cgroup->processes(), std::vector<pid_t>{4242});
}

TEST_F(TempTree, V1FreezerPausesAndResumes) {
  make_v1();
  auto cgroup = ContainerCgroup::create(CgroupVersion::kV1, root_, "/c2", "");
  ASSERT_TRUE(cgroup);
  touch(root_ / "freezer/c2/freezer.state", "THAWED\n");
  EXPECT_FALSE(cgroup->frozen());
  ASSERT_TRUE(cgroup->set_frozen(true));
  EXPECT_TRUE(cgroup->frozen());
  ASSERT_TRUE(cgroup->set_frozen(false));
  EXPECT_FALSE(cgroup->frozen());
}

TEST_F(TempTree, V2OneDirectoryControllersEnabledOnTheWay) {
  touch(root_ / "cgroup.controllers", "cpuset cpu io memory pids\n");
  touch(root_ / "cgroup.subtree_control");
  auto cgroup = ContainerCgroup::create(CgroupVersion::kV2, root_, "/kubepods/c3", "0::/\n");
  ASSERT_TRUE(cgroup) << cgroup.error().message;
  EXPECT_EQ(cgroup->directories(), std::vector<std::string>{root_ / "kubepods/c3"});
  // The root delegates the four controllers hyperlet-runc writes (one write each; the file keeps the last here).
  EXPECT_EQ(read(root_ / "cgroup.subtree_control"), "+pids");

  for (const char* file :
       {"memory.max", "memory.swap.max", "memory.low", "cpu.weight", "cpu.max", "pids.max", "cgroup.freeze"}) {
    touch(root_ / "kubepods/c3" / file);
  }
  oci::CgroupResources resources;
  resources.memory_limit = 64 << 20;
  resources.memory_swap = 96 << 20;
  resources.memory_reservation = 32 << 20;
  resources.cpu_shares = 1024;
  resources.cpu_quota = -1;
  resources.cpu_period = 50000;
  resources.pids_limit = 64;
  ASSERT_TRUE(cgroup->apply(resources));
  EXPECT_EQ(read(root_ / "kubepods/c3/memory.max"), "67108864");
  EXPECT_EQ(read(root_ / "kubepods/c3/memory.swap.max"), "33554432");  // swap alone
  EXPECT_EQ(read(root_ / "kubepods/c3/memory.low"), "33554432");
  EXPECT_EQ(read(root_ / "kubepods/c3/cpu.weight"), "39");
  EXPECT_EQ(read(root_ / "kubepods/c3/cpu.max"), "max 50000");
  EXPECT_EQ(read(root_ / "kubepods/c3/pids.max"), "64");

  touch(root_ / "kubepods/c3/cgroup.events", "populated 1\nfrozen 1\n");
  ASSERT_TRUE(cgroup->set_frozen(true));
  EXPECT_TRUE(cgroup->frozen());
}

// Before Linux 6.13 KVM's huge-page recovery kernel thread joins the VM's cgroup,
// and the v2 freezer never reports "frozen 1": held user tasks are enough.
TEST_F(TempTree, V2FreezeSettlesForAKernelThreadButNotForARunningTask) {
  if (task_is_kernel_thread("2") == false) GTEST_SKIP() << "pid 2 is not kthreadd here";
  touch(root_ / "cgroup.controllers", "pids\n");
  auto cgroup = ContainerCgroup::create(CgroupVersion::kV2, root_, "/c7", "");
  ASSERT_TRUE(cgroup);
  touch(root_ / "c7/cgroup.freeze");
  touch(root_ / "c7/cgroup.events", "populated 1\nfrozen 0\n");
  const pid_t sleeper = ::fork();
  if (sleeper == 0) {
    ::pause();
    ::_exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // asleep in pause()
  touch(root_ / "c7/cgroup.threads", "2\n" + std::to_string(sleeper) + "\n");
  EXPECT_TRUE(cgroup->set_frozen(true));
  EXPECT_TRUE(cgroup->frozen());
  // A task that runs (this one, reading its own state) is not held: no freeze.
  touch(root_ / "c7/cgroup.threads", "2\n" + std::to_string(::gettid()) + "\n");
  EXPECT_FALSE(cgroup->set_frozen(true));
  ::kill(sleeper, SIGKILL);
  ::waitpid(sleeper, nullptr, 0);
}

TEST_F(TempTree, AMissingControllerIsAnErrorNamingIt) {
  touch(root_ / "cgroup.controllers", "memory\n");
  auto cgroup = ContainerCgroup::create(CgroupVersion::kV2, root_, "/c4", "");
  ASSERT_TRUE(cgroup);
  oci::CgroupResources resources;
  resources.pids_limit = 10;
  auto result = cgroup->apply(resources);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("pids.max"), std::string::npos) << result.error().message;
}

TEST_F(TempTree, RemoveTakesTheLeavesAndAFailedCreateUndoesItself) {
  make_v1();
  auto cgroup = ContainerCgroup::create(CgroupVersion::kV1, root_, "/outer/c5", "");
  ASSERT_TRUE(cgroup);
  ASSERT_TRUE(cgroup->remove());
  EXPECT_FALSE(fs::exists(root_ / "memory/outer/c5"));
  EXPECT_TRUE(fs::exists(root_ / "memory/outer"));  // parents stay, as with runc

  // A tree where the directory cannot be made: what was made in the others is removed.
  touch(root_ / "pids/blocked");  // a file where a directory must go
  auto failed = ContainerCgroup::create(CgroupVersion::kV1, root_, "/blocked/c6", "");
  ASSERT_FALSE(failed);
  EXPECT_FALSE(fs::exists(root_ / "memory/blocked"));
  EXPECT_FALSE(fs::exists(root_ / "cpuset/blocked"));
}

}  // namespace
}  // namespace hyperlet::runc
