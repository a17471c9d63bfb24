// Reads its shipped config, says where it runs, and writes into its volume
// through the working directory; one line per step.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <string>

int main() {
  std::ifstream config("/etc/svc.conf");
  std::string line;
  std::getline(config, line);
  std::cout << "config: " << (config ? line : "(none)") << "\n";
  char cwd[256] = {};
  std::cout << "cwd: " << (::getcwd(cwd, sizeof cwd) != nullptr ? cwd : "?") << "\n";
  char host[128] = {};
  ::gethostname(host, sizeof host);
  std::cout << "hostname: " << host << "\n";
  std::ofstream out("out.txt");
  out << line << "\n";
  std::cout << "wrote: " << (out ? "yes" : "no") << "\n";
  return 0;
}
