// The file syscalls served on the host (devices/filesystem.cpp), called through
// the host syscall table against real guest memory and a temporary volume.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hyperlet/abi.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "devices/host_syscalls.h"
#include "test_guest.h"

namespace hyperlet {
namespace {

class FilesystemSyscalls : public ::testing::Test, protected TestGuest {
 protected:
  void SetUp() override {
    std::ofstream(host_dir_ + "/hello.txt") << "hello volume";
    std::filesystem::create_symlink("/etc/passwd", host_dir_ + "/escape");
  }

  std::uint64_t put(const std::string& text) {
    const std::uint64_t address = layout_.heap_start + next_;
    auto bytes = memory_->span(address, text.size() + 1);
    std::memcpy(bytes->data(), text.c_str(), text.size() + 1);
    next_ += (text.size() + 1 + 15) & ~std::size_t{15};
    return address;
  }

  const std::string host_dir_ = mount_temp_volume("hyperlet-fs");
  std::uint64_t next_ = 0;
};

TEST_F(FilesystemSyscalls, OpenReadsIntoGuestMemory) {
  const std::int64_t fd = call(SYS_openat, {static_cast<std::uint64_t>(AT_FDCWD), put("/data/hello.txt"), O_RDONLY});
  ASSERT_EQ(fd, 3);
  const std::uint64_t buffer = layout_.heap_start + 0x10000;
  EXPECT_EQ(call(SYS_read, {3, buffer, 64}), 12);
  EXPECT_EQ(std::memcmp(memory_->span(buffer, 12)->data(), "hello volume", 12), 0);
  EXPECT_EQ(call(SYS_read, {3, abi::kBootInfoAddr, 64}), -EFAULT);
  EXPECT_EQ(call(SYS_read, {3, buffer, ~0ull}), -EFAULT);
  EXPECT_EQ(call(SYS_close, {3}), 0);
  EXPECT_EQ(call(SYS_close, {3}), -EBADF);
}

TEST_F(FilesystemSyscalls, PathsOutsideTheVolumeAreEnoent) {
  EXPECT_EQ(call(SYS_open, {put("/etc/passwd"), O_RDONLY}), -ENOENT);
  EXPECT_EQ(call(SYS_open, {put("/data/../etc/passwd"), O_RDONLY}), -ENOENT);
  EXPECT_EQ(call(SYS_open, {put("/data/escape"), O_RDONLY}), -ENOENT);
  EXPECT_EQ(call(SYS_open, {put("/"), O_RDONLY | O_DIRECTORY}), 3);  // the way to the volumes
  EXPECT_EQ(call(SYS_open, {put("/"), O_WRONLY}), -EISDIR);
  EXPECT_EQ(call(SYS_mkdir, {put("/data/../outside"), 0755}), -ENOENT);
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(host_dir_).parent_path() / "outside"));
}

