// The destination a guest names in connect or in an addressed send (sendto,
// sendmsg, each message of sendmmsg), read the way the host's Linux reads it for
// the socket's family. The policy then decides about exactly the address the
// host kernel will use, and the host call is handed only that checked address,
// rebuilt from its fields, never the guest's bytes. One reading for every call:
// a family or an address the host would interpret differently from the check
// (AF_UNSPEC in a UDP send, the unspecified address) cannot slip between them.
#pragma once

#include <sys/socket.h>

#include <expected>

#include "devices/network_policy.h"

namespace hyperlet {

enum class AddressUse { kConnect, kSend };

struct Destination {
  enum class Kind {
    kEndpoint,  // an inet address and port: the policy decides
    // AF_UNSPEC where Linux reads it as naming nothing: connect's "disconnect",
    // and an IPv6 send's "no address" (the connected peer, checked at connect).
    // The host gets AF_UNSPEC and zeros, so it reads it exactly so.
    kUnspecified,
  };
  Kind kind = Kind::kUnspecified;
  Endpoint endpoint;        // kEndpoint: what the policy checks
  sockaddr_storage host{};  // what the host call is given, always
  socklen_t host_length = 0;
};

// socket_family is the guest socket's (AF_INET, AF_INET6, or AF_UNIX for the
// guest's socketpairs, which name no address). -errno as Linux answers an
// address it cannot use (EINVAL, EAFNOSUPPORT); any family but AF_INET, AF_INET6
// and AF_UNSPEC is EINVAL, so no other kind of address ever reaches the host.
std::expected<Destination, int> read_destination(int socket_family, AddressUse use, const sockaddr_storage& address,
                                                 socklen_t length);

}  // namespace hyperlet
