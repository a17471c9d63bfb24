#include "vm/teardown_reaper.h"

#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <ctime>
#include <iterator>

namespace hyperlet {
namespace {

constexpr std::size_t kReaperStack = 64 * 1024;

// Compiled at build time from hypervisor/tools/seccomp_filter_generator.cpp.
const sock_filter kReaperFilter[] = {
#include "reaper_seccomp_filter.inc"
};

// How far the reaper got; it writes, hyperlet waits (a futex word in the memory
// both share).
enum ReaperState : int { kStarting = 0, kFiltered = 1, kFailed = 2 };
std::atomic<int> g_reaper_state{kStarting};
bool g_reaper_started = false;

// The reaper shares hyperlet's memory and, through it, the main thread's TLS:
// it must not touch errno or anything else of glibc's, so it makes raw syscalls.
// Unused arguments are zero: prctl refuses options with stray upper arguments.
long raw_syscall(long number, long a = 0, long b = 0, long c = 0, long d = 0, long e = 0) {
  long result;
  register long r10 asm("r10") = d;
  register long r8 asm("r8") = e;
  asm volatile("syscall"
               : "=a"(result)
               : "a"(number), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
               : "rcx", "r11", "memory");
  return result;
}

int reaper(void* parent) {
  // Killed when hyperlet exits; its exit then closes the VM and unmaps the memory.
  raw_syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL);
  if (raw_syscall(SYS_getppid) != reinterpret_cast<long>(parent)) raw_syscall(SYS_exit, 0);
  // Whoever reads hyperlet's stdout and stderr sees them end when hyperlet ends.
  for (int fd = 0; fd < 3; ++fd) raw_syscall(SYS_close, fd);
  const sock_fprog program{static_cast<unsigned short>(std::size(kReaperFilter)),
                           const_cast<sock_filter*>(kReaperFilter)};
  const bool filtered = raw_syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1) == 0 &&
                        raw_syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, reinterpret_cast<long>(&program)) == 0;
  g_reaper_state.store(filtered ? kFiltered : kFailed);
  raw_syscall(SYS_futex, reinterpret_cast<long>(&g_reaper_state), FUTEX_WAKE, 1);
  if (!filtered) raw_syscall(SYS_exit, 0);
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
  g_reaper_started = true;
  return true;
}

bool teardown_reaper_filtered() {
  if (!g_reaper_started) return false;
  // Usually done by now: the reaper starts on the other CPU while the VM is set up.
  const timespec limit{1, 0};
  int state = g_reaper_state.load();
  if (state == kStarting) {
    ::syscall(SYS_futex, &g_reaper_state, FUTEX_WAIT, kStarting, &limit);
    state = g_reaper_state.load();
  }
  return state == kFiltered;
}

}  // namespace hyperlet