// The device files every container has (devices/device_nodes.h), with no volume.
TEST_F(FilesystemSyscalls, DeviceFilesAreTheHostsCharacterDevices) {
  const std::int64_t null_fd = call(SYS_openat, {static_cast<std::uint64_t>(AT_FDCWD), put("/dev/null"), O_RDWR});
  ASSERT_GE(null_fd, 3);
  const std::uint64_t buffer = layout_.heap_start + 0x10000;
  EXPECT_EQ(call(SYS_write, {static_cast<std::uint64_t>(null_fd), buffer, 100}), 100);
  EXPECT_EQ(call(SYS_read, {static_cast<std::uint64_t>(null_fd), buffer, 100}), 0);
  const std::int64_t zero_fd = call(SYS_open, {put("/dev/../dev/zero"), O_RDONLY});
  std::memset(memory_->span(buffer, 16)->data(), 0xff, 16);
  EXPECT_EQ(call(SYS_read, {static_cast<std::uint64_t>(zero_fd), buffer, 16}), 16);
  EXPECT_EQ(memory_->span(buffer, 16)->data()[7], std::byte{0});
  const std::int64_t full_fd = call(SYS_open, {put("/dev/full"), O_WRONLY});
  EXPECT_EQ(call(SYS_write, {static_cast<std::uint64_t>(full_fd), buffer, 1}), -ENOSPC);
  const std::int64_t random_fd = call(SYS_open, {put("/dev/urandom"), O_RDONLY | O_CLOEXEC});
  EXPECT_EQ(call(SYS_read, {static_cast<std::uint64_t>(random_fd), buffer, 32}), 32);
  // stat shows the device, as Linux's /dev/null (1:3).
  const std::uint64_t out = layout_.heap_start + 0x20000;
  EXPECT_EQ(call(SYS_newfstatat, {static_cast<std::uint64_t>(AT_FDCWD), put("/dev/null"), out, 0}), 0);
  const auto info = memory_->read<struct stat>(out);
  ASSERT_TRUE(info);
  EXPECT_TRUE(S_ISCHR(info->st_mode));
  EXPECT_EQ(major(info->st_rdev), 1u);
  EXPECT_EQ(minor(info->st_rdev), 3u);
  EXPECT_EQ(call(SYS_access, {put("/dev/null"), W_OK}), 0);
  // As Linux answers for a character device, and for no controlling terminal.
  EXPECT_EQ(call(SYS_open, {put("/dev/null"), O_RDONLY | O_DIRECTORY}), -ENOTDIR);
  EXPECT_EQ(call(SYS_open, {put("/dev/null"), O_WRONLY | O_CREAT | O_EXCL, 0644}), -EEXIST);
  EXPECT_EQ(call(SYS_open, {put("/dev/tty"), O_RDWR}), -ENXIO);
  // Nothing else under /dev, and no near miss of a name.
  for (const char* other : {"/dev/sda", "/dev/nullx", "/dev/kvm", "/dev/mem", "/dev/fd/", "/dev/fd/1x", "/dev/fd/-1"}) {
    EXPECT_EQ(call(SYS_open, {put(other), O_RDONLY}), -ENOENT) << other;
  }
}

// /dev/stdin, /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N: the
// app's fd N again; a volume file opens anew (its own offset), anything else is
// the same open file; an fd the app has not open is ENOENT.
TEST_F(FilesystemSyscalls, FdLinksNameTheAppsOwnFds) {
  const std::int64_t file = call(SYS_open, {put("/data/hello.txt"), O_RDONLY});
  ASSERT_EQ(file, 3);
  const std::uint64_t buffer = layout_.heap_start + 0x10000;
  EXPECT_EQ(call(SYS_read, {3, buffer, 5}), 5);
  const std::int64_t again = call(SYS_open, {put("/dev/fd/3"), O_RDONLY});
  ASSERT_EQ(again, 4);
  EXPECT_EQ(call(SYS_read, {4, buffer, 64}), 12);  // from the start: a new open file
  EXPECT_GT(call(SYS_open, {put("/proc/self/fd/3"), O_RDONLY}), 4);
  EXPECT_EQ(call(SYS_open, {put("/dev/fd/99"), O_RDONLY}), -ENOENT);
  const std::int64_t out = call(SYS_open, {put("/dev/stdout"), O_WRONLY});
  EXPECT_GT(out, 5);
  const std::uint64_t stat_out = layout_.heap_start + 0x20000;
  EXPECT_EQ(call(SYS_newfstatat, {static_cast<std::uint64_t>(AT_FDCWD), put("/dev/fd/3"), stat_out, 0}), 0);
  EXPECT_TRUE(S_ISREG(memory_->read<struct stat>(stat_out)->st_mode));
  EXPECT_EQ(memory_->read<struct stat>(stat_out)->st_size, 12);
  EXPECT_EQ(call(SYS_newfstatat, {static_cast<std::uint64_t>(AT_FDCWD), put("/dev/fd/42"), stat_out, 0}), -ENOENT);
}

TEST_F(FilesystemSyscalls, TraceSaysWhenASymlinkLeadsOutOfTheVolume) {
  context_->trace = true;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(SYS_open, {put("/data/escape"), O_RDONLY}), -ENOENT);
  EXPECT_EQ(call(SYS_mkdir, {put("/data/escape/x"), 0755}), -ENOENT);  // through the parent
  EXPECT_EQ(call(SYS_open, {put("/data/hello.txt"), O_RDONLY}), 3);
  const std::string traced = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(traced,
            "[hyperlet policy] denied: /data/escape leads out of --volume /data (through a symlink)\n"
            "[hyperlet policy] denied: /data/escape/x leads out of --volume /data (through a symlink)\n");
  context_->trace = false;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(SYS_open, {put("/data/escape"), O_RDONLY}), -ENOENT);
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

