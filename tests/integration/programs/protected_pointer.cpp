// Hands the guest kernel pointers into a page the app made PROT_NONE (and a
// range that straddles into it): EFAULT, as on Linux, not a kernel fault.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <ctime>
int main() {
  char* p = (char*)mmap(nullptr, 3 << 12, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  mprotect(p + 4096, 4096, PROT_NONE);
  long a = syscall(SYS_clock_gettime, CLOCK_REALTIME, p + 4096); int ea = errno;
  long b = syscall(SYS_clock_gettime, CLOCK_REALTIME, p);
  long c = syscall(SYS_uname, p + 4096 - 16); int ec = errno;  // straddles into the protected page
  printf("protected=%ld %s ok=%ld straddle=%ld %s\n", a, ea == EFAULT ? "EFAULT" : "?", b, c, ec == EFAULT ? "EFAULT" : "?");
}
