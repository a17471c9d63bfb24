// Prints the version macros of the installed <hyperlet/guest.h> beside the CMake package's version.
#include <hyperlet/guest.h>

#include <cstdio>
#include <cstring>

static_assert(HYPERLET_VERSION_MAJOR >= 0 && HYPERLET_VERSION_MINOR >= 0 && HYPERLET_VERSION_PATCH >= 0);

int main() {
  std::printf("headers %s, package %s, %s\n", HYPERLET_VERSION_STRING, PACKAGE_VERSION,
              hyperlet::in_microvm() ? "in a microVM" : "native");
  return std::strcmp(HYPERLET_VERSION_STRING, PACKAGE_VERSION) == 0 ? 0 : 1;
}
