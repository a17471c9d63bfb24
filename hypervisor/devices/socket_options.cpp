#include "devices/socket_options.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace hyperlet {
namespace {

struct Verdict {
  int error = 0;
  const char* why = nullptr;  // set for a refusal --trace reports
};
using Check = Verdict (*)(int host_fd, std::span<const std::byte> value);

constexpr Verdict kAllowed{};
constexpr Verdict kMalformed{EINVAL};

// sk_setsockopt reads an int for every SOL_SOCKET option and wants at least one.
std::optional<int> int_value(std::span<const std::byte> value) {
  int result = 0;
  if (value.size() < sizeof result) return std::nullopt;
  std::memcpy(&result, value.data(), sizeof result);
  return result;
}

Verdict harmless(int, std::span<const std::byte>) { return kAllowed; }

Verdict needs_net_admin(int, std::span<const std::byte>) { return {EPERM, "it needs CAP_NET_ADMIN"}; }

Verdict chooses_route(int, std::span<const std::byte>) {
  return {EPERM, "it chooses the route, the interface or the source address, which the policy decides"};
}

Verdict needs_net_raw(int, std::span<const std::byte>) {
  return {EPERM, "IPv6 extension headers need CAP_NET_RAW, which the app does not have"};
}

// 0-6 for anyone, above that CAP_NET_ADMIN (sk_set_prio_allowed).
Verdict low_priority(int, std::span<const std::byte> value) {
  auto priority = int_value(value);
  if (!priority) return kMalformed;
  return *priority >= 0 && *priority <= 6 ? kAllowed : Verdict{EPERM, "a priority above 6 needs CAP_NET_ADMIN"};
}

// Turning debugging on needs CAP_NET_ADMIN; Linux answers EACCES.
Verdict debug_off(int, std::span<const std::byte> value) {
  auto debug = int_value(value);
  if (!debug) return kMalformed;
  return *debug == 0 ? kAllowed : Verdict{EACCES, "SO_DEBUG on needs CAP_NET_ADMIN"};
}

// Anyone may lower the busy-poll time; raising it above the socket's current
// value needs CAP_NET_ADMIN.
Verdict busy_poll_not_raised(int host_fd, std::span<const std::byte> value) {
  auto wanted = int_value(value);
  if (!wanted || *wanted < 0) return kMalformed;
  int current = 0;
  socklen_t length = sizeof current;
  if (::getsockopt(host_fd, SOL_SOCKET, SO_BUSY_POLL, &current, &length) != 0) return {errno};
  return *wanted <= current ? kAllowed : Verdict{EPERM, "raising SO_BUSY_POLL needs CAP_NET_ADMIN"};
}

// A /proc/sys list of names ("reno cubic"), read when asked (the sysctl may
// change); empty when it cannot be read, which refuses every name.
bool listed(const char* path, std::string_view name) {
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::array<char, 4096> buffer{};
  const ssize_t got = ::read(fd, buffer.data(), buffer.size());
  ::close(fd);
  if (got <= 0) return false;
  std::string_view names(buffer.data(), static_cast<std::size_t>(got));
  while (!names.empty()) {
    const std::size_t end = names.find_first_of(" \t\n");
    if (names.substr(0, end) == name) return true;
    if (end == std::string_view::npos) break;
    names.remove_prefix(end + 1);
  }
  return false;
}

// Without CAP_NET_ADMIN Linux sets only an algorithm in
// tcp_allowed_congestion_control: one that is loaded but not allowed is EPERM,
// any other ENOENT (only CAP_NET_ADMIN may load a tcp_NAME module for it).
Verdict allowed_congestion_control(int, std::span<const std::byte> value) {
  if (value.empty()) return kMalformed;
  // As do_tcp_setsockopt: at most TCP_CA_NAME_MAX - 1 bytes, up to a NUL.
  constexpr std::size_t kLongestName = 15;
  std::string_view name(reinterpret_cast<const char*>(value.data()), std::min(value.size(), kLongestName));
  name = name.substr(0, name.find('\0'));
  if (listed("/proc/sys/net/ipv4/tcp_allowed_congestion_control", name)) return kAllowed;
  if (listed("/proc/sys/net/ipv4/tcp_available_congestion_control", name)) {
    return {EPERM, "the algorithm is not in tcp_allowed_congestion_control (only CAP_NET_ADMIN may use it)"};
  }
  return {ENOENT, "no such algorithm loaded (only CAP_NET_ADMIN may load its module)"};
}

struct Rule {
  int level;
  int name;
  const char* label;
  Check check;
};

// The options a service sets. Everything else is ENOPROTOOPT: IP_FREEBIND,
// IP_MULTICAST_IF, IP_UNICAST_IF, IPV6_ADDRFORM (it would turn the host socket
// into an IPv4 one behind the guest's back), IPV6_FLOWLABEL_MGR, TCP_ULP,
// TCP_MD5SIG, SO_ATTACH_FILTER, UDP_ENCAP, ...
constexpr std::array kRules{
    Rule{SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", harmless},
    Rule{SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", harmless},
    Rule{SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", harmless},
    // Capped at net.core.rmem_max/wmem_max for everyone (the FORCE ones are not).
    Rule{SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", harmless},
    Rule{SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", harmless},
    Rule{SOL_SOCKET, SO_ERROR, "SO_ERROR", harmless},
    Rule{SOL_SOCKET, SO_TYPE, "SO_TYPE", harmless},
    Rule{SOL_SOCKET, SO_DOMAIN, "SO_DOMAIN", harmless},
    Rule{SOL_SOCKET, SO_PROTOCOL, "SO_PROTOCOL", harmless},
    Rule{SOL_SOCKET, SO_ACCEPTCONN, "SO_ACCEPTCONN", harmless},
    Rule{SOL_SOCKET, SO_LINGER, "SO_LINGER", harmless},
    Rule{SOL_SOCKET, SO_RCVTIMEO, "SO_RCVTIMEO", harmless},
    Rule{SOL_SOCKET, SO_SNDTIMEO, "SO_SNDTIMEO", harmless},
    Rule{SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST", harmless},  // a broadcast address still needs its rule
    Rule{SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", harmless},
    Rule{SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", harmless},
    Rule{SOL_SOCKET, SO_SNDLOWAT, "SO_SNDLOWAT", harmless},
    Rule{SOL_SOCKET, SO_TIMESTAMP, "SO_TIMESTAMP", harmless},
    Rule{SOL_SOCKET, SO_TIMESTAMPNS, "SO_TIMESTAMPNS", harmless},
    Rule{SOL_SOCKET, SO_INCOMING_CPU, "SO_INCOMING_CPU", harmless},
    Rule{SOL_SOCKET, SO_ZEROCOPY, "SO_ZEROCOPY", harmless},
    Rule{SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", low_priority},
    Rule{SOL_SOCKET, SO_DEBUG, "SO_DEBUG", debug_off},
    Rule{SOL_SOCKET, SO_BUSY_POLL, "SO_BUSY_POLL", busy_poll_not_raised},
    Rule{SOL_SOCKET, SO_MARK, "SO_MARK", needs_net_admin},
    Rule{SOL_SOCKET, SO_RCVBUFFORCE, "SO_RCVBUFFORCE", needs_net_admin},
    Rule{SOL_SOCKET, SO_SNDBUFFORCE, "SO_SNDBUFFORCE", needs_net_admin},
    Rule{SOL_SOCKET, SO_BINDTODEVICE, "SO_BINDTODEVICE", chooses_route},
    Rule{SOL_SOCKET, SO_BINDTOIFINDEX, "SO_BINDTOIFINDEX", chooses_route},

    Rule{IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", harmless},
    Rule{IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG", harmless},
    Rule{IPPROTO_TCP, TCP_CORK, "TCP_CORK", harmless},
    Rule{IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", harmless},
    Rule{IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", harmless},
    Rule{IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", harmless},
    Rule{IPPROTO_TCP, TCP_SYNCNT, "TCP_SYNCNT", harmless},
    Rule{IPPROTO_TCP, TCP_LINGER2, "TCP_LINGER2", harmless},
    Rule{IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", harmless},
    Rule{IPPROTO_TCP, TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP", harmless},
    Rule{IPPROTO_TCP, TCP_INFO, "TCP_INFO", harmless},
    Rule{IPPROTO_TCP, TCP_QUICKACK, "TCP_QUICKACK", harmless},
    Rule{IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", harmless},
    Rule{IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN",
         harmless},  // the server side; a client's SYN data goes by connect or MSG_FASTOPEN, whose address is checked
    Rule{IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", harmless},
    Rule{IPPROTO_TCP, TCP_CONGESTION, "TCP_CONGESTION", allowed_congestion_control},
    Rule{IPPROTO_TCP, TCP_REPAIR, "TCP_REPAIR", needs_net_admin},
    Rule{IPPROTO_TCP, TCP_FASTOPEN_KEY, "TCP_FASTOPEN_KEY", needs_net_admin},

    Rule{IPPROTO_IP, IP_TOS, "IP_TOS", harmless},
    Rule{IPPROTO_IP, IP_TTL, "IP_TTL", harmless},
    Rule{IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", harmless},  // only asks for IP_PKTINFO on receive
    Rule{IPPROTO_IP, IP_RECVTOS, "IP_RECVTOS", harmless},
    Rule{IPPROTO_IP, IP_RECVTTL, "IP_RECVTTL", harmless},
    Rule{IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER", harmless},
    Rule{IPPROTO_IP, IP_MTU, "IP_MTU", harmless},
    Rule{IPPROTO_IP, IP_RECVERR, "IP_RECVERR", harmless},
    Rule{IPPROTO_IP, IP_OPTIONS, "IP_OPTIONS", chooses_route},  // source routes on every packet
    Rule{IPPROTO_IP, IP_TRANSPARENT, "IP_TRANSPARENT", needs_net_admin},

    Rule{IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", harmless},
    Rule{IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", harmless},
    Rule{IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", harmless},
    Rule{IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", harmless},
    Rule{IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS", harmless},
    Rule{IPPROTO_IPV6, IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER", harmless},
    Rule{IPPROTO_IPV6, IPV6_MTU, "IPV6_MTU", harmless},
    Rule{IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", harmless},
    Rule{IPPROTO_IPV6, IPV6_RTHDR, "IPV6_RTHDR", chooses_route},
    Rule{IPPROTO_IPV6, IPV6_2292RTHDR, "IPV6_2292RTHDR", chooses_route},
    Rule{IPPROTO_IPV6, IPV6_NEXTHOP, "IPV6_NEXTHOP", chooses_route},
    Rule{IPPROTO_IPV6, IPV6_PKTINFO, "IPV6_PKTINFO", chooses_route},  // a sticky source address and interface
    // Sticky ancillary data of every kind, routing headers included.
    Rule{IPPROTO_IPV6, IPV6_2292PKTOPTIONS, "IPV6_2292PKTOPTIONS", chooses_route},
    Rule{IPPROTO_IPV6, IPV6_HOPOPTS, "IPV6_HOPOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_2292HOPOPTS, "IPV6_2292HOPOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_DSTOPTS, "IPV6_DSTOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_2292DSTOPTS, "IPV6_2292DSTOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_RTHDRDSTOPTS, "IPV6_RTHDRDSTOPTS", needs_net_raw},
    Rule{IPPROTO_IPV6, IPV6_TRANSPARENT, "IPV6_TRANSPARENT", needs_net_admin},

    Rule{IPPROTO_UDP, UDP_CORK, "UDP_CORK", harmless},
    Rule{IPPROTO_UDP, UDP_SEGMENT, "UDP_SEGMENT", harmless},
    Rule{IPPROTO_UDP, UDP_GRO, "UDP_GRO", harmless},
};

const Rule* rule_for(int level, int name) {
  const auto found = std::find_if(kRules.begin(), kRules.end(),
                                  [&](const Rule& rule) { return rule.level == level && rule.name == name; });
  return found == kRules.end() ? nullptr : &*found;
}

}  // namespace

std::expected<void, Refusal> check_set_option(int host_fd, int level, int name, std::span<const std::byte> value) {
  const Rule* rule = rule_for(level, name);
  if (rule == nullptr) return std::unexpected(Refusal{ENOPROTOOPT, {}});
  const Verdict verdict = rule->check(host_fd, value);
  if (verdict.error == 0) return {};
  return std::unexpected(Refusal{
      verdict.error, verdict.why == nullptr ? std::string() : fmt::format("{} ({})", rule->label, verdict.why)});
}

bool may_get_option(int level, int name) { return rule_for(level, name) != nullptr; }

}  // namespace hyperlet
