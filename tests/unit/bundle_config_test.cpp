// hyperlet-runc's mapping of a bundle's config.json to a `hyperlet run`
// command line: what passes through, what is ignored and why, what is refused.
#include "oci/bundle_config.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>

namespace hyperlet::oci {
namespace {

using nlohmann::json;

bool only_usr_bin_server(const std::string&, const std::string& guest_path) { return guest_path == "/usr/bin/server"; }
bool all_but_etc_files(const std::string& host_path) {
  return !host_path.starts_with("/etc/") && !host_path.ends_with(".sock");
}
bool etc_files_and_hosts(const std::string& host_path) {
  return host_path.starts_with("/etc/") || host_path.starts_with("/var/lib/kubelet/");
}
unsigned four_cpus() { return 4; }

json minimal_config() {
  return json::parse(R"({
    "ociVersion": "1.0.2",
    "root": {"path": "rootfs"},
    "process": {"args": ["/hello", "one", "two words"], "env": ["PATH=/usr/bin:/bin", "GREETING=hi"], "cwd": "/"}
  })");
}

Result<BundleRun> map(const json& config, bool console = false) {
  return map_bundle_config(config, "/bundles/b", console,
                           {only_usr_bin_server, all_but_etc_files, etc_files_and_hosts, four_cpus});
}

// The value after each occurrence of flag in options.
std::vector<std::string> values_of(const BundleRun& run, const std::string& flag) {
  std::vector<std::string> values;
  for (std::size_t i = 0; i + 1 < run.options.size(); ++i) {
    if (run.options[i] == flag) values.push_back(run.options[i + 1]);
  }
  return values;
}

TEST(BundleConfig, ArgsEnvCwdAndRootfsPassThrough) {
  auto run = map(minimal_config());
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->rootfs, "/bundles/b/rootfs");
  EXPECT_EQ(run->app_guest_path, "/hello");
  EXPECT_EQ(run->app_arguments, (std::vector<std::string>{"one", "two words"}));
  EXPECT_EQ(values_of(*run, "--env"), (std::vector<std::string>{"PATH=/usr/bin:/bin", "GREETING=hi"}));
  EXPECT_EQ(values_of(*run, "--workdir"), std::vector<std::string>{"/"});
  EXPECT_EQ(values_of(*run, "--volume"), std::vector<std::string>{"/bundles/b/rootfs:/"});
  EXPECT_TRUE(values_of(*run, "--memory").empty());
  EXPECT_TRUE(values_of(*run, "--publish").empty());        // default: nothing served
  EXPECT_TRUE(values_of(*run, "--allow-connect").empty());  // default: nothing reached
  EXPECT_EQ(run->network.kind, NetworkNamespace::Kind::kHost);
  EXPECT_FALSE(run->terminal);
}

TEST(BundleConfig, ProgramNameIsLookedUpInThePath) {
  json config = minimal_config();
  config["process"]["args"] = {"server"};
  auto run = map(config);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->app_guest_path, "/usr/bin/server");
  config["process"]["args"] = {"missing"};
  auto missing = map(config);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "config.json: process.args: 'missing' is not in the image's PATH (/usr/bin:/bin)");
}

TEST(BundleConfig, RelativeProgramIsInTheWorkingDirectory) {
  json config = minimal_config();
  config["process"]["args"] = {"./app"};
  config["process"]["cwd"] = "/srv";
  auto run = map(config);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->app_guest_path, "/srv/app");
}

