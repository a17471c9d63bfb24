// Build-time tool: compiles hyperlet's seccomp rules with libseccomp and prints
// a BPF program as a C++ initializer list. `host` is hyperlet's own filter
// (vm/host_seccomp.h says what it is for, vm/host_seccomp.cpp loads it);
// `host-processes` is the same with what forking needs (--processes);
// `reaper` is the teardown reaper's (vm/teardown_reaper.cpp). Building the filter with libseccomp
// at every start cost ~0.5 ms; loading a ready program costs a few µs
// (Firecracker's seccompiler does the same).
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <vector>

#include "vm/app_signals.h"

namespace {

// What the run loop, the device handlers (files, sockets, readiness, time,
// random), the file ring's poller thread, fault reports and the end-of-run
// statistics use, glibc's own calls underneath them included.
// (tee: a snapshot copies what waits in a pipe without taking it out.)
const char* const kAllowed[] = {
    // memory, threads, signals, time
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "futex", "set_robust_list", "rseq",
    "sched_yield", "sched_getaffinity", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack", "gettid",
    "getpid", "tgkill", "exit", "exit_group", "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep",
    "gettimeofday", "timer_settime", "timer_gettime", "timer_delete", "getrandom", "getuid", "geteuid", "getgid",
    "getegid", "getgroups", "prlimit64", "uname",
    // files (paths are confined by openat2 and the volumes, not here)
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2", "lseek",
    "close", "open", "openat", "openat2", "newfstatat", "fstat", "stat", "lstat", "statx", "statfs", "fstatfs",
    "getdents64", "mkdirat", "unlinkat", "renameat", "renameat2", "linkat", "symlinkat", "readlinkat", "faccessat",
    "faccessat2", "access", "chmod", "fchmod", "fchmodat", "fchown", "fchownat", "utimensat", "ftruncate", "fallocate",
    "fsync", "fdatasync", "fcntl", "flock", "dup", "dup2", "dup3", "pipe2", "tee", "sendfile", "copy_file_range",
    "fadvise64", "getcwd",
    // sockets and readiness
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername",
    "setsockopt", "getsockopt", "shutdown", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "poll",
    "ppoll", "select", "pselect6", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2",
    "eventfd2", "timerfd_create", "timerfd_settime", "timerfd_gettime"};

// KVM_GET_MSRS as C computes it: in C++ the flexible-array struct has the
// wrong sizeof (kvm/kvm.cpp says more).
constexpr unsigned long kGetMsrs = _IOC(_IOC_READ | _IOC_WRITE, KVMIO, 0x88, 8);
// KVM_GET_XSAVE and KVM_SET_XSAVE likewise, with kvm_xsave's C size (4096).
constexpr unsigned long kGetXsave = _IOC(_IOC_READ, KVMIO, 0xa4, 4096);
constexpr unsigned long kSetXsave = _IOC(_IOC_WRITE, KVMIO, 0xa5, 4096);

constexpr unsigned long kSetCpuid2 = _IOC(_IOC_WRITE, KVMIO, 0x90, 8);
constexpr unsigned long kSetMsrs = _IOC(_IOC_WRITE, KVMIO, 0x89, 8);

// ioctl only with these requests: running the vCPU, injecting the time-slice
// interrupt and reading its state (a snapshot reads all of it), KVM's
// statistics, and what the console device answers. The ones that set the
// vCPU's state (registers, CPUID, MSRs, XCR0, vector registers) set only this
// run's own vCPU, as an execve's boot does (vm/micro_vm.cpp: exec_app): the
// guest's own state, which the host may set at any time anyway. Nothing here
// makes a VM or a vCPU, or maps memory into one.
const unsigned long kAllowedIoctls[] = {
    KVM_RUN,      KVM_INTERRUPT,       KVM_GET_REGS,  KVM_GET_SREGS, KVM_GET_FPU,      kGetXsave,   kSetXsave,
    KVM_GET_XCRS, KVM_GET_VCPU_EVENTS, kGetMsrs,      KVM_GET_CLOCK, KVM_GET_STATS_FD, TCGETS,      TIOCGWINSZ,
    FIONREAD,     KVM_SET_REGS,        KVM_SET_SREGS, kSetCpuid2,    kSetMsrs,         KVM_SET_XCRS};

// A run that may fork (--processes N above 0) gets these too, and no other run
// does. The parent forks itself (glibc's fork: clone with exactly these flags),
// waits for and signals its children (only those: devices/processes.cpp checks
// the pid) and watches them through pidfds. The child builds a new VM over its
// copy of guest memory and puts the parent's vCPU state in it: creating a VM
// and a vCPU, mapping memory and setting registers, which no other run may do
// once the filter is in place; PR_SET_PDEATHSIG ends it with its parent, and
// it makes its own timers again (POSIX timers are not inherited). Signals to
// the other processes that are not the app's as themselves travel as one
// queued host signal (rt_sigqueueinfo of kRelayedAppSignal only).
const char* const kProcessesAllowed[] = {"wait4", "waitid", "kill", "pidfd_open", "getppid", "timer_create"};
const unsigned long kProcessesIoctls[] = {
    KVM_CREATE_VM, KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU, KVM_CHECK_EXTENSION, KVM_SET_CLOCK,
    KVM_SET_FPU,   KVM_SET_VCPU_EVENTS};
constexpr unsigned long kForkCloneFlags = CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD;

// The teardown reaper only waits to be killed: it shares hyperlet's memory and
// holds the VM's fds, so anything more would be a way around hyperlet's filter
// for whoever took over hyperlet. It runs no libc and no signal handler. (And
// one FUTEX_WAKE, below.)
const char* const kReaperAllowed[] = {"pause", "exit", "exit_group"};

int fail(const char* what, int error) {
  std::fprintf(stderr, "seccomp_filter_generator: %s: %s\n", what, std::strerror(error < 0 ? -error : error));
  return 1;
}

int add_host_rules(scmp_filter_ctx filter) {
  for (const char* name : kAllowed) {
    const int number = seccomp_syscall_resolve_name(name);
    if (number == __NR_SCMP_ERROR) return fail(name, ENOENT);
    if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, number, 0); result < 0) return fail(name, result);
  }
  for (const unsigned long request : kAllowedIoctls) {
    if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                      SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(request)));
        result < 0) {
      return fail("ioctl", result);
    }
  }
  // Threads only (the file ring's poller): clone with CLONE_THREAD; clone3, whose
  // flags a filter cannot see, answers ENOSYS and glibc falls back to clone.
  if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                                    SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
      result < 0) {
    return fail("clone", result);
  }
  if (int result = seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0); result < 0) {
    return fail("clone3", result);
  }
  // The host file of the app's shared anonymous memory (memory/file_mappings.cpp).
  if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(memfd_create), 1,
                                    SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(MFD_CLOEXEC)));
      result < 0) {
    return fail("memfd_create", result);
  }
  return 0;
}

