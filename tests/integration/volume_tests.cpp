// Volumes in real microVMs: busybox applets on a temporary host directory, a C++
// program (fstream, std::filesystem, mmap) whose output equals its native run,
// hostile requests (file_hostile), and bad --volume values.
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "process.h"

namespace hyperlet::testing {
namespace {

namespace fs = std::filesystem;

const std::string kHyperlet = HYPERLET_BINARY;
const std::string kProgramsDir = HYPERLET_TEST_PROGRAMS_DIR;
const std::string kBusybox = "/bin/busybox";
std::string program(const std::string& name) { return kProgramsDir + "/" + name; }

class VolumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string reason = kvm_unusable_reason(); !reason.empty()) {
      GTEST_SKIP() << "no usable /dev/kvm: " << reason;
    }
    std::ofstream(dir_ / "hello.txt") << "hello from the host\n";
  }
  ProcessResult run(std::vector<std::string> args, const std::string& mode = "") {
    args.insert(args.begin(), {kHyperlet, "run", "--volume", dir_.path().string() + ":/data" + mode});
    return run_process(args);
  }
  ProcessResult busybox(std::vector<std::string> args) {
    args.insert(args.begin(), kBusybox);
    return run(args);
  }
  TempDir dir_;
};

#define SKIP_WITHOUT_BUSYBOX() \
  if (::access(kBusybox.c_str(), X_OK) != 0) GTEST_SKIP() << kBusybox << " missing (apt install busybox-static)"

// ---------------------------------------------------------------- busybox

