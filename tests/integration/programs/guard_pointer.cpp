// Hands the guest kernel pointers into the unmapped guard below the main stack:
// a kernel that touched them would fault; it must answer EFAULT instead.
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <ctime>

int main() {
  char local = 0;
  const auto stack = reinterpret_cast<std::uintptr_t>(&local);
  // hyperlet's main stack is 8 MiB at the default memory size; the guard lies just below.
  const std::uintptr_t guard = (stack & ~std::uintptr_t{0xfff}) - (8u << 20) - 8192;
  const long clock = syscall(SYS_clock_gettime, CLOCK_REALTIME, reinterpret_cast<void*>(guard));
  const int clock_errno = errno;
  const long uname = syscall(SYS_uname, reinterpret_cast<void*>(guard));
  const int uname_errno = errno;
  std::printf("clock_gettime=%ld %s uname=%ld %s\n", clock, clock_errno == EFAULT ? "EFAULT" : "?", uname,
              uname_errno == EFAULT ? "EFAULT" : "?");
  return 0;
}
