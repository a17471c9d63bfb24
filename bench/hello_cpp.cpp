// A C++ hello through iostream (static glibc + libstdc++): one line, std::endl.
#include <iostream>

int main() {
  std::cout << "hello from C++" << std::endl;
  return 0;
}
