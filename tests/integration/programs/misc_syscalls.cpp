// statfs, chown, copy_file_range, socketpair and sendmmsg/recvmmsg in a real
// guest, one section per argv word; each line prints what a call returned ("ok",
// a value, or the errno's name), so a test compares text. The volume is at /data.
//   files        statfs/fstatfs, chown family, copy_file_range on a writable volume
//   files-ro     the same calls on a :ro volume
//   socketpair   AF_UNIX pairs: data both ways, poll, epoll, EOF/EPIPE, errors
//   mmsg         sendmmsg/recvmmsg on loopback UDP; the second message is denied
//   forward-paths  19 fcntl(F_GETFD) alone, beside a thread, with a timer armed, with
//                a signalfd open (each sends forwarded calls another way in the
//                guest kernel), a write to a closed pipe under a SIGPIPE handler,
//                and getpid made through a `syscall` whose site looks like fcntl's
//   robust-list  set_robust_list from a direct site (`mov $273, %eax; syscall`) and
//                through syscall() (the trap), with the right and wrong sizes, also
//                beside a thread (the direct port closed)
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

const long kKernelAddress = 0x1000;  // the guest kernel's BootInfo; natively unmapped

void show(const char* what, long result) {
  if (result < 0) {
    std::printf("%s: %s\n", what, strerrorname_np(errno));
  } else {
    std::printf("%s: %ld\n", what, result);
  }
}

void write_file(const char* path, const char* text) {
  const int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ::write(fd, text, std::strlen(text));
  ::close(fd);
}

std::string read_file(const char* path) {
  char buffer[128] = {};
  const int fd = ::open(path, O_RDONLY);
  const ssize_t got = ::read(fd, buffer, sizeof buffer - 1);
  ::close(fd);
  return std::string(buffer, got > 0 ? static_cast<std::size_t>(got) : 0);
}

void statfs_calls() {
  struct statfs info {};
  show("statfs /data", ::statfs("/data", &info));
  std::printf("  type %#lx, read-only %d, blocks > 0 %d\n", static_cast<unsigned long>(info.f_type),
              (info.f_flags & ST_RDONLY) != 0, info.f_blocks > 0);
  struct statvfs vfs {};
  show("statvfs /data/hello.txt", ::statvfs("/data/hello.txt", &vfs));
  std::printf("  read-only %d\n", (vfs.f_flag & ST_RDONLY) != 0);
  const int fd = ::open("/data/hello.txt", O_RDONLY);
  struct statfs by_fd {};
  show("fstatfs", ::fstatfs(fd, &by_fd));
  std::printf("  same type %d\n", by_fd.f_type == info.f_type);
  ::close(fd);
  show("statfs /", ::statfs("/", &info));
  std::printf("  ramfs %d, read-only %d, blocks %lu\n", info.f_type == RAMFS_MAGIC,
              (info.f_flags & ST_RDONLY) != 0, static_cast<unsigned long>(info.f_blocks));
  show("statfs /var", ::statfs("/var", &info));
  show("statfs through a symlink out", ::statfs("/data/abs", &info));
  show("statfs into the kernel", ::syscall(SYS_statfs, "/data", kKernelAddress));
  show("fstatfs 99", ::fstatfs(99, &info));
}

void chown_calls() {
  struct stat info {};
  ::stat("/data/hello.txt", &info);
  show("chown -1 -1", ::chown("/data/hello.txt", -1, -1));
  show("chown to its own owner", ::chown("/data/hello.txt", info.st_uid, info.st_gid));
  show("chown to another uid", ::chown("/data/hello.txt", info.st_uid + 1, -1));
  show("chown to a foreign group", ::chown("/data/hello.txt", -1, 0x7ffffff0));
  show("lchown symlink out", ::lchown("/data/abs", info.st_uid, -1));
  show("chown symlink out", ::chown("/data/abs", info.st_uid, -1));
  show("fchownat bad flags", ::fchownat(AT_FDCWD, "/data/hello.txt", -1, -1, 0x8000));
  const int fd = ::open("/data/hello.txt", O_RDONLY);
  show("fchown", ::fchown(fd, info.st_uid, -1));
  ::close(fd);
  show("chown /", ::chown("/", -1, -1));
  show("chown /var/passwd", ::chown("/var/passwd", 0, 0));
}

