// Network probes for the integration tests; each mode prints one result line per
// step (errno names, never raw numbers), so a test compares text.
//   echo-server PORT N [tcp6]  accept N connections one after another, echo each until EOF
//   echo-client ADDR PORT TEXT connect, send TEXT, shut down writing, print the reply
//   udp-echo PORT              receive one datagram, send it back
//   bind PORT                  try to bind and listen; print the result
//   connect ADDR PORT          try to connect; print the result
//   waits PORT                 poll/ppoll/select/epoll on an idle listener with timeouts; eventfd
//   block PORT                 block in accept forever (for --timeout)
//   udp-sends ADDR PORT        UDP sends to IPv4 ADDR:PORT the ways a hostile app would
//                              name it (AF_UNSPEC, 0.0.0.0, v4-mapped) and route it (IP
//                              options); one "STEP: ok|ERRNO" line each, payload = STEP
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

const char* error_name(int error) {
  const char* name = strerrorname_np(error);
  return name != nullptr ? name : "E?";
}

int fail(const char* what) {
  std::printf("%s: %s\n", what, error_name(errno));
  return 2;
}

bool parse_address(const char* text, int port, sockaddr_storage& storage, socklen_t& length) {
  std::memset(&storage, 0, sizeof storage);
  auto* in = reinterpret_cast<sockaddr_in*>(&storage);
  if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof(sockaddr_in);
    return true;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(port));
    length = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

int listener(int port, bool ipv6) {
  const int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage storage{};
  socklen_t length = 0;
  parse_address(ipv6 ? "::" : "0.0.0.0", port, storage, length);
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) return -1;
  if (listen(fd, 16) != 0) return -1;
  return fd;
}

long elapsed_ms(std::chrono::steady_clock::time_point start) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count());
}

int echo_server(int port, int connections, bool ipv6) {
  const int fd = listener(port, ipv6);
  if (fd < 0) return fail("listen");
  sockaddr_storage name{};
  socklen_t length = sizeof name;
  getsockname(fd, reinterpret_cast<sockaddr*>(&name), &length);
  const int seen_port = ntohs(name.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&name)->sin6_port
                                                         : reinterpret_cast<sockaddr_in*>(&name)->sin_port);
  std::printf("listening on guest port %d\n", seen_port);
  std::fflush(stdout);
  for (int i = 0; i < connections; ++i) {
    const int client = accept4(fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return fail("accept");
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buffer[4096];
    long total = 0;
    for (;;) {
      const ssize_t got = read(client, buffer, sizeof buffer);
      if (got < 0) return fail("read");
      if (got == 0) break;
      for (ssize_t done = 0; done < got;) {
        const ssize_t sent = write(client, buffer + done, static_cast<size_t>(got - done));
        if (sent < 0) return fail("write");
        done += sent;
      }
      total += got;
    }
    close(client);
    std::printf("connection %d: %ld bytes\n", i + 1, total);
  }
  close(fd);
  return 0;
}

int echo_client(const char* address, int port, const char* text) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (!parse_address(address, port, storage, length)) return fail("address");
  const int fd = socket(storage.ss_family, SOCK_STREAM, 0);
  if (fd < 0) return fail("socket");
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) return fail("connect");
  const std::string message = text;
  if (send(fd, message.data(), message.size(), 0) != static_cast<ssize_t>(message.size())) return fail("send");
  shutdown(fd, SHUT_WR);
  std::string reply;
  char buffer[4096];
  for (ssize_t got; (got = recv(fd, buffer, sizeof buffer, 0)) > 0;) reply.append(buffer, static_cast<size_t>(got));
  std::printf("reply: %s\n", reply.c_str());
  close(fd);
  return 0;
}

int udp_echo(int port) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_storage storage{};
  socklen_t length = 0;
  parse_address("0.0.0.0", port, storage, length);
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) return fail("bind");
  std::puts("udp ready");
  std::fflush(stdout);
  char buffer[2048];
  sockaddr_storage peer{};
  socklen_t peer_length = sizeof peer;
  const ssize_t got = recvfrom(fd, buffer, sizeof buffer, 0, reinterpret_cast<sockaddr*>(&peer), &peer_length);
  if (got < 0) return fail("recvfrom");
  // Replying to the sender needs --allow-connect for it, like any send.
  if (sendto(fd, buffer, static_cast<size_t>(got), 0, reinterpret_cast<sockaddr*>(&peer), peer_length) != got) {
    return fail("sendto");
  }
  std::printf("udp echoed %zd bytes\n", got);
  return 0;
}

