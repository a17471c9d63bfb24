// --trace's lines (vm/syscall_trace.cpp): each syscall's arguments decoded by
// kind, read from app memory after the call, and pointers for what cannot be read.
#include "vm/syscall_trace.h"

#include <arpa/inet.h>
#include <asm/prctl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <cstring>
#include <ctime>
#include <vector>

namespace hyperlet {
namespace {

// App memory: 64 KiB at kBase; everything else unreadable.
constexpr std::uint64_t kBase = 0x400000;

class SyscallTrace : public ::testing::Test {
 protected:
  SyscallTrace() : bytes_(0x10000) {
    memory_ = [this](std::uint64_t address, std::uint64_t length) -> std::optional<std::span<const std::byte>> {
      if (address < kBase || address - kBase > bytes_.size() || length > bytes_.size() - (address - kBase)) {
        return std::nullopt;
      }
      return std::span<const std::byte>(bytes_).subspan(address - kBase, length);
    };
  }

  std::uint64_t put(std::uint64_t offset, const void* data, std::size_t length) {
    std::memcpy(bytes_.data() + offset, data, length);
    return kBase + offset;
  }
  std::uint64_t put_string(std::uint64_t offset, const std::string& text) {
    return put(offset, text.c_str(), text.size() + 1);
  }

  static abi::SyscallArgs call(std::uint64_t number, std::initializer_list<std::uint64_t> args, std::int64_t result) {
    abi::SyscallArgs call{};
    call.number = number;
    std::size_t i = 0;
    for (std::uint64_t value : args) call.args[i++] = value;
    call.result = result;
    return call;
  }

