// Prints where and who the app believes it is: its working directory (getcwd)
// and its host name (uname's nodename), for --workdir and --hostname.
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>

int main() {
  char cwd[4096];
  if (getcwd(cwd, sizeof cwd) == nullptr) {
    std::perror("getcwd");
    return 1;
  }
  utsname name{};
  if (uname(&name) != 0) {
    std::perror("uname");
    return 1;
  }
  std::printf("cwd=%s\nnodename=%s\n", cwd, name.nodename);
  return 0;
}