TEST(BundleConfig, BindMountsBecomeVolumesOtherMountsAreIgnored) {
  json config = minimal_config();
  config["root"] = {{"path", "/abs/rootfs"}, {"readonly", true}};
  config["mounts"] = json::parse(R"([
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "rw"]},
    {"destination": "/config", "source": "/srv/config", "options": ["rbind", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/etc/hosts", "type": "bind", "source": "/etc/hosts", "options": ["rbind", "ro"]},
    {"destination": "/dev/termination-log", "type": "bind", "source": "/var/lib/kubelet/t", "options": ["rbind"]},
    {"destination": "/run/socket", "type": "bind", "source": "/run/some.sock", "options": ["rbind"]}
  ])");
  auto run = map(config);
  ASSERT_TRUE(run) << run.error().message;
  // A regular file is a file volume; the guest kernel's /dev and what is neither file nor directory are not.
  EXPECT_EQ(values_of(*run, "--volume"),
            (std::vector<std::string>{"/abs/rootfs:/:ro", "/srv/data:/data", "/srv/config:/config:ro",
                                      "/etc/hosts:/etc/hosts:ro"}));
  ASSERT_EQ(run->notes.size(), 4u);
  EXPECT_NE(run->notes[0].find("/proc"), std::string::npos);
  EXPECT_EQ(run->notes[2], "bind mount /var/lib/kubelet/t → /dev/termination-log ignored: /dev is the guest kernel's");
  EXPECT_EQ(run->notes[3],
            "bind mount /run/some.sock → /run/socket ignored: a volume is a directory or a regular file, this is "
            "neither");
}

TEST(BundleConfig, MemoryLimitHostnameAndAnnotations) {
  json config = minimal_config();
  config["hostname"] = "web-1";
  // Less hyperlet's own 8 MiB, rounded down to 2 MiB.
  config["linux"]["resources"]["memory"]["limit"] = (101ll << 20) + 12345;
  config["annotations"] = {{"hyperlet.dev/publish", "8080:8080, 9090:9090/udp"},
                           {"hyperlet.dev/allow-connect", "10.0.0.1:5432"}};
  auto run = map(config);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(values_of(*run, "--memory"), std::vector<std::string>{"92M"});
  EXPECT_EQ(run->cgroup_resources.memory_limit, (101ll << 20) + 12345);  // the cgroup gets the whole limit
  EXPECT_EQ(values_of(*run, "--hostname"), std::vector<std::string>{"web-1"});
  EXPECT_EQ(values_of(*run, "--publish"), (std::vector<std::string>{"8080:8080", "9090:9090/udp"}));
  EXPECT_EQ(values_of(*run, "--allow-connect"), std::vector<std::string>{"10.0.0.1:5432"});
}

TEST(BundleConfig, MemoryLimitTooSmallIsRefused) {
  json config = minimal_config();
  config["linux"]["resources"]["memory"]["limit"] = 4 << 20;
  auto run = map(config);
  ASSERT_FALSE(run);
  EXPECT_TRUE(run.error().message.starts_with("config.json: linux.resources.memory.limit: 4194304 bytes: "))
      << run.error().message;
}

TEST(BundleConfig, MemoryLimitMustLeaveRoomForAGuest) {
  json config = minimal_config();
  config["linux"]["resources"]["memory"]["limit"] = 15 << 20;  // 7 MiB after hyperlet's reserve
  auto run = map(config);
  ASSERT_FALSE(run);
  EXPECT_NE(run.error().message.find("hyperlet keeps 8 MiB of it for itself"), std::string::npos)
      << run.error().message;
  config["linux"]["resources"]["memory"]["limit"] = 16 << 20;
  run = map(config);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(values_of(*run, "--memory"), std::vector<std::string>{"8M"});
}

TEST(BundleConfig, CpuLimitsChooseTheVcpus) {
  auto cpus = [](const char* resources) {
    json config = minimal_config();
    config["linux"]["resources"] = json::parse(resources);
    auto run = map(config);
    EXPECT_TRUE(run) << run.error().message;
    return run ? values_of(*run, "--cpus") : std::vector<std::string>{"refused"};
  };
  using List = std::vector<std::string>;
  EXPECT_EQ(cpus(R"({"cpu": {"shares": 1024}})"), List{});                        // no limit: the manifest decides
  EXPECT_EQ(cpus(R"({"cpu": {"quota": 150000, "period": 100000}})"), List{"2"});  // rounded up
  EXPECT_EQ(cpus(R"({"cpu": {"quota": 50000}})"), List{"1"});
  EXPECT_EQ(cpus(R"({"cpu": {"quota": 1000000, "period": 100000}})"), List{"4"});  // at most the host's
  EXPECT_EQ(cpus(R"({"cpu": {"quota": -1, "cpus": "1-2"}})"), List{"2"});
  EXPECT_EQ(cpus(R"({"cpu": {"quota": 300000, "period": 100000, "cpus": "0"}})"), List{"1"});
}

