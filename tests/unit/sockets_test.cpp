// The socket syscalls served on the host (devices/sockets.cpp) that need no
// network: socketpair, and sendmmsg/recvmmsg on pairs and on loopback UDP with the
// --allow-connect policy, called through the host syscall table against real
// guest memory.
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
#include "test_guest.h"

namespace hyperlet {
namespace {

class SocketSyscalls : public ::testing::Test, protected TestGuest {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);  // as hyperlet does: a write to a closed pair is EPIPE
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

// ---------------------------------------------------------------- sendmmsg, recvmmsg

TEST_F(SocketSyscalls, SendmmsgAndRecvmmsgMoveBatches) {
  pair(SOCK_DGRAM | SOCK_NONBLOCK);
  const Batch out = batch({"one", "two!", "three"});
  EXPECT_EQ(call(SYS_sendmmsg, {3, out.vector, 3, 0}), 3);
  EXPECT_EQ(entry(out, 0).msg_len, 3u);
  EXPECT_EQ(entry(out, 2).msg_len, 5u);
  const Batch in = batch({"", "", "", "", ""}, {}, 0, 16);
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 5, 0, 0}), 3);  // then EAGAIN: what came
  EXPECT_EQ(entry(in, 0).msg_len, 3u);
  EXPECT_EQ(text(in.buffers[0], 3), "one");
  EXPECT_EQ(entry(in, 1).msg_len, 4u);
  EXPECT_EQ(text(in.buffers[1], 4), "two!");
  EXPECT_EQ(text(in.buffers[2], 5), "three");
  EXPECT_EQ(entry(in, 3).msg_len, 0xdeadu);  // untouched
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 5, 0, 0}), -EAGAIN);
  // MSG_WAITFORONE on a blocking socket: what is there after the first, without waiting.
  pair(SOCK_DGRAM);
  EXPECT_EQ(call(SYS_sendmmsg, {5, out.vector, 2, 0}), 2);
  EXPECT_EQ(call(SYS_recvmmsg, {6, in.vector, 5, MSG_WAITFORONE, 0}), 2);
}

TEST_F(SocketSyscalls, RecvmmsgTimeoutIsCheckedAfterEachMessageAndWrittenBack) {
  pair(SOCK_DGRAM | SOCK_NONBLOCK);
  const Batch out = batch({"a", "b"});
  EXPECT_EQ(call(SYS_sendmmsg, {3, out.vector, 2, 0}), 2);
  const Batch in = batch({"", "", ""}, {}, 0, 8);
  const std::uint64_t timeout = put_value(timespec{5, 0});
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 3, 0, timeout}), 2);
  const timespec left = get<timespec>(timeout);
  EXPECT_EQ(left.tv_sec, 4);  // most of it is left
  EXPECT_GT(left.tv_nsec, 0);
  // A timeout already used up: one message, then the call ends.
  EXPECT_EQ(call(SYS_sendmmsg, {3, out.vector, 2, 0}), 2);
  const std::uint64_t zero = put_value(timespec{0, 0});
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 3, 0, zero}), 1);
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 3, 0, put_value(timespec{0, -1})}), -EINVAL);
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 3, 0, put_value(timespec{-1, 0})}), -EINVAL);
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 3, 0, put_value(timespec{0, 1'000'000'000})}),
            -EINVAL);
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 3, 0, abi::kBootInfoAddr}), -EFAULT);
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 3, 0, put_value(timespec{INT64_MAX, 0})}), 1);
}

