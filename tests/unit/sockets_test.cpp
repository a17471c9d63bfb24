// The socket syscalls served on the host (devices/sockets.cpp) that need no
// network: socketpair, called through the host syscall table against real guest
// memory.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <hyperlet/abi.h>

#include "devices/host_syscalls.h"

namespace hyperlet {
namespace {

class SocketSyscalls : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);  // as hyperlet does: a write to a closed pair is EPIPE
    auto layout = compute_guest_layout(16ull << 20, 0x400000, 0x4a1234);
    ASSERT_TRUE(layout.has_value());
    layout_ = *layout;
    auto memory = GuestMemory::create(layout_.memory_size);
    ASSERT_TRUE(memory.has_value());
    memory_.emplace(std::move(*memory));
    context_.emplace(*memory_, layout_, "/apps/hello");
  }

  std::int64_t call(std::uint64_t number, SyscallArguments args) {
    return table_.call(number, *context_, args);
  }
  // Guest memory for the test's own data, 16-byte aligned.
  std::uint64_t allocate(std::size_t size) {
    const std::uint64_t address = layout_.heap_start + next_;
    next_ += (size + 15) & ~std::size_t{15};
    return address;
  }
  std::uint64_t put(const std::string& bytes) {
    const std::uint64_t address = allocate(bytes.size() + 1);
    std::memcpy(memory_->span(address, bytes.size() + 1)->data(), bytes.c_str(), bytes.size() + 1);
    return address;
  }
  template <typename T>
  std::uint64_t put_value(const T& value) {
    const std::uint64_t address = allocate(sizeof(T));
    EXPECT_TRUE(context_->write(address, value));
    return address;
  }
  template <typename T>
  T get(std::uint64_t address) {
    return context_->read<T>(address).value();
  }
  std::string text(std::uint64_t address, std::size_t length) {
    return std::string(reinterpret_cast<const char*>(memory_->span(address, length)->data()),
                       length);
  }
  // socketpair into guest memory; the two guest fds.
  std::array<int, 2> pair(std::uint64_t type) {
    const std::uint64_t out = allocate(8);
    EXPECT_EQ(call(SYS_socketpair, {AF_UNIX, type, 0, out}), 0);
    return get<std::array<int, 2>>(out);
  }

  // One guest mmsghdr per payload (an empty payload: an empty iovec array), each
  // with its own iovec and, if given, destination; msg_len preset to 0xdead.
  struct Batch {
    std::uint64_t vector = 0;
    std::vector<std::uint64_t> buffers;
  };
  Batch batch(const std::vector<std::string>& payloads,
              const std::vector<std::uint64_t>& names = {}, socklen_t name_length = 0,
              std::size_t capacity = 0) {
    Batch result;
    result.vector = allocate(payloads.size() * sizeof(mmsghdr));
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      const std::size_t size = std::max(payloads[i].size(), capacity);
      const std::uint64_t buffer = allocate(size + 1);
      std::memcpy(memory_->span(buffer, payloads[i].size())->data(), payloads[i].data(),
                  payloads[i].size());
      result.buffers.push_back(buffer);
      const std::uint64_t vector = put_value(iovec{reinterpret_cast<void*>(buffer), size});
      mmsghdr entry{};
      entry.msg_hdr.msg_iov = reinterpret_cast<iovec*>(vector);
      entry.msg_hdr.msg_iovlen = size == 0 ? 0 : 1;
      if (i < names.size()) {
        entry.msg_hdr.msg_name = reinterpret_cast<void*>(names[i]);
        entry.msg_hdr.msg_namelen = name_length;
      }
      entry.msg_len = 0xdead;
      EXPECT_TRUE(context_->write(result.vector + i * sizeof(mmsghdr), entry));
    }
    return result;
  }
  mmsghdr entry(const Batch& batch, std::size_t index) {
    return get<mmsghdr>(batch.vector + index * sizeof(mmsghdr));
  }

  GuestLayout layout_{};
  std::optional<GuestMemory> memory_;
  std::optional<SyscallContext> context_;
  HostSyscallTable table_ = make_host_syscall_table();
  std::uint64_t next_ = 0;
};

// ---------------------------------------------------------------- socketpair

