#include "devices/network_policy.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <cstring>

namespace hyperlet {
namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const char* end = text.data() + text.size();
  auto [next, error] = std::from_chars(text.data(), end, value);
  if (text.empty() || error != std::errc{} || next != end || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// "[v6]" → "v6"; anything else unchanged. nullopt for an unbalanced bracket.
std::optional<std::string_view> strip_brackets(std::string_view text) {
  if (!text.starts_with('[') && !text.ends_with(']')) return text;
  if (!text.starts_with('[') || !text.ends_with(']') || text.size() < 2) return std::nullopt;
  return text.substr(1, text.size() - 2);
}

bool prefix_matches(const IpAddress& network, int prefix_length, const IpAddress& address) {
  if (network.family != address.family) return false;
  const int whole = prefix_length / 8;
  if (std::memcmp(network.bytes.data(), address.bytes.data(), static_cast<std::size_t>(whole)) != 0) return false;
  const int rest = prefix_length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff00u >> rest);
  const auto index = static_cast<std::size_t>(whole);
  return (network.bytes[index] & mask) == (address.bytes[index] & mask);
}

}  // namespace

std::string_view transport_name(Transport transport) { return transport == Transport::kTcp ? "tcp" : "udp"; }

std::optional<IpAddress> parse_ip_address(std::string_view text) {
  auto inner = strip_brackets(text);
  if (!inner || inner->empty() || inner->size() >= INET6_ADDRSTRLEN) return std::nullopt;
  const std::string copy(*inner);
  IpAddress address;
  if (inner == text && ::inet_pton(AF_INET, copy.c_str(), address.bytes.data()) == 1) return address;
  address.family = AF_INET6;
  if (::inet_pton(AF_INET6, copy.c_str(), address.bytes.data()) == 1) return address;
  return std::nullopt;
}

std::string format_ip_address(const IpAddress& address) {
  char text[INET6_ADDRSTRLEN] = {};
  ::inet_ntop(address.family, address.bytes.data(), text, sizeof text);
  return address.family == AF_INET6 ? fmt::format("[{}]", text) : std::string(text);
}

Result<PublishRule> parse_publish_rule(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(ExitStatus::kUsage, "invalid --publish '{}': {} (expected [HOST_ADDR:]HOST_PORT:GUEST_PORT[/tcp|/udp])",
                text, why);
  };
  PublishRule rule;
  std::string_view rest = text;
  if (const std::size_t slash = rest.rfind('/'); slash != std::string_view::npos) {
    const std::string_view protocol = rest.substr(slash + 1);
    if (protocol == "udp") {
      rule.transport = Transport::kUdp;
    } else if (protocol != "tcp") {
      return bad(fmt::format("unknown protocol '{}' (tcp or udp)", protocol));
    }
    rest = rest.substr(0, slash);
  }
  if (rest.starts_with('[')) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return bad("an IPv6 host address must be [ADDR] followed by ':'");
    }
    auto address = parse_ip_address(rest.substr(0, close + 1));
    if (!address || address->family != AF_INET6) return bad("not an IPv6 address in the brackets");
    rule.host_address = address;
    rest = rest.substr(close + 2);
  }
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t colon = rest.find(':', start);
    parts.push_back(rest.substr(start, colon == std::string_view::npos ? colon : colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() == 3 && !rule.host_address) {
    auto address = parse_ip_address(parts[0]);
    if (!address || address->family != AF_INET) {
      return bad(fmt::format("'{}' is not an IPv4 address (IPv6 goes in brackets)", parts[0]));
    }
    rule.host_address = address;
    parts.erase(parts.begin());
  }
  if (parts.size() != 2) return bad(parts.size() > 3 ? "too many ':' (IPv6 addresses go in brackets)" : "wrong number of ':'");
  auto host_port = parse_port(parts[0]);
  auto guest_port = parse_port(parts[1]);
  if (!host_port) return bad(fmt::format("'{}' is not a port (1-65535)", parts[0]));
  if (!guest_port) return bad(fmt::format("'{}' is not a port (1-65535)", parts[1]));
  rule.host_port = *host_port;
  rule.guest_port = *guest_port;
  return rule;
}

