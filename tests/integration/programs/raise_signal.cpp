// Ends by a signal it sends itself, the ways real programs do: abort(), an
// uncaught exception (std::terminate → abort), raise(SIGTERM). Natively the
// shell reports 128 + signal: 134, 134, 143.
#include <csignal>
#include <cstdio>
#include <cstdlib>
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
  std::puts("the signal did not end the program");
  return 1;
}
