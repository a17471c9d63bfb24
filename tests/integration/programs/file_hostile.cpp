// Hostile file requests, one section per argv word; each line prints what the
// call returned ("ok" or the errno's name). The volume is mounted at /data and
// the host test prepared it (see volume_tests.cpp).
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

void show(const char* what, long result) {
  if (result < 0) {
    std::printf("%s: %s\n", what, strerrorname_np(errno));
  } else {
    std::printf("%s: ok\n", what);
  }
}

long raw(long number, long a = 0, long b = 0, long c = 0, long d = 0) { return ::syscall(number, a, b, c, d); }

long open_read(const char* path) {
  const int fd = ::open(path, O_RDONLY);
  if (fd >= 0) {
    char buffer[64] = {};
    ::read(fd, buffer, sizeof buffer - 1);
    std::printf("  read [%s]\n", buffer);
    ::close(fd);
  }
  return fd;
}

const long kKernelAddress = 0x1000;  // the guest kernel's BootInfo; natively unmapped

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string section = argv[i];
    if (section == "dotdot") {
      show("/data/../etc/shadow", open_read("/data/../etc/shadow"));
      show("/data/../../../../etc/shadow", open_read("/data/../../../../etc/shadow"));
      ::chdir("/data");
      show("cwd ../../etc/shadow", open_read("../../etc/shadow"));
      show("cwd sub/../inside.txt", open_read("sub/../inside.txt"));
      const int dir = ::open("/data/sub", O_RDONLY | O_DIRECTORY);
      show("openat(sub, ../../etc/shadow)", ::openat(dir, "../../etc/shadow", O_RDONLY));
      show("openat(sub, ../inside.txt)", ::openat(dir, "../inside.txt", O_RDONLY));
      show("mkdir /data/../escaped", ::mkdir("/data/../escaped", 0755));
      show("/etc/shadow", open_read("/etc/shadow"));
    } else if (section == "symlinks") {
      show("absolute symlink", open_read("/data/abs"));
      show("relative symlink out", open_read("/data/rel"));
      show("symlinked dir out", open_read("/data/etcdir/passwd"));
      show("symlink in", open_read("/data/good"));
      struct stat info {};
      show("stat absolute symlink", ::stat("/data/abs", &info));
      show("lstat absolute symlink", ::lstat("/data/abs", &info));
      char target[64] = {};
      show("readlink absolute symlink", ::readlink("/data/abs", target, sizeof target - 1));
      std::printf("  target [%s]\n", target);
      show("write through symlink out", ::open("/data/rel", O_WRONLY | O_TRUNC));
      show("create through symlinked dir", ::open("/data/etcdir/new", O_WRONLY | O_CREAT, 0644));
      show("chmod through symlink out", ::chmod("/data/abs", 0777));
    } else if (section == "readonly") {
      show("read", open_read("/data/inside.txt"));
      show("open O_WRONLY", ::open("/data/inside.txt", O_WRONLY));
      show("open O_RDWR", ::open("/data/inside.txt", O_RDWR));
      show("open O_TRUNC", ::open("/data/inside.txt", O_RDONLY | O_TRUNC));
      show("create", ::open("/data/new.txt", O_WRONLY | O_CREAT, 0644));
      show("mkdir", ::mkdir("/data/newdir", 0755));
      show("mkdir existing", ::mkdir("/data/sub", 0755));
      show("unlink", ::unlink("/data/inside.txt"));
      show("rmdir", ::rmdir("/data/sub"));
      show("rename", ::rename("/data/inside.txt", "/data/renamed.txt"));
      show("symlink", ::symlink("inside.txt", "/data/link"));
      show("chmod", ::chmod("/data/inside.txt", 0777));
      show("truncate", ::truncate("/data/inside.txt", 0));
      show("utimensat", ::utimensat(AT_FDCWD, "/data/inside.txt", nullptr, 0));
      const int fd = ::open("/data/inside.txt", O_RDONLY);
      show("write to read-only fd", ::write(fd, "x", 1));
      show("fchmod", ::fchmod(fd, 0777));
      show("ftruncate", ::ftruncate(fd, 0));
      show("access W_OK", ::access("/data/inside.txt", W_OK));
      show("access R_OK", ::access("/data/inside.txt", R_OK));
    } else if (section == "proc") {
      show("/proc/self/root/etc/passwd", open_read("/proc/self/root/etc/passwd"));
      show("/proc/1/root/etc/passwd", open_read("/proc/1/root/etc/passwd"));
      show("/dev/null", ::open("/dev/null", O_RDONLY));
      show("/dev/mem", ::open("/dev/mem", O_RDONLY));
      show("/dev/kvm", ::open("/dev/kvm", O_RDWR));
      show("/dev/fd/0/../../etc/passwd", open_read("/dev/fd/0/../../etc/passwd"));
      show("/proc/self/fd/0/x", open_read("/proc/self/fd/0/x"));
      show("volume link to /proc/self/root", open_read("/data/proclink/etc/passwd"));
      show("volume link to /proc/self/fd/0", open_read("/data/fdlink"));
      show("volume link to /dev/null", ::open("/data/devlink", O_RDONLY));
      char target[256] = {};
      show("readlink /proc/self/exe", ::readlink("/proc/self/exe", target, sizeof target - 1));
      std::printf("  is absolute [%d]\n", target[0] == '/');
    } else if (section == "lengths") {
      const int fd = ::open("/data/inside.txt", O_RDWR);
      char buffer[16];
      show("read SIZE_MAX", raw(SYS_read, fd, reinterpret_cast<long>(buffer), -1));
      show("read -5", raw(SYS_read, fd, reinterpret_cast<long>(buffer), -5));
      show("read 1<<40", raw(SYS_read, fd, reinterpret_cast<long>(buffer), 1l << 40));
      show("write SIZE_MAX", raw(SYS_write, fd, reinterpret_cast<long>(buffer), -1));
      show("pread offset -1", raw(SYS_pread64, fd, reinterpret_cast<long>(buffer), 4, -1));
      show("pwrite offset -1", raw(SYS_pwrite64, fd, reinterpret_cast<long>(buffer), 4, -1));
      show("lseek to -10", ::lseek(fd, -10, SEEK_SET));
      show("lseek whence 99", ::lseek(fd, 0, 99));
      show("ftruncate -1", ::ftruncate(fd, -1));
      iovec vector{buffer, sizeof buffer};
      show("readv iovcnt -1", raw(SYS_readv, fd, reinterpret_cast<long>(&vector), -1));
      show("readv iovcnt 5000", raw(SYS_readv, fd, reinterpret_cast<long>(&vector), 5000));
      iovec huge{buffer, static_cast<size_t>(-1)};
      show("readv huge iov_len", raw(SYS_readv, fd, reinterpret_cast<long>(&huge), 1));
      const int dir = ::open("/data", O_RDONLY | O_DIRECTORY);
      show("getdents64 count -1", raw(SYS_getdents64, dir, reinterpret_cast<long>(buffer), -1));
      show("getdents64 count 1", raw(SYS_getdents64, dir, reinterpret_cast<long>(buffer), 1));
      show("readlink size -1",
           raw(SYS_readlink, reinterpret_cast<long>("/data/good"), reinterpret_cast<long>(buffer), -1));
      show("getcwd size 0", raw(SYS_getcwd, reinterpret_cast<long>(buffer), 0));
      show("fallocate len -1", ::fallocate(fd, 0, 0, -1));
    } else if (section == "pointers") {
      const int fd = ::open("/data/inside.txt", O_RDONLY);
      show("open(NULL)", raw(SYS_open, 0, O_RDONLY));
      show("open(1)", raw(SYS_open, 1, O_RDONLY));
      show("open(kernel)", raw(SYS_open, kKernelAddress, O_RDONLY));
      show("open(-1)", raw(SYS_open, -1, O_RDONLY));
      show("read into NULL", raw(SYS_read, fd, 0, 16));
      show("read into kernel", raw(SYS_read, fd, kKernelAddress, 16));
      show("read into -4096", raw(SYS_read, fd, -4096, 16));
      show("fstat into kernel", raw(SYS_fstat, fd, kKernelAddress));
      show("stat into NULL", raw(SYS_stat, reinterpret_cast<long>("/data/inside.txt"), 0));
      show("getcwd into NULL", raw(SYS_getcwd, 0, 64));
      show("pipe into NULL", raw(SYS_pipe, 0));
      show("readv iovec NULL", raw(SYS_readv, fd, 0, 1));
      iovec bad{reinterpret_cast<void*>(kKernelAddress), 16};
      show("readv iov_base kernel", raw(SYS_readv, fd, reinterpret_cast<long>(&bad), 1));
      show("rename from NULL", raw(SYS_rename, 0, reinterpret_cast<long>("/data/x")));
      show("symlink target NULL", raw(SYS_symlink, 0, reinterpret_cast<long>("/data/x")));
      show("utimensat times kernel",
           raw(SYS_utimensat, AT_FDCWD, reinterpret_cast<long>("/data/inside.txt"), kKernelAddress));
    } else if (section == "emfile") {
      int opened = 0, last = -1;
      for (;;) {
        const int fd = ::open("/data/inside.txt", O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        ++opened;
        last = fd;
      }
      std::printf("opened %d, last fd %d, then %s\n", opened, last, strerrorname_np(errno));
      int ends[2];
      show("pipe at the limit", ::pipe(ends));
      show("dup at the limit", ::dup(0));
      show("dup2 to 1024", ::dup2(0, 1024));
      ::close(last);
      show("open after a close", ::open("/data/inside.txt", O_RDONLY));
      for (int fd = 3; fd <= last; ++fd) ::close(fd);
      show("open after closing all", ::open("/data/inside.txt", O_RDONLY));
    } else if (section == "mappings") {
      // A shared writable mapping needs an fd open for reading and writing.
      const int read_only = ::open("/data/inside.txt", O_RDONLY);
      void* refused = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, read_only, 0);
      show("MAP_SHARED|PROT_WRITE of an O_RDONLY fd", refused == MAP_FAILED ? -1 : 0);
      void* private_copy = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, read_only, 0);
      show("MAP_PRIVATE|PROT_WRITE of an O_RDONLY fd", private_copy == MAP_FAILED ? -1 : 0);
      const int write_only = ::open("/data/inside.txt", O_WRONLY);
      void* unreadable = ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE, write_only, 0);
      show("mmap of an O_WRONLY fd", unreadable == MAP_FAILED ? -1 : 0);
      const int read_write = ::open("/data/inside.txt", O_RDWR);
      auto* shared = static_cast<char*>(::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, read_write, 0));
      show("MAP_SHARED|PROT_WRITE of an O_RDWR fd", shared == MAP_FAILED ? -1 : 0);
      // No fd lives above the app's limit: it can neither make nor use one.
      show("fcntl(F_DUPFD, 1030)", ::fcntl(read_write, F_DUPFD, 1030));
      show("fcntl(F_DUPFD_CLOEXEC, 1024)", ::fcntl(read_write, F_DUPFD_CLOEXEC, 1024));
      char byte;
      show("read(1024)", ::read(1024, &byte, 1));
      show("close(1024)", ::close(1024));
      if (shared != MAP_FAILED) {
        std::memcpy(shared, "INSIDE", 6);
        show("msync", ::msync(shared, 4096, MS_SYNC));
      }
      show("read back", open_read("/data/inside.txt"));
    } else if (section == "names") {
      const std::string long_path(5000, 'a');
      show("5000-byte path", ::open(long_path.c_str(), O_RDONLY));
      std::string dots;
      for (int n = 0; n < 2039; ++n) dots += "/.";
      const std::string just_fits = "/data" + dots + "/inside.txt";  // 4094 bytes + NUL
      show("4094-byte path", open_read(just_fits.c_str()));
      const std::string too_long = "/data" + dots + "/./inside.txt";  // 4096 bytes + NUL
      show("4096-byte path", ::open(too_long.c_str(), O_RDONLY));
      const std::string long_name = "/data/" + std::string(300, 'c');
      show("300-byte name", ::open(long_name.c_str(), O_RDONLY | O_CREAT, 0644));
      show("mkdir 5000-byte path", ::mkdir(long_path.c_str(), 0755));
      show("stat 5000-byte path",
           raw(SYS_stat, reinterpret_cast<long>(long_path.c_str()), reinterpret_cast<long>(&errno)));
      show("empty path", ::open("", O_RDONLY));
    }
  }
  return 0;
}