TEST_F(SocketSyscalls, HostileBatchesAreRefusedLikeLinux) {
  pair(SOCK_STREAM | SOCK_NONBLOCK);
  const Batch one = batch({"x"});
  EXPECT_EQ(call(SYS_sendmmsg, {99, one.vector, 1, 0}), -EBADF);
  EXPECT_EQ(call(SYS_sendmmsg, {0, one.vector, 1, 0}), -ENOTSOCK);
  EXPECT_EQ(call(SYS_recvmmsg, {0, one.vector, 1, 0, 0}), -ENOTSOCK);
  EXPECT_EQ(call(SYS_sendmmsg, {3, one.vector, 0, 0}), 0);
  EXPECT_EQ(call(SYS_recvmmsg, {4, one.vector, 0, 0, 0}), 0);
  EXPECT_EQ(call(SYS_sendmmsg, {3, 0, 1, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_sendmmsg, {3, abi::kBootInfoAddr, 1, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_sendmmsg, {3, ~0ull - 32, 4, 0}), -EFAULT);
  EXPECT_EQ(call(SYS_recvmmsg, {4, layout_.page_tables_base - 32, 4, 0, 0}), -EFAULT);
  // vlen is an unsigned int: the upper half of the register is not part of it.
  EXPECT_EQ(call(SYS_sendmmsg, {3, one.vector, (std::uint64_t{1} << 32) | 1, 0}), 1);
  // A bad second entry: the first went, so the answer is 1.
  const Batch two = batch({"y", "z"});
  mmsghdr bad = entry(two, 1);
  bad.msg_hdr.msg_iov = reinterpret_cast<iovec*>(abi::kBootInfoAddr);
  ASSERT_TRUE(context_->write(two.vector + sizeof(mmsghdr), bad));
  EXPECT_EQ(call(SYS_sendmmsg, {3, two.vector, 0xffffffff, 0}), 1);
  EXPECT_EQ(entry(two, 1).msg_len, 0xdeadu);
  // vlen is capped at UIO_MAXIOV: 1025 empty messages on a stream send 1024.
  const Batch many = batch(std::vector<std::string>(1025));
  EXPECT_EQ(call(SYS_sendmmsg, {3, many.vector, 1025, 0}), 1024);
  EXPECT_EQ(entry(many, 1023).msg_len, 0u);
  EXPECT_EQ(entry(many, 1024).msg_len, 0xdeadu);
  const Batch in = batch({"", "", "", ""}, {}, 0, 8);
  EXPECT_EQ(call(SYS_recvmmsg, {4, in.vector, 4, 0, 0}), 1);  // "xy" on a stream: one read
  EXPECT_EQ(text(in.buffers[0], 2), "xy");
}

// The policy decides about each message's own destination, exactly as for sendmsg.
TEST_F(SocketSyscalls, SendmmsgChecksEveryDestination) {
  const int receiver = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  ASSERT_GE(receiver, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(receiver, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(receiver, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const int port = ntohs(address.sin_port);
  auto rule = parse_connect_rule("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(rule.has_value());
  context_->network.connect = *rule;
  const std::uint64_t allowed = put_value(address);
  sockaddr_in other = address;
  const int denied_port = port == 65535 ? port - 1 : port + 1;
  other.sin_port = htons(static_cast<std::uint16_t>(denied_port));
  const std::uint64_t denied = put_value(other);
  ASSERT_EQ(call(SYS_socket, {AF_INET, SOCK_DGRAM, 0}), 3);

  context_->trace = true;
  ::testing::internal::CaptureStderr();
  const Batch mixed =
      batch({"first", "denied", "third"}, {allowed, denied, allowed}, sizeof address);
  EXPECT_EQ(call(SYS_sendmmsg, {3, mixed.vector, 3, 0}), 1);
  const Batch refused = batch({"denied"}, {denied}, sizeof address);
  EXPECT_EQ(call(SYS_sendmmsg, {3, refused.vector, 1, 0}), -EACCES);
  const std::string traced = ::testing::internal::GetCapturedStderr();
  const std::string line =
      "[hyperlet policy] denied: sendmmsg to 127.0.0.1:" + std::to_string(denied_port) +
      " (no --allow-connect rule)\n";
  EXPECT_EQ(traced, line + line);

  const Batch good = batch({"second", "last"}, {allowed, allowed}, sizeof address);
  EXPECT_EQ(call(SYS_sendmmsg, {3, good.vector, 2, 0}), 2);
  std::vector<std::string> received;
  char buffer[64];
  for (ssize_t got; (got = ::recv(receiver, buffer, sizeof buffer, 0)) > 0;) {
    received.emplace_back(buffer, static_cast<std::size_t>(got));
  }
  EXPECT_EQ(received, (std::vector<std::string>{"first", "second", "last"}));

  // recvmmsg reports each source, like recvmsg (the guest socket got a port when it sent).
  const std::uint64_t name = put_value(sockaddr_in{});
  const std::uint64_t name_length = put_value(static_cast<int>(sizeof(sockaddr_in)));
  ASSERT_EQ(call(SYS_getsockname, {3, name, name_length}), 0);
  const sockaddr_in guest = get<sockaddr_in>(name);
  ASSERT_EQ(
      ::sendto(receiver, "back", 4, 0, reinterpret_cast<const sockaddr*>(&guest), sizeof guest), 4);
  const std::uint64_t source = put_value(sockaddr_in{});
  const Batch in = batch({""}, {source}, sizeof(sockaddr_in), 8);
  EXPECT_EQ(call(SYS_recvmmsg, {3, in.vector, 1, 0, 0}), 1);
  EXPECT_EQ(text(in.buffers[0], 4), "back");
  EXPECT_EQ(get<sockaddr_in>(source).sin_port, htons(static_cast<std::uint16_t>(port)));
  EXPECT_EQ(entry(in, 0).msg_hdr.msg_namelen, sizeof(sockaddr_in));
  ::close(receiver);
}

}  // namespace
}  // namespace hyperlet
