// The guest's sockets: real host sockets (AF_INET, AF_INET6; TCP, UDP) behind the
// guest's fd table, reached only through devices/sockets.cpp, which applies the
// network policy (devices/network_policy.h) to bind, listen, connect and send.
#pragma once

#include <sys/socket.h>

#include <optional>
#include <vector>

#include "core/unique_fd.h"
#include "devices/network_policy.h"

namespace hyperlet {

struct SocketState {
  int family = AF_INET;
  Transport transport = Transport::kTcp;
  // The --publish rule it was bound through (or, for an accepted socket, its
  // listener's): only these may listen, and their local port reads as the guest's.
  std::optional<PublishRule> rule;
  // The address the guest bound, which getsockname reports instead of the host's.
  std::optional<sockaddr_storage> bound;
  socklen_t bound_length = 0;
  // A TCP connection (accepted, or connected by the guest): it may use socket buffers.
  bool connected = false;
  // Its slot in the guest's socket buffers (devices/socket_buffers.h), or -1.
  int slot = -1;
  // Input the host took from the socket into a slot of an image that exec'd,
  // which that image had not read: the next reads get it first.
  std::vector<std::byte> carried_input;
  // Input the host took for the app before a fork, which neither process had
  // read: the read end of a pipe both processes' hyperlets hold (its write end
  // is closed), read after carried_input and before the slot, so that
  // whichever process reads first takes each byte once, as from the socket.
  UniqueFd shared_input;
};

}  // namespace hyperlet
