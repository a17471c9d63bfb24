// Prints every environment variable the app received, in order, then a
// marker so that an empty environment is distinguishable from no output.
#include <cstdio>

extern char** environ;

int main() {
  for (char** entry = environ; *entry != nullptr; ++entry) std::printf("%s\n", *entry);
  std::printf("end of environment\n");
  return 0;
}