TEST_F(SocketSyscalls, SocketpairCarriesDataBothWays) {
  const auto [a, b] = pair(SOCK_STREAM);
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, 4);
  const std::uint64_t buffer = allocate(64);
  EXPECT_EQ(call(SYS_write, {3, put("ping"), 4}), 4);
  EXPECT_EQ(call(SYS_read, {4, buffer, 64}), 4);
  EXPECT_EQ(text(buffer, 4), "ping");
  EXPECT_EQ(call(SYS_sendto, {4, put("pong"), 4, 0, 0, 0}), 4);
  EXPECT_EQ(call(SYS_recvfrom, {3, buffer, 64, 0, 0, 0}), 4);
  EXPECT_EQ(text(buffer, 4), "pong");
  // Readiness: poll and epoll see the host socket behind the guest fd.
  const std::uint64_t poll_fd = put_value(pollfd{4, POLLIN, 0});
  EXPECT_EQ(call(SYS_poll, {poll_fd, 1, 0}), 0);
  EXPECT_EQ(call(SYS_write, {3, put("x"), 1}), 1);
  EXPECT_EQ(call(SYS_poll, {poll_fd, 1, 0}), 1);
  EXPECT_EQ(get<pollfd>(poll_fd).revents, POLLIN);
  const std::int64_t epoll = call(SYS_epoll_create1, {0});
  ASSERT_EQ(epoll, 5);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = 0x1234;
  EXPECT_EQ(call(SYS_epoll_ctl, {5, EPOLL_CTL_ADD, 4, put_value(event)}), 0);
  const std::uint64_t events = allocate(4 * sizeof(epoll_event));
  EXPECT_EQ(call(SYS_epoll_wait, {5, events, 4, 0}), 1);
  EXPECT_EQ(get<epoll_event>(events).data.u64, 0x1234u);
  EXPECT_EQ(call(SYS_read, {4, buffer, 64}), 1);
  // Half and full close, as on Linux: EOF for the reader, EPIPE for the writer.
  EXPECT_EQ(call(SYS_shutdown, {3, SHUT_WR}), 0);
  EXPECT_EQ(call(SYS_read, {4, buffer, 64}), 0);
  EXPECT_EQ(call(SYS_close, {3}), 0);
  EXPECT_EQ(call(SYS_write, {4, put("late"), 4}), -EPIPE);
  EXPECT_EQ(call(SYS_close, {4}), 0);
}

TEST_F(SocketSyscalls, SocketpairFlagsAndTypes) {
  pair(SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC);
  const std::uint64_t buffer = allocate(64);
  EXPECT_EQ(call(SYS_read, {3, buffer, 64}), -EAGAIN);
  EXPECT_NE(call(SYS_fcntl, {3, F_GETFL}) & O_NONBLOCK, 0);
  EXPECT_EQ(call(SYS_fcntl, {4, F_GETFD}), FD_CLOEXEC);
  // Datagrams keep their boundaries.
  EXPECT_EQ(call(SYS_write, {3, put("abc"), 3}), 3);
  EXPECT_EQ(call(SYS_write, {3, put("defgh"), 5}), 5);
  EXPECT_EQ(call(SYS_read, {4, buffer, 64}), 3);
  EXPECT_EQ(call(SYS_read, {4, buffer, 64}), 5);
  pair(SOCK_SEQPACKET);
  EXPECT_EQ(call(SYS_fcntl, {5, F_GETFD}), 0);
  EXPECT_EQ(call(SYS_fcntl, {5, F_GETFL}) & O_NONBLOCK, 0);
  const std::uint64_t type = put_value(0), length = put_value(static_cast<int>(sizeof(int)));
  EXPECT_EQ(call(SYS_getsockopt, {5, SOL_SOCKET, SO_TYPE, type, length}), 0);
  EXPECT_EQ(get<int>(type), SOCK_SEQPACKET);
  pair(SOCK_RAW);  // AF_UNIX makes SOCK_RAW a datagram socket, as Linux does
  EXPECT_EQ(call(SYS_getsockopt, {7, SOL_SOCKET, SO_TYPE, type, length}), 0);
  EXPECT_EQ(get<int>(type), SOCK_DGRAM);
}