TEST_F(FilesystemSyscalls, PathArgumentsAreCheckedLikeLinux) {
  EXPECT_EQ(call(SYS_open, {0, O_RDONLY}), -EFAULT);
  EXPECT_EQ(call(SYS_open, {abi::kBootInfoAddr, O_RDONLY}), -EFAULT);
  EXPECT_EQ(call(SYS_open, {put(std::string(5000, 'a')), O_RDONLY}), -ENAMETOOLONG);
  // Unterminated up to the end of app memory: the string runs into memory the app cannot read.
  const std::uint64_t end = layout_.page_tables_base;
  std::memset(memory_->span(end - 100, 100)->data(), 'x', 100);
  EXPECT_EQ(call(SYS_open, {end - 100, O_RDONLY}), -EFAULT);
  EXPECT_EQ(call(SYS_open, {put(""), O_RDONLY}), -ENOENT);
}

TEST_F(FilesystemSyscalls, WorkingDirectoryAndDirectoryFds) {
  EXPECT_EQ(call(SYS_chdir, {put("/data")}), 0);
  const std::uint64_t buffer = layout_.heap_start + 0x10000;
  EXPECT_EQ(call(SYS_getcwd, {buffer, 64}), 6);
  EXPECT_STREQ(reinterpret_cast<const char*>(memory_->span(buffer, 6)->data()), "/data");
  EXPECT_EQ(call(SYS_getcwd, {buffer, 5}), -ERANGE);
  EXPECT_EQ(call(SYS_open, {put("hello.txt"), O_RDONLY}), 3);
  EXPECT_EQ(call(SYS_chdir, {put("/nowhere")}), -ENOENT);
  EXPECT_EQ(call(SYS_chdir, {put("hello.txt")}), -ENOTDIR);
  const std::int64_t dir = call(SYS_open, {put("/data"), O_RDONLY | O_DIRECTORY});
  ASSERT_EQ(dir, 4);
  EXPECT_EQ(call(SYS_openat, {4, put("hello.txt"), O_RDONLY}), 5);
  EXPECT_EQ(call(SYS_openat, {3, put("x"), O_RDONLY}), -ENOTDIR);
  EXPECT_EQ(call(SYS_openat, {99, put("x"), O_RDONLY}), -EBADF);
}

TEST_F(FilesystemSyscalls, ConsoleIsPartOfTheTable) {
  EXPECT_EQ(call(SYS_dup, {1}), 3);
  EXPECT_EQ(call(SYS_close, {0}), 0);
  EXPECT_EQ(call(SYS_open, {put("/data/hello.txt"), O_RDONLY}), 0);  // the lowest free fd
  EXPECT_EQ(call(SYS_dup2, {0, 1}), 1);
  const std::uint64_t buffer = layout_.heap_start + 0x10000;
  EXPECT_EQ(call(SYS_read, {1, buffer, 5}), 5);  // fd 1 now reads the file
  EXPECT_EQ(call(SYS_dup3, {0, 0, 0}), -EINVAL);
  EXPECT_EQ(call(SYS_fcntl, {0, F_GETFD}), 0);
  EXPECT_EQ(call(SYS_fcntl, {0, F_SETFD, FD_CLOEXEC}), 0);
  EXPECT_EQ(call(SYS_fcntl, {0, F_GETFD}), FD_CLOEXEC);
  EXPECT_EQ(call(SYS_fcntl, {0, F_DUPFD, 100}), 100);
}

// ---------------------------------------------------------------- statfs, owners, copy_file_range