int try_bind(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_storage storage{};
  socklen_t length = 0;
  parse_address("0.0.0.0", port, storage, length);
  if (bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) return fail("bind");
  if (listen(fd, 1) != 0) return fail("listen");
  std::puts("bind: ok");
  return 0;
}

int try_connect(const char* address, int port) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (!parse_address(address, port, storage, length)) return fail("address");
  const int fd = socket(storage.ss_family, SOCK_STREAM, 0);
  if (connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) return fail("connect");
  std::puts("connect: ok");
  return 0;
}

// One line per step: its name (which is also the datagram's payload) and the result.
void report(const char* step, ssize_t result) { std::printf("%s: %s\n", step, result >= 0 ? "ok" : error_name(errno)); }

int udp_sends(const char* address, int port) {
  in_addr host{};
  if (inet_pton(AF_INET, address, &host) != 1) return fail("address");
  const int udp = socket(AF_INET, SOCK_DGRAM, 0);
  const int udp6 = socket(AF_INET6, SOCK_DGRAM, 0);
  if (udp < 0 || udp6 < 0) return fail("socket");
  // sa_family AF_UNSPEC, an IPv4 address and port in the rest: Linux's UDP send reads it as AF_INET.
  sockaddr_in unspecified_family{};
  unspecified_family.sin_family = AF_UNSPEC;
  unspecified_family.sin_port = htons(static_cast<std::uint16_t>(port));
  unspecified_family.sin_addr = host;
  auto* unspec = reinterpret_cast<sockaddr*>(&unspecified_family);

  const char* step = "sendto-unspec";
  report(step, sendto(udp, step, std::strlen(step), 0, unspec, sizeof unspecified_family));

  step = "sendmsg-unspec";
  iovec data{const_cast<char*>(step), std::strlen(step)};
  msghdr message{};
  message.msg_name = unspec;
  message.msg_namelen = sizeof unspecified_family;
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  report(step, sendmsg(udp, &message, 0));

  step = "sendmmsg-unspec";
  data = iovec{const_cast<char*>(step), std::strlen(step)};
  mmsghdr batch[2] = {};
  for (mmsghdr& entry : batch) entry.msg_hdr = message;
  report(step, sendmmsg(udp, batch, 2, 0));

  // 0.0.0.0 is "this host" to Linux: it reaches loopback.
  step = "sendto-any";
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(static_cast<std::uint16_t>(port));
  report(step, sendto(udp, step, std::strlen(step), 0, reinterpret_cast<sockaddr*>(&any), sizeof any));

  step = "sendto-v4-mapped";
  sockaddr_in6 mapped{};
  mapped.sin6_family = AF_INET6;
  mapped.sin6_port = htons(static_cast<std::uint16_t>(port));
  mapped.sin6_addr.s6_addr[10] = 0xff;
  mapped.sin6_addr.s6_addr[11] = 0xff;
  std::memcpy(mapped.sin6_addr.s6_addr + 12, &host, 4);
  report(step, sendto(udp6, step, std::strlen(step), 0, reinterpret_cast<sockaddr*>(&mapped), sizeof mapped));

  // A loose source route through 127.0.0.9: the packet's first hop would be that address.
  step = "sendmsg-source-route";
  sockaddr_in destination{};
  destination.sin_family = AF_INET;
  destination.sin_port = htons(static_cast<std::uint16_t>(port));
  destination.sin_addr = host;
  alignas(cmsghdr) unsigned char control[CMSG_SPACE(8)] = {};
  auto* header = reinterpret_cast<cmsghdr*>(control);
  header->cmsg_level = IPPROTO_IP;
  header->cmsg_type = IP_RETOPTS;
  header->cmsg_len = CMSG_LEN(8);
  const unsigned char loose_source_route[8] = {IPOPT_LSRR, 7, 4, 127, 0, 0, 9, IPOPT_END};
  std::memcpy(CMSG_DATA(header), loose_source_route, sizeof loose_source_route);
  data = iovec{const_cast<char*>(step), std::strlen(step)};
  message.msg_name = &destination;
  message.msg_namelen = sizeof destination;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  report(step, sendmsg(udp, &message, 0));

  step = "setsockopt-ip-options";
  report(step, setsockopt(udp, IPPROTO_IP, IP_OPTIONS, loose_source_route, sizeof loose_source_route));

  step = "sendto";
  report(step, sendto(udp, step, std::strlen(step), 0, reinterpret_cast<sockaddr*>(&destination), sizeof destination));
  return 0;
}

