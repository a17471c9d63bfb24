// The socket syscalls served on the host (devices/sockets.cpp) that need no
// network: socketpair, sendmmsg/recvmmsg on pairs and on loopback UDP with the
// --allow-connect policy, and the policy's reading of destinations, control
// messages and socket options against real loopback sockets, called through the
// host syscall table against real guest memory.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
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

// ---------------------------------------------------------------- destinations, control messages, options

// A host UDP socket on a loopback address at a port the kernel picks, and what reached it.
struct HostReceiver {
  explicit HostReceiver(int socket_family = AF_INET) : family(socket_family) {
    fd = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_storage address{};
    socklen_t length = 0;
    if (family == AF_INET) {
      auto* in = reinterpret_cast<sockaddr_in*>(&address);
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      length = sizeof *in;
    } else {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_loopback;
      length = sizeof *in6;
    }
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), length), 0);
    EXPECT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    port = ntohs(family == AF_INET ? reinterpret_cast<sockaddr_in*>(&address)->sin_port
                                   : reinterpret_cast<sockaddr_in6*>(&address)->sin6_port);
  }
  ~HostReceiver() { ::close(fd); }
  std::vector<std::string> received() const {
    std::vector<std::string> datagrams;
    char buffer[256];
    for (ssize_t got; (got = ::recv(fd, buffer, sizeof buffer, 0)) >= 0;) {
      datagrams.emplace_back(buffer, static_cast<std::size_t>(got));
    }
    return datagrams;
  }
  int family;
  int fd = -1;
  int port = 0;
};

sockaddr_in ipv4_address(sa_family_t family, const char* address, int port) {
  sockaddr_in in{};
  in.sin_family = family;
  in.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, address, &in.sin_addr);
  return in;
}

sockaddr_in6 ipv6_address(const char* address, int port) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET6, address, &in6.sin6_addr);
  return in6;
}

class SocketPolicy : public SocketSyscalls {
 protected:
  void allow(const std::string& rule) {
    auto rules = parse_connect_rule(rule);
    ASSERT_TRUE(rules.has_value()) << rule;
    context_->network.connect.insert(context_->network.connect.end(), rules->begin(), rules->end());
  }
  // A guest msghdr sending `payload` to the guest address `name` (0: none) with `control`.
  std::uint64_t message(const std::string& payload, std::uint64_t name, socklen_t name_length,
                        const std::vector<std::byte>& control = {}) {
    msghdr header{};
    const std::uint64_t data = put(payload);
    header.msg_iov = reinterpret_cast<iovec*>(put_value(iovec{reinterpret_cast<void*>(data), payload.size()}));
    header.msg_iovlen = 1;
    header.msg_name = reinterpret_cast<void*>(name);
    header.msg_namelen = name_length;
    if (!control.empty()) {
      const std::uint64_t bytes = allocate(control.size());
      std::memcpy(memory_->span(bytes, control.size())->data(), control.data(), control.size());
      header.msg_control = reinterpret_cast<void*>(bytes);
      header.msg_controllen = control.size();
    }
    return put_value(header);
  }
  std::int64_t send_to(int fd, const std::string& payload, std::uint64_t name, socklen_t length) {
    return call(SYS_sendto, {static_cast<std::uint64_t>(fd), put(payload), payload.size(), 0, name, length});
  }
};

template <typename T>
std::vector<std::byte> control_message(int level, int type, const T& value) {
  std::vector<std::byte> bytes(CMSG_SPACE(sizeof(T)));
  cmsghdr header{};
  header.cmsg_len = CMSG_LEN(sizeof(T));
  header.cmsg_level = level;
  header.cmsg_type = type;
  std::memcpy(bytes.data(), &header, sizeof header);
  std::memcpy(bytes.data() + CMSG_LEN(0), &value, sizeof(T));
  return bytes;
}

