// Exits with the status given as argv[1]; with a second argument "exit" it
// calls std::exit instead of returning from main (exit_group either way).
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const int status = std::stoi(argv[1]);
  if (argc > 2 && std::string(argv[2]) == "exit") std::exit(status);
  return status;
}
