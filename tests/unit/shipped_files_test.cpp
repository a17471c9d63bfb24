// The files an image ships, as read-only file volumes (devices/shipped_files.h).
#include "devices/shipped_files.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace hyperlet {
namespace {

namespace fs = std::filesystem;

class ShippedFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hyperlet-shipped-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "cache");
    fs::create_directories(dir_ / "etc");
    std::ofstream(dir_ / "etc" / "mine.conf") << "mine";
    const char* old = std::getenv("XDG_CACHE_HOME");
    if (old != nullptr) old_cache_ = old;
    ::setenv("XDG_CACHE_HOME", (dir_ / "cache").c_str(), 1);
  }
  void TearDown() override {
    if (old_cache_) {
      ::setenv("XDG_CACHE_HOME", old_cache_->c_str(), 1);
    } else {
      ::unsetenv("XDG_CACHE_HOME");
    }
    std::error_code error;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, error);
    for (const auto& entry : fs::recursive_directory_iterator(dir_, error)) {
      fs::permissions(entry.path(), fs::perms::owner_all, fs::perm_options::add, error);
    }
    fs::remove_all(dir_, error);
  }
  static std::string read(const std::string& path) {
    std::ifstream in(path);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
  }
  fs::path dir_;
  std::optional<std::string> old_cache_;
};

TEST_F(ShippedFiles, BecomeReadOnlyFileVolumesSharedByContent) {
  const std::vector<ManifestFile> files = {{"/etc/app.conf", "port=80\n"}, {"/srv/index.html", "<p>hi</p>"}};
  auto volumes = shipped_file_volumes(files, {});
  ASSERT_TRUE(volumes.has_value()) << volumes.error().message;
  ASSERT_EQ(volumes->size(), 2u);
  EXPECT_EQ((*volumes)[0].guest_dir, "/etc/app.conf");
  EXPECT_TRUE((*volumes)[0].read_only);
  EXPECT_EQ(read((*volumes)[0].host_dir), "port=80\n");
  EXPECT_EQ(read((*volumes)[1].host_dir), "<p>hi</p>");
  struct stat info {};
  ASSERT_EQ(::stat((*volumes)[0].host_dir.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0444u);
  EXPECT_TRUE(fs::path((*volumes)[0].host_dir).parent_path().parent_path() == dir_ / "cache" / "hyperlet" / "files");
  // The same content again: the same directory, not a second copy.
  auto again = shipped_file_volumes(files, {});
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ((*again)[0].host_dir, (*volumes)[0].host_dir);
  // Other content: another directory.
  auto other = shipped_file_volumes({{"/etc/app.conf", "port=81\n"}}, {});
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(fs::path((*other)[0].host_dir).parent_path(), fs::path((*volumes)[0].host_dir).parent_path());
}

TEST_F(ShippedFiles, TheCommandLineVolumesWin) {
  std::vector<VolumeSpec> given = {{(dir_ / "etc").string(), "/etc", false}, {"/x/y.conf", "/srv/y.conf", true}};
  const std::vector<ManifestFile> files = {
      {"/etc/mine.conf", "shipped"}, {"/etc/other.conf", "shipped"}, {"/srv/y.conf", "shipped"}};
  auto volumes = shipped_file_volumes(files, given);
  ASSERT_TRUE(volumes.has_value());
  // /etc/mine.conf is in the given /etc; /srv/y.conf is given itself; /etc/other.conf is the image's.
  ASSERT_EQ(volumes->size(), 1u);
  EXPECT_EQ((*volumes)[0].guest_dir, "/etc/other.conf");
}

TEST_F(ShippedFiles, NoCacheDirectoryIsAClearError) {
  ::unsetenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  const std::string saved = home != nullptr ? home : "";
  ::unsetenv("HOME");
  auto volumes = shipped_file_volumes({{"/etc/app.conf", "x"}}, {});
  if (!saved.empty()) ::setenv("HOME", saved.c_str(), 1);
  ASSERT_FALSE(volumes.has_value());
  EXPECT_NE(volumes.error().message.find("no cache directory"), std::string::npos) << volumes.error().message;
  EXPECT_TRUE(shipped_file_volumes({}, {}).has_value());  // nothing shipped: nothing needed
}

}  // namespace
}  // namespace hyperlet
