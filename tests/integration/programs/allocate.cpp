// Asks for more memory than the VM has: "new MIB" must throw std::bad_alloc,
// "malloc MIB" must return NULL; either way the program reports it and goes on.
// "new-uncaught MIB" lets std::bad_alloc end the program (abort).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  const std::size_t bytes = std::stoull(argv[2]) << 20;
  if (std::strcmp(argv[1], "new-uncaught") == 0) {
    char* block = new char[bytes];
    block[0] = 1;
    std::printf("new succeeded\n");
    delete[] block;
  } else if (std::strcmp(argv[1], "new") == 0) {
    try {
      char* block = new char[bytes];
      block[0] = 1;
      std::printf("new succeeded\n");
      delete[] block;
    } catch (const std::bad_alloc&) {
      std::printf("caught std::bad_alloc\n");
    }
  } else {
    void* block = std::malloc(bytes);
    std::printf(block == nullptr ? "malloc returned NULL\n" : "malloc succeeded\n");
    std::free(block);
  }
  // The heap still works after the failed request.
  std::string small(1000, 'x');
  std::printf("still alive: %zu\n", small.size());
  return 0;
}