// Issue 8: with no rule at all, a UDP send whose sa_family is AF_UNSPEC reached a
// host listener (Linux's UDP send reads AF_UNSPEC as AF_INET), by sendto, sendmsg
// and sendmmsg alike.
TEST_F(SocketPolicy, UdpSendWithAnUnspecifiedFamilyIsCheckedAsIpv4) {
  HostReceiver receiver;
  const std::uint64_t unspecified = put_value(ipv4_address(AF_UNSPEC, "127.0.0.1", receiver.port));
  ASSERT_EQ(call(SYS_socket, {AF_INET, SOCK_DGRAM, 0}), 3);
  context_->trace = true;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(send_to(3, "sendto", unspecified, sizeof(sockaddr_in)), -EACCES);
  EXPECT_EQ(call(SYS_sendmsg, {3, message("sendmsg", unspecified, sizeof(sockaddr_in)), 0}), -EACCES);
  const Batch batch_of_two = batch({"sendmmsg", "sendmmsg"}, {unspecified, unspecified}, sizeof(sockaddr_in));
  EXPECT_EQ(call(SYS_sendmmsg, {3, batch_of_two.vector, 2, 0}), -EACCES);
  const std::string traced = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(traced.find("denied: sendto to 127.0.0.1:" + std::to_string(receiver.port) + " (no --allow-connect rule)"),
            std::string::npos)
      << traced;
  EXPECT_EQ(receiver.received(), std::vector<std::string>{});
  // With a rule it is the IPv4 address it means, as on Linux.
  allow("127.0.0.1:" + std::to_string(receiver.port));
  EXPECT_EQ(send_to(3, "allowed", unspecified, sizeof(sockaddr_in)), 7);
  EXPECT_EQ(receiver.received(), std::vector<std::string>{"allowed"});
}

// The unspecified address is "this host" to Linux: it is checked, and sent, as loopback.
TEST_F(SocketPolicy, TheUnspecifiedAddressIsCheckedAsLoopback) {
  HostReceiver receiver;
  HostReceiver receiver6(AF_INET6);
  const std::string port = std::to_string(receiver.port);
  const std::string port6 = std::to_string(receiver6.port);
  // Rules that name the unspecified address itself do not reach loopback.
  allow("0.0.0.0/8:" + port);
  allow("[::]:" + port6);
  ASSERT_EQ(call(SYS_socket, {AF_INET, SOCK_DGRAM, 0}), 3);
  ASSERT_EQ(call(SYS_socket, {AF_INET6, SOCK_DGRAM, 0}), 4);
  const std::uint64_t any = put_value(ipv4_address(AF_INET, "0.0.0.0", receiver.port));
  const std::uint64_t any6 = put_value(ipv6_address("::", receiver6.port));
  EXPECT_EQ(send_to(3, "any", any, sizeof(sockaddr_in)), -EACCES);
  EXPECT_EQ(send_to(4, "any6", any6, sizeof(sockaddr_in6)), -EACCES);
  EXPECT_EQ(call(SYS_connect, {4, any6, sizeof(sockaddr_in6)}), -EACCES);
  EXPECT_EQ(receiver.received(), std::vector<std::string>{});
  EXPECT_EQ(receiver6.received(), std::vector<std::string>{});
  // Loopback's rules do.
  allow("127.0.0.1:" + port);
  allow("[::1]:" + port6);
  EXPECT_EQ(send_to(3, "any", any, sizeof(sockaddr_in)), 3);
  EXPECT_EQ(send_to(4, "any6", any6, sizeof(sockaddr_in6)), 4);
  EXPECT_EQ(receiver.received(), std::vector<std::string>{"any"});
  EXPECT_EQ(receiver6.received(), std::vector<std::string>{"any6"});
}

TEST_F(SocketPolicy, Ipv6SocketsAreCheckedWhereverTheyReallySend) {
  HostReceiver receiver;
  ASSERT_EQ(call(SYS_socket, {AF_INET6, SOCK_DGRAM, 0}), 3);
  const std::uint64_t mapped = put_value(ipv6_address(("::ffff:127.0.0.1"), receiver.port));
  const std::uint64_t plain = put_value(ipv4_address(AF_INET, "127.0.0.1", receiver.port));
  const std::uint64_t unspecified = put_value(ipv4_address(AF_UNSPEC, "127.0.0.1", receiver.port));
  EXPECT_EQ(send_to(3, "mapped", mapped, sizeof(sockaddr_in6)), -EACCES);
  EXPECT_EQ(send_to(3, "plain", plain, sizeof(sockaddr_in)), -EACCES);
  // AF_UNSPEC on an IPv6 socket means no address: the unconnected socket has none.
  EXPECT_EQ(send_to(3, "unspecified", unspecified, sizeof(sockaddr_in)), -EDESTADDRREQ);
  EXPECT_EQ(receiver.received(), std::vector<std::string>{});
  allow("127.0.0.1:" + std::to_string(receiver.port));
  EXPECT_EQ(send_to(3, "mapped", mapped, sizeof(sockaddr_in6)), 6);
  EXPECT_EQ(send_to(3, "plain", plain, sizeof(sockaddr_in)), 5);
  EXPECT_EQ(receiver.received(), (std::vector<std::string>{"mapped", "plain"}));
}

