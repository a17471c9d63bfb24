// --publish / --allow-connect parsing and the policy's decisions (no sockets, no KVM).
#include "devices/network_policy.h"

#include <arpa/inet.h>

#include <cstring>

#include <gtest/gtest.h>

namespace hyperlet {
namespace {

Endpoint endpoint(const char* address, std::uint16_t port) {
  auto parsed = parse_ip_address(address);
  EXPECT_TRUE(parsed.has_value()) << address;
  return Endpoint{parsed.value_or(IpAddress{}), port};
}

TEST(PublishRule, PortsOnly) {
  auto rule = parse_publish_rule("8080:80");
  ASSERT_TRUE(rule.has_value()) << rule.error().message;
  EXPECT_FALSE(rule->host_address.has_value());
  EXPECT_EQ(rule->host_port, 8080);
  EXPECT_EQ(rule->guest_port, 80);
  EXPECT_EQ(rule->transport, Transport::kTcp);
}

TEST(PublishRule, AddressesAndProtocols) {
  auto v4 = parse_publish_rule("127.0.0.1:5353:53/udp");
  ASSERT_TRUE(v4.has_value()) << v4.error().message;
  EXPECT_EQ(format_ip_address(*v4->host_address), "127.0.0.1");
  EXPECT_EQ(v4->transport, Transport::kUdp);
  auto v6 = parse_publish_rule("[::1]:8443:443/tcp");
  ASSERT_TRUE(v6.has_value()) << v6.error().message;
  EXPECT_EQ(v6->host_address->family, AF_INET6);
  EXPECT_EQ(format_ip_address(*v6->host_address), "[::1]");
  EXPECT_EQ(v6->host_port, 8443);
  EXPECT_EQ(v6->guest_port, 443);
}

TEST(PublishRule, BadSyntaxSaysWhatIsWrong) {
  for (const char* text : {"", "8080", "0:80", "8080:0", "65536:80", "8080:80/sctp", "::1:8080:80", "[::1]8080:80",
                           "[127.0.0.1]:1:2", "localhost:1:2", "1:2:3:4", "a:b", "8080:80/", " 8080:80"}) {
    auto rule = parse_publish_rule(text);
    ASSERT_FALSE(rule.has_value()) << text;
    EXPECT_EQ(rule.error().status, ExitStatus::kUsage);
    EXPECT_TRUE(rule.error().message.starts_with("invalid --publish '")) << rule.error().message;
  }
}

TEST(ConnectRule, AddressPrefixAndAnyPort) {
  auto exact = parse_connect_rule("10.1.2.3:443");
  ASSERT_TRUE(exact.has_value()) << exact.error().message;
  ASSERT_EQ(exact->size(), 1u);
  EXPECT_EQ((*exact)[0].prefix_length, 32);
  EXPECT_EQ((*exact)[0].port, 443);
  auto network = parse_connect_rule("10.0.0.0/8:*");
  ASSERT_TRUE(network.has_value()) << network.error().message;
  EXPECT_EQ((*network)[0].prefix_length, 8);
  EXPECT_FALSE((*network)[0].port.has_value());
  for (const char* text : {"[2001:db8::]/32:80", "[2001:db8::/32]:80"}) {
    auto v6 = parse_connect_rule(text);
    ASSERT_TRUE(v6.has_value()) << text << ": " << v6.error().message;
    EXPECT_EQ((*v6)[0].network.family, AF_INET6);
    EXPECT_EQ((*v6)[0].prefix_length, 32);
  }
}

TEST(ConnectRule, NamesResolveToEveryAddress) {
  auto rules = parse_connect_rule("localhost:80");
  ASSERT_TRUE(rules.has_value()) << rules.error().message;
  ASSERT_FALSE(rules->empty());
  NetworkPolicy policy;
  policy.connect = *rules;
  EXPECT_TRUE(policy.may_connect(endpoint("127.0.0.1", 80)));
}

TEST(ConnectRule, BadSyntax) {
  for (const char* text : {"10.0.0.1", "10.0.0.1:", "10.0.0.1:0", "10.0.0.1:http", ":80", "10.0.0.0/33:80",
                           "10.0.0.0/x:80", "[::1]/129:80", "name.invalid/8:80", "[zz::1]:80", "::1:80"}) {
    auto rules = parse_connect_rule(text);
    ASSERT_FALSE(rules.has_value()) << text;
    EXPECT_TRUE(rules.error().message.starts_with("invalid --allow-connect '")) << rules.error().message;
  }
}

TEST(NetworkPolicy, NothingIsReachableByDefault) {
  const NetworkPolicy policy;
  EXPECT_EQ(policy.published(Transport::kTcp, 80), nullptr);
  EXPECT_FALSE(policy.may_connect(endpoint("127.0.0.1", 80)));
  EXPECT_FALSE(policy.may_connect(endpoint("::1", 80)));
}

TEST(NetworkPolicy, PublishedPortsAreLookedUpByGuestPortAndTransport) {
  NetworkPolicy policy;
  policy.publish = {*parse_publish_rule("8080:80"), *parse_publish_rule("5353:53/udp")};
  ASSERT_NE(policy.published(Transport::kTcp, 80), nullptr);
  EXPECT_EQ(policy.published(Transport::kTcp, 80)->host_port, 8080);
  EXPECT_EQ(policy.published(Transport::kUdp, 80), nullptr);
  EXPECT_EQ(policy.published(Transport::kTcp, 8080), nullptr);  // the host port is not the guest's
  EXPECT_NE(policy.published(Transport::kUdp, 53), nullptr);
  EXPECT_TRUE(policy.check().has_value());
}

TEST(NetworkPolicy, DuplicateRulesAreRefused) {
  NetworkPolicy same_guest;
  same_guest.publish = {*parse_publish_rule("8080:80"), *parse_publish_rule("8081:80")};
  EXPECT_FALSE(same_guest.check().has_value());
  NetworkPolicy same_host;
  same_host.publish = {*parse_publish_rule("8080:80"), *parse_publish_rule("8080:81")};
  EXPECT_FALSE(same_host.check().has_value());
  NetworkPolicy other_transport;
  other_transport.publish = {*parse_publish_rule("8080:80"), *parse_publish_rule("8080:80/udp")};
  EXPECT_TRUE(other_transport.check().has_value());
}

TEST(NetworkPolicy, ConnectRulesMatchPrefixAndPort) {
  NetworkPolicy policy;
  for (const char* text : {"10.0.0.0/8:443", "192.168.1.7:*", "[2001:db8::]/33:80", "172.16.0.0/12:53"}) {
    auto rules = parse_connect_rule(text);
    ASSERT_TRUE(rules.has_value()) << text;
    policy.connect.insert(policy.connect.end(), rules->begin(), rules->end());
  }
  EXPECT_TRUE(policy.may_connect(endpoint("10.200.3.4", 443)));
  EXPECT_FALSE(policy.may_connect(endpoint("10.200.3.4", 80)));
  EXPECT_FALSE(policy.may_connect(endpoint("11.0.0.1", 443)));
  EXPECT_TRUE(policy.may_connect(endpoint("192.168.1.7", 1)));
  EXPECT_FALSE(policy.may_connect(endpoint("192.168.1.8", 1)));
  EXPECT_TRUE(policy.may_connect(endpoint("2001:db8:7fff::1", 80)));
  EXPECT_FALSE(policy.may_connect(endpoint("2001:db8:8000::1", 80)));  // bit 33 differs
  EXPECT_TRUE(policy.may_connect(endpoint("172.31.255.255", 53)));
  EXPECT_FALSE(policy.may_connect(endpoint("172.32.0.0", 53)));
}

TEST(Endpoint, V4MappedAddressesAreIpv4) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(443);
  inet_pton(AF_INET6, "::ffff:10.1.2.3", &in6.sin6_addr);
  sockaddr_storage storage{};
  std::memcpy(&storage, &in6, sizeof in6);
  auto decoded = decode_endpoint(storage, sizeof in6);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->address.family, AF_INET);
  EXPECT_EQ(format_endpoint(*decoded), "10.1.2.3:443");
  NetworkPolicy policy;
  policy.connect = *parse_connect_rule("10.0.0.0/8:443");
  EXPECT_TRUE(policy.may_connect(*decoded));
  EXPECT_FALSE(decode_endpoint(storage, sizeof in6 - 1).has_value());  // too short
  storage.ss_family = AF_UNIX;
  EXPECT_FALSE(decode_endpoint(storage, sizeof storage).has_value());
}

}  // namespace
}  // namespace hyperlet
