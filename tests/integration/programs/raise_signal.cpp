// Ends by a signal it sends itself, the ways real programs do: abort(), an
// uncaught exception (std::terminate → abort), raise(SIGTERM). Natively the
// shell reports 128 + signal: 134, 134, 143.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "abort") std::abort();
  if (mode == "uncaught") throw std::runtime_error("nobody catches this");
  if (mode == "term") std::raise(SIGTERM);
  if (mode == "ignored") {
    // An ignored signal changes nothing: the program goes on.
    std::signal(SIGTERM, SIG_IGN);
    std::raise(SIGTERM);
    std::puts("still running");
    return 0;
  }
  if (mode == "write-forever" || mode == "write-ignoring-sigpipe") {
    // Into a pipe whose reader goes away (`| head -2`): SIGPIPE ends the first
    // mode (141); the second ignores it and sees EPIPE.
    if (mode == "write-ignoring-sigpipe") std::signal(SIGPIPE, SIG_IGN);
    for (;;) {
      if (write(1, "line\n", 5) < 0) {
        std::fprintf(stderr, "write failed: %s\n", std::strerror(errno));
        return 3;
      }
    }
  }
  std::puts("the signal did not end the program");
  return 1;
}