// connect may still dissolve an association with AF_UNSPEC; nothing else of that address is used.
TEST_F(SocketPolicy, ConnectWithAnUnspecifiedFamilyStillDisconnects) {
  HostReceiver receiver;
  allow("127.0.0.1:" + std::to_string(receiver.port));
  ASSERT_EQ(call(SYS_socket, {AF_INET, SOCK_DGRAM, 0}), 3);
  EXPECT_EQ(call(SYS_connect, {3, put_value(ipv4_address(AF_INET, "127.0.0.1", receiver.port)), sizeof(sockaddr_in)}),
            0);
  EXPECT_EQ(call(SYS_write, {3, put("connected"), 9}), 9);
  EXPECT_EQ(call(SYS_connect, {3, put_value(ipv4_address(AF_UNSPEC, "10.1.1.1", 9)), sizeof(sockaddr_in)}), 0);
  EXPECT_EQ(call(SYS_write, {3, put("after"), 5}), -EDESTADDRREQ);
  EXPECT_EQ(receiver.received(), std::vector<std::string>{"connected"});
}

// TCP: an address on a send connects with MSG_FASTOPEN, so it is checked like connect.
TEST_F(SocketPolicy, AnAddressOnATcpSendIsChecked) {
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_in address = ipv4_address(AF_INET, "127.0.0.1", 0);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  socklen_t length = sizeof address;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ASSERT_EQ(call(SYS_socket, {AF_INET, SOCK_STREAM, 0}), 3);
  for (int family : {AF_INET, AF_UNSPEC}) {
    sockaddr_in named = address;
    named.sin_family = static_cast<sa_family_t>(family);
    EXPECT_EQ(call(SYS_sendto, {3, put("syn data"), 8, MSG_FASTOPEN, put_value(named), sizeof named}), -EACCES);
  }
  EXPECT_EQ(::accept(listener, nullptr, nullptr), -1);  // nobody connected
  EXPECT_EQ(errno, EAGAIN);
  ::close(listener);
}

// An AF_PACKET view of lo: the IPv4 packets that went out to `first_hop`. Needs
// CAP_NET_RAW (the tests run as root, as hyperlet does); nullopt without it.
class LoopbackCapture {
 public:
  LoopbackCapture() {
    fd_ = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_IP));
    if (fd_ < 0) return;
    sockaddr_ll link{};
    link.sll_family = AF_PACKET;
    link.sll_protocol = htons(ETH_P_IP);
    link.sll_ifindex = static_cast<int>(::if_nametoindex("lo"));
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&link), sizeof link) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~LoopbackCapture() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::optional<int> packets_to(const char* first_hop) const {
    if (fd_ < 0) return std::nullopt;
    in_addr wanted{};
    inet_pton(AF_INET, first_hop, &wanted);
    int count = 0;
    unsigned char packet[2048];
    for (ssize_t got; (got = ::recv(fd_, packet, sizeof packet, 0)) >= static_cast<ssize_t>(sizeof(iphdr));) {
      iphdr header{};
      std::memcpy(&header, packet, sizeof header);
      if (header.daddr == wanted.s_addr) ++count;
    }
    return count;
  }

 private:
  int fd_ = -1;
};

