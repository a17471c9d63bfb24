// echo_server: the server side of scripts/bench-net. Accepts one connection at a
// time and echoes it until EOF: one read and one write per round trip, the
// fewest syscalls (and so VM exits) an echo can make. Built as an image, so the
// same file runs natively and in a microVM:
//
//   echo_server --port 7000 --connections 8
//   hyperlet run --publish 7000:7000 echo_server --port 7000 --connections 8
//
// --connections N: exit 0 after N connections (0, the default: serve forever).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include <hyperlet/guest.h>

namespace {

int fail(const char* what) {
  std::fprintf(stderr, "echo_server: %s: %s\n", what, std::strerror(errno));
  return 1;
}

// Echoes one connection until the peer closes it; false on an error.
bool echo(int fd) {
  char buffer[65536];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got == 0) return true;
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return errno == ECONNRESET;  // the client may reset instead of closing
    for (ssize_t done = 0; done < got;) {
      const ssize_t sent = write(fd, buffer + done, static_cast<std::size_t>(got - done));
      if (sent < 0) return false;
      done += sent;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 7000;
  long connections = 0;
  for (int i = 1; i < argc; i += 2) {
    const std::string_view word = argv[i];
    if (i + 1 < argc && word == "--port") {
      port = std::atoi(argv[i + 1]);
    } else if (i + 1 < argc && word == "--connections") {
      connections = std::atol(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: echo_server [--port N] [--connections N]\n");
      return 64;
    }
  }
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return fail("socket");
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return fail("bind");
  if (listen(listener, 16) != 0) return fail("listen");
  std::printf("echo_server: listening on port %d\n", port);
  std::fflush(stdout);
  hyperlet::ready();
  for (long served = 0; connections == 0 || served < connections; ++served) {
    const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return fail("accept");
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    const bool ok = echo(fd);
    close(fd);
    if (!ok) return fail("echo");
  }
  return 0;
}
