// The control messages (ancillary data) an app may send with sendmsg/sendmmsg:
// an allow-list by (level, type), with the arguments checked where they could
// choose the route, the interface or the source address, or need a capability
// hyperlet has on the host and the app must not inherit. Anything not on the
// list is refused, so a control message the host kernel honours and this file
// never heard of cannot reach it.
//
// The check runs on hyperlet's own copy of the guest's buffer, walked exactly as
// the host kernel walks it (for_each_cmsghdr with CMSG_OK), and that copy is
// what the host call is given: every message the host sees was checked.
#pragma once

#include <cstddef>
#include <expected>
#include <span>

#include "devices/network_policy.h"

namespace hyperlet {

// socket_family: AF_INET or AF_INET6 (the allow-list), or AF_UNIX for the
// guest's socketpairs, which take none (SCM_RIGHTS would hand over hyperlet's
// own fds, SCM_CREDENTIALS its pid). Refusals: EPERM for a message Linux knows
// that would route around the policy or needs a capability (with a reason for
// --trace); EINVAL for a malformed buffer or a message not offered, which is
// Linux's own answer to a control message it does not take.
std::expected<void, Refusal> check_control_messages(int socket_family, std::span<const std::byte> control);

}  // namespace hyperlet
