// The socket options an app may set (devices/socket_options.h): an allow-list
// with argument checks, answering as Linux answers an unprivileged process.
#include "devices/socket_options.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <span>
#include <string>
#include <vector>

namespace hyperlet {
namespace {

class SocketOptions : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_GE(fd_, 0); }
  void TearDown() override { ::close(fd_); }

  int error_of(int level, int name, std::span<const std::byte> value) {
    auto checked = check_set_option(fd_, level, name, value);
    return checked ? 0 : checked.error().error;
  }
  int error_of(int level, int name, int value) { return error_of(level, name, std::as_bytes(std::span(&value, 1))); }
  int error_of(int level, int name, std::string_view text) {
    return error_of(level, name, std::as_bytes(std::span(text.data(), text.size())));
  }
  std::string why_of(int level, int name, int value) {
    auto checked = check_set_option(fd_, level, name, std::as_bytes(std::span(&value, 1)));
    return checked ? std::string("allowed") : checked.error().why;
  }

  int fd_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
};

std::vector<std::string> names_in(const char* path) {
  std::ifstream file(path);
  std::vector<std::string> names;
  for (std::string name; file >> name;) names.push_back(name);
  return names;
}

TEST_F(SocketOptions, ServiceOptionsAreAllowed) {
  for (auto [level, name] : std::vector<std::pair<int, int>>{{SOL_SOCKET, SO_REUSEADDR},
                                                             {SOL_SOCKET, SO_KEEPALIVE},
                                                             {SOL_SOCKET, SO_RCVBUF},
                                                             {IPPROTO_TCP, TCP_NODELAY},
                                                             {IPPROTO_TCP, TCP_KEEPIDLE},
                                                             {IPPROTO_IP, IP_TOS},
                                                             {IPPROTO_IPV6, IPV6_V6ONLY},
                                                             {IPPROTO_IPV6, IPV6_TCLASS},
                                                             {IPPROTO_UDP, UDP_SEGMENT}}) {
    EXPECT_EQ(error_of(level, name, 1), 0) << level << "/" << name;
    EXPECT_TRUE(may_get_option(level, name));
  }
}

TEST_F(SocketOptions, UnknownOptionsAreNotOffered) {
  for (auto [level, name] : std::vector<std::pair<int, int>>{{IPPROTO_IP, IP_FREEBIND},
                                                             {IPPROTO_IP, IP_UNICAST_IF},
                                                             {IPPROTO_IPV6, IPV6_ADDRFORM},
                                                             {IPPROTO_TCP, TCP_ULP},
                                                             {IPPROTO_TCP, TCP_MD5SIG},
                                                             {SOL_SOCKET, SO_ATTACH_FILTER},
                                                             {SOL_SOCKET, SO_PEERCRED},
                                                             {IPPROTO_UDP, UDP_ENCAP},
                                                             {999, 1}}) {
    EXPECT_EQ(error_of(level, name, 0), ENOPROTOOPT) << level << "/" << name;
    EXPECT_FALSE(may_get_option(level, name));
  }
}