// Issue 8: IP_RETOPTS with a loose source route, to an allowed destination, sent a
// packet to its first hop, an address no rule allows (seen on lo).
TEST_F(SocketPolicy, SourceRoutesNeverLeave) {
  HostReceiver receiver;
  allow("127.0.0.1:" + std::to_string(receiver.port));
  LoopbackCapture capture;
  const std::array<unsigned char, 8> loose_source_route{IPOPT_LSRR, 7, 4, 127, 0, 0, 9, IPOPT_END};
  const auto control = control_message(IPPROTO_IP, IP_RETOPTS, loose_source_route);
  const std::uint64_t destination = put_value(ipv4_address(AF_INET, "127.0.0.1", receiver.port));
  const std::uint64_t mapped = put_value(ipv6_address("::ffff:127.0.0.1", receiver.port));
  ASSERT_EQ(call(SYS_socket, {AF_INET, SOCK_DGRAM, 0}), 3);
  ASSERT_EQ(call(SYS_socket, {AF_INET6, SOCK_DGRAM, 0}), 4);
  context_->trace = true;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(SYS_sendmsg, {3, message("routed", destination, sizeof(sockaddr_in), control), 0}), -EPERM);
  // An IPv6 socket sending to IPv4 honours SOL_IP options too.
  EXPECT_EQ(call(SYS_sendmsg, {4, message("routed", mapped, sizeof(sockaddr_in6), control), 0}), -EPERM);
  // Each message of a batch is checked as by sendmsg.
  mmsghdr batch_entry{};
  batch_entry.msg_hdr = get<msghdr>(message("routed", destination, sizeof(sockaddr_in), control));
  EXPECT_EQ(call(SYS_sendmmsg, {3, put_value(batch_entry), 1, 0}), -EPERM);
  const std::string traced = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(traced.find("[hyperlet policy] denied: sendmsg: control message IP_RETOPTS (it chooses the route"),
            std::string::npos)
      << traced;
  if (auto packets = capture.packets_to("127.0.0.9")) {
    EXPECT_EQ(*packets, 0);
  }
  // Harmless control messages go with the data.
  const auto ttl = control_message(IPPROTO_IP, IP_TTL, 9);
  EXPECT_EQ(call(SYS_sendmsg, {3, message("ttl", destination, sizeof(sockaddr_in), ttl), 0}), 3);
  EXPECT_EQ(receiver.received(), std::vector<std::string>{"ttl"});
}

TEST_F(SocketPolicy, Ipv6RoutingAndExtensionHeadersNeverLeave) {
  HostReceiver receiver(AF_INET6);
  allow("[::1]:" + std::to_string(receiver.port));
  const std::uint64_t destination = put_value(ipv6_address("::1", receiver.port));
  ASSERT_EQ(call(SYS_socket, {AF_INET6, SOCK_DGRAM, 0}), 3);
  // A type 2 routing header through 2001:db8::9 (Mobile IPv6's, the one Linux sends).
  std::array<unsigned char, 24> routing_header{0, 2, 2, 1};
  inet_pton(AF_INET6, "2001:db8::9", routing_header.data() + 8);
  const std::array<unsigned char, 8> padding_options{0, 0, 1, 4};  // PadN: a valid hop-by-hop header
  for (int type : {IPV6_RTHDR, IPV6_2292RTHDR}) {
    EXPECT_EQ(call(SYS_sendmsg, {3,
                                 message("rthdr", destination, sizeof(sockaddr_in6),
                                         control_message(IPPROTO_IPV6, type, routing_header)),
                                 0}),
              -EPERM)
        << type;
  }
  for (int type : {IPV6_HOPOPTS, IPV6_DSTOPTS, IPV6_RTHDRDSTOPTS}) {
    EXPECT_EQ(call(SYS_sendmsg, {3,
                                 message("options", destination, sizeof(sockaddr_in6),
                                         control_message(IPPROTO_IPV6, type, padding_options)),
                                 0}),
              -EPERM)
        << type;
  }
  EXPECT_EQ(call(SYS_setsockopt, {3, IPPROTO_IPV6, IPV6_RTHDR, put_value(routing_header), routing_header.size()}),
            -EPERM);
  EXPECT_EQ(call(SYS_setsockopt, {3, IPPROTO_IPV6, IPV6_HOPOPTS, put_value(padding_options), padding_options.size()}),
            -EPERM);
  EXPECT_EQ(receiver.received(), std::vector<std::string>{});
  const auto hop_limit = control_message(IPPROTO_IPV6, IPV6_HOPLIMIT, 9);
  EXPECT_EQ(call(SYS_sendmsg, {3, message("hops", destination, sizeof(sockaddr_in6), hop_limit), 0}), 4);
  EXPECT_EQ(receiver.received(), std::vector<std::string>{"hops"});
}

