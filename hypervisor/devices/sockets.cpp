// Sockets: each guest socket is a host socket (always SOCK_CLOEXEC on the host;
// SOCK_NONBLOCK as the guest asks), so a blocking call blocks the vCPU's thread on
// the host and a non-blocking one answers at once: one exit per call either way.
// Data moves between the host socket and the checked guest span directly.
//
// The policy (devices/network_policy.h) is applied here and nowhere else:
// - bind to a port: only a --publish rule's GUEST_PORT, and the host socket is
//   bound to the rule's HOST_ADDR:HOST_PORT; getsockname reports what the guest
//   bound. bind to port 0 (an ephemeral port, as connect picks) is allowed.
// - listen: only on a socket bound through a rule.
// - connect, sendto/sendmsg/sendmmsg with an address: only to an --allow-connect
//   address (each message of a sendmmsg on its own). The address is read as the
//   host's Linux reads it (devices/destinations.h) and the host is handed only
//   what was checked, rebuilt.
// - control messages on send (devices/control_messages.h) and socket options
//   (devices/socket_options.h): allow-lists, checked on hyperlet's own copy,
//   which is what the host gets; nothing chooses the route, the interface or the
//   source, and nothing needs a capability the app does not have.
// socketpair(AF_UNIX) makes a pair inside the guest that reaches nothing outside;
// no AF_UNIX address is ever bound or reached on the host.
// Denials are EACCES, with a line on stderr under --trace.
// read/write/readv/writev/sendfile/close/fcntl on sockets go through the fd
// table's generic handlers (filesystem.cpp); hyperlet ignores SIGPIPE, so a
// write to a closed connection is EPIPE.
#include "devices/sockets.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <expected>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "devices/control_messages.h"
#include "devices/destinations.h"
#include "devices/fd_snapshot.h"
#include "devices/host_syscalls.h"
#include "devices/socket_options.h"

