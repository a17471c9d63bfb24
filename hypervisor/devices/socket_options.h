// setsockopt/getsockopt: an allow-list of socket options by (level, name), with
// the argument checked where Linux would ask an unprivileged process for a
// capability. hyperlet usually runs as root, and the host kernel checks the
// capabilities of the process making the call, so without this an app would
// set what only root may (SO_PRIORITY above 6, TCP_CONGESTION to any algorithm,
// loading its module): the app gets what an unprivileged process gets. Options
// that would choose the route, the interface or the source address (IP_OPTIONS,
// IPv6 routing and extension headers, SO_BINDTODEVICE) are refused as a policy
// matter, and an option not on the list never reaches the host.
#pragma once

#include <cstddef>
#include <expected>
#include <span>

#include "devices/network_policy.h"

namespace hyperlet {

// May the app set this option to this value (hyperlet's own copy, which is what
// the host is given)? host_fd is the socket's, for the options whose
// unprivileged limit is the socket's current value. Refusals: ENOPROTOOPT for an
// option not offered (Linux's answer to one it does not know), EINVAL for a
// malformed value, and what unprivileged Linux answers for the privileged ones
// (EPERM; EACCES for SO_DEBUG; ENOENT for an unknown TCP_CONGESTION), with a
// reason for --trace.
std::expected<void, Refusal> check_set_option(int host_fd, int level, int name, std::span<const std::byte> value);

// Reading an option changes nothing: every option the list knows may be read,
// the refused ones included (they read as never set). Others: ENOPROTOOPT.
bool may_get_option(int level, int name);

}  // namespace hyperlet