int waits(int port) {
  const int fd = listener(port, false);
  if (fd < 0) return fail("listen");
  auto start = std::chrono::steady_clock::now();
  pollfd one{fd, POLLIN, 0};
  int ready = poll(&one, 1, 200);
  std::printf("poll: %d after >=200ms: %d\n", ready, elapsed_ms(start) >= 195 ? 1 : 0);

  start = std::chrono::steady_clock::now();
  timespec timeout{0, 150'000'000};
  ready = ppoll(&one, 1, &timeout, nullptr);
  std::printf("ppoll: %d after >=150ms: %d\n", ready, elapsed_ms(start) >= 145 ? 1 : 0);

  start = std::chrono::steady_clock::now();
  fd_set readable;
  FD_ZERO(&readable);
  FD_SET(fd, &readable);
  timeval interval{0, 100'000};
  ready = select(fd + 1, &readable, nullptr, nullptr, &interval);
  std::printf("select: %d after >=100ms: %d\n", ready, elapsed_ms(start) >= 95 ? 1 : 0);

  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = 0x1234567890abcdefULL;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) != 0) return fail("epoll_ctl");
  start = std::chrono::steady_clock::now();
  epoll_event events[4];
  ready = epoll_wait(epoll, events, 4, 120);
  std::printf("epoll_wait: %d after >=120ms: %d\n", ready, elapsed_ms(start) >= 115 ? 1 : 0);

  const int counter = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  event.events = EPOLLIN;
  event.data.u64 = 42;
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, counter, &event) != 0) return fail("epoll_ctl eventfd");
  std::uint64_t value = 0;
  std::printf("eventfd empty read: %s\n", read(counter, &value, sizeof value) < 0 ? error_name(errno) : "data");
  value = 3;
  if (write(counter, &value, sizeof value) != sizeof value) return fail("eventfd write");
  ready = epoll_wait(epoll, events, 4, 1000);
  std::printf("epoll_wait eventfd: %d data=%llu\n", ready,
              ready == 1 ? static_cast<unsigned long long>(events[0].data.u64) : 0ULL);
  value = 0;
  if (read(counter, &value, sizeof value) != sizeof value) return fail("eventfd read");
  std::printf("eventfd value: %llu\n", static_cast<unsigned long long>(value));

  // A non-blocking accept with nobody waiting.
  const int nonblocking = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int error = 0;
  socklen_t error_length = sizeof error;
  getsockopt(nonblocking, SOL_SOCKET, SO_ERROR, &error, &error_length);
  std::printf("SO_ERROR: %d\n", error);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  const int accepted = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK);
  std::printf("accept idle: %s\n", accepted < 0 ? error_name(errno) : "connection");
  int flags_fd = accept4(fd, nullptr, nullptr, 0x40000000);
  std::printf("accept bad flags: %s\n", flags_fd < 0 ? error_name(errno) : "ok");
  return 0;
}

int block(int port) {
  const int fd = listener(port, false);
  if (fd < 0) return fail("listen");
  std::puts("blocking");
  std::fflush(stdout);
  accept(fd, nullptr, nullptr);
  return fail("accept returned");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  auto number = [&](int index) { return index < argc ? std::atoi(argv[index]) : 0; };
  if (mode == "echo-server" && argc >= 4) {
    return echo_server(number(2), number(3), argc > 4 && std::string(argv[4]) == "tcp6");
  }
  if (mode == "echo-client" && argc == 5) return echo_client(argv[2], number(3), argv[4]);
  if (mode == "udp-echo" && argc == 3) return udp_echo(number(2));
  if (mode == "bind" && argc == 3) return try_bind(number(2));
  if (mode == "connect" && argc == 4) return try_connect(argv[2], number(3));
  if (mode == "waits" && argc == 3) return waits(number(2));
  if (mode == "block" && argc == 3) return block(number(2));
  if (mode == "udp-sends" && argc == 4) return udp_sends(argv[2], number(3));
  std::fprintf(stderr, "usage: net_tool echo-server|echo-client|udp-echo|bind|connect|waits|block|udp-sends ...\n");
  return 64;
}
