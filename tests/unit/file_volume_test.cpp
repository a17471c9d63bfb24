// Single-file volumes (--volume HOST_FILE:GUEST_PATH[:ro|:rw]), through the host
// syscall table: the one file is reachable, nothing beside or below it, and it
// cannot be removed, replaced or escaped from.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "devices/host_syscalls.h"
#include "devices/volumes.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

namespace fs = std::filesystem;

std::string read_host(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class FileVolume : public ::testing::Test, protected TestGuest {
 protected:
  void SetUp() override {
    std::ofstream(host_dir_ + "/app.conf") << "port=8080\n";
    std::ofstream(host_dir_ + "/secret") << "not for the app\n";
    std::ofstream(host_dir_ + "/state") << "old";
  }
  void mount(std::vector<VolumeSpec> specs) {
    auto volumes = open_volumes(specs);
    ASSERT_TRUE(volumes.has_value()) << volumes.error().message;
    context_->files.volumes = std::move(*volumes);
  }
  std::uint64_t put(const std::string& text) {
    const std::uint64_t address = layout_.heap_start + next_;
    std::memcpy(memory_->span(address, text.size() + 1)->data(), text.c_str(), text.size() + 1);
    next_ += (text.size() + 1 + 15) & ~std::size_t{15};
    return address;
  }
  std::int64_t open(const std::string& path, std::uint64_t flags, std::uint64_t mode = 0644) {
    return call(SYS_openat, {static_cast<std::uint64_t>(AT_FDCWD), put(path), flags, mode});
  }
  std::string read_all(std::int64_t fd) {
    const std::uint64_t buffer = layout_.heap_start + 0x100000;
    const std::int64_t got = call(SYS_read, {static_cast<std::uint64_t>(fd), buffer, 256});
    if (got < 0) return "error " + std::to_string(-got);
    return std::string(reinterpret_cast<const char*>(memory_->span(buffer, 256)->data()),
                       static_cast<std::size_t>(got));
  }

  const std::string host_dir_ = mount_temp_volume("hyperlet-file-volume", "/unused");
  std::uint64_t next_ = 0;
};

TEST_F(FileVolume, ReadOnlyFileReadsAndStatsButRefusesWrites) {
  mount({{host_dir_ + "/app.conf", "/etc/app.conf", true}});
  const std::int64_t fd = open("/etc/app.conf", O_RDONLY);
  ASSERT_GE(fd, 3);
  EXPECT_EQ(read_all(fd), "port=8080\n");
  const std::uint64_t info = layout_.heap_start + 0x200000;
  ASSERT_EQ(call(SYS_fstat, {static_cast<std::uint64_t>(fd), info}), 0);
  struct stat guest {};
  std::memcpy(&guest, memory_->span(info, sizeof guest)->data(), sizeof guest);
  EXPECT_TRUE(S_ISREG(guest.st_mode));
  EXPECT_EQ(guest.st_size, 10);
  EXPECT_EQ(call(SYS_stat, {put("/etc/app.conf"), info}), 0);
  EXPECT_EQ(call(SYS_stat, {put("/etc//./app.conf"), info}), 0);
  EXPECT_EQ(open("/etc/app.conf", O_WRONLY), -EROFS);
  EXPECT_EQ(open("/etc/app.conf", O_RDONLY | O_TRUNC), -EROFS);
  EXPECT_EQ(call(SYS_truncate, {put("/etc/app.conf"), 0}), -EROFS);
  EXPECT_EQ(read_host(host_dir_ + "/app.conf"), "port=8080\n");
}

TEST_F(FileVolume, ReadWriteFileWritesTheHostFile) {
  mount({{host_dir_ + "/state", "/var/state", false}});
  const std::int64_t fd = open("/var/state", O_RDWR | O_TRUNC);
  ASSERT_GE(fd, 3);
  const std::uint64_t text = put("new state");
  EXPECT_EQ(call(SYS_write, {static_cast<std::uint64_t>(fd), text, 9}), 9);
  EXPECT_EQ(read_host(host_dir_ + "/state"), "new state");
  // O_CREAT of the existing file opens it; O_EXCL says it exists.
  EXPECT_GE(open("/var/state", O_WRONLY | O_CREAT | O_APPEND), 3);
  EXPECT_EQ(open("/var/state", O_WRONLY | O_CREAT | O_EXCL), -EEXIST);
}

TEST_F(FileVolume, NothingBesideOrBelowTheFile) {
  mount({{host_dir_ + "/app.conf", "/conf/app.conf", false}});
  // The host directory holding it is not exposed: its other files are outside every volume.
  EXPECT_EQ(open("/conf/secret", O_RDONLY), -ENOENT);
  EXPECT_EQ(open("/conf/app.conf/../secret", O_RDONLY), -ENOENT);
  EXPECT_EQ(open("/conf/new", O_WRONLY | O_CREAT), -ENOENT);
  EXPECT_EQ(call(SYS_mkdir, {put("/conf/dir"), 0755}), -ENOENT);
  EXPECT_EQ(call(SYS_symlink, {put("/conf/app.conf"), put("/conf/link")}), -ENOENT);
  // Below a file there is nothing, and nothing can be made.
  EXPECT_EQ(open("/conf/app.conf/x", O_RDONLY), -ENOTDIR);
  EXPECT_EQ(open("/conf/app.conf/x", O_WRONLY | O_CREAT), -ENOTDIR);
  EXPECT_EQ(call(SYS_mkdir, {put("/conf/app.conf/x"), 0755}), -ENOTDIR);
  EXPECT_EQ(open("/conf/app.conf", O_RDONLY | O_DIRECTORY), -ENOTDIR);
  EXPECT_EQ(call(SYS_chdir, {put("/conf/app.conf")}), -ENOTDIR);
  // The directory above lists just the file.
  const std::int64_t dir = open("/conf", O_RDONLY | O_DIRECTORY);
  ASSERT_GE(dir, 3);
  const std::uint64_t buffer = layout_.heap_start + 0x100000;
  const std::int64_t used = call(SYS_getdents64, {static_cast<std::uint64_t>(dir), buffer, 4096});
  ASSERT_GT(used, 0);
  std::vector<std::string> names;
  std::vector<int> types;
  for (std::int64_t at = 0; at < used;) {
    const std::byte* entry = memory_->span(buffer + static_cast<std::uint64_t>(at), 24)->data();
    std::uint16_t length = 0;
    std::memcpy(&length, entry + 16, 2);
    types.push_back(static_cast<int>(entry[18]));
    names.emplace_back(
        reinterpret_cast<const char*>(memory_->span(buffer + static_cast<std::uint64_t>(at) + 19, 1)->data()));
    at += length;
  }
  EXPECT_EQ(names, (std::vector<std::string>{".", "..", "app.conf"}));
  EXPECT_EQ(types, (std::vector<int>{DT_DIR, DT_DIR, DT_REG}));
}

TEST_F(FileVolume, CannotBeRemovedRenamedOrReplaced) {
  mount({{host_dir_ + "/app.conf", "/conf/app.conf", false}, {host_dir_ + "/state", "/conf/state", false}});
  EXPECT_EQ(call(SYS_unlink, {put("/conf/app.conf")}), -EBUSY);
  EXPECT_EQ(call(SYS_rename, {put("/conf/app.conf"), put("/conf/moved")}), -EBUSY);
  EXPECT_EQ(call(SYS_rename, {put("/conf/state"), put("/conf/app.conf")}), -EBUSY);
  EXPECT_EQ(call(SYS_link, {put("/conf/app.conf"), put("/conf/copy")}), -EPERM);
  EXPECT_EQ(call(SYS_rmdir, {put("/conf/app.conf")}), -EBUSY);
  EXPECT_TRUE(fs::exists(host_dir_ + "/app.conf"));
  EXPECT_TRUE(fs::exists(host_dir_ + "/state"));
}

TEST_F(FileVolume, InsideADirectoryVolumeTheFileWins) {
  fs::create_directory(host_dir_ + "/data");
  std::ofstream(host_dir_ + "/data/app.conf") << "the directory's\n";
  mount({{host_dir_ + "/data", "/data", false}, {host_dir_ + "/app.conf", "/data/app.conf", true}});
  const std::int64_t fd = open("/data/app.conf", O_RDONLY);
  ASSERT_GE(fd, 3);
  EXPECT_EQ(read_all(fd), "port=8080\n");
  EXPECT_EQ(open("/data/app.conf", O_WRONLY), -EROFS);
  EXPECT_EQ(call(SYS_unlink, {put("/data/app.conf")}), -EBUSY);
  EXPECT_GE(open("/data/other", O_WRONLY | O_CREAT), 3);  // the directory volume stays writable
}

TEST_F(FileVolume, HostSwapsAfterStartChangeNothing) {
  // A symlink given on the command line is followed once, at start.
  fs::create_symlink(host_dir_ + "/app.conf", host_dir_ + "/link");
  mount({{host_dir_ + "/link", "/etc/app.conf", false}});
  // Then the host path is swapped for a symlink to another file: the app keeps the inode it was given.
  fs::remove(host_dir_ + "/app.conf");
  fs::create_symlink(host_dir_ + "/secret", host_dir_ + "/app.conf");
  fs::remove(host_dir_ + "/link");
  fs::create_symlink(host_dir_ + "/secret", host_dir_ + "/link");
  const std::int64_t fd = open("/etc/app.conf", O_RDONLY);
  ASSERT_GE(fd, 3);
  EXPECT_EQ(read_all(fd), "port=8080\n");
  EXPECT_EQ(open("/etc/app.conf", O_RDONLY | O_NOFOLLOW), 4);  // the file itself is no symlink
}

TEST_F(FileVolume, BadHostFilesAreRefused) {
  auto device = open_volumes({{"/dev/null", "/etc/app.conf", true}});
  ASSERT_FALSE(device.has_value());
  EXPECT_NE(device.error().message.find("neither a directory nor a regular file"), std::string::npos)
      << device.error().message;
  auto root = open_volumes({{host_dir_ + "/app.conf", "/", true}});
  ASSERT_FALSE(root.has_value());
  EXPECT_NE(root.error().message.find("a file cannot be the volume at /"), std::string::npos) << root.error().message;
  auto twice = open_volumes({{host_dir_ + "/app.conf", "/a", true}, {host_dir_ + "/state", "/a", true}});
  ASSERT_FALSE(twice.has_value());
  auto workdir = open_volumes({{host_dir_ + "/app.conf", "/a", true}});
  ASSERT_TRUE(workdir.has_value());
  auto checked = check_working_directory(*workdir, "/a");
  ASSERT_FALSE(checked.has_value());
  EXPECT_NE(checked.error().message.find("Not a directory"), std::string::npos) << checked.error().message;
}

}  // namespace
}  // namespace hyperlet
