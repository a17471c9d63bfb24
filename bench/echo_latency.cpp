// echo_latency: the client side of scripts/bench-net. Connects to an echo server
// (retrying for up to 10 s while it starts), sends a message of --size bytes
// and waits for all of it to come back, --rounds times (after --warmup untimed
// round trips), and prints the round-trip times in µs:
//
//   echo_latency 127.0.0.1 7000 --rounds 2000 --size 64
//   rounds=2000 size=64 median_us=35.1 p10_us=30.2 p90_us=41.0 min_us=28.7 max_us=120.4
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int fail(const char* what) {
  std::fprintf(stderr, "echo_latency: %s: %s\n", what, std::strerror(errno));
  return 1;
}

int connect_when_up(const char* host, int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  if (inet_pton(AF_INET, host, &address.sin_addr) != 1) {
    errno = EINVAL;
    return -1;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
    const int error = errno;
    close(fd);
    if (Clock::now() >= deadline) {
      errno = error;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// One round trip: send the message, read until as many bytes came back.
bool round_trip(int fd, const std::string& message, std::string& reply) {
  if (send(fd, message.data(), message.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(message.size())) return false;
  std::size_t got = 0;
  while (got < message.size()) {
    const ssize_t n = recv(fd, reply.data() + got, message.size() - got, 0);
    if (n <= 0) return false;
    got += static_cast<std::size_t>(n);
  }
  return reply == message;
}

double percentile(const std::vector<double>& sorted, double fraction) {
  return sorted[static_cast<std::size_t>(fraction * static_cast<double>(sorted.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: echo_latency HOST PORT [--rounds N] [--size BYTES] [--warmup N]\n");
    return 64;
  }
  const char* host = argv[1];
  const int port = std::atoi(argv[2]);
  long rounds = 2000, warmup = 100;
  std::size_t size = 64;
  for (int i = 3; i < argc; i += 2) {
    const std::string_view word = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (value == nullptr) {
      std::fprintf(stderr, "echo_latency: %s needs a value\n", argv[i]);
      return 64;
    }
    if (word == "--rounds") {
      rounds = std::atol(value);
    } else if (word == "--size") {
      size = static_cast<std::size_t>(std::atol(value));
    } else if (word == "--warmup") {
      warmup = std::atol(value);
    } else {
      std::fprintf(stderr, "echo_latency: unknown option %s\n", argv[i]);
      return 64;
    }
  }
  if (rounds <= 0 || size == 0 || warmup < 0) {
    std::fprintf(stderr, "echo_latency: --rounds and --size must be positive\n");
    return 64;
  }
  const int fd = connect_when_up(host, port);
  if (fd < 0) return fail("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string message(size, 'x');
  for (std::size_t i = 0; i < size; ++i) message[i] = static_cast<char>('a' + i % 26);
  std::string reply(size, '\0');
  for (long i = 0; i < warmup; ++i) {
    if (!round_trip(fd, message, reply)) return fail("warm-up round trip");
  }
  std::vector<double> micros;
  micros.reserve(static_cast<std::size_t>(rounds));
  for (long i = 0; i < rounds; ++i) {
    const auto start = Clock::now();
    if (!round_trip(fd, message, reply)) return fail("round trip");
    micros.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
  }
  close(fd);
  std::sort(micros.begin(), micros.end());
  std::printf("rounds=%ld size=%zu median_us=%.1f p10_us=%.1f p90_us=%.1f min_us=%.1f max_us=%.1f\n", rounds, size,
              percentile(micros, 0.5), percentile(micros, 0.1), percentile(micros, 0.9), micros.front(),
              micros.back());
  return 0;
}