TEST_F(SocketSyscalls, SocketpairErrorsAreLinuxs) {
  const std::uint64_t out = allocate(8);
  EXPECT_EQ(call(SYS_socketpair, {AF_INET, SOCK_STREAM, 0, out}), -EOPNOTSUPP);
  EXPECT_EQ(call(SYS_socketpair, {AF_INET6, SOCK_DGRAM, 0, out}), -EOPNOTSUPP);
  EXPECT_EQ(call(SYS_socketpair, {AF_NETLINK, SOCK_DGRAM, 0, out}), -EAFNOSUPPORT);
  EXPECT_EQ(call(SYS_socketpair, {AF_PACKET, SOCK_DGRAM, 0, out}), -EAFNOSUPPORT);
  EXPECT_EQ(call(SYS_socketpair, {12345, SOCK_STREAM, 0, out}), -EAFNOSUPPORT);
  EXPECT_EQ(call(SYS_socketpair, {AF_UNIX, SOCK_STREAM | 0x100, 0, out}), -EINVAL);
  EXPECT_EQ(call(SYS_socketpair, {AF_UNIX, SOCK_PACKET, 0, out}), -ESOCKTNOSUPPORT);
  EXPECT_EQ(call(SYS_socketpair, {AF_UNIX, SOCK_STREAM, 6, out}), -EPROTONOSUPPORT);
  EXPECT_EQ(call(SYS_socketpair, {AF_UNIX, SOCK_STREAM, 0, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_socketpair, {AF_UNIX, SOCK_STREAM, 0, abi::kBootInfoAddr}), -EFAULT);
  EXPECT_EQ(call(SYS_socketpair, {AF_UNIX, SOCK_STREAM, 0, layout_.page_tables_base - 4}), -EFAULT);
  EXPECT_EQ(context_->files.fds.open_count(), 3);  // nothing left behind
  // At the fd limit: EMFILE, and no half pair.
  while (call(SYS_dup, {0}) >= 0) {
  }
  EXPECT_EQ(call(SYS_close, {1023}), 0);
  EXPECT_EQ(call(SYS_socketpair, {AF_UNIX, SOCK_STREAM, 0, out}), -EMFILE);
  EXPECT_EQ(call(SYS_fcntl, {1023, F_GETFD}), -EBADF);
}

TEST_F(SocketSyscalls, SocketpairNamesNothingOnTheHost) {
  const auto [a, b] = pair(SOCK_DGRAM);
  const std::string host_path =
      (std::filesystem::temp_directory_path() / ("hyperlet-unix-" + std::to_string(::getpid())))
          .string();
  sockaddr_un name{};
  name.sun_family = AF_UNIX;
  std::strncpy(name.sun_path, host_path.c_str(), sizeof name.sun_path - 1);
  const std::uint64_t address = put_value(name);
  EXPECT_EQ(call(SYS_bind, {static_cast<std::uint64_t>(a), address, sizeof name}), -EINVAL);
  EXPECT_EQ(call(SYS_connect, {static_cast<std::uint64_t>(a), address, sizeof name}), -EINVAL);
  EXPECT_EQ(call(SYS_sendto, {static_cast<std::uint64_t>(a), put("x"), 1, 0, address, sizeof name}),
            -EINVAL);
  EXPECT_FALSE(std::filesystem::exists(host_path));
  // SCM_RIGHTS would hand over hyperlet's own fds: no ancillary data on the pair.
  alignas(cmsghdr) std::array<std::byte, CMSG_SPACE(sizeof(int))> control{};
  auto* header = reinterpret_cast<cmsghdr*>(control.data());
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  const int host_fd = 0;
  std::memcpy(CMSG_DATA(header), &host_fd, sizeof host_fd);
  const std::uint64_t control_address = put_value(control);
  const std::uint64_t data = put("x");
  msghdr message{};
  message.msg_iov = reinterpret_cast<iovec*>(put_value(iovec{reinterpret_cast<void*>(data), 1}));
  message.msg_iovlen = 1;
  message.msg_control = reinterpret_cast<void*>(control_address);
  message.msg_controllen = control.size();
  EXPECT_EQ(call(SYS_sendmsg, {static_cast<std::uint64_t>(a), put_value(message), 0}), -EINVAL);
  message.msg_control = nullptr;
  message.msg_controllen = 0;
  EXPECT_EQ(call(SYS_sendmsg, {static_cast<std::uint64_t>(a), put_value(message), 0}), 1);
  const std::uint64_t buffer = allocate(16);
  EXPECT_EQ(call(SYS_read, {static_cast<std::uint64_t>(b), buffer, 16}), 1);
}

}  // namespace
}  // namespace hyperlet