// Issue 8: as root the host kernel would let these through; the app gets what an
// unprivileged process gets.
TEST_F(SocketOptions, PrivilegedOptionsAnswerAsForAnUnprivilegedProcess) {
  for (int priority = 0; priority <= 6; ++priority) EXPECT_EQ(error_of(SOL_SOCKET, SO_PRIORITY, priority), 0);
  EXPECT_EQ(error_of(SOL_SOCKET, SO_PRIORITY, 7), EPERM);
  EXPECT_EQ(error_of(SOL_SOCKET, SO_PRIORITY, -1), EPERM);
  EXPECT_EQ(why_of(SOL_SOCKET, SO_PRIORITY, 7), "SO_PRIORITY (a priority above 6 needs CAP_NET_ADMIN)");
  EXPECT_EQ(error_of(SOL_SOCKET, SO_PRIORITY, std::string_view("\x07")), EINVAL);  // shorter than an int
  EXPECT_EQ(error_of(SOL_SOCKET, SO_DEBUG, 0), 0);
  EXPECT_EQ(error_of(SOL_SOCKET, SO_DEBUG, 1), EACCES);
  EXPECT_EQ(error_of(SOL_SOCKET, SO_BUSY_POLL, 0), 0);  // lowering, or keeping it, is anyone's
  EXPECT_EQ(error_of(SOL_SOCKET, SO_BUSY_POLL, 1000), EPERM);
  EXPECT_EQ(error_of(SOL_SOCKET, SO_BUSY_POLL, -1), EINVAL);
  for (int name : {SO_MARK, SO_RCVBUFFORCE, SO_SNDBUFFORCE}) {
    EXPECT_EQ(error_of(SOL_SOCKET, name, 1), EPERM) << name;
    EXPECT_NE(why_of(SOL_SOCKET, name, 1).find("CAP_NET_ADMIN"), std::string::npos);
    EXPECT_TRUE(may_get_option(SOL_SOCKET, name));  // reading is harmless
  }
  EXPECT_EQ(error_of(IPPROTO_IP, IP_TRANSPARENT, 1), EPERM);
  EXPECT_EQ(error_of(IPPROTO_IPV6, IPV6_TRANSPARENT, 1), EPERM);
  EXPECT_EQ(error_of(IPPROTO_TCP, TCP_REPAIR, 1), EPERM);
}

TEST_F(SocketOptions, RouteChoosingOptionsAreRefused) {
  EXPECT_EQ(error_of(SOL_SOCKET, SO_BINDTODEVICE, std::string_view("lo")), EPERM);
  EXPECT_EQ(error_of(SOL_SOCKET, SO_BINDTOIFINDEX, 1), EPERM);
  const char loose_source_route[8] = {char(131), 7, 4, 127, 0, 0, 9, 0};
  EXPECT_EQ(error_of(IPPROTO_IP, IP_OPTIONS, std::string_view(loose_source_route, 8)), EPERM);
  for (int name : {IPV6_RTHDR, IPV6_2292RTHDR, IPV6_NEXTHOP, IPV6_PKTINFO, IPV6_2292PKTOPTIONS}) {
    EXPECT_EQ(error_of(IPPROTO_IPV6, name, 0), EPERM) << name;
    EXPECT_NE(why_of(IPPROTO_IPV6, name, 0).find("it chooses the route"), std::string::npos);
  }
  for (int name : {IPV6_HOPOPTS, IPV6_2292HOPOPTS, IPV6_DSTOPTS, IPV6_2292DSTOPTS, IPV6_RTHDRDSTOPTS}) {
    EXPECT_EQ(error_of(IPPROTO_IPV6, name, 0), EPERM) << name;
  }
}

// Only algorithms in tcp_allowed_congestion_control; a loaded one outside it is
// EPERM, an unknown one ENOENT (only CAP_NET_ADMIN loads tcp_NAME modules).
TEST_F(SocketOptions, CongestionControlIsLimitedToTheAllowedAlgorithms) {
  const auto allowed = names_in("/proc/sys/net/ipv4/tcp_allowed_congestion_control");
  ASSERT_FALSE(allowed.empty());
  for (const std::string& name : allowed) EXPECT_EQ(error_of(IPPROTO_TCP, TCP_CONGESTION, name), 0) << name;
  // As the kernel reads it: up to a NUL, at most 15 bytes.
  EXPECT_EQ(error_of(IPPROTO_TCP, TCP_CONGESTION, allowed[0] + std::string("\0junk", 5)), 0);
  EXPECT_EQ(error_of(IPPROTO_TCP, TCP_CONGESTION, allowed[0] + std::string(20, 'x')), ENOENT);
  EXPECT_EQ(error_of(IPPROTO_TCP, TCP_CONGESTION, "hyperlet-none"), ENOENT);
  EXPECT_EQ(error_of(IPPROTO_TCP, TCP_CONGESTION, ""), EINVAL);
  for (const std::string& name : names_in("/proc/sys/net/ipv4/tcp_available_congestion_control")) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      EXPECT_EQ(error_of(IPPROTO_TCP, TCP_CONGESTION, name), EPERM) << name;
    }
  }
}

}  // namespace
}  // namespace hyperlet
