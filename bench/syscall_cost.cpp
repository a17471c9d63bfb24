// The cost of one syscall in the guest, answered in the guest kernel
// (getppid), forwarded to the host (fcntl F_GETFD on stdout, through the
// generic syscall(): the trap into the guest kernel) and made through glibc's
// fcntl() (`mov $72, %eax; syscall`, a site the loader rewrites into a direct
// syscall under the trap entry): 2000 of each, microseconds per call. Natively
// all are ~0.1 us; in a microVM the difference is the trap and the exit.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace {

double now_us() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

}  // namespace

int main() {
  constexpr int kCalls = 2000;
  const double start = now_us();
  for (int i = 0; i < kCalls; ++i) syscall(SYS_getppid);
  const double middle = now_us();
  for (int i = 0; i < kCalls; ++i) syscall(SYS_fcntl, 1, F_GETFD);
  const double forwarded_end = now_us();
  for (int i = 0; i < kCalls; ++i) fcntl(1, F_GETFD);
  const double end = now_us();
  std::printf(
      "in the guest kernel: %.1f us per call; forwarded to the host: %.1f us per call; "
      "glibc's fcntl(): %.1f us per call\n",
      (middle - start) / kCalls, (forwarded_end - middle) / kCalls, (end - forwarded_end) / kCalls);
  return 0;
}