// Issue 8: hyperlet runs as root, so the host kernel let the app set what only
// root may. It gets what an unprivileged process gets.
TEST_F(SocketPolicy, SocketOptionsAnswerAsForAnUnprivilegedProcess) {
  ASSERT_EQ(call(SYS_socket, {AF_INET, SOCK_STREAM, 0}), 3);
  const auto set_int = [&](int level, int name, int value) {
    return call(SYS_setsockopt, {3, static_cast<std::uint64_t>(level), static_cast<std::uint64_t>(name),
                                 put_value(value), sizeof value});
  };
  context_->trace = true;
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(set_int(SOL_SOCKET, SO_PRIORITY, 7), -EPERM);
  EXPECT_EQ(set_int(SOL_SOCKET, SO_BUSY_POLL, 1000), -EPERM);
  EXPECT_EQ(set_int(SOL_SOCKET, SO_MARK, 1), -EPERM);
  EXPECT_EQ(set_int(SOL_SOCKET, SO_DEBUG, 1), -EACCES);
  EXPECT_EQ(set_int(IPPROTO_IP, IP_TRANSPARENT, 1), -EPERM);
  const std::array<unsigned char, 8> loose_source_route{IPOPT_LSRR, 7, 4, 127, 0, 0, 9, IPOPT_END};
  EXPECT_EQ(call(SYS_setsockopt, {3, IPPROTO_IP, IP_OPTIONS, put_value(loose_source_route), 8}), -EPERM);
  const std::string traced = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(traced.find("[hyperlet policy] denied: setsockopt: SO_PRIORITY (a priority above 6 needs CAP_NET_ADMIN)"),
            std::string::npos)
      << traced;
  // What an unprivileged process may do still works, and reads back.
  EXPECT_EQ(set_int(SOL_SOCKET, SO_PRIORITY, 6), 0);
  const std::uint64_t value = put_value(0), length = put_value(static_cast<int>(sizeof(int)));
  EXPECT_EQ(call(SYS_getsockopt, {3, SOL_SOCKET, SO_PRIORITY, value, length}), 0);
  EXPECT_EQ(get<int>(value), 6);
  EXPECT_EQ(call(SYS_getsockopt, {3, SOL_SOCKET, SO_MARK, value, length}), 0);
  EXPECT_EQ(get<int>(value), 0);
  EXPECT_EQ(set_int(IPPROTO_IP, IP_FREEBIND, 1), -ENOPROTOOPT);

  // TCP_CONGESTION: a loaded algorithm outside tcp_allowed_congestion_control is
  // root's only (as root the host would also load tcp_NAME modules on request).
  std::ifstream allowed_file("/proc/sys/net/ipv4/tcp_allowed_congestion_control");
  std::ifstream available_file("/proc/sys/net/ipv4/tcp_available_congestion_control");
  std::vector<std::string> allowed, restricted;
  for (std::string name; allowed_file >> name;) allowed.push_back(name);
  for (std::string name; available_file >> name;) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) restricted.push_back(name);
  }
  ASSERT_FALSE(allowed.empty());
  EXPECT_EQ(call(SYS_setsockopt, {3, IPPROTO_TCP, TCP_CONGESTION, put(allowed[0]), allowed[0].size()}), 0);
  for (const std::string& name : restricted) {
    EXPECT_EQ(call(SYS_setsockopt, {3, IPPROTO_TCP, TCP_CONGESTION, put(name), name.size()}), -EPERM) << name;
  }
  const std::uint64_t chosen = allocate(16);
  const std::uint64_t chosen_length = put_value(16);
  EXPECT_EQ(call(SYS_getsockopt, {3, IPPROTO_TCP, TCP_CONGESTION, chosen, chosen_length}), 0);
  EXPECT_EQ(std::string(text(chosen, 16).c_str()), allowed[0]);
  if (restricted.empty()) GTEST_SKIP() << "every loaded congestion control algorithm is allowed on this host";
}

}  // namespace
}  // namespace hyperlet
