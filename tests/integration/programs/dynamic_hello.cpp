// Linked dynamically on purpose: hyperlet must refuse it (status 126).
#include <cstdio>

int main() {
  std::puts("a dynamically linked program should never run in hyperlet");
  return 0;
}