TEST(BundleConfig, CgroupsPathAndResourcesAreKeptForTheCgroup) {
  json config = minimal_config();
  config["linux"]["cgroupsPath"] = "/kubepods/pod1/c1";
  config["linux"]["resources"] = json::parse(R"({
    "memory": {"limit": 134217728, "reservation": 67108864, "kernel": 1},
    "cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0-1", "mems": "0"},
    "pids": {"limit": 100},
    "devices": [{"allow": false, "access": "rwm"}],
    "hugepageLimits": [{"pageSize": "2MB", "limit": 0}]
  })");
  auto run = map(config);
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->cgroups_path, "/kubepods/pod1/c1");
  const CgroupResources& resources = run->cgroup_resources;
  EXPECT_EQ(resources.memory_limit, 134217728);
  EXPECT_EQ(resources.memory_reservation, 67108864);
  EXPECT_EQ(resources.cpu_shares, 512u);
  EXPECT_EQ(resources.cpu_quota, 20000);
  EXPECT_EQ(resources.cpu_period, 100000u);
  EXPECT_EQ(resources.cpuset_cpus, "0-1");
  EXPECT_EQ(resources.cpuset_mems, "0");
  EXPECT_EQ(resources.pids_limit, 100);
  // What needs no file is said in the notes: deprecated kernel memory, devices, hugepages.
  EXPECT_EQ(run->notes.size(), 3u);
}

TEST(BundleConfig, HugeMemoryLimitIsCappedAtTheLargestGuest) {
  json config = minimal_config();
  config["linux"]["resources"]["memory"]["limit"] = 64ll << 30;
  auto run = map(config);
  ASSERT_TRUE(run);
  EXPECT_EQ(values_of(*run, "--memory"), std::vector<std::string>{"16384M"});
}

TEST(BundleConfig, NetworkNamespace) {
  json config = minimal_config();
  config["linux"]["namespaces"] = json::parse(R"([
    {"type": "pid"}, {"type": "network", "path": "/var/run/netns/pod"}, {"type": "mount"}, {"type": "uts"}
  ])");
  auto run = map(config);
  ASSERT_TRUE(run);
  EXPECT_EQ(run->network.kind, NetworkNamespace::Kind::kPath);
  EXPECT_EQ(run->network.path, "/var/run/netns/pod");
  EXPECT_EQ(run->notes.size(), 3u);
  config["linux"]["namespaces"] = json::parse(R"([{"type": "network"}])");
  EXPECT_EQ(map(config)->network.kind, NetworkNamespace::Kind::kNew);
}

TEST(BundleConfig, Rlimits) {
  json config = minimal_config();
  config["process"]["rlimits"] = json::parse(R"([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 4096}])");
  auto run = map(config);
  ASSERT_TRUE(run);
  ASSERT_EQ(run->rlimits.size(), 1u);
  EXPECT_EQ(run->rlimits[0].resource, RLIMIT_NOFILE);
  EXPECT_EQ(run->rlimits[0].soft, 1024u);
  EXPECT_EQ(run->rlimits[0].hard, 4096u);
  config["process"]["rlimits"] = json::parse(R"([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])");
  EXPECT_EQ(map(config).error().message, "config.json: process.rlimits: unknown type 'RLIMIT_BOGUS'");
}