class MoreFilesystemSyscalls : public FilesystemSyscalls {
 protected:
  void SetUp() override {
    FilesystemSyscalls::SetUp();
    std::filesystem::create_directory(host_dir_ + "/ro");
    std::ofstream(host_dir_ + "/ro/kept.txt") << "kept";
    auto volumes = open_volumes({{host_dir_, "/data", false}, {host_dir_ + "/ro", "/srv/ro", true}});
    ASSERT_TRUE(volumes.has_value());
    context_->files.volumes = std::move(*volumes);
  }
  struct statfs guest_statfs(std::uint64_t address) {
    struct statfs info {};
    std::memcpy(&info, memory_->span(address, sizeof info)->data(), sizeof info);
    return info;
  }
  std::int64_t open(const std::string& path, std::uint64_t flags, std::uint64_t mode = 0644) {
    return call(SYS_open, {put(path), flags, mode});
  }
  struct stat host_lstat(const std::string& name) {
    struct stat info {};
    EXPECT_EQ(::lstat((host_dir_ + "/" + name).c_str(), &info), 0) << name;
    return info;
  }
  std::uint64_t buffer() const { return layout_.heap_start + 0x20000; }
};

TEST_F(MoreFilesystemSyscalls, StatfsOfAVolumeIsTheHostsFileSystem) {
  struct statfs host {};
  ASSERT_EQ(::statfs(host_dir_.c_str(), &host), 0);
  EXPECT_EQ(call(SYS_statfs, {put("/data"), buffer()}), 0);
  EXPECT_EQ(guest_statfs(buffer()).f_type, host.f_type);
  EXPECT_EQ(guest_statfs(buffer()).f_bsize, host.f_bsize);
  EXPECT_EQ(guest_statfs(buffer()).f_blocks, host.f_blocks);
  EXPECT_EQ(guest_statfs(buffer()).f_flags & ST_RDONLY, host.f_flags & ST_RDONLY);
  EXPECT_EQ(call(SYS_statfs, {put("/data/hello.txt"), buffer()}), 0);
  EXPECT_EQ(guest_statfs(buffer()).f_type, host.f_type);
  // A :ro volume is a read-only file system to the guest, whatever the host's is.
  EXPECT_EQ(call(SYS_statfs, {put("/srv/ro/kept.txt"), buffer()}), 0);
  EXPECT_NE(guest_statfs(buffer()).f_flags & ST_RDONLY, 0);
  const std::int64_t fd = open("/data/hello.txt", O_RDONLY);
  ASSERT_EQ(fd, 3);
  std::memset(memory_->span(buffer(), sizeof(struct statfs))->data(), 0, sizeof(struct statfs));
  EXPECT_EQ(call(SYS_fstatfs, {3, buffer()}), 0);
  EXPECT_EQ(guest_statfs(buffer()).f_type, host.f_type);
  EXPECT_EQ(guest_statfs(buffer()).f_blocks, host.f_blocks);
  EXPECT_EQ(open("/srv/ro", O_RDONLY | O_DIRECTORY), 4);
  EXPECT_EQ(call(SYS_fstatfs, {4, buffer()}), 0);
  EXPECT_NE(guest_statfs(buffer()).f_flags & ST_RDONLY, 0);
  EXPECT_EQ(call(SYS_fstatfs, {1, buffer()}), 0);  // the console: whatever hyperlet's stdout is on
}

TEST_F(MoreFilesystemSyscalls, StatfsAboveTheVolumesIsAnEmptyReadOnlyFileSystem) {
  for (const char* path : {"/", "/srv"}) {
    std::memset(memory_->span(buffer(), sizeof(struct statfs))->data(), 0xff, sizeof(struct statfs));
    EXPECT_EQ(call(SYS_statfs, {put(path), buffer()}), 0) << path;
    const struct statfs info = guest_statfs(buffer());
    EXPECT_EQ(info.f_type, RAMFS_MAGIC);
    EXPECT_EQ(info.f_bsize, 4096);
    EXPECT_EQ(info.f_blocks, 0u);
    EXPECT_EQ(info.f_namelen, 255);
    EXPECT_EQ(info.f_flags & (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC),
              ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC);
  }
  ASSERT_EQ(open("/", O_RDONLY | O_DIRECTORY), 3);
  EXPECT_EQ(call(SYS_fstatfs, {3, buffer()}), 0);
  EXPECT_EQ(guest_statfs(buffer()).f_type, RAMFS_MAGIC);
}

