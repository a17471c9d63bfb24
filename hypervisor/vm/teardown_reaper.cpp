#include "vm/teardown_reaper.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

namespace hyperlet {
namespace {

constexpr std::size_t kReaperStack = 64 * 1024;

// The reaper shares hyperlet's memory and, through it, the main thread's TLS:
// it must not touch errno or anything else of glibc's, so it makes raw syscalls.
long raw_syscall(long number, long a = 0, long b = 0, long c = 0, long d = 0) {
  long result;
  register long r10 asm("r10") = d;
  asm volatile("syscall" : "=a"(result) : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
  return result;
}

int reaper(void* parent) {
  // Killed when hyperlet exits; its exit then closes the VM and unmaps the memory.
  raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (raw_syscall(SYS_getppid) != reinterpret_cast<long>(parent)) raw_syscall(SYS_exit, 0);
  // Whoever reads hyperlet's stdout and stderr sees them end when hyperlet ends.
  for (int fd = 0; fd < 3; ++fd) raw_syscall(SYS_close, fd);
  for (;;) raw_syscall(SYS_pause);
}

}  // namespace

bool start_teardown_reaper() {
  void* stack = ::mmap(nullptr, kReaperStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) return false;
  // All signals blocked from its first instruction (SIGKILL cannot be): Ctrl-C
  // reaches the whole process group, and hyperlet's handlers are not for it.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  // No exit signal: hyperlet never waits for it; init reaps it.
  const int child = ::clone(reaper, static_cast<std::byte*>(stack) + kReaperStack, CLONE_VM,
                            reinterpret_cast<void*>(static_cast<long>(::getpid())));
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (child < 0) {
    ::munmap(stack, kReaperStack);
    return false;
  }
  return true;
}

}  // namespace hyperlet
