// Entry from both syscall paths (entry.S): count, dispatch, optionally trace.
#include <asm/unistd_64.h>

#include "boot_info.h"
#include "errno.h"
#include "hypercall.h"
#include "syscalls/syscalls.h"
#include "trap_frame.h"

namespace hyperlet::kernel {
namespace {

int64_t dispatch(uint64_t number, const uint64_t (&a)[6], bool& handled_here) {
  handled_here = true;
  switch (number) {
    case __NR_brk: return sys_brk(a[0]);
    case __NR_mmap: return sys_mmap(a[0], a[1], a[2], a[3], a[4], a[5]);
    case __NR_munmap: return sys_munmap(a[0], a[1]);
    case __NR_mprotect: return sys_mprotect(a[0], a[1], a[2]);
    case __NR_mremap: return sys_mremap(a[0], a[1], a[2], a[3], a[4]);
    case __NR_madvise: return sys_madvise(a[0], a[1], a[2]);
    case __NR_msync: return sys_msync(a[0], a[1], a[2]);
    case __NR_arch_prctl: return sys_arch_prctl(a[0], a[1]);
    case __NR_set_tid_address: return sys_set_tid_address(a[0]);
    case __NR_set_robust_list: return sys_set_robust_list(a[0], a[1]);
    case __NR_rseq: return error(ENOSYS);
    case __NR_prlimit64: return sys_prlimit64(a[0], a[1], a[2], a[3]);
    case __NR_getrlimit: return sys_prlimit64(0, a[0], 0, a[1]);
    case __NR_getpid: return process_id();
    case __NR_gettid: return current_tid();
    case __NR_getppid: return parent_process_id();
    case __NR_getuid:
    case __NR_geteuid:
    case __NR_getgid:
    case __NR_getegid: return 0;
    case __NR_uname: return sys_uname(a[0]);
    case __NR_sysinfo: return sys_sysinfo(a[0]);
    case __NR_sched_getaffinity: return sys_sched_getaffinity(a[0], a[1], a[2]);
    case __NR_sched_setaffinity: return sys_sched_setaffinity(a[0], a[1], a[2]);
    case __NR_sched_yield: return sys_sched_yield();
    case __NR_futex: return sys_futex(a[0], a[1], a[2], a[3], a[4], a[5]);
    case __NR_clone: return sys_clone(a);
    case __NR_clone3: return error(ENOSYS);  // glibc then falls back to clone
    case __NR_fork: return sys_fork_process(a, ForkCall::kFork);
    case __NR_vfork: return sys_fork_process(a, ForkCall::kVfork);
    case __NR_execve: return sys_execve(a[0], a[1], a[2]);
    case __NR_execveat: return sys_execveat(a[0], a[1], a[2], a[3], a[4]);
    case __NR_rt_sigaction: return sys_rt_sigaction(a[0], a[1], a[2], a[3]);
    case __NR_rt_sigprocmask: return sys_rt_sigprocmask(a[0], a[1], a[2], a[3]);
    case __NR_sigaltstack: return sys_sigaltstack(a[0], a[1]);
    case __NR_kill: return sys_kill(a[0], a[1]);
    case __NR_rt_sigpending:
      return sys_rt_sigpending(a[0], a[1]);
    case __NR_rt_sigreturn:
      return sys_rt_sigreturn();
    case __NR_rt_sigsuspend:
      return sys_rt_sigsuspend(a[0], a[1]);
    case __NR_pause:
      return sys_pause();
    case __NR_rt_sigtimedwait:
      return sys_rt_sigtimedwait(a[0], a[1], a[2], a[3]);
    case __NR_signalfd: return sys_signalfd4(a[0], a[1], a[2], 0);
    case __NR_signalfd4: return sys_signalfd4(a[0], a[1], a[2], a[3]);
    case abi::kSyscallSignalfd:
    case abi::kSyscallSignalfdReady: return error(ENOSYS);  // the guest kernel's own calls, never the app's
    case __NR_rt_sigqueueinfo: return sys_rt_sigqueueinfo(a[0], a[1], a[2]);
    case __NR_rt_tgsigqueueinfo: return sys_rt_tgsigqueueinfo(a[0], a[1], a[2], a[3]);
    case __NR_alarm: return sys_alarm(a[0]);
    case __NR_setitimer: return sys_setitimer(a[0], a[1], a[2]);
    case __NR_getitimer: return sys_getitimer(a[0], a[1]);
    case __NR_timer_create: return sys_timer_create(a[0], a[1], a[2]);
    case __NR_timer_settime: return sys_timer_settime(a[0], a[1], a[2], a[3]);
    case __NR_timer_gettime: return sys_timer_gettime(a[0], a[1]);
    case __NR_timer_getoverrun: return sys_timer_getoverrun(a[0]);
    case __NR_timer_delete: return sys_timer_delete(a[0]);
    case __NR_tkill: return sys_tgkill(process_id(), a[0], a[1]);
    case __NR_tgkill: return sys_tgkill(a[0], a[1], a[2]);
    case __NR_clock_gettime: return sys_clock_gettime(a[0], a[1]);
    case __NR_clock_getres: return sys_clock_getres(a[0], a[1]);
    case __NR_gettimeofday: return sys_gettimeofday(a[0], a[1]);
    case __NR_time: return sys_time(a[0]);
    case __NR_getrusage: return sys_getrusage(a[0], a[1]);
    case __NR_times: return sys_times(a[0]);
    case __NR_getrandom: return sys_getrandom(a[0], a[1], a[2], a);
    case __NR_readlink: return sys_readlink(number, a[0], a[1], a[2], a);
    case __NR_readlinkat:
      if (static_cast<int64_t>(a[0]) != -100 /* AT_FDCWD */) return forward_to_host(number, a);
      return sys_readlink(number, a[1], a[2], a[3], a);
    case __NR_exit: sys_exit_thread(a[0]);
    case __NR_exit_group: sys_exit_group(a[0]);
    case __NR_restart_syscall: return sys_restart_syscall();
    default: {
      handled_here = false;
      if (signalfds_open()) {
        int64_t answer = 0;
        if ((number == __NR_read && signalfd_read(a[0], a[1], a[2], answer)) ||
            (number == __NR_readv && signalfd_readv(a[0], a[1], a[2], answer))) {
          handled_here = true;
          return answer;
        }
        signalfd_before_forward(number, a);
      }
      if (number == __NR_nanosleep || number == __NR_clock_nanosleep) note_sleep_start(number, a);
      return finish_forwarded(number, a, forward_to_host(number, a));
    }
  }
}

}  // namespace
}  // namespace hyperlet::kernel

extern "C" void handle_syscall(hyperlet::kernel::SyscallFrame* frame) {
  using namespace hyperlet;
  const kernel::KernelLockGuard lock;
  const uint64_t number = frame->rax;
  if (number < abi::kSyscallCountSlots) {
    reinterpret_cast<uint32_t*>(abi::kSyscallCountsAddr)[number]++;
  }
  const uint64_t (&args)[6] = frame->args;
  bool handled_here = false;
  const int64_t result = kernel::dispatch(number, args, handled_here);
  frame->rax = static_cast<uint64_t>(result);
  if (handled_here && (kernel::boot_info().flags & abi::kBootFlagTrace) != 0) {
    abi::SyscallArgs& trace = kernel::hypercall_args().syscall;
    trace.number = number;
    for (int i = 0; i < 6; ++i) trace.args[i] = args[i];
    trace.result = result;
    kernel::hypercall(abi::Hypercall::kTrace);
  }
}