TEST_F(MoreFilesystemSyscalls, StatfsErrorsAreLinuxs) {
  EXPECT_EQ(call(SYS_statfs, {put("/etc"), buffer()}), -ENOENT);          // outside every volume
  EXPECT_EQ(call(SYS_statfs, {put("/data/escape"), buffer()}), -ENOENT);  // a symlink out
  EXPECT_EQ(call(SYS_statfs, {put("/data/missing"), buffer()}), -ENOENT);
  EXPECT_EQ(call(SYS_statfs, {put("/data/hello.txt/x"), buffer()}), -ENOTDIR);
  EXPECT_EQ(call(SYS_statfs, {0, buffer()}), -EFAULT);
  EXPECT_EQ(call(SYS_statfs, {put("/data"), abi::kBootInfoAddr}), -EFAULT);
  EXPECT_EQ(call(SYS_statfs, {put("/"), 0}), -EFAULT);
  EXPECT_EQ(call(SYS_statfs, {put("/data"), layout_.page_tables_base - 8}), -EFAULT);
  EXPECT_EQ(call(SYS_fstatfs, {99, buffer()}), -EBADF);
  EXPECT_EQ(call(SYS_fstatfs, {static_cast<std::uint64_t>(-1), buffer()}), -EBADF);
  EXPECT_EQ(call(SYS_fstatfs, {0, abi::kBootInfoAddr}), -EFAULT);
}

TEST_F(MoreFilesystemSyscalls, OwnersChangeOnlyAsAnUnprivilegedOwnerCould) {
  const struct stat before = host_lstat("hello.txt");
  ASSERT_EQ(before.st_uid, ::geteuid());
  const std::uint64_t none = static_cast<std::uint32_t>(-1);
  const std::uint64_t path = put("/data/hello.txt");
  EXPECT_EQ(call(SYS_chown, {path, none, none}), 0);
  EXPECT_EQ(call(SYS_chown, {path, before.st_uid, before.st_gid}), 0);
  EXPECT_EQ(call(SYS_chown, {path, before.st_uid, ::getegid()}), 0);
  // Linux takes uid_t: the upper half of the register is not part of it.
  EXPECT_EQ(call(SYS_chown, {path, (std::uint64_t{1} << 32) | before.st_uid, none}), 0);
  // Giving the file away, or to a group hyperlet is not in: EPERM, even when hyperlet is root.
  EXPECT_EQ(call(SYS_chown, {path, before.st_uid + 1, none}), -EPERM);
  EXPECT_EQ(call(SYS_chown, {path, 0x7ffffff0, none}), -EPERM);
  EXPECT_EQ(call(SYS_chown, {path, none, 0x7ffffff0}), -EPERM);
  EXPECT_EQ(call(SYS_lchown, {path, before.st_uid + 1, before.st_gid}), -EPERM);
  const struct stat after = host_lstat("hello.txt");
  EXPECT_EQ(after.st_uid, before.st_uid);
  EXPECT_EQ(after.st_gid, ::getegid());
}

TEST_F(MoreFilesystemSyscalls, ChownFollowsSymlinksAndLchownDoesNot) {
  const std::uint32_t uid = ::geteuid();
  const std::uint64_t none = static_cast<std::uint32_t>(-1);
  // "escape" points at /etc/passwd: following it leaves the volume; the link itself is inside.
  EXPECT_EQ(call(SYS_chown, {put("/data/escape"), uid, none}), -ENOENT);
  EXPECT_EQ(call(SYS_lchown, {put("/data/escape"), uid, none}), 0);
  EXPECT_EQ(
      call(SYS_fchownat, {static_cast<std::uint64_t>(AT_FDCWD), put("/data/escape"), uid, none, AT_SYMLINK_NOFOLLOW}),
      0);
  EXPECT_EQ(call(SYS_fchownat, {static_cast<std::uint64_t>(AT_FDCWD), put("/data/escape"), uid, none, 0}), -ENOENT);
  std::filesystem::create_symlink("hello.txt", host_dir_ + "/good");
  EXPECT_EQ(call(SYS_chown, {put("/data/good"), uid, none}), 0);
  EXPECT_EQ(call(SYS_chown, {put("/data"), uid, none}), 0);  // the volume's own directory
  ASSERT_EQ(open("/data", O_RDONLY | O_DIRECTORY), 3);
  EXPECT_EQ(call(SYS_fchownat, {3, put("hello.txt"), uid, none, 0}), 0);
  EXPECT_EQ(call(SYS_fchownat, {3, put(""), uid, none, AT_EMPTY_PATH}), 0);
  EXPECT_EQ(call(SYS_fchownat, {3, put(""), uid, none, 0}), -ENOENT);
  EXPECT_EQ(call(SYS_fchownat, {3, put("hello.txt"), uid, none, 0x8000}), -EINVAL);
}

