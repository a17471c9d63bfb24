// Never ends: prints one line, then spins without any syscall, so only
// --timeout can stop it.
#include <cstdio>

int main() {
  std::puts("spinning");
  std::fflush(stdout);
  volatile unsigned long counter = 0;
  for (;;) counter = counter + 1;
}
