// send_then_compute PORT MILLISECONDS: connects to 127.0.0.1:PORT, sends
// "hello\n", then computes for MILLISECONDS without a single syscall (the clock
// is the vDSO's), then sends "bye\n" and exits. Built with the toolchain, so in a
// microVM its first send is deferred (socket buffers): the host must still send
// it while the app computes, not at its next syscall.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: send_then_compute PORT MILLISECONDS\n");
    return 64;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[1])));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("connect");
    return 1;
  }
  if (write(fd, "hello\n", 6) != 6) return 1;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(std::atoi(argv[2]));
  volatile unsigned long spins = 0;
  while (std::chrono::steady_clock::now() < until) spins = spins + 1;
  if (write(fd, "bye\n", 4) != 4) return 1;
  close(fd);
  return 0;
}
