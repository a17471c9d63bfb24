// Sums the integers read from stdin until EOF: checks that piped input reaches
// the app, including input larger than one read() buffer.
#include <iostream>

int main() {
  long long sum = 0;
  long long count = 0;
  long long value = 0;
  while (std::cin >> value) {
    sum += value;
    ++count;
  }
  std::cout << "count=" << count << " sum=" << sum << '\n';
  return std::cin.eof() ? 0 : 1;
}