TEST_F(MoreFilesystemSyscalls, ChownErrorsAreLinuxs) {
  const std::uint32_t uid = ::geteuid();
  const std::uint64_t none = static_cast<std::uint32_t>(-1);
  EXPECT_EQ(call(SYS_chown, {put("/etc/passwd"), uid, none}), -ENOENT);
  EXPECT_EQ(call(SYS_chown, {put("/data/missing"), uid, none}), -ENOENT);
  EXPECT_EQ(call(SYS_chown, {put("/"), none, none}), -EROFS);
  EXPECT_EQ(call(SYS_chown, {put("/srv"), none, none}), -EROFS);
  EXPECT_EQ(call(SYS_chown, {put("/srv/ro/kept.txt"), uid, none}), -EROFS);
  EXPECT_EQ(call(SYS_chown, {put("/srv/ro/missing"), uid, none}),
            -ENOENT);  // lookup first, as Linux
  EXPECT_EQ(call(SYS_chown, {0, uid, none}), -EFAULT);
  EXPECT_EQ(call(SYS_chown, {abi::kBootInfoAddr, uid, none}), -EFAULT);
  EXPECT_EQ(call(SYS_chown, {put(std::string(5000, 'a')), uid, none}), -ENAMETOOLONG);
}

TEST_F(MoreFilesystemSyscalls, FchownActsOnTheOpenFile) {
  const struct stat before = host_lstat("hello.txt");
  const std::uint64_t none = static_cast<std::uint32_t>(-1);
  ASSERT_EQ(open("/data/hello.txt", O_RDWR), 3);
  EXPECT_EQ(call(SYS_fchown, {3, before.st_uid, before.st_gid}), 0);
  EXPECT_EQ(call(SYS_fchown, {3, before.st_uid + 1, none}), -EPERM);
  ASSERT_EQ(open("/data/hello.txt", O_PATH), 4);
  EXPECT_EQ(call(SYS_fchown, {4, none, none}), -EBADF);  // O_PATH: as Linux
  EXPECT_EQ(call(SYS_fchownat, {4, put(""), before.st_uid, none, AT_EMPTY_PATH}),
            0);  // but this works
  ASSERT_EQ(open("/srv/ro/kept.txt", O_RDONLY), 5);
  EXPECT_EQ(call(SYS_fchown, {5, none, none}), -EROFS);
  ASSERT_EQ(open("/", O_RDONLY | O_DIRECTORY), 6);
  EXPECT_EQ(call(SYS_fchown, {6, none, none}), -EROFS);
  EXPECT_EQ(call(SYS_fchown, {1, none, none}), -EINVAL);  // hyperlet's own stdout stays its own
  EXPECT_EQ(call(SYS_fchownat, {1, put(""), none, none, AT_EMPTY_PATH}), -EINVAL);
  EXPECT_EQ(call(SYS_fchown, {99, none, none}), -EBADF);
  EXPECT_EQ(host_lstat("hello.txt").st_uid, before.st_uid);
}