void copy_calls() {
  write_file("/data/src.txt", "0123456789");
  const int in = ::open("/data/src.txt", O_RDONLY);
  const int out = ::open("/data/dst.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
  show("copy_file_range 4", ::copy_file_range(in, nullptr, out, nullptr, 4, 0));
  loff_t in_offset = 6, out_offset = 10;
  show("copy_file_range at offsets", ::copy_file_range(in, &in_offset, out, &out_offset, 100, 0));
  std::printf("  offsets now %lld %lld\n", static_cast<long long>(in_offset),
              static_cast<long long>(out_offset));
  show("copy_file_range SIZE_MAX", ::copy_file_range(in, nullptr, out, nullptr, SIZE_MAX, 0));
  std::string copied = read_file("/data/dst.txt");
  for (char& c : copied) c = c == '\0' ? '.' : c;
  std::printf("  dst [%s]\n", copied.c_str());
  show("copy_file_range flags 1", ::copy_file_range(in, nullptr, out, nullptr, 1, 1));
  show("copy_file_range into a read-only fd", ::copy_file_range(out, nullptr, in, nullptr, 1, 0));
  show("copy_file_range offset in the kernel",
       ::syscall(SYS_copy_file_range, in, kKernelAddress, out, 0, 1, 0));
  const int dir = ::open("/data", O_RDONLY | O_DIRECTORY);
  show("copy_file_range from a directory", ::copy_file_range(dir, nullptr, out, nullptr, 1, 0));
  int ends[2];
  ::pipe(ends);
  show("copy_file_range into a pipe", ::copy_file_range(in, nullptr, ends[1], nullptr, 1, 0));
}

void read_only_calls() {
  struct statfs info {};
  show("statfs /data", ::statfs("/data", &info));
  std::printf("  read-only %d\n", (info.f_flags & ST_RDONLY) != 0);
  struct stat status {};
  ::stat("/data/hello.txt", &status);
  show("chown", ::chown("/data/hello.txt", status.st_uid, -1));
  const int in = ::open("/data/hello.txt", O_RDONLY);
  show("fchown", ::fchown(in, status.st_uid, -1));
  const int other = ::open("/data/hello.txt", O_RDONLY);
  show("copy_file_range into the volume", ::copy_file_range(in, nullptr, other, nullptr, 4, 0));
}

void socketpair_calls() {
  int pair[2];
  show("socketpair stream", ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair));
  char buffer[64] = {};
  show("write", ::write(pair[0], "ping", 4));
  pollfd poll_fd{pair[1], POLLIN, 0};
  show("poll", ::poll(&poll_fd, 1, 1000));
  show("read", ::read(pair[1], buffer, sizeof buffer));
  std::printf("  [%s]\n", buffer);
  const int epoll = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u32 = 42;
  ::epoll_ctl(epoll, EPOLL_CTL_ADD, pair[0], &event);
  show("send back", ::send(pair[1], "pong", 4, MSG_NOSIGNAL));
  epoll_event ready{};
  show("epoll_wait", ::epoll_wait(epoll, &ready, 1, 1000));
  std::printf("  data %u\n", ready.data.u32);
  std::memset(buffer, 0, sizeof buffer);
  show("recv", ::recv(pair[0], buffer, sizeof buffer, 0));
  std::printf("  [%s]\n", buffer);
  show("FD_CLOEXEC", ::fcntl(pair[0], F_GETFD));
  ::close(pair[0]);
  show("read after close", ::read(pair[1], buffer, sizeof buffer));
  // As on Linux, a write with no reader left raises SIGPIPE, which would end
  // the program: ignored here, the write returns EPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  show("write after close", ::write(pair[1], "x", 1));
  ::close(pair[1]);

  show("socketpair dgram nonblock", ::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, pair));
  show("read empty", ::read(pair[1], buffer, sizeof buffer));
  ::write(pair[0], "abc", 3);
  ::write(pair[0], "defgh", 5);
  show("first datagram", ::read(pair[1], buffer, sizeof buffer));
  show("second datagram", ::read(pair[1], buffer, sizeof buffer));
  show("socketpair AF_INET", ::socketpair(AF_INET, SOCK_STREAM, 0, pair));
  show("socketpair AF_NETLINK", ::socketpair(AF_NETLINK, SOCK_DGRAM, 0, pair));
  show("socketpair into the kernel",
       ::syscall(SYS_socketpair, AF_UNIX, SOCK_STREAM, 0, kKernelAddress));
}

