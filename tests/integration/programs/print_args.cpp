// Prints argc and every argv[i] in brackets, one per line, so that empty
// arguments and spaces are visible. Built twice: -static and -static-pie.
#include <cstdio>

int main(int argc, char** argv) {
  std::printf("argc=%d\n", argc);
  for (int i = 1; i < argc; ++i) std::printf("[%s]\n", argv[i]);
  return 0;
}