Result<std::vector<ConnectRule>> parse_connect_rule(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(ExitStatus::kUsage, "invalid --allow-connect '{}': {} (expected HOST:PORT or ADDR/PREFIX:PORT, PORT may be *)",
                text, why);
  };
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no ':PORT'");
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  std::optional<std::uint16_t> port;
  if (port_text != "*") {
    port = parse_port(port_text);
    if (!port) return bad(fmt::format("'{}' is not a port (1-65535 or *)", port_text));
  }
  if (host.empty()) return bad("empty host");
  if (!host.starts_with('[') && host.find(':') != std::string_view::npos) {
    return bad("IPv6 addresses go in brackets: [ADDR]:PORT");
  }
  std::optional<int> prefix;
  if (const std::size_t slash = host.rfind('/'); slash != std::string_view::npos && !host.ends_with(']')) {
    const std::string_view prefix_text = host.substr(slash + 1);
    int value = -1;
    auto [next, error] = std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), value);
    if (prefix_text.empty() || error != std::errc{} || next != prefix_text.data() + prefix_text.size()) {
      return bad(fmt::format("'{}' is not a prefix length", prefix_text));
    }
    prefix = value;
    host = host.substr(0, slash);
  }
  if (host.starts_with('[') && host.ends_with(']') && host.find('/') != std::string_view::npos && !prefix) {
    // [2001:db8::/32]:443
    const std::string_view inner = host.substr(1, host.size() - 2);
    const std::size_t slash = inner.rfind('/');
    int value = -1;
    const std::string_view prefix_text = inner.substr(slash + 1);
    auto [next, error] = std::from_chars(prefix_text.data(), prefix_text.data() + prefix_text.size(), value);
    if (prefix_text.empty() || error != std::errc{} || next != prefix_text.data() + prefix_text.size()) {
      return bad(fmt::format("'{}' is not a prefix length", prefix_text));
    }
    prefix = value;
    host = inner.substr(0, slash);
  }
  std::vector<ConnectRule> rules;
  if (auto address = parse_ip_address(host)) {
    const int maximum = address->family == AF_INET ? 32 : 128;
    if (prefix && (*prefix < 0 || *prefix > maximum)) {
      return bad(fmt::format("prefix length {} is out of range 0-{}", *prefix, maximum));
    }
    rules.push_back(ConnectRule{*address, prefix.value_or(maximum), port});
    return rules;
  }
  if (prefix) return bad(fmt::format("'{}' is not a numeric address (needed with a prefix)", host));
  if (host.starts_with('[') || host.find(':') != std::string_view::npos) {
    return bad(fmt::format("'{}' is not an IPv6 address", host));
  }
  // A name: every address it resolves to now.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string name(host);
  if (const int status = ::getaddrinfo(name.c_str(), nullptr, &hints, &found); status != 0) {
    return bad(fmt::format("cannot resolve '{}': {}", name, ::gai_strerror(status)));
  }
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    sockaddr_storage storage{};
    std::memcpy(&storage, entry->ai_addr, std::min<std::size_t>(entry->ai_addrlen, sizeof storage));
    if (auto endpoint = decode_endpoint(storage, entry->ai_addrlen)) {
      const int maximum = endpoint->address.family == AF_INET ? 32 : 128;
      ConnectRule rule{endpoint->address, maximum, port};
      bool seen = false;
      for (const auto& existing : rules) seen |= existing.network == rule.network;
      if (!seen) rules.push_back(rule);
    }
  }
  ::freeaddrinfo(found);
  if (rules.empty()) return bad(fmt::format("'{}' has no IPv4 or IPv6 address", name));
  return rules;
}

std::optional<Endpoint> decode_endpoint(const sockaddr_storage& address, socklen_t length) {
  Endpoint endpoint;
  if (address.ss_family == AF_INET) {
    if (length < static_cast<socklen_t>(sizeof(sockaddr_in))) return std::nullopt;
    sockaddr_in in{};
    std::memcpy(&in, &address, sizeof in);
    std::memcpy(endpoint.address.bytes.data(), &in.sin_addr, 4);
    endpoint.port = ntohs(in.sin_port);
    return endpoint;
  }
  if (address.ss_family == AF_INET6) {
    if (length < static_cast<socklen_t>(sizeof(sockaddr_in6))) return std::nullopt;
    sockaddr_in6 in6{};
    std::memcpy(&in6, &address, sizeof in6);
    endpoint.port = ntohs(in6.sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6.sin6_addr)) {
      std::memcpy(endpoint.address.bytes.data(), in6.sin6_addr.s6_addr + 12, 4);
    } else {
      endpoint.address.family = AF_INET6;
      std::memcpy(endpoint.address.bytes.data(), in6.sin6_addr.s6_addr, 16);
    }
    return endpoint;
  }
  return std::nullopt;
}

std::string format_endpoint(const Endpoint& endpoint) {
  return fmt::format("{}:{}", format_ip_address(endpoint.address), endpoint.port);
}

const PublishRule* NetworkPolicy::published(Transport transport, std::uint16_t guest_port) const {
  for (const PublishRule& rule : publish) {
    if (rule.transport == transport && rule.guest_port == guest_port) return &rule;
  }
  return nullptr;
}

bool NetworkPolicy::may_connect(const Endpoint& destination) const {
  for (const ConnectRule& rule : connect) {
    if (rule.port && *rule.port != destination.port) continue;
    if (prefix_matches(rule.network, rule.prefix_length, destination.address)) return true;
  }
  return false;
}

Result<void> NetworkPolicy::check() const {
  for (std::size_t i = 0; i < publish.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      const PublishRule& a = publish[j];
      const PublishRule& b = publish[i];
      if (a.transport != b.transport) continue;
      if (a.guest_port == b.guest_port) {
        return fail(ExitStatus::kUsage, "invalid --publish: guest port {}/{} is published twice", b.guest_port,
                    transport_name(b.transport));
      }
      if (a.host_port == b.host_port && a.host_address == b.host_address) {
        return fail(ExitStatus::kUsage, "invalid --publish: host port {}/{} is published twice", b.host_port,
                    transport_name(b.transport));
      }
    }
  }
  return {};
}

}  // namespace hyperlet