TEST(BundleConfig, TerminalNeedsAConsoleSocket) {
  json config = minimal_config();
  config["process"]["terminal"] = true;
  EXPECT_EQ(map(config).error().message, "config.json: process.terminal: a terminal needs --console-socket");
  auto run = map(config, true);
  ASSERT_TRUE(run);
  EXPECT_TRUE(run->terminal);
}

TEST(BundleConfig, WhatCannotApplyIsRefusedNamingTheField) {
  auto refused = [](const char* patch) {
    json config = minimal_config();
    config.merge_patch(json::parse(patch));
    auto run = map(config);
    return run ? std::string("accepted") : run.error().message;
  };
  EXPECT_TRUE(refused(R"({"linux": {"devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229}]}})")
                  .starts_with("config.json: linux.devices: "));
  EXPECT_TRUE(
      refused(R"({"linux": {"namespaces": [{"type": "user"}]}})").starts_with("config.json: linux.namespaces: "));
  EXPECT_TRUE(refused(R"({"hooks": {"prestart": [{"path": "/bin/true"}]}})").starts_with("config.json: hooks: "));
  EXPECT_TRUE(refused(R"({"process": {"args": []}})").starts_with("config.json: process.args: "));
  EXPECT_TRUE(refused(R"({"process": {"cwd": "relative"}})").starts_with("config.json: process.cwd: "));
  EXPECT_TRUE(refused(R"({"process": {"env": ["NOEQUALS"]}})").starts_with("config.json: process.env: "));
  EXPECT_TRUE(refused(R"({"mounts": [{"destination": "/a", "type": "bind", "source": "/x:y"}]})")
                  .starts_with("config.json: mounts: "));
  // The rootfs is `--volume ROOTFS:/`: a ':' in it (or in the bundle's directory) would move the split.
  EXPECT_EQ(refused(R"({"root": {"path": "/a:/b"}})"),
            "config.json: root.path: '/a:/b': a path with ':' cannot be a volume");
  EXPECT_EQ(map_bundle_config(minimal_config(), "/bundles/x:/y", false,
                              {only_usr_bin_server, all_but_etc_files, etc_files_and_hosts, four_cpus})
                .error()
                .message,
            "config.json: root.path: '/bundles/x:/y/rootfs': a path with ':' cannot be a volume");
  EXPECT_TRUE(refused(R"({"hostname": "bad host"})").starts_with("config.json: hostname: 'bad host': "));
  for (const char* resources :
       {R"({"blockIO": {"weight": 10}})", R"({"network": {"classID": 1}})", R"({"unified": {"io.max": "x"}})",
        R"({"cpu": {"realtimeRuntime": 5}})", R"({"cpu": {"cpus": "3-1"}})", R"({"cpu": {"shares": 1}})",
        R"({"memory": {"disableOOMKiller": true}})", R"({"memory": {"limit": -5}})", R"({"cpu": {"period": 10}})"}) {
    EXPECT_TRUE(refused((std::string(R"({"linux": {"resources": )") + resources + "}}").c_str())
                    .starts_with("config.json: linux.resources."))
        << resources;
  }
  EXPECT_TRUE(refused(R"({"annotations": {"hyperlet.dev/publish": "8080:eighty"}})")
                  .starts_with("config.json: annotations.hyperlet.dev/publish: invalid --publish"));
  // A field of the wrong type is one line too.
  EXPECT_TRUE(refused(R"({"hostname": 5})").starts_with("config.json: "));
  EXPECT_TRUE(map(json::array()).error().message.starts_with("config.json: (top level)"));
  json no_process = minimal_config();
  no_process.erase("process");
  EXPECT_EQ(map(no_process).error().message, "config.json: process: missing: there is nothing to run");
}

TEST(BundleConfig, AnnotationLists) {
  EXPECT_EQ(split_annotation_list(" a, b ,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_annotation_list("").empty());
}

}  // namespace
}  // namespace hyperlet::oci