void mmsg_calls() {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in self{};
  self.sin_family = AF_INET;
  self.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  show("bind port 0", ::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self));
  socklen_t length = sizeof self;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &length);
  sockaddr_in denied{};
  denied.sin_family = AF_INET;
  denied.sin_port = htons(9);
  inet_pton(AF_INET, "10.255.255.1", &denied.sin_addr);

  const char* texts[] = {"one", "two", "three"};
  iovec vectors[3];
  mmsghdr messages[3] = {};
  for (int i = 0; i < 3; ++i) {
    vectors[i] = iovec{const_cast<char*>(texts[i]), std::strlen(texts[i])};
    messages[i].msg_hdr.msg_iov = &vectors[i];
    messages[i].msg_hdr.msg_iovlen = 1;
    messages[i].msg_hdr.msg_name = i == 1 ? static_cast<void*>(&denied) : static_cast<void*>(&self);
    messages[i].msg_hdr.msg_namelen = sizeof self;
  }
  show("sendmmsg with a denied second", ::sendmmsg(fd, messages, 3, 0));
  std::printf("  msg_len %u\n", messages[0].msg_len);
  show("sendmmsg denied first", ::sendmmsg(fd, &messages[1], 1, 0));
  messages[1].msg_hdr.msg_name = &self;
  show("sendmmsg the rest", ::sendmmsg(fd, &messages[1], 2, 0));
  show("sendmmsg vlen 0", ::sendmmsg(fd, messages, 0, 0));
  show("sendmmsg from the kernel", ::syscall(SYS_sendmmsg, fd, kKernelAddress, 1, 0));

  char buffers[4][16] = {};
  iovec in_vectors[4];
  sockaddr_in sources[4] = {};
  mmsghdr in[4] = {};
  for (int i = 0; i < 4; ++i) {
    in_vectors[i] = iovec{buffers[i], sizeof buffers[i]};
    in[i].msg_hdr.msg_iov = &in_vectors[i];
    in[i].msg_hdr.msg_iovlen = 1;
    in[i].msg_hdr.msg_name = &sources[i];
    in[i].msg_hdr.msg_namelen = sizeof sources[i];
  }
  timespec timeout{5, 0};
  show("recvmmsg", ::recvmmsg(fd, in, 4, MSG_WAITFORONE, &timeout));
  for (int i = 0; i < 3; ++i) {
    std::printf("  [%.*s] %u bytes, from itself %d\n", static_cast<int>(in[i].msg_len), buffers[i],
                in[i].msg_len, sources[i].sin_port == self.sin_port);
  }
  show("recvmmsg empty", ::recvmmsg(fd, in, 4, MSG_DONTWAIT, nullptr));
  timespec bad{0, -1};
  show("recvmmsg bad timeout", ::recvmmsg(fd, in, 4, MSG_DONTWAIT, &bad));
  show("recvmmsg timeout in the kernel",
       ::syscall(SYS_recvmmsg, fd, in, 4, MSG_DONTWAIT, kKernelAddress));
}

// fcntl(F_GETFD) of stdout `count` times, raw: how many answered 0 (no FD_CLOEXEC).
int getfd_calls(int count) {
  int right = 0;
  for (int i = 0; i < count; ++i) right += ::syscall(SYS_fcntl, 1, F_GETFD) == 0 ? 1 : 0;
  return right;
}

volatile sig_atomic_t sigpipes = 0;

// A `syscall` the loader makes a direct one in a microVM (`mov $72, %eax`, fcntl,
// right before it), reached by a jump with getpid's number in eax: the host
// must send it back to the guest kernel, which answers getpid.
long getpid_through_a_fcntl_site() {
  long result = 0;
  asm volatile(
      "mov $39, %%eax\n"
      "jmp 1f\n"
      "mov $72, %%eax\n"
      "1: syscall\n"
      : "=a"(result)
      :
      : "rcx", "r11", "memory");
  return result;
}

// set_robust_list as glibc's fork child makes it: the number moved right
// before the syscall, so the loader makes the site direct.
long robust_list_direct(void* head, unsigned long size) {
  long result;
  asm volatile("mov $273, %%eax\n\tsyscall"
               : "=a"(result)
               : "D"(head), "S"(size)
               : "rcx", "r11", "memory");
  return result;
}

void show_raw(const char* what, long result) {
  if (result < 0) {
    std::printf("%s: %s\n", what, strerrorname_np(static_cast<int>(-result)));
  } else {
    std::printf("%s: %ld\n", what, result);
  }
}

void robust_list_calls() {
  static char head[24];
  show_raw("direct, size 24", robust_list_direct(head, 24));
  show_raw("direct, size 23", robust_list_direct(head, 23));
  show("syscall(), size 24", ::syscall(SYS_set_robust_list, head, 24));
  show("syscall(), size 0", ::syscall(SYS_set_robust_list, head, 0));
  long beside = 0;
  std::thread other([&] { beside = robust_list_direct(head, 25); });
  other.join();
  show_raw("direct from a second thread, size 25", beside);
}

