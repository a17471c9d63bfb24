// fiber-echo: a TCP echo server with one fiber per connection (<hyperlet/fiber.h>):
// each connection's code reads and writes as if it blocked, but a waiting fiber
// only parks, and one epoll_wait wakes every fiber whose connection has input.
//
//   hyperlet run --publish 7000:7000 fiber-echo
//
// Natively: `fiber-echo`. Options: --port N (7000), --connections N (exit 0
// after N connections have closed; 0 = serve forever). Prints one line when it
// listens and, when it exits, how many fiber switches and waits it made.
#include <hyperlet/fiber.h>
#include <hyperlet/guest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct Options {
  int port = 7000;
  long connections = 0;
};

bool parse(int argc, char** argv, Options& options) {
  for (int i = 1; i < argc; ++i) {
    const std::string option = argv[i];
    if ((option == "--port" || option == "--connections") && i + 1 < argc) {
      const long value = std::strtol(argv[++i], nullptr, 10);
      if (option == "--port") {
        options.port = static_cast<int>(value);
      } else {
        options.connections = value;
      }
    } else {
      std::fprintf(stderr, "usage: fiber-echo [--port N] [--connections N]\n");
      return false;
    }
  }
  return options.port > 0 && options.port < 65536 && options.connections >= 0;
}

void echo(int connection) {
  char buffer[4096];
  for (;;) {
    const ssize_t got = hyperlet::fiber::read(connection, buffer, sizeof buffer);
    if (got <= 0) break;
    if (hyperlet::fiber::write(connection, buffer, static_cast<std::size_t>(got)) != got) break;
  }
  hyperlet::fiber::close(connection);
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!parse(argc, argv, options)) return 2;
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int yes = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(options.port));
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(listener, 512) != 0) {
    std::perror("fiber-echo: listen");
    return 1;
  }
  std::printf("fiber-echo: listening on port %d\n", options.port);
  std::fflush(stdout);
  hyperlet::ready();

  hyperlet::fiber::Scheduler scheduler;
  long closed = 0;
  scheduler.spawn([&] {
    for (long accepted = 0; options.connections == 0 || accepted < options.connections; ++accepted) {
      const int connection = hyperlet::fiber::accept(listener);
      if (connection < 0) {
        std::perror("fiber-echo: accept");
        return;
      }
      scheduler.spawn(
          [&closed, connection] {
            echo(connection);
            ++closed;
          },
          32 * 1024);
    }
  });
  scheduler.run();
  const auto counters = scheduler.counters();
  std::printf("fiber-echo: %ld connections, %llu fiber switches, %llu waits\n", closed,
              static_cast<unsigned long long>(counters.switches), static_cast<unsigned long long>(counters.waits));
  return 0;
}
