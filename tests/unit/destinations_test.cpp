// How a destination the guest names is read (devices/destinations.h): as the
// host's Linux reads it, and rebuilt from the checked fields for the host.
#include "devices/destinations.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>
#include <optional>

namespace hyperlet {
namespace {

sockaddr_storage ipv4(sa_family_t family, const char* address, std::uint16_t port) {
  sockaddr_in in{};
  in.sin_family = family;
  in.sin_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET, address, &in.sin_addr), 1);
  std::memset(in.sin_zero, 0xa5, sizeof in.sin_zero);  // garbage the host must not see
  sockaddr_storage storage{};
  std::memcpy(&storage, &in, sizeof in);
  return storage;
}

sockaddr_storage ipv6(const char* address, std::uint16_t port, std::uint32_t scope = 0) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  in6.sin6_flowinfo = htonl(0x12345);
  in6.sin6_scope_id = scope;
  EXPECT_EQ(inet_pton(AF_INET6, address, &in6.sin6_addr), 1);
  sockaddr_storage storage{};
  std::memcpy(&storage, &in6, sizeof in6);
  return storage;
}

sockaddr_in host_ipv4(const Destination& destination) {
  sockaddr_in in{};
  std::memcpy(&in, &destination.host, sizeof in);
  return in;
}

sockaddr_in6 host_ipv6(const Destination& destination) {
  sockaddr_in6 in6{};
  std::memcpy(&in6, &destination.host, sizeof in6);
  return in6;
}

constexpr auto kEndpoint = Destination::Kind::kEndpoint;

int error_of(const std::expected<Destination, int>& result) { return result ? 0 : result.error(); }
std::optional<Destination::Kind> kind_of(const std::expected<Destination, int>& result) {
  return result ? std::optional(result->kind) : std::nullopt;
}

// Issue 8: Linux's udp_sendmsg reads AF_UNSPEC as AF_INET, so the policy must too,
// and the host is handed AF_INET.
TEST(Destination, AnUnspecifiedFamilyInAnIpv4SendIsIpv4) {
  const auto unspecified = ipv4(AF_UNSPEC, "127.0.0.1", 53);
  auto send = read_destination(AF_INET, AddressUse::kSend, unspecified, sizeof(sockaddr_in));
  ASSERT_TRUE(send.has_value());
  EXPECT_EQ(send->kind, kEndpoint);
  EXPECT_EQ(format_endpoint(send->endpoint), "127.0.0.1:53");
  const sockaddr_in host = host_ipv4(*send);
  EXPECT_EQ(host.sin_family, AF_INET);
  EXPECT_EQ(host.sin_port, htons(53));
  EXPECT_EQ(host.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_EQ(host.sin_zero[0], 0);  // rebuilt, not copied
  EXPECT_EQ(send->host_length, sizeof(sockaddr_in));
  EXPECT_EQ(error_of(read_destination(AF_INET, AddressUse::kSend, unspecified, sizeof(sockaddr_in) - 1)), EINVAL);
}

TEST(Destination, OnlyConnectReadsAnUnspecifiedFamilyAsDisconnect) {
  const auto unspecified = ipv4(AF_UNSPEC, "10.9.9.9", 80);
  for (int family : {AF_INET, AF_INET6, AF_UNIX}) {
    auto connect = read_destination(family, AddressUse::kConnect, unspecified, sizeof(sockaddr_in));
    ASSERT_TRUE(connect.has_value()) << family;
    EXPECT_EQ(connect->kind, Destination::Kind::kUnspecified);
    EXPECT_EQ(connect->host.ss_family, AF_UNSPEC);
    EXPECT_EQ(host_ipv4(*connect).sin_addr.s_addr, 0u);  // nothing of the rest goes to the host
    EXPECT_EQ(connect->host_length, sizeof(sockaddr_in));
  }
  EXPECT_EQ(kind_of(read_destination(AF_INET, AddressUse::kConnect, unspecified, 2)), Destination::Kind::kUnspecified);
  EXPECT_EQ(error_of(read_destination(AF_INET, AddressUse::kConnect, unspecified, 1)), EINVAL);
  // An IPv6 send with AF_UNSPEC has no address (udpv6_sendmsg): the connected peer.
  auto ipv6_send = read_destination(AF_INET6, AddressUse::kSend, unspecified, sizeof(sockaddr_in));
  ASSERT_TRUE(ipv6_send.has_value());
  EXPECT_EQ(ipv6_send->kind, Destination::Kind::kUnspecified);
  EXPECT_EQ(ipv6_send->host.ss_family, AF_UNSPEC);
  EXPECT_EQ(host_ipv4(*ipv6_send).sin_addr.s_addr, 0u);
  EXPECT_EQ(error_of(read_destination(AF_UNIX, AddressUse::kSend, unspecified, sizeof(sockaddr_in))), EINVAL);
}

TEST(Destination, TheUnspecifiedAddressIsLoopbackAsLinuxRoutesIt) {
  auto v4 = read_destination(AF_INET, AddressUse::kSend, ipv4(AF_INET, "0.0.0.0", 7), sizeof(sockaddr_in));
  ASSERT_TRUE(v4.has_value());
  EXPECT_EQ(format_endpoint(v4->endpoint), "127.0.0.1:7");
  EXPECT_EQ(host_ipv4(*v4).sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  auto v6 = read_destination(AF_INET6, AddressUse::kConnect, ipv6("::", 7), sizeof(sockaddr_in6));
  ASSERT_TRUE(v6.has_value());
  EXPECT_EQ(format_endpoint(v6->endpoint), "[::1]:7");
  const sockaddr_in6 host6 = host_ipv6(*v6);
  EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&host6.sin6_addr));
  auto mapped = read_destination(AF_INET6, AddressUse::kSend, ipv6("::ffff:0.0.0.0", 7), sizeof(sockaddr_in6));
  ASSERT_TRUE(mapped.has_value());
  EXPECT_EQ(format_endpoint(mapped->endpoint), "127.0.0.1:7");
  char text[INET6_ADDRSTRLEN];
  const sockaddr_in6 host = host_ipv6(*mapped);
  EXPECT_STREQ(inet_ntop(AF_INET6, &host.sin6_addr, text, sizeof text), "::ffff:127.0.0.1");
}

