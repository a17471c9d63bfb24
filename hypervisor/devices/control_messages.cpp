#include "devices/control_messages.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace hyperlet {
namespace {

// What one message's data decides: allowed (error 0), or refused with an errno
// and, for a policy refusal, why.
struct Verdict {
  int error = 0;
  const char* why = nullptr;
};
using Check = Verdict (*)(std::span<const std::byte> data);

constexpr Verdict kAllowed{};
constexpr Verdict kMalformed{EINVAL};

Verdict harmless(std::span<const std::byte>) { return kAllowed; }

Verdict chooses_route(std::span<const std::byte>) {
  return {EPERM, "it chooses the route; its first hop is an address no --allow-connect rule decided about"};
}

Verdict needs_net_raw(std::span<const std::byte>) {
  return {EPERM, "IPv6 extension headers need CAP_NET_RAW, which the app does not have"};
}

Verdict needs_net_admin(std::span<const std::byte>) { return {EPERM, "it needs CAP_NET_ADMIN"}; }

// SO_PRIORITY: 0-6 for anyone, above that CAP_NET_ADMIN (sk_set_prio_allowed).
Verdict low_priority(std::span<const std::byte> data) {
  std::uint32_t priority = 0;
  if (data.size() != sizeof priority) return kMalformed;
  std::memcpy(&priority, data.data(), sizeof priority);
  return priority <= 6 ? kAllowed : Verdict{EPERM, "a priority above 6 needs CAP_NET_ADMIN"};
}

constexpr const char* kChoosesSource = "it chooses the interface or the source address";

// IP_PKTINFO on send: ipi_ifindex picks the interface, ipi_spec_dst the source
// address; with neither it changes nothing. Linux wants the exact size.
Verdict ipv4_packet_info(std::span<const std::byte> data) {
  in_pktinfo info{};
  if (data.size() != sizeof info) return kMalformed;
  std::memcpy(&info, data.data(), sizeof info);
  return info.ipi_ifindex == 0 && info.ipi_spec_dst.s_addr == htonl(INADDR_ANY) ? kAllowed
                                                                                : Verdict{EPERM, kChoosesSource};
}

// IPV6_PKTINFO on send: ipi6_ifindex and ipi6_addr (the source; v4-mapped when
// an IPv6 socket sends to IPv4). Linux wants at least the structure.
Verdict ipv6_packet_info(std::span<const std::byte> data) {
  in6_pktinfo info{};
  if (data.size() < sizeof info) return kMalformed;
  std::memcpy(&info, data.data(), sizeof info);
  const in6_addr& source = info.ipi6_addr;
  const bool no_source =
      IN6_IS_ADDR_UNSPECIFIED(&source) || (IN6_IS_ADDR_V4MAPPED(&source) && source.s6_addr32[3] == htonl(INADDR_ANY));
  return info.ipi6_ifindex == 0 && no_source ? kAllowed : Verdict{EPERM, kChoosesSource};
}

struct Rule {
  int level;
  int type;
  const char* name;
  Check check;
};

// Everything the host kernel honours on an inet socket's send, and what of it
// the app gets. Not listed (EINVAL): IP_PROTOCOL (raw sockets), IPV6_FLOWINFO
// (needs a flow label lease, not offered), SCM_TXTIME (needs SO_TXTIME, not
// offered), SCM_RIGHTS/SCM_CREDENTIALS (meaningless on inet), and whatever
// later kernels add.
constexpr std::array kRules{
    Rule{SOL_SOCKET, SO_TIMESTAMPING, "SO_TIMESTAMPING", harmless},  // asks for send timestamps
    Rule{SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", low_priority},
    Rule{SOL_SOCKET, SO_MARK, "SO_MARK", needs_net_admin},
    Rule{IPPROTO_IP, IP_TTL, "IP_TTL", harmless},
    Rule{IPPROTO_IP, IP_TOS, "IP_TOS", harmless},
    Rule{IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", ipv4_packet_info},
    Rule{IPPROTO_IP, IP_RETOPTS, "IP_RETOPTS", chooses_route},  // source routes (and record route, timestamps)
    Rule{IPPROTO_IPV6, IPV6_HOPLIMIT, "IPV6_HOPLIMIT", harmless},
    Rule{IPPROTO_IPV6, IPV6_2292HOPLIMIT, "IPV6_2292HOPLIMIT", harmless},
    Rule{IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", harmless},
    Rule{IPPROTO_IPV6, IPV6_DONTFRAG, "IPV6_DONTFRAG", harmless},
    Rule{IPPROTO_IPV6, IPV6_PKTINFO, "IPV6_PKTINFO", ipv6_packet_info},
    Rule{IPPROTO_IPV6, IPV6_2292PKTINFO, "IPV6_2292PKTINFO", ipv6_packet_info},
    Rule{IPPROTO_IPV6, IPV6_RTHDR, "IPV6_RTHDR", chooses_route},
    Rule{IPPROTO_IPV6, IPV6_2292RTHDR, "IPV6_2292RTHDR", chooses_route},
    Rule{IPPROTO_IPV6, IPV6_HOPOPTS, "IPV6_HOPOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_2292HOPOPTS, "IPV6_2292HOPOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_DSTOPTS, "IPV6_DSTOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_2292DSTOPTS, "IPV6_2292DSTOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_RTHDRDSTOPTS, "IPV6_RTHDRDSTOPTS", needs_net_raw},
    Rule{IPPROTO_UDP, UDP_SEGMENT, "UDP_SEGMENT", harmless},
};

Verdict check_message(int level, int type, std::span<const std::byte> data, const char*& name) {
  for (const Rule& rule : kRules) {
    if (rule.level == level && rule.type == type) {
      name = rule.name;
      return rule.check(data);
    }
  }
  return kMalformed;
}

}  // namespace

std::expected<void, Refusal> check_control_messages(int socket_family, std::span<const std::byte> control) {
  const bool inet = socket_family == AF_INET || socket_family == AF_INET6;
  // As Linux's for_each_cmsghdr: a header where at least one fits, the next at
  // CMSG_ALIGN(cmsg_len); CMSG_OK (a length that covers the header and stays
  // in the buffer) or EINVAL, as every one of the host's cmsg parsers answers.
  for (std::size_t offset = 0; offset < control.size() && control.size() - offset >= sizeof(cmsghdr);) {
    cmsghdr header{};
    std::memcpy(&header, control.data() + offset, sizeof header);
    if (header.cmsg_len < sizeof(cmsghdr) || header.cmsg_len > control.size() - offset) {
      return std::unexpected(Refusal{EINVAL, {}});
    }
    if (!inet) return std::unexpected(Refusal{EINVAL, {}});
    const auto data = control.subspan(offset + CMSG_LEN(0), header.cmsg_len - CMSG_LEN(0));
    const char* name = nullptr;
    const Verdict verdict = check_message(header.cmsg_level, header.cmsg_type, data, name);
    if (verdict.error != 0) {
      return std::unexpected(Refusal{verdict.error, verdict.why == nullptr
                                                        ? std::string()
                                                        : fmt::format("control message {} ({})", name, verdict.why)});
    }
    offset += CMSG_ALIGN(header.cmsg_len);
  }
  return {};
}

}  // namespace hyperlet
