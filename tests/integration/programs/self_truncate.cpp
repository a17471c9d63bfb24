// Truncates its own image file (argv[1], reached through a writable volume),
// then goes on running code it has not run before, and with argv[2] == "crash"
// dies of a null dereference so that the crash report must name a function.
#include <unistd.h>

#include <cstdio>
#include <cstring>

extern "C" {

__attribute__((noinline)) int crash_after_truncate(volatile int* pointer) { return *pointer; }

// Enough distinct code that some of it lies on pages not yet touched.
__attribute__((noinline)) unsigned long checksum_after_truncate(unsigned long seed) {
  unsigned long value = seed;
  for (int i = 0; i < 1000; ++i) value = value * 6364136223846793005ul + 1442695040888963407ul;
  return value;
}
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  if (::truncate(argv[1], 0) != 0) {
    std::perror("truncate");
    return 3;
  }
  std::printf("truncated; checksum %lu\n", checksum_after_truncate(7) % 1000);
  std::fflush(stdout);
  volatile int* null_pointer = nullptr;
  if (argc > 2 && std::strcmp(argv[2], "crash") == 0) return crash_after_truncate(null_pointer);
  return 0;
}
