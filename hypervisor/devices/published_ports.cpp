#include "devices/published_ports.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/unique_fd.h"

namespace hyperlet {

Result<void> check_published_ports_free(const NetworkPolicy& policy) {
  for (const PublishRule& rule : policy.publish) {
    const IpAddress address = rule.host_address.value_or(IpAddress{});  // none: 0.0.0.0
    const int type = rule.transport == Transport::kTcp ? SOCK_STREAM : SOCK_DGRAM;
    UniqueFd probe(::socket(address.family, type | SOCK_CLOEXEC, 0));
    if (!probe.valid()) continue;  // the app's own bind will say what is wrong
    if (rule.transport == Transport::kTcp) {
      const int yes = 1;
      ::setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    }
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (address.family == AF_INET6) {
      auto& v6 = reinterpret_cast<sockaddr_in6&>(storage);
      v6.sin6_family = AF_INET6;
      v6.sin6_port = htons(rule.host_port);
      std::memcpy(&v6.sin6_addr, address.bytes.data(), 16);
      length = sizeof v6;
    } else {
      auto& v4 = reinterpret_cast<sockaddr_in&>(storage);
      v4.sin_family = AF_INET;
      v4.sin_port = htons(rule.host_port);
      std::memcpy(&v4.sin_addr, address.bytes.data(), 4);
      length = sizeof v4;
    }
    if (::bind(probe.get(), reinterpret_cast<const sockaddr*>(&storage), length) == 0) continue;
    const int error = errno;
    const std::string shown = address.family == AF_INET6
                                  ? fmt::format("[{}]:{}", format_ip_address(address), rule.host_port)
                                  : fmt::format("{}:{}", format_ip_address(address), rule.host_port);
    if (error == EADDRINUSE) {
      const std::string option = rule.host_address ? fmt::format("{}:{}", shown, rule.guest_port)
                                                   : fmt::format("{}:{}", rule.host_port, rule.guest_port);
      return fail(ExitStatus::kUsage,
                  "cannot publish {}/{} (--publish {}): another process on this host already uses that address "
                  "and port",
                  shown, transport_name(rule.transport), option);
    }
    if (error == EADDRNOTAVAIL) {
      return fail(ExitStatus::kUsage, "cannot publish {}/{}: no interface of this host has that address", shown,
                  transport_name(rule.transport));
    }
    if (error == EACCES) {
      return fail(ExitStatus::kUsage,
                  "cannot publish {}/{}: ports below 1024 need root (or CAP_NET_BIND_SERVICE) on the host", shown,
                  transport_name(rule.transport));
    }
  }
  return {};
}

}  // namespace hyperlet
