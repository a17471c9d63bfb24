// Exercises the console device with the syscalls programs make directly:
// stdout/stderr separation, big writes, poll/ppoll, and the errors Linux gives
// for a bad fd, a bad buffer and a closed stdout. Prints what it saw.
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

void report(const char* what, long result) {
  std::printf("%s: %ld %s\n", what, result, result < 0 ? std::strerror(errno) : "");
}

// stdin must have data: poll sees it, an invalid fd gets POLLNVAL, -1 is skipped.
void poll_section() {
  pollfd fds[3] = {{0, POLLIN, 0}, {-1, POLLIN, 0}, {57, POLLIN, 0}};
  const int ready = ::poll(fds, 3, 1000);
  std::printf("poll: %d stdin=%s skipped=%d invalid=%s\n", ready, (fds[0].revents & POLLIN) ? "POLLIN" : "none",
              fds[1].revents, fds[2].revents == POLLNVAL ? "POLLNVAL" : "other");
  pollfd out = {1, POLLOUT, 0};
  timespec zero{};
  const int writable = ::ppoll(&out, 1, &zero, nullptr);
  std::printf("ppoll stdout: %d %s\n", writable, (out.revents & POLLOUT) ? "POLLOUT" : "none");
  char buffer[64] = {};
  const ssize_t n = ::read(0, buffer, sizeof buffer - 1);
  std::printf("read after poll: %zd [%s]\n", n, buffer);
}

void error_section() {
  // volatile: the compiler must not see (and warn about) the null buffer.
  char* volatile no_buffer = nullptr;
  report("write to fd 7", ::write(7, "x", 1));
  report("write from a null buffer", ::write(1, no_buffer, 10));
  report("read into a null buffer", ::read(0, no_buffer, 10));
  report("write of 0 bytes", ::write(1, "", 0));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "streams") {
    std::fprintf(stderr, "to stderr 1\n");
    std::printf("to stdout\n");
    std::fflush(stdout);
    std::fprintf(stderr, "to stderr 2\n");
    return 0;
  }
  if (mode == "partial") {
    // A line written in two pieces, with syscalls in between: --trace must not
    // continue it.
    ::write(2, "partial", 7);
    std::printf("pid %d\n", static_cast<int>(::getpid()) > 0);
    std::fflush(stdout);
    ::write(2, " end\n", 5);
    return 0;
  }
  if (mode == "big") {
    // 4 MiB through stdout in one write: the host must not truncate it.
    std::string block(4 << 20, '\0');
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
    std::size_t written = 0;
    while (written < block.size()) {
      const ssize_t n = ::write(1, block.data() + written, block.size() - written);
      if (n <= 0) return 1;
      written += static_cast<std::size_t>(n);
    }
    return 0;
  }
  if (mode == "poll") poll_section();
  if (mode == "errors") error_section();
  if (mode == "closed") {
    ::close(1);
    report("write after close(1)", ::write(1, "x", 1));  // goes nowhere: stdout is closed
    std::fprintf(stderr, "write after close(1): %ld %s\n", static_cast<long>(::write(1, "x", 1)),
                 std::strerror(errno));
  }
  std::fflush(stdout);
  return 0;
}