  std::vector<std::byte> bytes_;
  GuestBytes memory_;
};

TEST_F(SyscallTrace, OpenatShowsThePathFlagsAndErrno) {
  const std::uint64_t path = put_string(0, "/etc/hosts");
  EXPECT_EQ(
      format_syscall(call(SYS_openat, {static_cast<std::uint64_t>(AT_FDCWD), path, O_RDONLY | O_CLOEXEC}, 3), memory_),
      "openat(AT_FDCWD, \"/etc/hosts\", O_RDONLY|O_CLOEXEC) = 3");
  // The mode only with O_CREAT, as strace.
  EXPECT_EQ(format_syscall(call(SYS_openat, {3, path, O_WRONLY | O_CREAT | O_TRUNC, 0644}, -EACCES), memory_),
            "openat(3, \"/etc/hosts\", O_WRONLY|O_CREAT|O_TRUNC, 0644) = -1 EACCES (Permission denied)");
  EXPECT_EQ(format_syscall(call(SYS_open, {path, O_RDONLY}, -ENOENT), memory_),
            "open(\"/etc/hosts\", O_RDONLY) = -1 ENOENT (No such file or directory)");
}

TEST_F(SyscallTrace, PathsOutsideAppMemoryArePointers) {
  EXPECT_EQ(format_syscall(call(SYS_openat, {3, 0x1000, 0}, -EFAULT), memory_),
            "openat(3, 0x1000, O_RDONLY) = -1 EFAULT (Bad address)");
  EXPECT_EQ(format_syscall(call(SYS_stat, {0, 0x1000}, -EFAULT), memory_),
            "stat(NULL, 0x1000) = -1 EFAULT (Bad address)");
  // A string that runs off the end of app memory.
  std::memset(bytes_.data() + bytes_.size() - 4, 'x', 4);
  const std::uint64_t end = kBase + bytes_.size() - 4;
  EXPECT_EQ(format_syscall(call(SYS_unlink, {end}, 0), memory_), fmt::format("unlink({:#x}) = 0", end));
}

TEST_F(SyscallTrace, WriteShowsTheDataAndReadWhatWasRead) {
  const std::uint64_t text = put(0, "hello\n", 6);
  EXPECT_EQ(format_syscall(call(SYS_write, {1, text, 6}, 6), memory_), "write(1, \"hello\\n\", 6) = 6");
  const std::string long_text(100, 'z');
  const std::uint64_t buffer = put(0x100, long_text.data(), long_text.size());
  EXPECT_EQ(format_syscall(call(SYS_write, {1, buffer, 100}, 100), memory_),
            "write(1, \"" + std::string(32, 'z') + "\"..., 100) = 100");
  // read: the bytes the call filled in (the result), the pointer when it failed.
  EXPECT_EQ(format_syscall(call(SYS_read, {0, text, 4096}, 3), memory_), "read(0, \"hel\", 4096) = 3");
  EXPECT_EQ(format_syscall(call(SYS_read, {0, text, 4096}, 0), memory_), "read(0, \"\", 4096) = 0");
  EXPECT_EQ(format_syscall(call(SYS_read, {5, text, 4096}, -EAGAIN), memory_),
            fmt::format("read(5, {:#x}, 4096) = -1 EAGAIN (Resource temporarily unavailable)", text));
}

TEST_F(SyscallTrace, WithoutMemoryBuffersArePointers) {
  EXPECT_EQ(format_syscall(call(SYS_write, {1, 0x4a3000, 13, 0x7fbcd10}, 13)), "write(1, 0x4a3000, 13) = 13");
}

TEST_F(SyscallTrace, SocketCalls) {
  EXPECT_EQ(format_syscall(call(SYS_socket, {AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0}, 3), memory_),
            "socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, 0) = 3");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(8080);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const std::uint64_t where = put(0, &address, sizeof address);
  EXPECT_EQ(format_syscall(call(SYS_bind, {3, where, sizeof address}, 0), memory_),
            "bind(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = 0");
  EXPECT_EQ(format_syscall(call(SYS_connect, {3, where, sizeof address}, -ECONNREFUSED), memory_),
            "connect(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"127.0.0.1\")}, 16) = -1 "
            "ECONNREFUSED (Connection refused)");
  // accept4: the peer's address and length the call wrote, then the flags.
  const std::uint32_t length = sizeof address;
  const std::uint64_t length_at = put(0x100, &length, sizeof length);
  EXPECT_EQ(format_syscall(call(SYS_accept4, {3, where, length_at, SOCK_CLOEXEC}, 4), memory_),
            "accept4(3, {sa_family=AF_INET, sin_port=htons(8080), sin_addr=inet_addr(\"127.0.0.1\")}, [16], "
            "SOCK_CLOEXEC) = 4");
  EXPECT_EQ(
      format_syscall(call(SYS_accept4, {3, where, length_at, 0}, -EAGAIN), memory_),
      fmt::format("accept4(3, {:#x}, {:#x}, 0) = -1 EAGAIN (Resource temporarily unavailable)", where, length_at));
  EXPECT_EQ(format_syscall(call(SYS_accept, {3, 0, 0}, 5), memory_), "accept(3, NULL, NULL) = 5");
}

TEST_F(SyscallTrace, MmapFcntlAndSignals) {
  EXPECT_EQ(format_syscall(
                call(SYS_mmap,
                     {0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, static_cast<std::uint64_t>(-1), 0},
                     0x7f0000000000),
                memory_),
            "mmap(NULL, 8192, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = 0x7f0000000000");
  EXPECT_EQ(format_syscall(call(SYS_mmap, {0, 8192, PROT_READ, MAP_SHARED, 3, 0}, -ENOMEM), memory_),
            "mmap(NULL, 8192, PROT_READ, MAP_SHARED, 3, 0) = -1 ENOMEM (Cannot allocate memory)");
  EXPECT_EQ(format_syscall(call(SYS_fcntl, {3, F_GETFL}, 2), memory_), "fcntl(3, F_GETFL) = 2");
  EXPECT_EQ(format_syscall(call(SYS_fcntl, {3, F_SETFL, O_RDWR | O_NONBLOCK}, 0), memory_),
            "fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0");
  EXPECT_EQ(format_syscall(call(SYS_fcntl, {3, F_SETFD, FD_CLOEXEC}, 0), memory_), "fcntl(3, F_SETFD, FD_CLOEXEC) = 0");
  EXPECT_EQ(format_syscall(call(SYS_kill, {1, SIGTERM}, 0), memory_), "kill(1, SIGTERM) = 0");
  EXPECT_EQ(format_syscall(call(SYS_pipe2, {0x1000, O_CLOEXEC}, 0), memory_), "pipe2(0x1000, O_CLOEXEC) = 0");
}

TEST_F(SyscallTrace, IovecsShowEachBufferAndReadvOnlyWhatWasRead) {
  const std::uint64_t text = put(0, "Hello, world\n", 13);
  iovec vectors[2] = {{reinterpret_cast<void*>(text), 5}, {reinterpret_cast<void*>(text + 5), 8}};
  const std::uint64_t iov = put(0x100, vectors, sizeof vectors);
  EXPECT_EQ(format_syscall(call(SYS_writev, {1, iov, 2}, 13), memory_),
            "writev(1, [{iov_base=\"Hello\", iov_len=5}, {iov_base=\", world\\n\", iov_len=8}], 2) = 13");
  EXPECT_EQ(format_syscall(call(SYS_readv, {0, iov, 2}, 7), memory_),
            "readv(0, [{iov_base=\"Hello\", iov_len=5}, {iov_base=\", \", iov_len=8}], 2) = 7");
  EXPECT_EQ(format_syscall(call(SYS_readv, {0, iov, 2}, -EBADF), memory_),
            fmt::format("readv(0, {:#x}, 2) = -1 EBADF (Bad file descriptor)", iov));
  // An array outside app memory is its pointer; a long one is cut after 8 entries.
  EXPECT_EQ(format_syscall(call(SYS_writev, {1, 0x1000, 2}, -EFAULT), memory_),
            "writev(1, 0x1000, 2) = -1 EFAULT (Bad address)");
  iovec many[10] = {};
  const std::uint64_t long_array = put(0x200, many, sizeof many);
  const std::string line = format_syscall(call(SYS_writev, {1, long_array, 10}, 0), memory_);
  EXPECT_NE(line.find("{iov_base=\"\", iov_len=0}, ...], 10) = 0"), std::string::npos) << line;
}

TEST_F(SyscallTrace, ConstantsOfEpollShutdownArchPrctlAndClocks) {
  EXPECT_EQ(format_syscall(call(SYS_epoll_ctl, {4, EPOLL_CTL_ADD, 3, 0x1000}, 0), memory_),
            "epoll_ctl(4, EPOLL_CTL_ADD, 3, 0x1000) = 0");
  EXPECT_EQ(format_syscall(call(SYS_shutdown, {3, SHUT_WR}, 0), memory_), "shutdown(3, SHUT_WR) = 0");
  EXPECT_EQ(format_syscall(call(SYS_arch_prctl, {ARCH_SET_FS, 0x5ec3c0}, 0), memory_),
            "arch_prctl(ARCH_SET_FS, 0x5ec3c0) = 0");
  EXPECT_EQ(format_syscall(call(SYS_clock_gettime, {CLOCK_MONOTONIC, 0x1000}, 0), memory_),
            "clock_gettime(CLOCK_MONOTONIC, 0x1000) = 0");
  EXPECT_EQ(format_syscall(call(SYS_clock_gettime, {77, 0x1000}, -EINVAL), memory_),
            "clock_gettime(77, 0x1000) = -1 EINVAL (Invalid argument)");
}

TEST_F(SyscallTrace, UndecodedCallsShowTheirRawArguments) {
  EXPECT_EQ(format_syscall(call(SYS_getpid, {}, 1), memory_), "getpid() = 1");
  EXPECT_EQ(format_syscall(call(abi::kSyscallReady, {}, 0), memory_), "hyperlet_ready() = 0");
  // Not in the arity table: all six registers without the trailing zeros.
  EXPECT_EQ(format_syscall(call(100000, {1, 0x4a3000, 13, 0x7fbcd10}, -ENOSYS), memory_),
            "syscall_100000(1, 0x4a3000, 13, 0x7fbcd10) = -1 ENOSYS (Function not implemented)");
  EXPECT_EQ(format_syscall(call(SYS_futex, {0x4a3000, 128, 0}, abi::kParked), memory_),
            "futex(0x4a3000, 128, 0, 0, 0, 0) = ?");
}

TEST_F(SyscallTrace, LastByteWrittenFollowsWritesAndIovecs) {
  const std::uint64_t text = put(0, "ab\ncd", 5);
  auto last = last_byte_written(call(SYS_write, {1, text, 5}, 3), memory_);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->fd, 1);
  EXPECT_EQ(last->last, '\n');
  iovec vectors[2] = {{reinterpret_cast<void*>(text), 2}, {reinterpret_cast<void*>(text + 2), 3}};
  const std::uint64_t iov = put(0x100, vectors, sizeof vectors);
  last = last_byte_written(call(SYS_writev, {2, iov, 2}, 5), memory_);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->fd, 2);
  EXPECT_EQ(last->last, 'd');
  last = last_byte_written(call(SYS_writev, {2, iov, 2}, 2), memory_);
  ASSERT_TRUE(last);
  EXPECT_EQ(last->last, 'b');
  EXPECT_FALSE(last_byte_written(call(SYS_write, {1, text, 5}, -EPIPE), memory_));
  EXPECT_FALSE(last_byte_written(call(SYS_read, {1, text, 5}, 5), memory_));
  EXPECT_FALSE(last_byte_written(call(SYS_write, {1, 0x1000, 5}, 5), memory_));
}

}  // namespace
}  // namespace hyperlet