TEST_F(VolumeTest, BusyboxCatWcSha256sum) {
  SKIP_WITHOUT_BUSYBOX();
  auto result = busybox({"cat", "/data/hello.txt"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "hello from the host\n");
  result = busybox({"wc", "-l", "-c", "/data/hello.txt"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "        1        20 /data/hello.txt\n");
  // Real, varied bytes: a copy of busybox itself, checked against the host's sha256sum.
  fs::copy_file(kBusybox, dir_ / "blob");
  result = busybox({"sha256sum", "/data/blob"});
  ASSERT_EQ(result.status, 0) << describe(result);
  const auto native = run_process({kBusybox, "sha256sum", dir_ / "blob"});
  EXPECT_EQ(result.out.substr(0, 64), native.out.substr(0, 64));
}

TEST_F(VolumeTest, BusyboxLsSeesOnlyTheVolumes) {
  SKIP_WITHOUT_BUSYBOX();
  fs::create_directory(dir_ / "sub");
  auto result = busybox({"ls", "/data"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "hello.txt\nsub\n");
  result = busybox({"ls", "/"});
  ASSERT_EQ(result.status, 0) << describe(result);
  // Besides the volume: the synthesized /etc, and the host's zoneinfo when it has one.
  EXPECT_EQ(result.out, fs::is_directory("/usr/share/zoneinfo") ? "data\netc\nusr\n" : "data\netc\n");
  result = busybox({"ls", "/var"});
  EXPECT_NE(result.status, 0);
  EXPECT_NE(result.err.find("No such file or directory"), std::string::npos) << describe(result);
}

// ---------------------------------------------------------------- the synthesized /etc

std::string system_files_expected(const std::string& zone_line, const std::string& resolv) {
  return "getpwnam(root): root uid 0 home /root\n"
         "getpwuid(65534): nobody\n"
         "getgrgid(0): root\n"
         "getaddrinfo(localhost): ok 127.0.0.1\n" +
         zone_line + "resolv.conf: " + resolv + "\n/etc writable: no\n";
}

TEST_F(VolumeTest, UsersLocalhostAndTimeZonesWorkWithoutAVolumeAtEtc) {
  if (!fs::is_directory("/usr/share/zoneinfo/Europe")) GTEST_SKIP() << "no tzdata on this host (apt install tzdata)";
  auto result = run({"--env", "TZ=Europe/Paris", program("system_files")});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, system_files_expected("TZ=Europe/Paris: 2023-11-14 23:13 CET\n", "absent"));
  EXPECT_EQ(result.err, "");
  result = run({"--env", "TZ=UTC", program("system_files")});
  EXPECT_NE(result.out.find("TZ=UTC: 2023-11-14 22:13 UTC\n"), std::string::npos) << describe(result);
}

// resolv.conf names the host's nameservers only when the app may ask them.
TEST_F(VolumeTest, ResolvConfOnlyWhenPort53IsAllowed) {
  const std::string host_resolv = read_file("/etc/resolv.conf");
  if (host_resolv.find("nameserver ") == std::string::npos) GTEST_SKIP() << "this host has no nameserver";
  auto result = run({program("system_files")});
  EXPECT_NE(result.out.find("resolv.conf: absent\n"), std::string::npos) << describe(result);
  result = run({"--allow-connect", "0.0.0.0/0:53", "--allow-connect", "[::]/0:53", program("system_files")});
  EXPECT_NE(result.out.find("resolv.conf: present\n"), std::string::npos) << describe(result);
}

// A volume at /etc is what the app sees there instead.
TEST_F(VolumeTest, AVolumeAtEtcReplacesTheSynthesizedOne) {
  SKIP_WITHOUT_BUSYBOX();
  TempDir etc;
  std::ofstream(etc.path() / "passwd") << "app:x:1000:1000::/home/app:/bin/sh\n";
  const auto result = run_process(
      {kHyperlet, "run", "--volume", etc.path().string() + ":/etc:ro", kBusybox, "cat", "/etc/passwd", "/etc/hosts"});
  EXPECT_EQ(result.status, 1) << describe(result);  // no hosts in the volume
  EXPECT_EQ(result.out, "app:x:1000:1000::/home/app:/bin/sh\n");
}

TEST_F(VolumeTest, TraceSaysWhyAPathOutsideTheVolumesIsNotFound) {
  SKIP_WITHOUT_BUSYBOX();
  auto result = run({"--trace", kBusybox, "cat", "/var/secret"});
  EXPECT_EQ(result.status, 1) << describe(result);
  EXPECT_NE(result.err.find("[hyperlet policy] denied: /var/secret is outside every --volume\n"), std::string::npos)
      << describe(result);
  result = busybox({"cat", "/var/secret"});
  EXPECT_EQ(result.err.find("[hyperlet policy]"), std::string::npos) << "only under --trace: " << describe(result);
}

TEST_F(VolumeTest, BusyboxChangesShowOnTheHost) {
  SKIP_WITHOUT_BUSYBOX();
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"mkdir", "-p", "/data/a/b/c"},
           {"cp", "/data/hello.txt", "/data/a/b/copy.txt"},
           {"mv", "/data/a/b/copy.txt", "/data/a/moved.txt"},
           {"ln", "-s", "../hello.txt", "/data/a/link"},
           {"sh", "-c", "echo written by sh > /data/a/echo.txt"},
           {"rm", "-r", "/data/a/b"}}) {
    const auto result = busybox(command);
    ASSERT_EQ(result.status, 0) << command[0] << ": " << describe(result);
  }
  EXPECT_FALSE(fs::exists(dir_ / "a/b"));
  EXPECT_EQ(read_file(std::string(dir_ / "a/moved.txt")), "hello from the host\n");
  EXPECT_EQ(fs::read_symlink(dir_ / "a/link"), "../hello.txt");
  EXPECT_EQ(read_file(std::string(dir_ / "a/echo.txt")), "written by sh\n");
  const auto result = busybox({"cat", "/data/a/link"});
  EXPECT_EQ(result.out, "hello from the host\n");
}

// ---------------------------------------------------------------- single-file volumes

// --volume HOST_FILE:GUEST_PATH: that one file, nothing beside or below it. One
// busybox applet per run (no fork in a microVM; sh's builtins and redirections work).
class FileVolumeTest : public VolumeTest {
 protected:
  void SetUp() override {
    VolumeTest::SetUp();
    if (IsSkipped()) return;
    SKIP_WITHOUT_BUSYBOX();
    std::ofstream(files_ / "app.conf") << "port=8080\n";
    std::ofstream(files_ / "secret") << "not for the app\n";
  }
  ProcessResult applet(const std::string& mode, std::vector<std::string> args) {
    args.insert(args.begin(), {kHyperlet, "run", "--volume", files_ / "app.conf" + ":/conf/app.conf" + mode, kBusybox});
    return run_process(args);
  }
  TempDir files_;
};