TEST_F(MoreFilesystemSyscalls, CopyFileRangeBetweenGuestFds) {
  std::ofstream(host_dir_ + "/src") << "0123456789";
  ASSERT_EQ(open("/data/src", O_RDONLY), 3);
  ASSERT_EQ(open("/data/dst", O_RDWR | O_CREAT | O_EXCL), 4);
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 4, 0, 4, 0}), 4);  // at the file positions
  EXPECT_EQ(call(SYS_lseek, {3, 0, SEEK_CUR}), 4);
  EXPECT_EQ(call(SYS_lseek, {4, 0, SEEK_CUR}), 4);
  // With offsets: read and written back in guest memory, file positions untouched.
  const std::uint64_t in = buffer(), out = buffer() + 8;
  ASSERT_TRUE(context_->write<loff_t>(in, 6));
  ASSERT_TRUE(context_->write<loff_t>(out, 10));
  EXPECT_EQ(call(SYS_copy_file_range, {3, in, 4, out, 100, 0}), 4);  // short: the end of the source
  EXPECT_EQ(context_->read<loff_t>(in), 10);
  EXPECT_EQ(context_->read<loff_t>(out), 14);
  EXPECT_EQ(call(SYS_lseek, {3, 0, SEEK_CUR}), 4);
  EXPECT_EQ(call(SYS_copy_file_range, {3, in, 4, out, 100, 0}), 0);  // at the end: nothing
  EXPECT_EQ(context_->read<loff_t>(in), 10);
  // A huge length copies what there is.
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 4, 0, ~0ull, 0}), 6);
  std::ifstream copy(host_dir_ + "/dst");
  const std::string text((std::istreambuf_iterator<char>(copy)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, std::string("0123456789") + "6789");
}

TEST_F(MoreFilesystemSyscalls, CopyFileRangeRefusesWhatLinuxRefuses) {
  std::ofstream(host_dir_ + "/src") << "0123456789";
  ASSERT_EQ(open("/data/src", O_RDONLY), 3);
  ASSERT_EQ(open("/data/dst", O_WRONLY | O_CREAT), 4);
  ASSERT_EQ(open("/srv/ro/kept.txt", O_RDONLY), 5);
  ASSERT_EQ(open("/data", O_RDONLY | O_DIRECTORY), 6);
  ASSERT_EQ(open("/", O_RDONLY | O_DIRECTORY), 7);
  ASSERT_EQ(open("/data/app", O_WRONLY | O_CREAT | O_APPEND), 8);
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 4, 0, 1, 1}), -EINVAL);  // flags
  EXPECT_EQ(call(SYS_copy_file_range, {99, 0, 4, 0, 1, 0}), -EBADF);
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 99, 0, 1, 0}), -EBADF);
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 5, 0, 1, 0}), -EBADF);  // into a :ro volume
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 3, 0, 1, 0}), -EBADF);  // into a read-only fd
  EXPECT_EQ(call(SYS_copy_file_range, {4, 0, 5, 0, 1, 0}), -EBADF);  // from a write-only fd
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 8, 0, 1, 0}), -EBADF);  // O_APPEND
  EXPECT_EQ(call(SYS_copy_file_range, {6, 0, 4, 0, 1, 0}), -EISDIR);
  EXPECT_EQ(call(SYS_copy_file_range, {7, 0, 4, 0, 1, 0}), -EISDIR);  // above the volumes
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 7, 0, 1, 0}), -EISDIR);
  // Offsets: bad pointers are EFAULT before anything is copied, negative ones EINVAL.
  EXPECT_EQ(call(SYS_copy_file_range, {3, abi::kBootInfoAddr, 4, 0, 1, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, 4, layout_.page_tables_base - 4, 1, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_copy_file_range, {3, ~0ull - 3, 4, 0, 1, 0}), -EFAULT);
  // A negative offset: whatever the host kernel answers (EINVAL or EOVERFLOW by version).
  ASSERT_TRUE(context_->write<loff_t>(buffer(), -1));
  const int host_in = ::open((host_dir_ + "/src").c_str(), O_RDONLY | O_CLOEXEC);
  const int host_out = ::open((host_dir_ + "/dst").c_str(), O_WRONLY | O_CLOEXEC);
  loff_t negative = -1;
  ASSERT_EQ(::copy_file_range(host_in, &negative, host_out, nullptr, 1, 0), -1);
  const int host_error = errno;
  ::close(host_in);
  ::close(host_out);
  EXPECT_EQ(call(SYS_copy_file_range, {3, buffer(), 4, 0, 1, 0}), -host_error);
  EXPECT_EQ(context_->read<loff_t>(buffer()), -1);
  // Pipes are not files to copy between.
  ASSERT_EQ(call(SYS_pipe, {buffer()}), 0);
  const auto ends = context_->read<std::array<int, 2>>(buffer());
  EXPECT_EQ(call(SYS_copy_file_range, {3, 0, static_cast<std::uint64_t>((*ends)[1]), 0, 1, 0}), -EINVAL);
  EXPECT_EQ(std::filesystem::file_size(host_dir_ + "/dst"), 0u);
}

