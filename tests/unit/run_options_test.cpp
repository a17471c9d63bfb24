// How the command line and the image's manifest combine.
#include "vm/run_options.h"

#include <gtest/gtest.h>

#include "loader/manifest.h"

namespace hyperlet {
namespace {

Manifest packaged() {
  Manifest manifest;
  manifest.abi = 1;
  manifest.memory_size = 64ull << 20;
  manifest.environment = {"GREETING=hi", "MODE=prod"};
  manifest.arguments = std::vector<std::string>{"serve", "--port", "80"};
  return manifest;
}

TEST(ApplyManifest, WithoutManifestTheCommandLineAndDefaultsRule) {
  RunOptions options;
  options.environment = {"A=1"};
  options.arguments = {"x"};
  options.arguments_given = true;
  const EffectiveRun run = apply_manifest(options, nullptr);
  EXPECT_EQ(run.memory_size, kDefaultGuestMemory);
  EXPECT_EQ(run.environment, (std::vector<std::string>{"A=1"}));
  EXPECT_EQ(run.arguments, (std::vector<std::string>{"x"}));
}

TEST(ApplyManifest, ManifestFillsWhatTheCommandLineLeavesOut) {
  const Manifest manifest = packaged();
  const EffectiveRun run = apply_manifest(RunOptions{}, &manifest);
  EXPECT_EQ(run.memory_size, 64ull << 20);
  EXPECT_EQ(run.environment, manifest.environment);
  EXPECT_EQ(run.arguments, *manifest.arguments);
}

TEST(ApplyManifest, CommandLineOverridesMemoryArgsAndEnvByKey) {
  const Manifest manifest = packaged();
  RunOptions options;
  options.memory_size = 256ull << 20;
  options.environment = {"MODE=debug", "EXTRA=1"};
  options.arguments = {"check"};
  options.arguments_given = true;
  const EffectiveRun run = apply_manifest(options, &manifest);
  EXPECT_EQ(run.memory_size, 256ull << 20);
  EXPECT_EQ(run.environment, (std::vector<std::string>{"GREETING=hi", "MODE=debug", "EXTRA=1"}));
  EXPECT_EQ(run.arguments, (std::vector<std::string>{"check"}));
}

TEST(ApplyManifest, AnExplicitEmptyArgumentListReplacesTheManifests) {
  const Manifest manifest = packaged();
  RunOptions options;
  options.arguments_given = true;  // `hyperlet run app --`
  EXPECT_TRUE(apply_manifest(options, &manifest).arguments.empty());
}

TEST(ApplyManifest, KeyMatchingIsExact) {
  Manifest manifest = packaged();
  manifest.environment = {"PATH=/bin", "PATHS=/x"};
  RunOptions options;
  options.environment = {"PATH=/usr/bin"};
  EXPECT_EQ(apply_manifest(options, &manifest).environment, (std::vector<std::string>{"PATH=/usr/bin", "PATHS=/x"}));
}

// ---------------------------------------------------------------- the service's defaults

Manifest service() {
  Manifest manifest;
  manifest.abi = 1;
  manifest.volumes = {{"/data", false, true}, {"/config", true, true}, {"/cache", false, false}};
  manifest.publish = {"8080:80"};
  manifest.allow_connect = {"10.0.0.5:5432"};
  manifest.workdir = "/data";
  manifest.hostname = "web-1";
  return manifest;
}

RunOptions with_volumes(std::vector<std::string> texts) {
  RunOptions options;
  options.app_path = "./svc";
  for (const std::string& text : texts) options.volumes.push_back(*parse_volume_spec(text));
  return options;
}

TEST(ApplyManifestService, TheCommandLineGivesTheHostDirectoriesAndModesFollowTheManifest) {
  RunOptions options = with_volumes({"/srv/data:/data", "/srv/config:/config", "/srv/x:/extra"});
  ASSERT_TRUE(apply_manifest_service(options, service()).has_value());
  ASSERT_EQ(options.volumes.size(), 3u);  // the optional /cache, not given, is absent
  EXPECT_FALSE(options.volumes[0].read_only);
  EXPECT_TRUE(options.volumes[1].read_only);  // no mode written: the manifest's ro
  EXPECT_FALSE(options.volumes[2].read_only);
  // A mode written on the command line wins.
  options = with_volumes({"/srv/data:/data:ro", "/srv/config:/config:rw"});
  ASSERT_TRUE(apply_manifest_service(options, service()).has_value());
  EXPECT_TRUE(options.volumes[0].read_only);
  EXPECT_FALSE(options.volumes[1].read_only);
}

TEST(ApplyManifestService, AMissingRequiredVolumeNamesTheOptionToGive) {
  RunOptions options = with_volumes({"/srv/data:/data"});
  auto applied = apply_manifest_service(options, service());
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().status, ExitStatus::kUsage);
  EXPECT_EQ(applied.error().message,
            "cannot run ./svc: its manifest requires a volume at /config: give --volume HOST_DIR:/config:ro");
}

TEST(ApplyManifestService, RulesWorkdirAndHostnameAreDefaults) {
  RunOptions options = with_volumes({"/a:/data", "/b:/config"});
  ASSERT_TRUE(apply_manifest_service(options, service()).has_value());
  ASSERT_EQ(options.network.publish.size(), 1u);
  EXPECT_EQ(options.network.publish[0].host_port, 8080);
  EXPECT_EQ(options.network.publish[0].guest_port, 80);
  ASSERT_EQ(options.network.connect.size(), 1u);
  EXPECT_EQ(options.network.connect[0].port, 5432);
  EXPECT_EQ(options.workdir, "/data");
  EXPECT_EQ(options.hostname, "web-1");
  // The command line's own replace them.
  options = with_volumes({"/a:/data", "/b:/config"});
  options.network.publish.push_back(*parse_publish_rule("9090:90"));
  options.network.connect = *parse_connect_rule("10.0.0.6:80");
  options.workdir = "/";
  options.hostname = "other";
  ASSERT_TRUE(apply_manifest_service(options, service()).has_value());
  ASSERT_EQ(options.network.publish.size(), 1u);
  EXPECT_EQ(options.network.publish[0].guest_port, 90);
  ASSERT_EQ(options.network.connect.size(), 1u);
  EXPECT_EQ(options.network.connect[0].port, 80);
  EXPECT_EQ(options.workdir, "/");
  EXPECT_EQ(options.hostname, "other");
}

TEST(ApplyManifestService, CpusIsTheDefaultUpToTheHostsCpus) {
  Manifest manifest = service();
  manifest.cpus = 1000;
  RunOptions options = with_volumes({"/a:/data", "/b:/config"});
  ASSERT_TRUE(apply_manifest_service(options, manifest).has_value());
  EXPECT_EQ(options.cpus, host_cpu_limit());
  manifest.cpus = 1;
  options = with_volumes({"/a:/data", "/b:/config"});
  ASSERT_TRUE(apply_manifest_service(options, manifest).has_value());
  EXPECT_EQ(options.cpus, 1u);
  // The command line's wins; a snapshot keeps its one vCPU.
  manifest.cpus = 2;
  options = with_volumes({"/a:/data", "/b:/config"});
  options.cpus = 1;
  ASSERT_TRUE(apply_manifest_service(options, manifest).has_value());
  EXPECT_EQ(options.cpus, 1u);
  options = with_volumes({"/a:/data", "/b:/config"});
  options.snapshot_output = "/tmp/x.snap";
  ASSERT_TRUE(apply_manifest_service(options, manifest).has_value());
  EXPECT_EQ(options.cpus, std::nullopt);
}

TEST(ApplyManifest, AGoProgramGetsTheAddressSpaceItsRuntimeReservesBesideItsMemory) {
  ImageNotes go;
  go.go_runtime = true;
  EXPECT_EQ(default_guest_memory(go), kDefaultGuestMemory);
  EXPECT_EQ(default_address_space(go, kDefaultGuestMemory), kDefaultGuestMemory + kGoRuntimeReservations);
  EXPECT_EQ(default_address_space(go, 64ull << 20), (64ull << 20) + kGoRuntimeReservations);
  EXPECT_EQ(default_address_space(go, 16ull << 30), 16ull << 30);  // never above the largest
  EXPECT_EQ(default_address_space(ImageNotes{}, 64ull << 20), 64ull << 20);
  // The command line and the manifest still say the memory.
  RunOptions options;
  options.memory_size = 512ull << 20;
  EXPECT_EQ(apply_manifest(options, nullptr, default_guest_memory(go)).memory_size, 512ull << 20);
  const Manifest manifest = packaged();
  EXPECT_EQ(apply_manifest(RunOptions{}, &manifest, default_guest_memory(go)).memory_size, 64ull << 20);
}

TEST(ApplyManifest, TheAddressSpaceIsTheCommandLinesOrTheDefaultAndNeverBelowTheMemory) {
  ImageNotes go;
  go.go_runtime = true;
  RunOptions options;
  EffectiveRun run = apply_manifest(options, nullptr, default_guest_memory(go));
  ASSERT_TRUE(resolve_address_space(run, options, go).has_value());
  EXPECT_EQ(run.address_space, kDefaultGuestMemory + kGoRuntimeReservations);
  ASSERT_TRUE(resolve_address_space(run, options, ImageNotes{}).has_value());
  EXPECT_EQ(run.address_space, kDefaultGuestMemory);
  options.address_space = 4ull << 30;
  ASSERT_TRUE(resolve_address_space(run, options, ImageNotes{}).has_value());
  EXPECT_EQ(run.address_space, 4ull << 30);
  options.address_space = 128ull << 20;
  const auto smaller = resolve_address_space(run, options, ImageNotes{});
  ASSERT_FALSE(smaller.has_value());
  EXPECT_EQ(smaller.error().status, ExitStatus::kUsage);
  EXPECT_NE(smaller.error().message.find("--address-space 128M is smaller than the guest memory, 256M"),
            std::string::npos)
      << smaller.error().message;
}

// The manifest's address space is a default: the command line's wins, and it
// never falls below the memory the run got.
TEST(ApplyManifest, TheManifestsAddressSpaceIsADefaultNeverBelowTheMemory) {
  ImageNotes notes;
  notes.manifest = Manifest{};
  notes.manifest->address_space = 2ull << 30;
  RunOptions options;
  EffectiveRun run = apply_manifest(options, &*notes.manifest);
  ASSERT_TRUE(resolve_address_space(run, options, notes).has_value());
  EXPECT_EQ(run.address_space, 2ull << 30);
  options.memory_size = 4ull << 30;
  run = apply_manifest(options, &*notes.manifest);
  ASSERT_TRUE(resolve_address_space(run, options, notes).has_value());
  EXPECT_EQ(run.address_space, 4ull << 30);
  options.address_space = 8ull << 30;
  ASSERT_TRUE(resolve_address_space(run, options, notes).has_value());
  EXPECT_EQ(run.address_space, 8ull << 30);
}

TEST(ApplyManifest, LessAddressSpaceThanGoNeedsIsWarnedAbout) {
  ImageNotes go;
  go.go_runtime = true;
  const auto warning = memory_warning(go, 256ull << 20, "/usr/bin/shfmt");
  ASSERT_TRUE(warning.has_value());
  EXPECT_NE(warning->find("/usr/bin/shfmt is a Go program and gets 256 MiB of address space"), std::string::npos)
      << *warning;
  EXPECT_NE(warning->find("--address-space 1024M"), std::string::npos) << *warning;
  EXPECT_FALSE(memory_warning(go, kGoRuntimeGuestMemory, "app").has_value());
  EXPECT_FALSE(memory_warning(ImageNotes{}, 64ull << 20, "app").has_value());
}

TEST(ApplyManifestService, ABadRuleInTheImageIsTheImagesFault) {
  Manifest manifest;
  manifest.publish = {"80"};
  RunOptions options;
  options.app_path = "./svc";
  auto applied = apply_manifest_service(options, manifest);
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().status, ExitStatus::kBadImage);
  EXPECT_NE(applied.error().message.find("its manifest's publish rule '80'"), std::string::npos);
}

}  // namespace
}  // namespace hyperlet
