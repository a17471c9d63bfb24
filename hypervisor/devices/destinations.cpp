#include "devices/destinations.h"

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace hyperlet {
namespace {

// A sockaddr_in6 without sin6_scope_id (SIN6_LEN_RFC2133): enough for Linux's IPv6 sockets.
constexpr socklen_t kShortestIpv6Length = offsetof(sockaddr_in6, sin6_scope_id);

// Linux reads the unspecified address as "this host" and routes it to loopback
// (ip_route_output_key_hash_rcu for IPv4; ip6_datagram_connect and
// tcp_v6_connect for IPv6). The host is handed loopback itself, so the address
// checked is the address reached.
Destination ipv4(in_addr address, in_port_t port, socklen_t length) {
  if (address.s_addr == htonl(INADDR_ANY)) address.s_addr = htonl(INADDR_LOOPBACK);
  Destination destination;
  destination.kind = Destination::Kind::kEndpoint;
  std::memcpy(destination.endpoint.address.bytes.data(), &address, sizeof address);
  destination.endpoint.port = ntohs(port);
  sockaddr_in host{};
  host.sin_family = AF_INET;
  host.sin_port = port;
  host.sin_addr = address;
  std::memcpy(&destination.host, &host, sizeof host);
  // The guest's length (at least a sockaddr_in), so the host's own length checks
  // answer as they would have; the bytes past the fields are zero.
  destination.host_length = length;
  return destination;
}

Destination from_sockaddr_in(const sockaddr_storage& address, socklen_t length) {
  sockaddr_in in{};
  std::memcpy(&in, &address, sizeof in);
  return ipv4(in.sin_addr, in.sin_port, length);
}

Destination from_sockaddr_in6(const sockaddr_storage& address, socklen_t length) {
  sockaddr_in6 in6{};
  std::memcpy(&in6, &address, std::min<std::size_t>(length, sizeof in6));
  in6_addr reached = in6.sin6_addr;
  if (IN6_IS_ADDR_UNSPECIFIED(&reached)) reached = in6addr_loopback;
  if (IN6_IS_ADDR_V4MAPPED(&reached) && reached.s6_addr32[3] == htonl(INADDR_ANY)) {
    reached.s6_addr32[3] = htonl(INADDR_LOOPBACK);
  }
  Destination destination;
  destination.kind = Destination::Kind::kEndpoint;
  destination.endpoint.port = ntohs(in6.sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&reached)) {  // Linux sends it as IPv4, and the policy matches it so
    std::memcpy(destination.endpoint.address.bytes.data(), reached.s6_addr + 12, 4);
  } else {
    destination.endpoint.address.family = AF_INET6;
    std::memcpy(destination.endpoint.address.bytes.data(), reached.s6_addr, 16);
  }
  // sin6_flowinfo is left out: the host uses it only with IPV6_FLOWINFO_SEND,
  // which is not offered. The scope id stays: it is how a link-local address
  // names its link, and the address itself is what the policy checked.
  sockaddr_in6 host{};
  host.sin6_family = AF_INET6;
  host.sin6_port = in6.sin6_port;
  host.sin6_addr = reached;
  host.sin6_scope_id = in6.sin6_scope_id;
  std::memcpy(&destination.host, &host, sizeof host);
  destination.host_length = length;
  return destination;
}

}  // namespace

std::expected<Destination, int> read_destination(int socket_family, AddressUse use, const sockaddr_storage& address,
                                                 socklen_t length) {
  if (length < static_cast<socklen_t>(sizeof(sa_family_t))) return std::unexpected(EINVAL);
  const bool inet = socket_family == AF_INET || socket_family == AF_INET6;
  switch (address.ss_family) {
    case AF_UNSPEC: {
      // Only connect means "disconnect" by AF_UNSPEC (every family, the guest's
      // pairs included), and only IPv6 sends ignore it (udpv6_sendmsg); Linux's
      // IPv4 UDP send (udp_sendmsg) reads it as AF_INET. Nothing of the rest of
      // the guest's address reaches the host.
      Destination unspecified;
      unspecified.host.ss_family = AF_UNSPEC;
      unspecified.host_length = length;
      if (use == AddressUse::kConnect || (socket_family == AF_INET6)) return unspecified;
      if (socket_family != AF_INET) return std::unexpected(EINVAL);
      if (length < static_cast<socklen_t>(sizeof(sockaddr_in))) return std::unexpected(EINVAL);
      return from_sockaddr_in(address, length);
    }
    case AF_INET:
      // IPv6 sockets take IPv4 addresses too (connect and send go the IPv4 way).
      if (!inet || length < static_cast<socklen_t>(sizeof(sockaddr_in))) return std::unexpected(EINVAL);
      return from_sockaddr_in(address, length);
    case AF_INET6:
      if (!inet) return std::unexpected(EINVAL);
      if (socket_family == AF_INET) return std::unexpected(EAFNOSUPPORT);
      if (length < kShortestIpv6Length) return std::unexpected(EINVAL);
      return from_sockaddr_in6(address, length);
    default:
      return std::unexpected(EINVAL);
  }
}

}  // namespace hyperlet