int add_processes_rules(scmp_filter_ctx filter) {
  if (int result = add_host_rules(filter); result != 0) return result;
  for (const char* name : kProcessesAllowed) {
    const int number = seccomp_syscall_resolve_name(name);
    if (number == __NR_SCMP_ERROR) return fail(name, ENOENT);
    if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, number, 0); result < 0) return fail(name, result);
  }
  for (const unsigned long request : kProcessesIoctls) {
    if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
                                      SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(request)));
        result < 0) {
      return fail("ioctl", result);
    }
  }
  if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_EQ, kForkCloneFlags));
      result < 0) {
    return fail("clone", result);
  }
  // sigqueue of the one host signal that carries a guest signal to another of
  // the app's processes (vm/app_signals.h); their pids are checked as kill's.
  if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(rt_sigqueueinfo), 1,
                                    SCMP_A1(SCMP_CMP_EQ, static_cast<scmp_datum_t>(hyperlet::kRelayedAppSignal)));
      result < 0) {
    return fail("rt_sigqueueinfo", result);
  }
  if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(prctl), 1, SCMP_A0(SCMP_CMP_EQ, PR_SET_PDEATHSIG));
      result < 0) {
    return fail("prctl", result);
  }
  return 0;
}

int add_reaper_rules(scmp_filter_ctx filter) {
  for (const char* name : kReaperAllowed) {
    const int number = seccomp_syscall_resolve_name(name);
    if (number == __NR_SCMP_ERROR) return fail(name, ENOENT);
    if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, number, 0); result < 0) return fail(name, result);
  }
  // One FUTEX_WAKE tells hyperlet that the filter is in place.
  if (int result = seccomp_rule_add(filter, SCMP_ACT_ALLOW, SCMP_SYS(futex), 1, SCMP_A1(SCMP_CMP_EQ, FUTEX_WAKE));
      result < 0) {
    return fail("futex", result);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool reaper = argc == 2 && std::strcmp(argv[1], "reaper") == 0;
  const bool processes = argc == 2 && std::strcmp(argv[1], "host-processes") == 0;
  if (argc != 2 || (!reaper && !processes && std::strcmp(argv[1], "host") != 0)) {
    std::fprintf(stderr, "usage: seccomp_filter_generator host|host-processes|reaper\n");
    return 2;
  }
  // hyperlet: anything else traps, and vm/host_seccomp.cpp's SIGSYS handler names
  // the syscall. The reaper has no handler: anything else kills it, and its exit
  // tears the VM down as it would have anyway.
  scmp_filter_ctx filter = seccomp_init(reaper ? SCMP_ACT_KILL_PROCESS : SCMP_ACT_TRAP);
  if (filter == nullptr) return fail("seccomp_init", EINVAL);
  const int added = reaper      ? add_reaper_rules(filter)
                    : processes ? add_processes_rules(filter)
                                : add_host_rules(filter);
  if (added != 0) return added;
  const int memory = memfd_create("bpf", 0);
  if (memory < 0) return fail("memfd_create", errno);
  if (int result = seccomp_export_bpf(filter, memory); result < 0) return fail("seccomp_export_bpf", result);
  const off_t size = lseek(memory, 0, SEEK_END);
  std::vector<sock_filter> program(static_cast<std::size_t>(size) / sizeof(sock_filter));
  if (pread(memory, program.data(), program.size() * sizeof(sock_filter), 0) != size) return fail("pread", errno);
  std::printf("// Generated by hypervisor/tools/seccomp_filter_generator.cpp: do not edit.\n");
  for (const sock_filter& instruction : program) {
    std::printf("{0x%04x, %u, %u, 0x%08x},\n", instruction.code, instruction.jt, instruction.jf, instruction.k);
  }
  seccomp_release(filter);
  return 0;
}
