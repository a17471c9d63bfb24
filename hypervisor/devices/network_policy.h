// The network the command line grants: --publish (which guest ports may be bound,
// and to which host address and port) and --allow-connect (where the guest may
// connect or send). Nothing is reachable without a rule. Parsing and decisions
// only: no sockets here (devices/sockets.cpp applies them).
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace hyperlet {

enum class Transport { kTcp, kUdp };
std::string_view transport_name(Transport transport);

// An IPv4 or IPv6 address; IPv4 is kept as such (never v4-mapped).
struct IpAddress {
  int family = AF_INET;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};  // IPv4 uses the first 4
  bool operator==(const IpAddress&) const = default;
};

// A numeric address (IPv4 dotted quad, or IPv6 with or without brackets).
std::optional<IpAddress> parse_ip_address(std::string_view text);
std::string format_ip_address(const IpAddress& address);

// --publish [HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp]; IPv6 HOST_ADDR in brackets.
struct PublishRule {
  std::optional<IpAddress> host_address;  // none: the wildcard of the socket's family
  std::uint16_t host_port = 0;
  std::uint16_t guest_port = 0;
  Transport transport = Transport::kTcp;
};
Result<PublishRule> parse_publish_rule(std::string_view text);

// --allow-connect HOST:PORT or ADDR/PREFIX:PORT; HOST may be a name (resolved
// now, every address it has), PORT may be * for any port.
struct ConnectRule {
  IpAddress network;
  int prefix_length = 32;
  std::optional<std::uint16_t> port;  // none: any port
};
Result<std::vector<ConnectRule>> parse_connect_rule(std::string_view text);

// A socket address as the guest passes it, decoded.
struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;
};
// AF_INET / AF_INET6 sockaddr → Endpoint; a v4-mapped IPv6 address becomes IPv4.
std::optional<Endpoint> decode_endpoint(const sockaddr_storage& address, socklen_t length);
std::string format_endpoint(const Endpoint& endpoint);

// A request refused before it reaches the host: the app's -error, and why for a
// `[hyperlet policy] denied:` line under --trace (empty when it is only Linux's
// own answer to a malformed request, which is no policy matter).
struct Refusal {
  int error = 0;
  std::string why;
};

struct NetworkPolicy {
  std::vector<PublishRule> publish;
  std::vector<ConnectRule> connect;

  // The rule for a guest bind to guest_port, or nullptr (EACCES).
  const PublishRule* published(Transport transport, std::uint16_t guest_port) const;
  bool may_connect(const Endpoint& destination) const;
  // A second rule for the same guest port and transport, or for the same host
  // address, port and transport: the error names both.
  Result<void> check() const;
};

}  // namespace hyperlet
