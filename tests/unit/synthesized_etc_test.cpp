#include "devices/synthesized_etc.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace hyperlet {
namespace {

NetworkPolicy allowing(const std::string& rule) {
  NetworkPolicy policy;
  auto rules = parse_connect_rule(rule);
  EXPECT_TRUE(rules.has_value());
  if (rules) policy.connect = *rules;
  return policy;
}

TEST(SynthesizedEtc, UsersGroupsAndTheHostnameInHosts) {
  const auto files = synthesized_etc_files("web-1", NetworkPolicy{}, "", "");
  EXPECT_EQ(files.at("passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  EXPECT_EQ(files.at("group"), "root:x:0:\nnogroup:x:65534:\n");
  EXPECT_NE(files.at("hosts").find("127.0.0.1\tlocalhost\n"), std::string::npos);
  EXPECT_NE(files.at("hosts").find("127.0.1.1\tweb-1\n"), std::string::npos);
  EXPECT_EQ(files.at("hostname"), "web-1\n");
  EXPECT_NE(files.at("nsswitch.conf").find("hosts: files dns\n"), std::string::npos);
  EXPECT_FALSE(files.contains("localtime"));  // the host has none: UTC
}

TEST(SynthesizedEtc, LocaltimeIsTheHostsZone) {
  const auto files = synthesized_etc_files("h", NetworkPolicy{}, "", "TZif2...");
  EXPECT_EQ(files.at("localtime"), "TZif2...");
}

TEST(SynthesizedEtc, ResolvConfOnlyWithNameserversThePolicyLetsTheAppAsk) {
  const std::string host =
      "# comment\nsearch example.org\nnameserver 10.0.0.53\nnameserver 192.0.2.1\noptions ndots:2\n";
  EXPECT_FALSE(synthesized_etc_files("h", NetworkPolicy{}, host, "").contains("resolv.conf"));
  EXPECT_FALSE(synthesized_etc_files("h", allowing("10.0.0.53:80"), host, "").contains("resolv.conf"));
  EXPECT_EQ(synthesized_etc_files("h", allowing("10.0.0.53:53"), host, "").at("resolv.conf"), "nameserver 10.0.0.53\n");
  EXPECT_EQ(synthesized_etc_files("h", allowing("0.0.0.0/0:*"), host, "").at("resolv.conf"),
            "nameserver 10.0.0.53\nnameserver 192.0.2.1\n");
}

TEST(SynthesizedEtc, NoEtcVolumeWhereTheCommandLineMapsOne) {
  const std::vector<VolumeSpec> at_etc = {VolumeSpec{"/tmp", "/etc", true}};
  for (const VolumeSpec& added : synthesized_system_volumes(at_etc, std::nullopt, NetworkPolicy{})) {
    EXPECT_NE(added.guest_dir, "/etc");
  }
}

// A volume at / decides /etc only when it has an etc: an OCI image's root file
// system that holds one static program still gets the synthesized one.
TEST(SynthesizedEtc, AVolumeAtRootWithoutEtcStillGetsOne) {
  const auto root = std::filesystem::temp_directory_path() / ("hyperlet-etc-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(root);
  const std::vector<VolumeSpec> at_root = {VolumeSpec{root.string(), "/", false}};
  auto added = synthesized_system_volumes(at_root, std::nullopt, NetworkPolicy{});
  EXPECT_TRUE(std::any_of(added.begin(), added.end(), [](const VolumeSpec& v) { return v.guest_dir == "/etc"; }));
  std::filesystem::create_directories(root / "etc");
  added = synthesized_system_volumes(at_root, std::nullopt, NetworkPolicy{});
  EXPECT_FALSE(std::any_of(added.begin(), added.end(), [](const VolumeSpec& v) { return v.guest_dir == "/etc"; }));
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace hyperlet