namespace hyperlet {
namespace {

using R = std::int64_t;
constexpr std::uint64_t kMaxControl = 64 * 1024;
constexpr socklen_t kMaxOption = 512;

std::int64_t fd_argument(std::uint64_t value) { return static_cast<std::int32_t>(value); }

void deny(const SyscallContext& context, std::string_view what) { context.report_denial(what); }

// The result of a host call that may block: the run's deadline (SIGALRM) ends it.
R blocking_result(SyscallContext& context, ssize_t value) {
  if (value >= 0) return value;
  if (errno == EINTR) context.interrupted = true;
  return -errno;
}

struct Socket {
  OpenFile* file;
  SocketState* state;
};

std::expected<Socket, int> socket_of(const SyscallContext& context, std::uint64_t fd) {
  OpenFile* file = context.files.fds.get(fd_argument(fd));
  if (file == nullptr) return std::unexpected(EBADF);
  if (file->socket == nullptr) return std::unexpected(ENOTSOCK);
  return Socket{file, file->socket.get()};
}

struct Address {
  sockaddr_storage storage{};
  socklen_t length = 0;
};

std::expected<Address, int> read_address(const SyscallContext& context, std::uint64_t address,
                                         std::uint64_t length) {
  if (static_cast<std::int32_t>(length) < 0 || length > sizeof(sockaddr_storage)) return std::unexpected(EINVAL);
  Address result;
  result.length = static_cast<socklen_t>(length);
  if (length == 0) return result;
  auto bytes = context.user_span(address, length);
  if (!bytes) return std::unexpected(EFAULT);
  std::memcpy(&result.storage, bytes->data(), length);
  return result;
}

// Linux's move_addr_to_user: the guest's buffer gets what fits, *length the full size.
R write_address(const SyscallContext& context, const Address& value, std::uint64_t address,
                std::uint64_t length_address) {
  if (address == 0 || length_address == 0) return 0;
  auto capacity = context.read<std::int32_t>(length_address);
  if (!capacity) return -EFAULT;
  if (*capacity < 0) return -EINVAL;
  const auto copied = std::min<std::uint64_t>(static_cast<std::uint64_t>(*capacity), value.length);
  if (copied != 0) {
    auto bytes = context.user_span(address, copied);
    if (!bytes) return -EFAULT;
    std::memcpy(bytes->data(), &value.storage, copied);
  }
  return context.write(length_address, static_cast<std::int32_t>(value.length)) ? 0 : -EFAULT;
}

// The one gate for every call that names a destination (connect, sendto,
// sendmsg, each message of sendmmsg): the guest's address is read as the host
// kernel reads it for this socket, the policy decides about that reading, and
// the caller hands the host only destination.host.
std::expected<Destination, int> checked_destination(const SyscallContext& context, const SocketState& state,
                                                    AddressUse use, const Address& address, std::string_view call) {
  auto destination = read_destination(state.family, use, address.storage, address.length);
  if (!destination) return std::unexpected(destination.error());
  if (destination->kind != Destination::Kind::kEndpoint || context.network.may_connect(destination->endpoint)) {
    return destination;
  }
  deny(context, fmt::format("{} to {} (no --allow-connect rule)", call, format_endpoint(destination->endpoint)));
  return std::unexpected(EACCES);
}

R refused(const SyscallContext& context, const Refusal& refusal, std::string_view call) {
  if (!refusal.why.empty()) deny(context, fmt::format("{}: {}", call, refusal.why));
  return -refusal.error;
}

// ---------------------------------------------------------------- create, bind, listen, accept

R create_socket(SyscallContext& context, std::uint64_t domain, std::uint64_t type, std::uint64_t protocol) {
  if (domain != AF_INET && domain != AF_INET6) return -EAFNOSUPPORT;
  const std::uint64_t flags = type & static_cast<std::uint64_t>(SOCK_NONBLOCK | SOCK_CLOEXEC);
  const std::uint64_t kind = type & ~static_cast<std::uint64_t>(SOCK_NONBLOCK | SOCK_CLOEXEC);
  auto state = std::make_shared<SocketState>();
  state->family = static_cast<int>(domain);
  if (kind == SOCK_STREAM) {
    if (protocol != 0 && protocol != IPPROTO_TCP) return -EPROTONOSUPPORT;
    state->transport = Transport::kTcp;
  } else if (kind == SOCK_DGRAM) {
    if (protocol != 0 && protocol != IPPROTO_UDP) return -EPROTONOSUPPORT;
    state->transport = Transport::kUdp;
  } else if (kind == SOCK_RAW || kind == SOCK_PACKET) {
    return -EPERM;
  } else {
    return -EINVAL;
  }
  const int host = ::socket(static_cast<int>(domain),
                            static_cast<int>(kind | (flags & SOCK_NONBLOCK)) | SOCK_CLOEXEC,
                            static_cast<int>(protocol));
  if (host < 0) return -errno;
  auto file = std::make_shared<OpenFile>();
  file->host_fd = host;
  file->owned = UniqueFd(host);
  file->socket = std::move(state);
  return context.files.fds.add(std::move(file), (flags & SOCK_CLOEXEC) != 0);
}

// Where a socket of `family` bound through `rule` binds on the host; nothing for
// an IPv4 socket and a rule with an IPv6 host address.
std::optional<Address> host_address_for(const PublishRule& rule, int family) {
  Address host;
  if (family == AF_INET) {
    if (rule.host_address && rule.host_address->family != AF_INET) return std::nullopt;
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(rule.host_port);
    if (rule.host_address) std::memcpy(&in.sin_addr, rule.host_address->bytes.data(), 4);
    std::memcpy(&host.storage, &in, sizeof in);
    host.length = sizeof in;
  } else {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(rule.host_port);
    if (rule.host_address && rule.host_address->family == AF_INET6) {
      std::memcpy(&in6.sin6_addr, rule.host_address->bytes.data(), 16);
    } else if (rule.host_address) {  // IPv4 through an IPv6 socket: v4-mapped
      in6.sin6_addr.s6_addr[10] = 0xff;
      in6.sin6_addr.s6_addr[11] = 0xff;
      std::memcpy(in6.sin6_addr.s6_addr + 12, rule.host_address->bytes.data(), 4);
    }
    std::memcpy(&host.storage, &in6, sizeof in6);
    host.length = sizeof in6;
  }
  return host;
}

R bind_socket(SyscallContext& context, std::uint64_t fd, std::uint64_t address, std::uint64_t length) {
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  auto requested = read_address(context, address, length);
  if (!requested) return -requested.error();
  SocketState& state = *socket->state;
  if (requested->storage.ss_family != state.family) return state.family == AF_INET6 ? -EINVAL : -EAFNOSUPPORT;
  auto endpoint = decode_endpoint(requested->storage, requested->length);
  if (!endpoint) return -EINVAL;
  if (endpoint->port == 0) {
    // An ephemeral port, as connect would pick: nothing can listen on it (see listen).
    return ::bind(socket->file->host_fd, reinterpret_cast<const sockaddr*>(&requested->storage),
                  requested->length) == 0
               ? 0
               : -errno;
  }
  const PublishRule* rule = context.network.published(state.transport, endpoint->port);
  if (rule == nullptr) {
    deny(context, fmt::format("bind to {}/{} (no --publish rule for guest port {})", format_endpoint(*endpoint),
                              transport_name(state.transport), endpoint->port));
    return -EACCES;
  }
  auto host = host_address_for(*rule, state.family);
  if (!host) {
    deny(context, fmt::format("bind of an IPv4 socket to guest port {}: the --publish rule's host address {} is IPv6",
                              endpoint->port, format_ip_address(*rule->host_address)));
    return -EADDRNOTAVAIL;
  }
  if (::bind(socket->file->host_fd, reinterpret_cast<const sockaddr*>(&host->storage), host->length) != 0) {
    return -errno;
  }
  state.rule = *rule;
  state.bound = requested->storage;
  state.bound_length = requested->length;
  return 0;
}

R listen_socket(SyscallContext& context, std::uint64_t fd, std::uint64_t backlog) {
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  if (socket->state->transport != Transport::kTcp) return -EOPNOTSUPP;
  if (!socket->state->rule) {
    deny(context, fmt::format("listen on guest fd {} (not bound to a --publish port)", fd_argument(fd)));
    return -EACCES;
  }
  return ::listen(socket->file->host_fd, static_cast<int>(backlog)) == 0 ? 0 : -errno;
}

R accept_socket(SyscallContext& context, std::uint64_t fd, std::uint64_t address, std::uint64_t length_address,
                std::uint64_t flags) {
  if ((flags & ~static_cast<std::uint64_t>(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return -EINVAL;
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  Address peer;
  peer.length = sizeof peer.storage;
  const int host = ::accept4(socket->file->host_fd, reinterpret_cast<sockaddr*>(&peer.storage), &peer.length,
                             static_cast<int>(flags & SOCK_NONBLOCK) | SOCK_CLOEXEC);
  if (host < 0) return blocking_result(context, -1);
  auto file = std::make_shared<OpenFile>();
  file->host_fd = host;
  file->owned = UniqueFd(host);
  auto state = std::make_shared<SocketState>();
  state->family = socket->state->family;
  state->transport = socket->state->transport;
  state->rule = socket->state->rule;
  state->connected = state->transport == Transport::kTcp;
  file->socket = std::move(state);
  if (address != 0) {
    // Checked before the fd is added, so a bad pointer leaves no fd behind.
    if (R written = write_address(context, peer, address, length_address); written != 0) return written;
  }
  return context.files.fds.add(std::move(file), (flags & SOCK_CLOEXEC) != 0);
}

R connect_socket(SyscallContext& context, std::uint64_t fd, std::uint64_t address, std::uint64_t length) {
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  auto requested = read_address(context, address, length);
  if (!requested) return -requested.error();
  auto destination = checked_destination(context, *socket->state, AddressUse::kConnect, *requested, "connect");
  if (!destination) return -destination.error();
  const int status =
      ::connect(socket->file->host_fd, reinterpret_cast<const sockaddr*>(&destination->host), destination->host_length);
  if (status == 0 && destination->kind == Destination::Kind::kEndpoint && socket->state->transport == Transport::kTcp &&
      !socket->state->connected) {
    // A connection now: socket buffers may serve it (not yet while a non-blocking connect is in progress).
    socket->state->connected = true;
    context.files.fds.mark_changed(fd_argument(fd));
  }
  return blocking_result(context, status);
}

R socket_name(SyscallContext& context, std::uint64_t fd, std::uint64_t address, std::uint64_t length_address,
              bool peer) {
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  Address name;
  const SocketState& state = *socket->state;
  if (!peer && state.bound) {
    name.storage = *state.bound;
    name.length = state.bound_length;
  } else {
    name.length = sizeof name.storage;
    auto* raw = reinterpret_cast<sockaddr*>(&name.storage);
    if ((peer ? ::getpeername(socket->file->host_fd, raw, &name.length)
              : ::getsockname(socket->file->host_fd, raw, &name.length)) != 0) {
      return -errno;
    }
    if (!peer && state.rule) {  // accepted through a published port: the guest's port
      const std::uint16_t port = htons(state.rule->guest_port);
      if (name.storage.ss_family == AF_INET) {
        reinterpret_cast<sockaddr_in*>(&name.storage)->sin_port = port;
      } else if (name.storage.ss_family == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&name.storage)->sin6_port = port;
      }
    }
  }
  if (address == 0) return -EFAULT;
  return write_address(context, name, address, length_address);
}

// ---------------------------------------------------------------- options

R set_option(SyscallContext& context, std::uint64_t fd, std::uint64_t level, std::uint64_t name,
             std::uint64_t value, std::uint64_t length) {
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  const int level_value = static_cast<int>(level);
  const int name_value = static_cast<int>(name);
  if (!may_get_option(level_value, name_value)) return -ENOPROTOOPT;  // not offered at all
  if (static_cast<std::int32_t>(length) < 0) return -EINVAL;
  if (length > kMaxOption) return -EINVAL;
  // Checked on hyperlet's copy, and the copy is what the host gets.
  std::vector<std::byte> buffer(length);
  if (length != 0) {
    auto bytes = context.user_span(value, length);
    if (!bytes) return -EFAULT;
    std::memcpy(buffer.data(), bytes->data(), length);
  }
  if (auto allowed = check_set_option(socket->file->host_fd, level_value, name_value, buffer); !allowed) {
    return refused(context, allowed.error(), "setsockopt");
  }
  return ::setsockopt(socket->file->host_fd, level_value, name_value, buffer.data(),
                      static_cast<socklen_t>(length)) == 0
             ? 0
             : -errno;
}

R get_option(SyscallContext& context, std::uint64_t fd, std::uint64_t level, std::uint64_t name,
             std::uint64_t value, std::uint64_t length_address) {
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  const int level_value = static_cast<int>(level);
  const int name_value = static_cast<int>(name);
  if (!may_get_option(level_value, name_value)) return -ENOPROTOOPT;
  auto capacity = context.read<std::int32_t>(length_address);
  if (!capacity) return -EFAULT;
  if (*capacity < 0) return -EINVAL;
  auto length = static_cast<socklen_t>(std::min<std::int32_t>(*capacity, static_cast<std::int32_t>(kMaxOption)));
  std::vector<std::byte> buffer(kMaxOption);
  if (::getsockopt(socket->file->host_fd, level_value, name_value, buffer.data(), &length) != 0) return -errno;
  if (length != 0) {
    auto bytes = context.user_span(value, length);
    if (!bytes) return -EFAULT;
    std::memcpy(bytes->data(), buffer.data(), length);
  }
  return context.write(length_address, static_cast<std::int32_t>(length)) ? 0 : -EFAULT;
}

// ---------------------------------------------------------------- data

R send_to(SyscallContext& context, const SyscallArguments& a) {
  auto socket = socket_of(context, a[0]);
  if (!socket) return -socket.error();
  auto buffer = context.user_span(a[1], a[2]);
  if (!buffer) return -EFAULT;
  const int flags = static_cast<int>(a[3]) | MSG_NOSIGNAL;
  const std::size_t size = std::min<std::uint64_t>(buffer->size(), kMaxIo);
  if (a[4] == 0) return blocking_result(context, ::send(socket->file->host_fd, buffer->data(), size, flags));
  auto requested = read_address(context, a[4], a[5]);
  if (!requested) return -requested.error();
  auto destination = checked_destination(context, *socket->state, AddressUse::kSend, *requested, "sendto");
  if (!destination) return -destination.error();
  return blocking_result(context,
                         ::sendto(socket->file->host_fd, buffer->data(), size, flags,
                                  reinterpret_cast<const sockaddr*>(&destination->host), destination->host_length));
}

R receive_from(SyscallContext& context, const SyscallArguments& a) {
  auto socket = socket_of(context, a[0]);
  if (!socket) return -socket.error();
  auto buffer = context.user_span(a[1], a[2]);
  if (!buffer) return -EFAULT;
  const std::size_t size = std::min<std::uint64_t>(buffer->size(), kMaxIo);
  const int flags = static_cast<int>(a[3]);
  const iovec whole{buffer->data(), size};
  if (auto stashed = context.socket_buffers.read_stashed(context, *socket->state, {&whole, 1}, (flags & MSG_PEEK) != 0)) {
    // Input the host received for the app's socket buffers comes first. A TCP
    // recvfrom reports no source address (length 0), as on Linux.
    if (a[4] != 0) {
      if (R written = write_address(context, Address{}, a[4], a[5]); written != 0) return written;
    }
    R received = *stashed;
    // MSG_WAITALL (without MSG_PEEK) waits for the rest from the socket itself.
    if ((flags & MSG_WAITALL) != 0 && (flags & MSG_PEEK) == 0 && static_cast<std::size_t>(received) < size) {
      const ssize_t more = ::recv(socket->file->host_fd, buffer->data() + received, size - received, flags);
      if (more > 0) received += more;
    }
    return received;
  }
  Address source;
  source.length = sizeof source.storage;
  const ssize_t received = ::recvfrom(socket->file->host_fd, buffer->data(), size, flags,
                                      reinterpret_cast<sockaddr*>(&source.storage), &source.length);
  if (received < 0) return blocking_result(context, received);
  if (a[4] != 0) {
    if (R written = write_address(context, source, a[4], a[5]); written != 0) return written;
  }
  return received;
}

R send_message(SyscallContext& context, std::uint64_t fd, std::uint64_t message_address,
               std::uint64_t flags, std::string_view call = "sendmsg") {
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  auto message = context.read<msghdr>(message_address);
  if (!message) return -EFAULT;
  Destination destination;
  msghdr host{};
  if (message->msg_name != nullptr && message->msg_namelen != 0) {
    auto name = read_address(context, reinterpret_cast<std::uint64_t>(message->msg_name), message->msg_namelen);
    if (!name) return -name.error();
    auto checked = checked_destination(context, *socket->state, AddressUse::kSend, *name, call);
    if (!checked) return -checked.error();
    destination = *checked;
    host.msg_name = &destination.host;
    host.msg_namelen = destination.host_length;
  }
  auto vectors = context.user_iovecs(reinterpret_cast<std::uint64_t>(message->msg_iov), message->msg_iovlen);
  if (!vectors) return message->msg_iovlen > kMaxIovecs ? -EMSGSIZE : -EFAULT;
  host.msg_iov = vectors->data();
  host.msg_iovlen = vectors->size();
  // The control messages are copied, checked against the allow-list and the
  // copy handed to the host, so what the host kernel reads is what was checked.
  std::vector<std::byte> control;
  if (message->msg_controllen != 0) {
    if (message->msg_controllen > kMaxControl) return -ENOBUFS;
    auto bytes = context.user_span(reinterpret_cast<std::uint64_t>(message->msg_control), message->msg_controllen);
    if (!bytes) return -EFAULT;
    control.assign(bytes->begin(), bytes->end());
    if (auto allowed = check_control_messages(socket->state->family, control); !allowed) {
      return refused(context, allowed.error(), call);
    }
    host.msg_control = control.data();
    host.msg_controllen = control.size();
  }
  return blocking_result(context, ::sendmsg(socket->file->host_fd, &host, static_cast<int>(flags) | MSG_NOSIGNAL));
}

R receive_message(SyscallContext& context, std::uint64_t fd, std::uint64_t message_address, std::uint64_t flags) {
  auto socket = socket_of(context, fd);
  if (!socket) return -socket.error();
  auto message = context.read<msghdr>(message_address);
  if (!message) return -EFAULT;
  Address source;
  msghdr host{};
  if (message->msg_name != nullptr) {
    host.msg_name = &source.storage;
    host.msg_namelen = sizeof source.storage;
  }
  auto vectors = context.user_iovecs(reinterpret_cast<std::uint64_t>(message->msg_iov), message->msg_iovlen);
  if (!vectors) return message->msg_iovlen > kMaxIovecs ? -EMSGSIZE : -EFAULT;
  host.msg_iov = vectors->data();
  host.msg_iovlen = vectors->size();
  if (message->msg_controllen != 0) {
    auto control = context.user_span(reinterpret_cast<std::uint64_t>(message->msg_control),
                                     std::min<std::uint64_t>(message->msg_controllen, kMaxControl));
    if (!control) return -EFAULT;
    host.msg_control = control->data();
    host.msg_controllen = control->size();
  }
  ssize_t received = -1;
  if (auto stashed = context.socket_buffers.read_stashed(context, *socket->state, *vectors, (flags & MSG_PEEK) != 0)) {
    received = *stashed;  // socket buffers' input first; no address or control data on TCP
    host.msg_namelen = 0;
    host.msg_controllen = 0;
  } else {
    received = ::recvmsg(socket->file->host_fd, &host, static_cast<int>(flags & ~MSG_CMSG_CLOEXEC));
  }
  if (received < 0) return blocking_result(context, received);
  if (message->msg_name != nullptr) {
    source.length = host.msg_namelen;
    const auto copied = std::min<std::uint64_t>(message->msg_namelen, source.length);
    if (copied != 0) {
      auto bytes = context.user_span(reinterpret_cast<std::uint64_t>(message->msg_name), copied);
      if (!bytes) return -EFAULT;
      std::memcpy(bytes->data(), &source.storage, copied);
    }
    message->msg_namelen = source.length;
  }
  message->msg_controllen = host.msg_controllen;
  message->msg_flags = host.msg_flags;
  return context.write(message_address, *message) ? received : -EFAULT;
}

// ---------------------------------------------------------------- pairs, batches

// socketpair(AF_UNIX): a connected pair inside the guest, like pipe2. It reaches
// nothing outside, so no policy decides about it. Both ends are sockets to the
// guest (send/recv/shutdown/getsockopt work), and the calls that could name
// something on the host still go through the policy's checks, which know no
// AF_UNIX address: bind, connect and addressed sends with a sockaddr_un are
// EINVAL (no path on the host is ever bound or reached), and ancillary data
// (SCM_RIGHTS, SCM_CREDENTIALS) is refused in send_message.
R socket_pair(SyscallContext& context, std::uint64_t domain, std::uint64_t type,
              std::uint64_t protocol, std::uint64_t address) {
  const std::uint64_t flags = type & ~static_cast<std::uint64_t>(0xf);  // SOCK_TYPE_MASK
  std::uint64_t kind = type & 0xf;
  if ((flags & ~static_cast<std::uint64_t>(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0) return -EINVAL;
  // Inet sockets exist in the guest but make no pairs (Linux says EOPNOTSUPP);
  // other families do not exist in the guest at all (as socket() answers).
  if (domain == AF_INET || domain == AF_INET6) return -EOPNOTSUPP;
  if (domain != AF_UNIX) return -EAFNOSUPPORT;
  if (protocol != 0 && protocol != AF_UNIX) return -EPROTONOSUPPORT;
  if (kind == SOCK_RAW) kind = SOCK_DGRAM;  // as Linux's unix_create
  if (kind != SOCK_STREAM && kind != SOCK_DGRAM && kind != SOCK_SEQPACKET) return -ESOCKTNOSUPPORT;
  auto out = context.user_span(address, 2 * sizeof(int));
  if (!out) return -EFAULT;
  int ends[2];
  if (::socketpair(AF_UNIX, static_cast<int>(kind | (flags & SOCK_NONBLOCK)) | SOCK_CLOEXEC, 0,
                   ends) != 0) {
    return -errno;
  }
  std::array<std::shared_ptr<OpenFile>, 2> files;
  for (std::size_t i = 0; i < files.size(); ++i) {
    files[i] = std::make_shared<OpenFile>();
    files[i]->host_fd = ends[i];
    files[i]->owned = UniqueFd(ends[i]);
    auto state = std::make_shared<SocketState>();
    state->family = AF_UNIX;
    state->transport = kind == SOCK_DGRAM ? Transport::kUdp : Transport::kTcp;
    files[i]->socket = std::move(state);
  }
  auto guest = context.files.fds.add_pair(std::move(files), (flags & SOCK_CLOEXEC) != 0);
  if (!guest) return guest.error();
  std::memcpy(out->data(), guest->data(), sizeof *guest);
  return 0;
}

// sendmmsg/recvmmsg: send_message/receive_message once per mmsghdr, so every
// message is checked exactly as by sendmsg/recvmsg (the policy decides about each
// message's own destination). As Linux: vlen is an unsigned int capped at
// UIO_MAXIOV; the first message's error is the call's answer; an error later ends
// the batch and the call answers how many went through (Linux keeps a receive
// error as the socket's pending error; here the next call meets it again if it
// persists). Each mmsghdr's msg_len is written through the checked accessor.
constexpr std::uint64_t kMaxMessages = 1024;  // UIO_MAXIOV
static_assert(sizeof(mmsghdr) == 64 && offsetof(mmsghdr, msg_len) == sizeof(msghdr));

std::uint64_t message_count(std::uint64_t vlen) {
  return std::min<std::uint64_t>(static_cast<std::uint32_t>(vlen), kMaxMessages);
}

R send_messages(SyscallContext& context, std::uint64_t fd, std::uint64_t vector, std::uint64_t vlen,
                std::uint64_t flags) {
  if (auto socket = socket_of(context, fd); !socket) return -socket.error();
  const std::uint64_t count = message_count(vlen);
  std::uint64_t sent = 0;
  for (; sent < count; ++sent) {
    const std::uint64_t entry = vector + sent * sizeof(mmsghdr);
    const R result = send_message(context, fd, entry, flags, "sendmmsg");
    R error = result < 0 ? result : 0;
    if (error == 0 &&
        !context.write(entry + offsetof(mmsghdr, msg_len), static_cast<unsigned>(result))) {
      error = -EFAULT;
    }
    if (error != 0) return sent != 0 ? static_cast<R>(sent) : error;
  }
  return static_cast<R>(sent);
}

// recvmmsg's timeout is Linux's: checked after each message (it does not bound a
// blocking receive), and what is left of it written back.
R receive_messages(SyscallContext& context, std::uint64_t fd, std::uint64_t vector,
                   std::uint64_t vlen, std::uint64_t flags, std::uint64_t timeout_address) {
  if (auto socket = socket_of(context, fd); !socket) return -socket.error();
  constexpr std::int64_t kNanosPerSecond = 1'000'000'000;
  auto now = [] {
    timespec value{};
    ::clock_gettime(CLOCK_MONOTONIC, &value);
    return static_cast<std::int64_t>(value.tv_sec) * kNanosPerSecond + value.tv_nsec;
  };
  std::optional<timespec> timeout;
  std::int64_t deadline = 0;
  if (timeout_address != 0) {
    timeout = context.read<timespec>(timeout_address);
    if (!timeout) return -EFAULT;
    if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= kNanosPerSecond)
      return -EINVAL;
    const std::int64_t start = now();
    deadline = timeout->tv_sec > (INT64_MAX - start) / kNanosPerSecond - 1
                   ? INT64_MAX
                   : start + timeout->tv_sec * kNanosPerSecond + timeout->tv_nsec;
  }
  const std::uint64_t count = message_count(vlen);
  int message_flags = static_cast<int>(flags & ~static_cast<std::uint64_t>(MSG_WAITFORONE));
  std::uint64_t received = 0;
  R error = 0;
  while (received < count) {
    const std::uint64_t entry = vector + received * sizeof(mmsghdr);
    const R result = receive_message(context, fd, entry, static_cast<std::uint64_t>(message_flags));
    if (result < 0) {
      error = result;
      break;
    }
    if (!context.write(entry + offsetof(mmsghdr, msg_len), static_cast<unsigned>(result))) {
      error = -EFAULT;
      break;
    }
    ++received;
    if ((flags & MSG_WAITFORONE) != 0) message_flags |= MSG_DONTWAIT;
    if (timeout) {
      const std::int64_t left = std::max<std::int64_t>(deadline - now(), 0);
      timeout = timespec{left / kNanosPerSecond, left % kNanosPerSecond};
      if (left == 0) break;
    }
  }
  if (timeout && !context.write(timeout_address, *timeout)) return -EFAULT;
  return received != 0 ? static_cast<R>(received) : error;
}

}  // namespace

// ---------------------------------------------------------------- snapshots (devices/fd_snapshot.h)

namespace {

int socket_option(int fd, int level, int name) {
  int value = 0;
  socklen_t length = sizeof value;
  return ::getsockopt(fd, level, name, &value, &length) == 0 ? value : 0;
}

}  // namespace

FdDescription describe_published_socket(const OpenFile& file) {
  const SocketState* state = file.socket.get();
  if (state == nullptr) return std::unexpected("not a socket");
  const bool listening = socket_option(file.host_fd, SOL_SOCKET, SO_ACCEPTCONN) != 0;
  if (!state->rule || state->connected || (state->transport == Transport::kTcp && !listening)) {
    return std::unexpected("a socket that is connected or not bound through --publish (only listening TCP and "
                           "bound UDP sockets are kept)");
  }
  const int status = ::fcntl(file.host_fd, F_GETFL);
  nlohmann::json description{{"kind", "socket"},
                             {"family", state->family},
                             {"transport", state->transport == Transport::kTcp ? "tcp" : "udp"},
                             {"guest_port", state->rule->guest_port},
                             {"nonblocking", status >= 0 && (status & O_NONBLOCK) != 0},
                             {"reuse_address", socket_option(file.host_fd, SOL_SOCKET, SO_REUSEADDR) != 0},
                             {"reuse_port", socket_option(file.host_fd, SOL_SOCKET, SO_REUSEPORT) != 0}};
  if (state->family == AF_INET6) {
    description["v6only"] = socket_option(file.host_fd, IPPROTO_IPV6, IPV6_V6ONLY) != 0;
  }
  if (state->bound) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(&*state->bound);
    description["guest_address"] = std::vector<std::uint8_t>(bytes, bytes + state->bound_length);
  }
  return description;
}

RestoredFile restore_published_socket(SyscallContext& context, const nlohmann::json& description) {
  const int family = description.at("family").get<int>();
  const bool tcp = description.at("transport") == "tcp";
  const auto guest_port = description.at("guest_port").get<std::uint16_t>();
  if (family != AF_INET && family != AF_INET6) return std::unexpected("a socket of an unknown family");
  const Transport transport = tcp ? Transport::kTcp : Transport::kUdp;
  const PublishRule* rule = context.network.published(transport, guest_port);
  if (rule == nullptr) {
    return std::unexpected(fmt::format("the app serves guest port {}/{}, and no --publish rule of this command "
                                       "line grants it",
                                       guest_port, transport_name(transport)));
  }
  auto host = host_address_for(*rule, family);
  if (!host) return std::unexpected(fmt::format("the --publish rule for guest port {} has an IPv6 host address, "
                                                "and the app's socket is IPv4",
                                                guest_port));
  const int type = (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC |
                   (description.at("nonblocking").get<bool>() ? SOCK_NONBLOCK : 0);
  UniqueFd fd(::socket(family, type, 0));
  if (!fd.valid()) return std::unexpected(fmt::format("socket: {}", std::strerror(errno)));
  const int one = 1;
  if (description.at("reuse_address").get<bool>()) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (description.at("reuse_port").get<bool>()) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (family == AF_INET6) {
    const int v6only = description.value("v6only", false) ? 1 : 0;
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&host->storage), host->length) != 0) {
    return std::unexpected(
        fmt::format("cannot bind guest port {} to host port {}: {}", guest_port, rule->host_port, std::strerror(errno)));
  }
  if (tcp && ::listen(fd.get(), SOMAXCONN) != 0) {
    return std::unexpected(fmt::format("listen on host port {}: {}", rule->host_port, std::strerror(errno)));
  }
  auto state = std::make_shared<SocketState>();
  state->family = family;
  state->transport = transport;
  state->rule = *rule;
  if (description.contains("guest_address")) {
    const auto bytes = description.at("guest_address").get<std::vector<std::uint8_t>>();
    if (bytes.size() <= sizeof(sockaddr_storage)) {
      state->bound = sockaddr_storage{};
      std::memcpy(&*state->bound, bytes.data(), bytes.size());
      state->bound_length = static_cast<socklen_t>(bytes.size());
    }
  }
  auto file = std::make_shared<OpenFile>();
  file->host_fd = fd.get();
  file->owned = std::move(fd);
  file->socket = std::move(state);
  return file;
}

void register_socket_syscalls(HostSyscallTable& table) {
  using C = SyscallContext;
  using A = SyscallArguments;
  table.add(SYS_socket, [](C& c, const A& a) -> R { return create_socket(c, a[0], a[1], a[2]); });
  table.add(SYS_bind, [](C& c, const A& a) -> R { return bind_socket(c, a[0], a[1], a[2]); });
  table.add(SYS_listen, [](C& c, const A& a) -> R { return listen_socket(c, a[0], a[1]); });
  table.add(SYS_accept, [](C& c, const A& a) -> R { return accept_socket(c, a[0], a[1], a[2], 0); });
  table.add(SYS_accept4, [](C& c, const A& a) -> R { return accept_socket(c, a[0], a[1], a[2], a[3]); });
  table.add(SYS_connect, [](C& c, const A& a) -> R { return connect_socket(c, a[0], a[1], a[2]); });
  table.add(SYS_getsockname, [](C& c, const A& a) -> R { return socket_name(c, a[0], a[1], a[2], false); });
  table.add(SYS_getpeername, [](C& c, const A& a) -> R { return socket_name(c, a[0], a[1], a[2], true); });
  table.add(SYS_setsockopt, [](C& c, const A& a) -> R { return set_option(c, a[0], a[1], a[2], a[3], a[4]); });
  table.add(SYS_getsockopt, [](C& c, const A& a) -> R { return get_option(c, a[0], a[1], a[2], a[3], a[4]); });
  table.add(SYS_shutdown, [](C& c, const A& a) -> R {
    auto socket = socket_of(c, a[0]);
    if (!socket) return -socket.error();
    return ::shutdown(socket->file->host_fd, static_cast<int>(a[1])) == 0 ? 0 : -errno;
  });
  table.add(SYS_sendto, [](C& c, const A& a) -> R { return send_to(c, a); });
  table.add(SYS_recvfrom, [](C& c, const A& a) -> R { return receive_from(c, a); });
  table.add(SYS_sendmsg, [](C& c, const A& a) -> R { return send_message(c, a[0], a[1], a[2]); });
  table.add(SYS_recvmsg, [](C& c, const A& a) -> R { return receive_message(c, a[0], a[1], a[2]); });
  table.add(SYS_socketpair,
            [](C& c, const A& a) -> R { return socket_pair(c, a[0], a[1], a[2], a[3]); });
  table.add(SYS_sendmmsg,
            [](C& c, const A& a) -> R { return send_messages(c, a[0], a[1], a[2], a[3]); });
  table.add(SYS_recvmmsg, [](C& c, const A& a) -> R {
    return receive_messages(c, a[0], a[1], a[2], a[3], a[4]);
  });
}

}  // namespace hyperlet
