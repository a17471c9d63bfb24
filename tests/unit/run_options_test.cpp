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
  EXPECT_EQ(apply_manifest(options, &manifest).environment,
            (std::vector<std::string>{"PATH=/usr/bin", "PATHS=/x"}));
}

}  // namespace
}  // namespace hyperlet