TEST_F(FileVolumeTest, ReadOnlyFileReadsAndStatsAndRefusesWrites) {
  auto result = applet(":ro", {"cat", "/conf/app.conf"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "port=8080\n");
  result = applet(":ro", {"stat", "-c", "%s %F", "/conf/app.conf"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "10 regular file\n");
  result = applet(":ro", {"ls", "/conf"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "app.conf\n");  // the host directory's other files are not there
  result = applet(":ro", {"sh", "-c", "echo changed > /conf/app.conf"});
  EXPECT_NE(result.status, 0);
  EXPECT_NE(result.err.find("Read-only file system"), std::string::npos) << describe(result);
  EXPECT_EQ(read_file(files_ / "app.conf"), "port=8080\n");
}

TEST_F(FileVolumeTest, ReadWriteFileWritesTheHostFile) {
  auto result = applet(":rw", {"sh", "-c",
                               "echo port=9090 > /conf/app.conf && read line < /conf/app.conf && "
                               "echo $line && echo more >> /conf/app.conf"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "port=9090\n");
  EXPECT_EQ(read_file(files_ / "app.conf"), "port=9090\nmore\n");
}

TEST_F(FileVolumeTest, NoRenameUnlinkSiblingsOrEscape) {
  for (const std::vector<std::string>& command :
       std::vector<std::vector<std::string>>{{"rm", "/conf/app.conf"},
                                             {"mv", "/conf/app.conf", "/conf/moved"},
                                             {"touch", "/conf/new"},
                                             {"mkdir", "/conf/app.conf/x"},
                                             {"cat", "/conf/app.conf/../secret"},
                                             {"cat", "/conf/secret"},
                                             {"ln", "-s", "/conf/secret", "/conf/link"}}) {
    const auto result = applet(":rw", command);
    EXPECT_NE(result.status, 0) << command.front() << " " << command.back() << "\n" << describe(result);
  }
  EXPECT_EQ(read_file(files_ / "app.conf"), "port=8080\n");
  EXPECT_FALSE(fs::exists(files_ / "moved"));
  EXPECT_FALSE(fs::exists(files_ / "new"));
  EXPECT_FALSE(fs::exists(files_ / "link"));
}

TEST_F(FileVolumeTest, AFileInsideADirectoryVolume) {
  std::ofstream(dir_ / "app.conf") << "the directory's\n";
  const std::vector<std::string> volumes = {kHyperlet,  "run",
                                            "--volume", dir_.path().string() + ":/data",
                                            "--volume", files_ / "app.conf" + ":/data/app.conf:ro",
                                            kBusybox};
  auto with = [&](std::vector<std::string> args) {
    args.insert(args.begin(), volumes.begin(), volumes.end());
    return run_process(args);
  };
  auto result = with({"cat", "/data/app.conf"});
  ASSERT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(result.out, "port=8080\n");
  EXPECT_NE(with({"rm", "/data/app.conf"}).status, 0);
  result = with({"sh", "-c", "echo x > /data/other"});
  EXPECT_EQ(result.status, 0) << describe(result);
  EXPECT_EQ(read_file(dir_ / "app.conf"), "the directory's\n");
  EXPECT_EQ(read_file(dir_ / "other"), "x\n");
}

// ---------------------------------------------------------------- C++ programs

TEST_F(VolumeTest, CppFileTourMatchesItsNativeRun) {
  TempDir native_dir;
  const auto native = run_process({program("file_tour"), native_dir.path().string()});
  ASSERT_EQ(native.status, 0) << describe(native);
  const auto guest = run({program("file_tour"), "/data"});
  ASSERT_EQ(guest.status, 0) << describe(guest);
  EXPECT_EQ(guest.out, native.out);
  EXPECT_NE(guest.out.find("after munmap: 'third'"), std::string::npos) << guest.out;
  // The shared mapping left open at exit was written back too.
  EXPECT_EQ(read_file(std::string(dir_ / "tour/shared.bin")), read_file(std::string(native_dir / "tour/shared.bin")));
  EXPECT_EQ(read_file(std::string(dir_ / "tour/shared.bin")).substr(2 * 4096, 5), "THIRD");
  EXPECT_EQ(read_file(std::string(dir_ / "tour/moved.txt")), read_file(std::string(native_dir / "tour/moved.txt")));
}

// MAP_SHARED mappings are the file's own pages, as on Linux. They were private
// copies written back whole at msync and munmap: two mappings did not see each
// other, pwrite did not show through, stores after mremap were lost, and munmap
// of a mapping nobody wrote wrote its stale copy over what pwrite had put in
// the file.
TEST_F(VolumeTest, SharedMappingsAreCoherentAsNatively) {
  TempDir native_dir;
  const auto native = run_process({program("shared_mappings"), native_dir.path().string()});
  ASSERT_EQ(native.status, 0) << describe(native);
  const auto guest = run({program("shared_mappings"), "/data"});
  ASSERT_EQ(guest.status, 0) << describe(guest);
  EXPECT_EQ(guest.out, native.out);
  for (const char* line : {"two mappings: second sees: 'through the first'\n", "pwrite shows through: 'pwritten'\n",
                           "a store reaches pread: 'stored'\n", "after munmap of an untouched mapping: 'newer'\n",
                           "a store after mremap reaches pread: 'after mremap'\n",
                           "after close and munmap: 'after close'\n",
                           "read-only mapping sees pwrite: 'seen read-only'\n",
                           "a page written past the old end: 'page two'\n", "after growing: 'far'\n"}) {
    EXPECT_NE(guest.out.find(line), std::string::npos) << line << "\n" << guest.out;
  }
  EXPECT_EQ(read_file(dir_ / "shared.bin"), read_file(native_dir / "shared.bin"));
}

// LMDB writes with pwrite and reads through a read-only MAP_SHARED map of the
// same file: with copies, it read an empty database back.
TEST_F(VolumeTest, LmdbReadsBackWhatItWrote) {
  if (::access(program("lmdb_roundtrip").c_str(), X_OK) != 0) GTEST_SKIP() << "built without liblmdb-dev";
  TempDir native_dir;
  const auto native = run_process({program("lmdb_roundtrip"), native_dir / "db"});
  ASSERT_EQ(native.status, 0) << describe(native);
  const auto guest = run({program("lmdb_roundtrip"), "/data/db"});
  ASSERT_EQ(guest.status, 0) << describe(guest);
  EXPECT_EQ(guest.out, native.out);
  EXPECT_NE(guest.out.find("reopened: 2000 of 2000 records"), std::string::npos) << guest.out;
  // The host's own LMDB reads the database the microVM wrote.
  const auto host_read = run_process({program("lmdb_roundtrip"), dir_ / "db"});
  EXPECT_EQ(host_read.status, 0) << describe(host_read);
}

// A page of a shared mapping past the file's end (mapped so, or the file
// shrank under it) is a SIGBUS, natively and in the microVM, with a line that
// says what happened.
TEST_F(VolumeTest, TouchingAMappedPagePastTheFilesEndIsSigbus) {
  for (const std::string mode : {"past-end", "shrink"}) {
    TempDir native_dir;
    const auto native = run_process({program("shared_mappings"), native_dir.path().string(), mode});
    EXPECT_EQ(native.status, 128 + SIGBUS) << mode << describe(native);
    const auto guest = run({program("shared_mappings"), "/data", mode});
    EXPECT_EQ(guest.status, 128 + SIGBUS) << mode << describe(guest);
    EXPECT_EQ(guest.out, native.out) << mode;
    EXPECT_NE(guest.err.find("app killed by SIGBUS (Bus error)"), std::string::npos) << mode << guest.err;
    EXPECT_NE(guest.err.find("past the file's end"), std::string::npos) << mode << guest.err;
    // KVM may not say the address (kvm_pvm does not); the one mapping past its file's end is named.
    EXPECT_NE(guest.err.find(mode == "shrink" ? "/data/shrinks.bin" : "/data/short.bin"), std::string::npos)
        << mode << guest.err;
  }
}

// hyperlet itself reading such a page (a path the app passed) must not die of
// the SIGBUS: the app is killed by it instead, with the same line. (Linux
// answers the syscall EFAULT; the run ends here.)
TEST_F(VolumeTest, HyperletReadingAMappedPagePastTheFilesEndEndsTheAppNotHyperlet) {
  TempDir native_dir;
  const auto native = run_process({program("shared_mappings"), native_dir.path().string(), "pass"});
  EXPECT_EQ(native.status, 0) << describe(native);
  EXPECT_NE(native.out.find("open of a path past the end: EFAULT"), std::string::npos) << native.out;
  const auto guest = run({program("shared_mappings"), "/data", "pass"});
  EXPECT_EQ(guest.status, 128 + SIGBUS) << describe(guest);
  EXPECT_NE(guest.err.find("app killed by SIGBUS (Bus error): it touched 0x"), std::string::npos) << guest.err;
  EXPECT_NE(guest.err.find("of /data/short.bin, past the file's end (now 8 bytes)"), std::string::npos) << guest.err;
}

// A program built with the toolchain copies a file in 4 KiB calls: in the
// microVM its reads and writes take the file ring (a host thread performs them
// while the app waits in ring 3), the copy is exact, and failing calls fail as
// natively.
TEST_F(VolumeTest, FileRingCopiesExactlyAndFailsLikeNative) {
  std::string data(3 * 1024 * 1024 + 123, '\0');
  std::uint32_t seed = 12345;
  for (char& byte : data) byte = static_cast<char>((seed = seed * 1103515245 + 12345) >> 24);
  std::ofstream(dir_ / "in.bin", std::ios::binary) << data;
  TempDir native_dir;
  std::ofstream(native_dir / "in.bin", std::ios::binary) << data;
  const auto native = run_process({program("file_copy"), native_dir / "in.bin", native_dir / "out.bin", "4096"});
  ASSERT_EQ(native.status, 0) << describe(native);
  const auto guest = run({"--stats", program("file_copy"), "/data/in.bin", "/data/out.bin", "4096"});
  ASSERT_EQ(guest.status, 0) << describe(guest);
  EXPECT_EQ(guest.out, native.out);
  EXPECT_NE(guest.out.find("copy verified\n"), std::string::npos) << guest.out;
  EXPECT_NE(guest.out.find("read of the write-only copy: Bad file descriptor\n"), std::string::npos) << guest.out;
  EXPECT_TRUE(read_file(dir_ / "out.bin") == data);
  const std::size_t calls_at = guest.err.find("file calls: ");
  const std::size_t ring_at = guest.err.find("file ring: ");
  ASSERT_TRUE(calls_at != std::string::npos && ring_at != std::string::npos) << guest.err;
  // All but the calls before the ring was handed over went through it. How many
  // of them needed a kick (an exit) depends on the machine's load: that is for
  // the benchmarks (scripts/bench-files), not for this test.
  const unsigned long calls = std::stoul(guest.err.substr(calls_at + 12));
  EXPECT_GE(std::stoul(guest.err.substr(ring_at + 11)), calls - 8) << guest.err;
}

// ---------------------------------------------------------------- hostile requests

class HostileTest : public VolumeTest {
 protected:
  void SetUp() override {
    VolumeTest::SetUp();
    if (IsSkipped()) return;
    fs::create_directory(dir_ / "sub");
    std::ofstream(dir_ / "inside.txt") << "inside";
    fs::create_symlink("/etc/passwd", dir_ / "abs");
    fs::create_symlink("../../../../../../../../etc/passwd", dir_ / "rel");
    fs::create_symlink("/etc", dir_ / "etcdir");
    fs::create_symlink("inside.txt", dir_ / "good");
    fs::create_symlink("/proc/self/root", dir_ / "proclink");
    fs::create_symlink("/proc/self/fd/0", dir_ / "fdlink");
    fs::create_symlink("/dev/null", dir_ / "devlink");
  }
  std::string hostile(const std::string& section, const std::string& mode = "") {
    const auto result = run({program("file_hostile"), section}, mode);
    EXPECT_EQ(result.status, 0) << describe(result);
    return result.out;
  }
};

// Linux's access rules for file mappings, and no fd above the app's limit
// (the guest kernel once kept its MAP_SHARED files there, and F_DUPFD 1030
// reached them).
TEST_F(HostileTest, FileMappingsFollowTheFdsAccessAndNoFdLivesAboveTheLimit) {
  EXPECT_EQ(hostile("mappings"),
            "MAP_SHARED|PROT_WRITE of an O_RDONLY fd: EACCES\n"
            "MAP_PRIVATE|PROT_WRITE of an O_RDONLY fd: ok\n"
            "mmap of an O_WRONLY fd: EACCES\n"
            "MAP_SHARED|PROT_WRITE of an O_RDWR fd: ok\n"
            "fcntl(F_DUPFD, 1030): EINVAL\n"
            "fcntl(F_DUPFD_CLOEXEC, 1024): EINVAL\n"
            "read(1024): EBADF\n"
            "close(1024): EBADF\n"
            "msync: ok\n"
            "  read [INSIDE]\n"
            "read back: ok\n");
}

TEST_F(HostileTest, DotDotStaysInside) {
  EXPECT_EQ(hostile("dotdot"),
            "/data/../etc/shadow: ENOENT\n"
            "/data/../../../../etc/shadow: ENOENT\n"
            "cwd ../../etc/shadow: ENOENT\n"
            "  read [inside]\n"
            "cwd sub/../inside.txt: ok\n"
            "openat(sub, ../../etc/shadow): ENOENT\n"
            "openat(sub, ../inside.txt): ok\n"
            "mkdir /data/../escaped: ENOENT\n"
            "/etc/shadow: ENOENT\n");
  EXPECT_FALSE(fs::exists(dir_.path().parent_path() / "escaped"));
}

TEST_F(HostileTest, SymlinksCannotLeaveTheVolume) {
  const auto before = fs::last_write_time("/etc/passwd");
  EXPECT_EQ(hostile("symlinks"),
            "absolute symlink: ENOENT\n"
            "relative symlink out: ENOENT\n"
            "symlinked dir out: ENOENT\n"
            "  read [inside]\n"
            "symlink in: ok\n"
            "stat absolute symlink: ENOENT\n"
            "lstat absolute symlink: ok\n"
            "readlink absolute symlink: ok\n"
            "  target [/etc/passwd]\n"
            "write through symlink out: ENOENT\n"
            "create through symlinked dir: ENOENT\n"
            "chmod through symlink out: ENOENT\n");
  EXPECT_EQ(fs::last_write_time("/etc/passwd"), before);
  EXPECT_FALSE(fs::exists("/etc/new"));
}

TEST_F(HostileTest, TraceSaysWhyASymlinkOutOfTheVolumeIsNotFound) {
  SKIP_WITHOUT_BUSYBOX();
  for (const std::string name : {"abs", "rel", "etcdir/passwd"}) {
    auto result = run({"--trace", kBusybox, "cat", "/data/" + name});
    EXPECT_EQ(result.status, 1) << describe(result);
    EXPECT_NE(result.err.find("No such file or directory"), std::string::npos) << describe(result);
    EXPECT_NE(result.err.find("[hyperlet policy] denied: /data/" + name +
                              " leads out of --volume /data (through a symlink)\n"),
              std::string::npos)
        << describe(result);
  }
  const auto quiet = busybox({"cat", "/data/abs"});
  EXPECT_EQ(quiet.err.find("[hyperlet policy]"), std::string::npos)
      << "only under --trace: " << describe(quiet);
}

TEST_F(HostileTest, ReadOnlyVolumeRefusesWritesWithErofs) {
  EXPECT_EQ(hostile("readonly", ":ro"),
            "  read [inside]\n"
            "read: ok\n"
            "open O_WRONLY: EROFS\n"
            "open O_RDWR: EROFS\n"
            "open O_TRUNC: EROFS\n"
            "create: EROFS\n"
            "mkdir: EROFS\n"
            "mkdir existing: EEXIST\n"
            "unlink: EROFS\n"
            "rmdir: EROFS\n"
            "rename: EROFS\n"
            "symlink: EROFS\n"
            "chmod: EROFS\n"
            "truncate: EROFS\n"
            "utimensat: EROFS\n"
            "write to read-only fd: EBADF\n"
            "fchmod: EROFS\n"
            "ftruncate: EROFS\n"
            "access W_OK: EROFS\n"
            "access R_OK: ok\n");
  EXPECT_EQ(read_file(std::string(dir_ / "inside.txt")), "inside");
  EXPECT_FALSE(fs::exists(dir_ / "new.txt"));
  EXPECT_FALSE(fs::exists(dir_ / "newdir"));
  EXPECT_EQ(fs::status(dir_ / "inside.txt").permissions() & fs::perms::others_write, fs::perms::none);
}

// /proc and /dev are not the host's: /dev/null is (with zero, full, random,
// urandom and the fd links: devices/device_nodes.h), nothing else is, and a
// path through an fd link or a volume's symlink leads nowhere.
TEST_F(HostileTest, ProcAndDevAreNotReachable) {
  EXPECT_EQ(hostile("proc"),
            "/proc/self/root/etc/passwd: ENOENT\n"
            "/proc/1/root/etc/passwd: ENOENT\n"
            "/dev/null: ok\n"
            "/dev/mem: ENOENT\n"
            "/dev/kvm: ENOENT\n"
            "/dev/fd/0/../../etc/passwd: ENOENT\n"
            "/proc/self/fd/0/x: ENOENT\n"
            "volume link to /proc/self/root: ENOENT\n"
            "volume link to /proc/self/fd/0: ENOENT\n"
            "volume link to /dev/null: ENOENT\n"
            "readlink /proc/self/exe: ok\n"
            "  is absolute [1]\n");
}

TEST_F(HostileTest, HugeAndNegativeLengths) {
  EXPECT_EQ(hostile("lengths"),
            "read SIZE_MAX: EFAULT\n"
            "read -5: EFAULT\n"
            "read 1<<40: EFAULT\n"
            "write SIZE_MAX: EFAULT\n"
            "pread offset -1: EINVAL\n"
            "pwrite offset -1: EINVAL\n"
            "lseek to -10: EINVAL\n"
            "lseek whence 99: EINVAL\n"
            "ftruncate -1: EINVAL\n"
            "readv iovcnt -1: EINVAL\n"
            "readv iovcnt 5000: EINVAL\n"
            "readv huge iov_len: EFAULT\n"
            "getdents64 count -1: EFAULT\n"
            "getdents64 count 1: EINVAL\n"
            "readlink size -1: EINVAL\n"
            "getcwd size 0: ERANGE\n"
            "fallocate len -1: EINVAL\n");
  EXPECT_EQ(read_file(std::string(dir_ / "inside.txt")), "inside");
}

TEST_F(HostileTest, BadPointersAreEfault) {
  EXPECT_EQ(hostile("pointers"),
            "open(NULL): EFAULT\n"
            "open(1): EFAULT\n"
            "open(kernel): EFAULT\n"
            "open(-1): EFAULT\n"
            "read into NULL: EFAULT\n"
            "read into kernel: EFAULT\n"
            "read into -4096: EFAULT\n"
            "fstat into kernel: EFAULT\n"
            "stat into NULL: EFAULT\n"
            "getcwd into NULL: EFAULT\n"
            "pipe into NULL: EFAULT\n"
            "readv iovec NULL: EFAULT\n"
            "readv iov_base kernel: EFAULT\n"
            "rename from NULL: EFAULT\n"
            "symlink target NULL: EFAULT\n"
            "utimensat times kernel: EFAULT\n");
}

TEST_F(HostileTest, FdExhaustionIsEmfile) {
  EXPECT_EQ(hostile("emfile"),
            "opened 1021, last fd 1023, then EMFILE\n"
            "pipe at the limit: EMFILE\n"
            "dup at the limit: EMFILE\n"
            "dup2 to 1024: EBADF\n"
            "open after a close: ok\n"
            "open after closing all: ok\n");
}

TEST_F(HostileTest, OversizedPathsAreEnametoolong) {
  EXPECT_EQ(hostile("names"),
            "5000-byte path: ENAMETOOLONG\n"
            "  read [inside]\n"
            "4094-byte path: ok\n"
            "4096-byte path: ENAMETOOLONG\n"
            "300-byte name: ENAMETOOLONG\n"
            "mkdir 5000-byte path: ENAMETOOLONG\n"
            "stat 5000-byte path: ENAMETOOLONG\n"
            "empty path: ENOENT\n");
}

// ---------------------------------------------------------------- bad --volume values

TEST(VolumeOption, BadValuesFailWith125AndOneLine) {
  TempDir dir;
  const std::string app = program("exit_with");
  for (const std::vector<std::string>& volumes :
       std::vector<std::vector<std::string>>{{"/nonexistent/hyperlet:/data"},
                                             {dir.path().string() + ":data"},
                                             {dir.path().string() + ":/data", dir.path().string() + ":/data/"},
                                             {dir.path().string() + ":/data:rx"},
                                             {dir.path().string()},
                                             {"/dev/null:/data"},
                                             {"/proc/self/exe:/"}}) {
    std::vector<std::string> args = {kHyperlet, "run"};
    for (const auto& volume : volumes) args.insert(args.end(), {"--volume", volume});
    args.push_back(app);
    const auto result = run_process(args);
    EXPECT_EQ(result.status, 125) << volumes.back() << "\n" << describe(result);
    EXPECT_TRUE(result.err.starts_with("hyperlet: invalid --volume")) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
}

}  // namespace
}  // namespace hyperlet::testing
