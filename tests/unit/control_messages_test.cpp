// The control messages an app may send (devices/control_messages.h): the
// allow-list, the argument checks, and the walk over a hostile buffer.
#include "devices/control_messages.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace hyperlet {
namespace {

// A control buffer built message by message, as CMSG_SPACE lays them out.
class Control {
 public:
  template <typename T>
  Control& add(int level, int type, const T& value) {
    return add_bytes(level, type, &value, sizeof value);
  }
  Control& add_bytes(int level, int type, const void* data, std::size_t size) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + CMSG_SPACE(size));
    cmsghdr header{};
    header.cmsg_len = CMSG_LEN(size);
    header.cmsg_level = level;
    header.cmsg_type = type;
    std::memcpy(bytes_.data() + at, &header, sizeof header);
    std::memcpy(bytes_.data() + at + CMSG_LEN(0), data, size);
    return *this;
  }
  std::vector<std::byte>& bytes() { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

int error_of(int family, Control& control) {
  auto checked = check_control_messages(family, control.bytes());
  return checked ? 0 : checked.error().error;
}

std::string why_of(int family, Control& control) {
  auto checked = check_control_messages(family, control.bytes());
  return checked ? std::string("allowed") : checked.error().why;
}

TEST(ControlMessages, HarmlessOnesAreAllowed) {
  in_pktinfo no_override{};
  in6_pktinfo no_override6{};
  Control control;
  control.add(IPPROTO_IP, IP_TTL, 7)
      .add(IPPROTO_IP, IP_TOS, 0x10)
      .add(IPPROTO_IP, IP_PKTINFO, no_override)
      .add(IPPROTO_IPV6, IPV6_HOPLIMIT, 9)
      .add(IPPROTO_IPV6, IPV6_TCLASS, 4)
      .add(IPPROTO_IPV6, IPV6_DONTFRAG, 1)
      .add(IPPROTO_IPV6, IPV6_PKTINFO, no_override6)
      .add(IPPROTO_UDP, UDP_SEGMENT, std::uint16_t{1200})
      .add(SOL_SOCKET, SO_TIMESTAMPING, std::uint32_t{0})
      .add(SOL_SOCKET, SO_PRIORITY, std::uint32_t{6});
  EXPECT_EQ(error_of(AF_INET, control), 0);
  EXPECT_EQ(error_of(AF_INET6, control), 0);
  Control none;
  EXPECT_EQ(error_of(AF_INET, none), 0);
}

// Issue 8: IP_RETOPTS carrying a loose source route sent the packet to its first
// hop, an address no rule allowed. IP options and IPv6 routing or extension
// headers are refused whatever the socket's family (an IPv6 socket sending to
// IPv4 honours SOL_IP messages too).
TEST(ControlMessages, RouteChoosingOnesAreRefused) {
  const unsigned char loose_source_route[8] = {IPOPT_LSRR, 7, 4, 127, 0, 0, 9, IPOPT_END};
  const unsigned char routing_header[24] = {0, 2, 2, 1};   // type 2, one segment
  const unsigned char extension_header[8] = {0, 0, 1, 4};  // PadN
  for (int family : {AF_INET, AF_INET6}) {
    Control source_route;
    source_route.add(IPPROTO_IP, IP_TTL, 7).add_bytes(IPPROTO_IP, IP_RETOPTS, loose_source_route, 8);
    EXPECT_EQ(error_of(family, source_route), EPERM);
    EXPECT_TRUE(why_of(family, source_route).starts_with("control message IP_RETOPTS (it chooses the route"))
        << why_of(family, source_route);
    for (int type : {IPV6_RTHDR, IPV6_2292RTHDR}) {
      Control rthdr;
      rthdr.add_bytes(IPPROTO_IPV6, type, routing_header, sizeof routing_header);
      EXPECT_EQ(error_of(family, rthdr), EPERM) << type;
    }
    for (int type : {IPV6_HOPOPTS, IPV6_2292HOPOPTS, IPV6_DSTOPTS, IPV6_2292DSTOPTS, IPV6_RTHDRDSTOPTS}) {
      Control options;
      options.add_bytes(IPPROTO_IPV6, type, extension_header, sizeof extension_header);
      EXPECT_EQ(error_of(family, options), EPERM) << type;
      EXPECT_NE(why_of(family, options).find("CAP_NET_RAW"), std::string::npos);
    }
  }
}

TEST(ControlMessages, PacketInfoMayNotPickTheInterfaceOrTheSource) {
  in_pktinfo interface {};
  interface.ipi_ifindex = 1;
  in_pktinfo source{};
  inet_pton(AF_INET, "127.0.0.5", &source.ipi_spec_dst);
  in_pktinfo destination_only{};  // ipi_addr is not used on send
  inet_pton(AF_INET, "10.0.0.1", &destination_only.ipi_addr);
  Control a, b, c;
  EXPECT_EQ(error_of(AF_INET, a.add(IPPROTO_IP, IP_PKTINFO, interface)), EPERM);
  EXPECT_EQ(error_of(AF_INET, b.add(IPPROTO_IP, IP_PKTINFO, source)), EPERM);
  EXPECT_EQ(error_of(AF_INET, c.add(IPPROTO_IP, IP_PKTINFO, destination_only)), 0);
  Control short_info;
  EXPECT_EQ(error_of(AF_INET, short_info.add(IPPROTO_IP, IP_PKTINFO, 0)), EINVAL);  // Linux wants the exact size

  in6_pktinfo interface6{};
  interface6.ipi6_ifindex = 1;
  in6_pktinfo source6{};
  inet_pton(AF_INET6, "::1", &source6.ipi6_addr);
  in6_pktinfo mapped_any{};
  inet_pton(AF_INET6, "::ffff:0.0.0.0", &mapped_any.ipi6_addr);
  for (int type : {IPV6_PKTINFO, IPV6_2292PKTINFO}) {
    Control d, e, f;
    EXPECT_EQ(error_of(AF_INET6, d.add(IPPROTO_IPV6, type, interface6)), EPERM);
    EXPECT_EQ(error_of(AF_INET6, e.add(IPPROTO_IPV6, type, source6)), EPERM);
    EXPECT_EQ(error_of(AF_INET6, f.add(IPPROTO_IPV6, type, mapped_any)), 0);
  }
}

TEST(ControlMessages, PrivilegedOnesAnswerAsForAnUnprivilegedProcess) {
  Control mark, priority;
  EXPECT_EQ(error_of(AF_INET, mark.add(SOL_SOCKET, SO_MARK, std::uint32_t{1})), EPERM);
  EXPECT_EQ(error_of(AF_INET, priority.add(SOL_SOCKET, SO_PRIORITY, std::uint32_t{7})), EPERM);
  EXPECT_NE(why_of(AF_INET, priority).find("CAP_NET_ADMIN"), std::string::npos);
}

TEST(ControlMessages, AnythingNotListedIsEinval) {
  const int fd = 0;
  Control rights, protocol, unknown_level, txtime;
  EXPECT_EQ(error_of(AF_INET, rights.add(SOL_SOCKET, SCM_RIGHTS, fd)), EINVAL);
  constexpr int kIpProtocol = 52;  // IP_PROTOCOL (<linux/in.h>): raw sockets only
  EXPECT_EQ(error_of(AF_INET, protocol.add(IPPROTO_IP, kIpProtocol, 6)), EINVAL);
  EXPECT_EQ(error_of(AF_INET6, unknown_level.add(999, 1, 0)), EINVAL);
  EXPECT_EQ(error_of(AF_INET, txtime.add(SOL_SOCKET, SCM_TXTIME, std::uint64_t{0})), EINVAL);
  EXPECT_EQ(why_of(AF_INET, rights), "");  // no policy matter: nothing to trace
  // The guest's socketpairs take none at all (SCM_RIGHTS would pass hyperlet's fds).
  Control ttl;
  EXPECT_EQ(error_of(AF_UNIX, rights), EINVAL);
  EXPECT_EQ(error_of(AF_UNIX, ttl.add(IPPROTO_IP, IP_TTL, 1)), EINVAL);
}

// Walked as the host kernel walks it: every message it would read is checked.
TEST(ControlMessages, HostileBuffersAreWalkedAsLinuxWalksThem) {
  Control control;
  control.add(IPPROTO_IP, IP_TTL, 7);
  auto& bytes = control.bytes();
  cmsghdr header{};
  std::memcpy(&header, bytes.data(), sizeof header);

  for (std::size_t length : {std::size_t{0}, sizeof(cmsghdr) - 1, bytes.size() + 1, ~std::size_t{0}}) {
    Control bad = control;
    cmsghdr changed = header;
    changed.cmsg_len = length;
    std::memcpy(bad.bytes().data(), &changed, sizeof changed);
    EXPECT_EQ(error_of(AF_INET, bad), EINVAL) << length;
  }
  // A refused message after an allowed one, at the aligned offset, is found.
  const unsigned char options[4] = {IPOPT_NOP, IPOPT_NOP, IPOPT_NOP, IPOPT_END};
  Control second;
  second.add(IPPROTO_IP, IP_TOS, std::uint8_t{1}).add_bytes(IPPROTO_IP, IP_RETOPTS, options, sizeof options);
  EXPECT_EQ(error_of(AF_INET, second), EPERM);
  // Fewer bytes than a header at the end are not a message (Linux reads none).
  Control tail = control;
  tail.bytes().resize(tail.bytes().size() + sizeof(cmsghdr) - 1, std::byte{0xff});
  EXPECT_EQ(error_of(AF_INET, tail), 0);
  // But a whole header there is one, and is checked.
  Control whole_tail = control;
  whole_tail.bytes().resize(whole_tail.bytes().size() + sizeof(cmsghdr), std::byte{0});
  EXPECT_EQ(error_of(AF_INET, whole_tail), EINVAL);  // cmsg_len 0
}

}  // namespace
}  // namespace hyperlet