void forward_paths() {
  std::printf("alone: %d of 7\n", getfd_calls(7));
  int beside = 0;
  std::thread([&beside] { beside = getfd_calls(5); }).join();
  std::printf("beside a thread: %d of 5\n", beside);
  std::printf("after the join: %d of 1\n", getfd_calls(1));

  sigevent event{};
  event.sigev_notify = SIGEV_SIGNAL;
  event.sigev_signo = SIGUSR2;
  ::signal(SIGUSR2, [](int) {});
  timer_t timer{};
  show("timer_create", ::timer_create(CLOCK_MONOTONIC, &event, &timer));
  const itimerspec in_a_minute{{0, 0}, {60, 0}};
  show("timer_settime", ::timer_settime(timer, 0, &in_a_minute, nullptr));
  std::printf("with a timer armed: %d of 3\n", getfd_calls(3));
  show("timer_delete", ::timer_delete(timer));

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  ::sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int signals = ::signalfd(-1, &mask, 0);
  std::printf("signalfd: %s\n", signals >= 0 ? "ok" : strerrorname_np(errno));
  std::printf("with a signalfd open: %d of 2\n", getfd_calls(2));
  ::close(signals);

  ::signal(SIGPIPE, [](int) { sigpipes = sigpipes + 1; });
  int ends[2];
  show("pipe", ::pipe(ends));
  ::close(ends[0]);
  show("write to a closed pipe", ::write(ends[1], "x", 1));
  std::printf("SIGPIPE handled: %d\n", static_cast<int>(sigpipes));
  std::printf("at the end: %d of 1\n", getfd_calls(1));
  int same = 0;
  for (int i = 0; i < 3; ++i) same += getpid_through_a_fcntl_site() == ::getpid() ? 1 : 0;
  std::printf("getpid through a fcntl site: %d of 3\n", same);
  std::printf("and then: %d of 2\n", getfd_calls(2));
}

// What the app learns of its machine: the counts as `expected_cpus` vCPUs and
// memory at most `memory_limit` bytes; affinity calls as Linux answers them.
void machine_calls(long expected_cpus, unsigned long long memory_limit) {
  std::printf("hardware_concurrency, get_nprocs, get_nprocs_conf, _SC_NPROCESSORS_ONLN: %s\n",
              std::thread::hardware_concurrency() == expected_cpus && get_nprocs() == expected_cpus &&
                      get_nprocs_conf() == expected_cpus && sysconf(_SC_NPROCESSORS_ONLN) == expected_cpus
                  ? "the vCPUs"
                  : "something else");
  cpu_set_t set;
  CPU_ZERO(&set);
  const int got = sched_getaffinity(0, sizeof set, &set);
  std::printf("sched_getaffinity: %d, %d CPUs\n", got, CPU_COUNT(&set));
  std::printf("sched_getaffinity of 4 bytes: %s\n",
              syscall(SYS_sched_getaffinity, 0, 4, &set) < 0 ? strerrorname_np(errno) : "ok");
  std::printf("sched_getaffinity of pid 999999: %s\n",
              sched_getaffinity(999999, sizeof set, &set) < 0 ? strerrorname_np(errno) : "ok");
  CPU_ZERO(&set);
  std::printf("sched_setaffinity to none: %s\n",
              sched_setaffinity(0, sizeof set, &set) < 0 ? strerrorname_np(errno) : "ok");
  CPU_SET(0, &set);
  std::printf("sched_setaffinity to CPU 0: %s\n",
              sched_setaffinity(0, sizeof set, &set) < 0 ? strerrorname_np(errno) : "ok");
  struct sysinfo info {};
  const int answered = sysinfo(&info);
  const unsigned long long total = static_cast<unsigned long long>(info.totalram) * info.mem_unit;
  const unsigned long long phys = static_cast<unsigned long long>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE);
  std::printf("sysinfo: %d, memory within the limit: %s, free below total: %s, phys pages agree: %s\n", answered,
              total > 0 && total <= memory_limit ? "yes" : "no", info.freeram <= info.totalram ? "yes" : "no",
              phys == total - total % sysconf(_SC_PAGESIZE) ? "yes" : "no");
  std::printf("sysinfo of a bad pointer: %s\n",
              syscall(SYS_sysinfo, reinterpret_cast<void*>(8)) < 0 ? strerrorname_np(errno) : "ok");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string section = argv[i];
    if (section == "files") {
      statfs_calls();
      chown_calls();
      copy_calls();
    } else if (section == "files-ro") {
      read_only_calls();
    } else if (section == "socketpair") {
      socketpair_calls();
    } else if (section == "mmsg") {
      mmsg_calls();
    } else if (section == "forward-paths") {
      forward_paths();
    } else if (section == "robust-list") {
      robust_list_calls();
    } else if (section == "machine" && i + 2 < argc) {
      machine_calls(std::atol(argv[i + 1]), std::strtoull(argv[i + 2], nullptr, 10));
      i += 2;
    } else {
      std::printf("unknown section %s\n", section.c_str());
      return 2;
    }
  }
  return 0;
}