TEST(Destination, Ipv6SocketsNameIpv4TheWaysLinuxAccepts) {
  auto mapped = read_destination(AF_INET6, AddressUse::kSend, ipv6("::ffff:10.1.2.3", 443), sizeof(sockaddr_in6));
  ASSERT_TRUE(mapped.has_value());
  EXPECT_EQ(mapped->endpoint.address.family, AF_INET);
  EXPECT_EQ(format_endpoint(mapped->endpoint), "10.1.2.3:443");
  EXPECT_EQ(mapped->host.ss_family, AF_INET6);  // the host socket still gets its own family
  auto plain = read_destination(AF_INET6, AddressUse::kConnect, ipv4(AF_INET, "10.1.2.3", 443), sizeof(sockaddr_in));
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(format_endpoint(plain->endpoint), "10.1.2.3:443");
  EXPECT_EQ(plain->host.ss_family, AF_INET);
  // The other way round is not an address an IPv4 socket can use.
  EXPECT_EQ(error_of(read_destination(AF_INET, AddressUse::kSend, ipv6("::1", 1), sizeof(sockaddr_in6))), EAFNOSUPPORT);
}

TEST(Destination, Ipv6KeepsTheScopeButNotTheFlowLabel) {
  auto link_local = read_destination(AF_INET6, AddressUse::kSend, ipv6("fe80::1", 9, 3), sizeof(sockaddr_in6));
  ASSERT_TRUE(link_local.has_value());
  EXPECT_EQ(format_endpoint(link_local->endpoint), "[fe80::1]:9");
  EXPECT_EQ(host_ipv6(*link_local).sin6_scope_id, 3u);
  EXPECT_EQ(host_ipv6(*link_local).sin6_flowinfo, 0u);
  // The RFC 2133 size (no scope id) is enough, as for Linux; shorter is not.
  auto short_form = read_destination(AF_INET6, AddressUse::kSend, ipv6("fe80::1", 9, 3), 24);
  ASSERT_TRUE(short_form.has_value());
  EXPECT_EQ(host_ipv6(*short_form).sin6_scope_id, 0u);
  EXPECT_EQ(short_form->host_length, 24u);
  EXPECT_EQ(error_of(read_destination(AF_INET6, AddressUse::kSend, ipv6("::1", 9), 23)), EINVAL);
}

TEST(Destination, OtherFamiliesNeverReachTheHost) {
  sockaddr_storage unix_address{};
  unix_address.ss_family = AF_UNIX;
  for (int family : {AF_INET, AF_INET6, AF_UNIX}) {
    for (AddressUse use : {AddressUse::kConnect, AddressUse::kSend}) {
      EXPECT_EQ(error_of(read_destination(family, use, unix_address, sizeof(sockaddr_un))), EINVAL);
    }
  }
  sockaddr_storage netlink{};
  netlink.ss_family = AF_NETLINK;
  EXPECT_EQ(error_of(read_destination(AF_INET, AddressUse::kSend, netlink, sizeof netlink)), EINVAL);
  // The guest's socketpairs name no inet address either.
  EXPECT_EQ(error_of(read_destination(AF_UNIX, AddressUse::kSend, ipv4(AF_INET, "127.0.0.1", 1), 16)), EINVAL);
  EXPECT_EQ(error_of(read_destination(AF_UNIX, AddressUse::kConnect, ipv6("::1", 1), 28)), EINVAL);
}

}  // namespace
}  // namespace hyperlet