// ---------------------------------------------------------------- what may be opened for I/O

// FIFOs and device nodes in a volume are judged by an O_PATH fd and never opened
// on the host: opening runs the driver (ENXIO, a tape rewinding) or blocks
// hyperlet (a FIFO without a writer, truncate of a FIFO).
TEST_F(MoreFilesystemSyscalls, FifosAreRefusedWithoutBlockingTheHost) {
  ASSERT_EQ(::mkfifo((host_dir_ + "/fifo").c_str(), 0600), 0);
  EXPECT_EQ(open("/data/fifo", O_RDONLY), -EACCES);  // would block without a writer
  EXPECT_EQ(open("/data/fifo", O_WRONLY), -EACCES);
  EXPECT_EQ(open("/data/fifo", O_RDWR | O_NONBLOCK), -EACCES);
  EXPECT_EQ(call(SYS_truncate, {put("/data/fifo"), 0}), -EINVAL);  // as Linux answers
  EXPECT_EQ(open("/data/fifo", O_PATH), 3);                        // opens nothing: allowed
}

TEST_F(MoreFilesystemSyscalls, DeviceNodesAreRefusedBeforeTheyAreOpened) {
  if (::mknod((host_dir_ + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod needs root: " << std::strerror(errno);
  }
  // A character device with no driver behind it: opening it on the host would
  // answer ENXIO, which is how the old code gave itself away.
  ASSERT_EQ(::mknod((host_dir_ + "/nodriver").c_str(), S_IFCHR | 0666, makedev(240, 77)), 0);
  EXPECT_EQ(open("/data/null", O_RDWR), -EACCES);
  EXPECT_EQ(open("/data/nodriver", O_RDONLY), -EACCES);
  EXPECT_EQ(open("/data/nodriver", O_WRONLY | O_CREAT, 0644), -EACCES);
  EXPECT_EQ(call(SYS_truncate, {put("/data/null"), 0}), -EINVAL);
  struct stat info {};
  ASSERT_EQ(::stat((host_dir_ + "/null").c_str(), &info), 0);
  EXPECT_TRUE(S_ISCHR(info.st_mode));  // truncate left it alone
}

TEST_F(MoreFilesystemSyscalls, CreateFlagsOnExistingAndMissingFiles) {
  // O_CREAT on an existing file of a :ro volume only opens it (Linux: success).
  EXPECT_EQ(open("/srv/ro/kept.txt", O_RDONLY | O_CREAT), 3);
  EXPECT_EQ(open("/srv/ro/missing.txt", O_RDONLY | O_CREAT), -EROFS);
  EXPECT_EQ(open("/srv/ro/kept.txt", O_RDONLY | O_CREAT | O_EXCL), -EEXIST);
  EXPECT_EQ(open("/data/hello.txt", O_RDWR | O_CREAT | O_EXCL), -EEXIST);
  EXPECT_EQ(open("/data", O_RDONLY | O_CREAT), -EISDIR);
  const std::int64_t created = open("/data/new.txt", O_WRONLY | O_CREAT | O_EXCL, 0600);
  EXPECT_GE(created, 0);
  EXPECT_TRUE(S_ISREG(host_lstat("new.txt").st_mode));
  EXPECT_EQ(host_lstat("new.txt").st_mode & 0777, 0600u);
  std::filesystem::create_symlink("hello.txt", host_dir_ + "/link");
  EXPECT_EQ(open("/data/link", O_RDONLY | O_NOFOLLOW), -ELOOP);
  EXPECT_GE(open("/data/link", O_RDONLY), 0);
  const std::int64_t truncated = open("/data/hello.txt", O_WRONLY | O_TRUNC);
  EXPECT_GE(truncated, 0);
  EXPECT_EQ(host_lstat("hello.txt").st_size, 0);
}

}  // namespace
}  // namespace hyperlet
