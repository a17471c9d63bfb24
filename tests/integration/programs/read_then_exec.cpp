// read_then_exec PORT: connects to 127.0.0.1:PORT, waits in epoll_wait until
// the connection is readable, reads 6 bytes and prints them, then execs
// itself (/proc/self/exe) with the connection open, and the new image reads
// the rest until the end of the stream and prints it. Built with the
// toolchain, so in a microVM epoll_wait has the host take the input into a
// socket buffer in guest memory, which the exec empties: what the first
// image did not read must still reach the second, in order.
// read_then_exec fork PORT: the same up to the first read, then forks: the
// child peeks 3 bytes, reads 7 and ends, then the parent reads the rest. The bytes the
// host had taken for the app must reach exactly one of the two, as a socket's
// bytes do natively: neither process may read them again.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int read_rest(int fd) {
  pollfd readable{fd, POLLIN, 0};
  std::printf("after exec, readable: %s\n", poll(&readable, 1, 5000) == 1 ? "yes" : "no");
  std::string rest;
  char buffer[3];  // small reads: the carried bytes come in pieces, in order
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got < 0) {
      std::perror("read");
      return 1;
    }
    if (got == 0) break;
    rest.append(buffer, static_cast<std::size_t>(got));
  }
  std::printf("after exec: \"%s\"\n", rest.c_str());
  return 0;
}

int fork_then_read(int fd) {
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) {
    std::perror("fork");
    return 1;
  }
  if (child == 0) {
    pollfd readable{fd, POLLIN, 0};
    std::printf("child, readable: %s\n", poll(&readable, 1, 5000) == 1 ? "yes" : "no");
    char peeked[4] = {};
    const ssize_t peeked_length = recv(fd, peeked, 3, MSG_PEEK);
    std::printf("child peeks %zd bytes: \"%s\"\n", peeked_length, peeked);
    char part[8] = {};
    std::size_t got = 0;
    while (got < 7) {
      const ssize_t now = read(fd, part + got, 7 - got);
      if (now <= 0) break;
      got += static_cast<std::size_t>(now);
    }
    std::printf("child: \"%s\"\n", part);
    std::fflush(stdout);
    _exit(0);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::printf("child failed: %#x\n", status);
    return 1;
  }
  pollfd readable{fd, POLLIN, 0};
  std::printf("parent, readable: %s\n", poll(&readable, 1, 5000) == 1 ? "yes" : "no");
  std::string rest;
  char buffer[5];
  for (;;) {
    const ssize_t got = read(fd, buffer, sizeof buffer);
    if (got <= 0) break;
    rest.append(buffer, static_cast<std::size_t>(got));
  }
  std::printf("parent: \"%s\"\n", rest.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "rest") == 0) return read_rest(std::atoi(argv[2]));
  const bool then_fork = argc == 3 && std::strcmp(argv[1], "fork") == 0;
  if (argc != 2 && !then_fork) {
    std::fprintf(stderr, "usage: read_then_exec [fork] PORT\n");
    return 64;
  }
  const int fd = socket(AF_INET, SOCK_STREAM, 0);  // no SOCK_CLOEXEC: the next image keeps it
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[argc - 1])));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("connect");
    return 1;
  }
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  epoll_event interest{};
  interest.events = EPOLLIN;
  interest.data.fd = fd;
  epoll_event ready{};
  if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &interest) != 0 || epoll_wait(epoll, &ready, 1, 10000) != 1) {
    std::perror("epoll");
    return 1;
  }
  char first[7] = {};
  if (read(fd, first, 6) != 6) return 1;
  if (then_fork) {
    std::printf("before fork: \"%s\"\n", first);
    return fork_then_read(fd);
  }
  std::printf("before exec: \"%s\"\n", first);
  std::fflush(stdout);
  const std::string fd_text = std::to_string(fd);
  char* const arguments[] = {const_cast<char*>("read_then_exec"), const_cast<char*>("rest"),
                             const_cast<char*>(fd_text.c_str()), nullptr};
  execv("/proc/self/exe", arguments);
  std::perror("execv");
  return 1;
}
