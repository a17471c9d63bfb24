// hello: the smallest C++ program that exercises what a real service needs
// from the runtime: iostream, heap containers, an exception thrown and caught
// (unwinding through static glibc), and its command line.
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Counts words by length; a std::map keeps the output order deterministic.
std::map<std::size_t, int> count_lengths(const std::vector<std::string>& words) {
  std::map<std::size_t, int> counts;
  for (const auto& word : words) {
    ++counts[word.size()];
  }
  return counts;
}

// Throws so that the caller can show that unwinding works inside the microVM.
void fail_on_purpose() { throw std::runtime_error("thrown inside the VM"); }

}  // namespace

int main(int argc, char** argv) {
  std::cout << "Hello from hyperlet!\n";

  std::vector<std::string> args(argv, argv + argc);
  std::cout << "argc = " << argc << '\n';
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::cout << "argv[" << i << "] = " << args[i] << '\n';
  }

  const std::vector<std::string> words = {"micro", "vm", "kvm", "ring", "three", "cpp"};
  for (const auto& [length, count] : count_lengths(words)) {
    std::cout << "words of length " << length << ": " << count << '\n';
  }

  try {
    fail_on_purpose();
  } catch (const std::exception& error) {
    std::cout << "caught: " << error.what() << '\n';
  }

  std::cout << "Goodbye!" << std::endl;
  return 0;
}
