// Guest path normalisation, --volume parsing and volume lookup (devices/volumes.h).
#include "devices/volumes.h"

#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

namespace hyperlet {
namespace {

std::string normal(std::string_view base, std::string_view path) {
  return normalize_guest_path(base, path).value_or("<too long>");
}

TEST(NormalizeGuestPath, AbsolutePathsIgnoreTheBase) {
  EXPECT_EQ(normal("/work", "/data/x"), "/data/x");
  EXPECT_EQ(normal("/work", "/"), "/");
  EXPECT_EQ(normal("/work", "//data///x//"), "/data/x");
}

TEST(NormalizeGuestPath, RelativePathsJoinTheBase) {
  EXPECT_EQ(normal("/", "a/b"), "/a/b");
  EXPECT_EQ(normal("/data", "a/./b/"), "/data/a/b");
  EXPECT_EQ(normal("/data", "."), "/data");
  EXPECT_EQ(normal("/data/sub", ".."), "/data");
}

TEST(NormalizeGuestPath, DotDotStopsAtTheRoot) {
  EXPECT_EQ(normal("/", ".."), "/");
  EXPECT_EQ(normal("/data", "../../../../etc/passwd"), "/etc/passwd");
  EXPECT_EQ(normal("/", "/data/../../etc"), "/etc");
  EXPECT_EQ(normal("/", "/a/b/../../.."), "/");
  EXPECT_EQ(normal("/", "/a/..b/c.."), "/a/..b/c..");  // names that only start with dots
}

TEST(NormalizeGuestPath, TooLongIsRefused) {
  EXPECT_FALSE(normalize_guest_path("/", "/" + std::string(kGuestPathMax, 'a')).has_value());
  EXPECT_TRUE(normalize_guest_path("/", "/" + std::string(kGuestPathMax - 2, 'a')).has_value());
  EXPECT_FALSE(normalize_guest_path("/" + std::string(3000, 'a'), std::string(1200, 'b')).has_value());
  // Long input that normalises short is fine.
  std::string dots;
  for (int i = 0; i < 3000; ++i) dots += "./";
  EXPECT_EQ(normal("/", dots + "x"), "/x");
}

TEST(ParseVolumeSpec, ReadsHostGuestAndMode) {
  auto spec = parse_volume_spec("/srv/data:/data");
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->host_dir, "/srv/data");
  EXPECT_EQ(spec->guest_dir, "/data");
  EXPECT_FALSE(spec->read_only);
  spec = parse_volume_spec("rel/dir:/data/./x/:ro");
  ASSERT_TRUE(spec.has_value());
  EXPECT_EQ(spec->host_dir, "rel/dir");
  EXPECT_EQ(spec->guest_dir, "/data/x");
  EXPECT_TRUE(spec->read_only);
  EXPECT_TRUE(spec->mode_given);
  EXPECT_TRUE(parse_volume_spec("/a:/:rw").has_value());
  EXPECT_TRUE(parse_volume_spec("/a:/:rw")->mode_given);
  EXPECT_FALSE(parse_volume_spec("/a:/b")->mode_given);
}

TEST(ParseVolumeSpec, RefusesMalformedValues) {
  for (const char* text : {"/srv", "/srv:data", "/srv:", ":/data", "/srv:/data:rx", "/a:/b:ro:x", ""}) {
    auto spec = parse_volume_spec(text);
    ASSERT_FALSE(spec.has_value()) << text;
    EXPECT_EQ(spec.error().status, ExitStatus::kUsage);
    EXPECT_NE(spec.error().message.find("invalid --volume"), std::string::npos) << spec.error().message;
  }
}

class VolumeLookup : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = open_volumes({{"/", "/data", false}, {"/", "/data/cache", true}, {"/", "/srv/www", false}});
    ASSERT_TRUE(opened.has_value()) << opened.error().message;
    volumes_ = std::move(*opened);
  }
  std::vector<Volume> volumes_;
};

TEST_F(VolumeLookup, TheInnermostVolumeWins) {
  auto at = locate(volumes_, "/data/x/y");
  ASSERT_EQ(at.kind, GuestLocation::Kind::kVolume);
  EXPECT_EQ(at.volume->guest_dir, "/data");
  EXPECT_EQ(at.relative, "x/y");
  at = locate(volumes_, "/data/cache/z");
  ASSERT_EQ(at.kind, GuestLocation::Kind::kVolume);
  EXPECT_EQ(at.volume->guest_dir, "/data/cache");
  EXPECT_TRUE(at.volume->read_only);
  EXPECT_EQ(at.relative, "z");
  at = locate(volumes_, "/data");
  ASSERT_EQ(at.kind, GuestLocation::Kind::kVolume);
  EXPECT_EQ(at.relative, "");
}

TEST_F(VolumeLookup, PrefixesAreWholeComponents) {
  EXPECT_EQ(locate(volumes_, "/database").kind, GuestLocation::Kind::kOutside);
  EXPECT_EQ(locate(volumes_, "/data/cachet").volume->guest_dir, "/data");
  EXPECT_EQ(locate(volumes_, "/srv/wwwx").kind, GuestLocation::Kind::kOutside);
}

TEST_F(VolumeLookup, AncestorsAndOutside) {
  EXPECT_EQ(locate(volumes_, "/").kind, GuestLocation::Kind::kAncestor);
  EXPECT_EQ(locate(volumes_, "/srv").kind, GuestLocation::Kind::kAncestor);
  EXPECT_EQ(locate(volumes_, "/etc/passwd").kind, GuestLocation::Kind::kOutside);
  EXPECT_EQ(locate(volumes_, "/proc/self/exe").kind, GuestLocation::Kind::kOutside);
  EXPECT_EQ(locate({}, "/").kind, GuestLocation::Kind::kAncestor);
  EXPECT_EQ(locate({}, "/data").kind, GuestLocation::Kind::kOutside);
  EXPECT_EQ(ancestor_entries(volumes_, "/"), (std::vector<std::string>{"data", "srv"}));
  EXPECT_EQ(ancestor_entries(volumes_, "/srv"), (std::vector<std::string>{"www"}));
  EXPECT_TRUE(ancestor_entries({}, "/").empty());
}

TEST(OpenVolumes, RootVolumeHoldsEverything) {
  auto opened = open_volumes({{"/", "/", true}});
  ASSERT_TRUE(opened.has_value());
  auto at = locate(*opened, "/etc/passwd");
  ASSERT_EQ(at.kind, GuestLocation::Kind::kVolume);
  EXPECT_EQ(at.relative, "etc/passwd");
  EXPECT_EQ(locate(*opened, "/").relative, "");
}

TEST(OpenVolumes, BadHostDirectoriesAndDuplicatesFail) {
  auto missing = open_volumes({{"/nonexistent/hyperlet-test", "/data", false}});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().status, ExitStatus::kUsage);
  EXPECT_NE(missing.error().message.find("No such file or directory"), std::string::npos);
  auto device = open_volumes({{"/dev/null", "/data", false}});
  ASSERT_FALSE(device.has_value());
  auto twice = open_volumes({{"/", "/data", false}, {"/tmp", "/data", true}});
  ASSERT_FALSE(twice.has_value());
  EXPECT_NE(twice.error().message.find("already a volume"), std::string::npos) << twice.error().message;
}

}  // namespace
}  // namespace hyperlet
