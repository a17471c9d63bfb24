// The whole contract between the hyperlet host and its guest kernel.
//
// Both sides include this header: the host (C++23, hosted) and the guest kernel
// (freestanding C++, no SSE). It must stay plain data: fixed-width integers,
// standard-layout structs, no pointers (a guest address is always a uint64_t so
// that host code cannot dereference one by mistake).
//
// Guest memory is identity-mapped: a guest-virtual address equals its
// guest-physical address. The low 2 MiB belong to the guest kernel; the app
// (ring 3) lives above.
#pragma once

#include <stdint.h>

namespace hyperlet::abi {

// Bumped whenever anything in this file changes meaning.
inline constexpr uint32_t kAbiVersion = 1;

inline constexpr uint64_t kPageSize = 4096;

// ---- Fixed guest-physical layout of the kernel area (all below 2 MiB) ----
// Page 0 is never mapped so that null pointers fault in the app and the kernel.
inline constexpr uint64_t kBootInfoAddr = 0x1000;
inline constexpr uint64_t kGdtAddr = 0x2000;
inline constexpr uint64_t kIdtAddr = 0x3000;
inline constexpr uint64_t kTssAddr = 0x4000;
inline constexpr uint64_t kHypercallArgsAddr = 0x5000;
// One uint32_t counter per syscall number, kept by the guest kernel for --stats.
inline constexpr uint64_t kSyscallCountsAddr = 0x6000;
inline constexpr uint64_t kSyscallCountSlots = 512;
// Written by the guest kernel, read by the host after every VM exit (PreemptState).
inline constexpr uint64_t kPreemptStateAddr = kSyscallCountsAddr + kSyscallCountSlots * 4;
struct PreemptState {
  uint32_t live_threads;  // the app's threads alive; the host time-slices while > 1
  uint32_t preemptions;   // slice ends (kPreemptVector) the guest kernel received
  // Written by the host: bit N set = what guest thread slot N parked on
  // (kParkableSyscall) may be ready now. The guest takes the words with an
  // atomic exchange and makes those threads retry their calls.
  uint64_t ready_waiters[2];
  // Written by the guest kernel: the earliest expiry of the app's timers
  // (alarm, setitimer, timer_create; kernel/syscalls/timers.cpp), kvmclock ns,
  // 0 = none. While the guest runs, the host interrupts it then
  // (kPreemptVector), so that the kernel sends the timer's signal even to an
  // app that computes without a syscall; waits and kSleep end by then anyway.
  uint64_t timer_deadline_ns;
};
inline constexpr uint32_t kMaxParkedWaiters = 128;  // bits in ready_waiters
// Written by the guest kernel, read by the host when the app dies: what it may
// need to hear (the app ran out of guest memory before it crashed or aborted).
inline constexpr uint64_t kGuestStatusAddr = kPreemptStateAddr + 0x100;
struct GuestStatus {
  uint32_t failed_allocations;  // mmap/mremap of accessible memory answered ENOMEM (no room left)
  uint32_t reserved;
  uint64_t largest_failed;  // bytes asked by the largest of them
  // The memory budget (BootInfo::memory_budget) in use now and at most: the
  // heap and the accessible mapped pages (for --stats).
  uint64_t memory_charged;
  uint64_t memory_charged_peak;
};
static_assert(kGuestStatusAddr + sizeof(GuestStatus) <= 0x7000, "the kernel's status page ends at 0x7000");
// What siginfo says of each signal the host hands the app (SignalState.from_host):
// written by the host before it sets the signal's bit, read by the guest kernel
// as it takes the bit. SIGCHLD from a child process: CLD_* code, the child's
// pid and its exit status or signal; a signal another of the app's processes
// sent: SI_USER and that process's pid; from outside the app: SI_USER, pid 0.
// The uid is always 0, the app's own (getuid). Zeros read as SI_USER from outside.
inline constexpr uint64_t kHostSignalInfoAddr = kGuestStatusAddr + 0x100;
struct HostSignalInfo {
  int32_t code;
  int32_t pid;
  int32_t status;
  int32_t reserved;
};
inline constexpr uint32_t kHostSignalInfoCount = 64;  // signal N's is entry N - 1
static_assert(kHostSignalInfoAddr + kHostSignalInfoCount * sizeof(HostSignalInfo) <= 0x7000,
              "the kernel's status page ends at 0x7000");
// Signals between host and guest kernel (kernel/syscalls/signals.cpp and
// signal_delivery.cpp; vm/stop_signals.cpp and micro_vm.cpp's
// hand_signals_to_app), at the end of the syscall-count page. The guest kernel
// writes `handled`; the host, only while the vCPU is out of KVM_RUN, ORs what
// hyperlet received into `from_host` and sets `attention`, then injects
// kPreemptVector (or lets the next return to ring 3 find it).
inline constexpr uint64_t kSignalStateAddr = kSyscallCountsAddr + 0xf00;
struct SignalState {
  uint64_t handled;    // bit N-1: the app set an action for signal N (a handler or SIG_IGN: not SIG_DFL),
                       // or a signalfd watches it
  uint64_t from_host;  // bit N-1: signal N was sent to hyperlet, for the app; the guest clears it
  uint64_t attention;  // non-zero: look at signals before returning to ring 3 (entry.S reads it)
  // Non-zero: the app's SIGCHLD action is SIG_IGN or has SA_NOCLDWAIT, so its
  // children are reaped as they end (Linux's rule); the host does it.
  uint64_t reap_children;
};
// vfork (kVfork; vm/vfork_handoff.h). A vfork child's guest kernel writes, as
// it starts, the app memory its parent had not handed out at that moment:
// above the heap, below the lowest mapping, and the holes munmap left. When the
// child execs or ends, its hyperlet gives the parent the app pages it wrote,
// except in these ranges (the parent's kernel expects zeros there, and a
// mapping the child made there is the child's own), and the child's heap end,
// which the parent's kernel takes as its own (the heap is shared, as malloc's
// state in it is).
inline constexpr uint64_t kVforkParentMemoryAddr = 0x7000;
inline constexpr uint32_t kVforkHolesMax = 80;
struct VforkParentMemory {
  uint64_t parent_brk;    // the parent's heap end when the child began
  uint64_t mappings_low;  // the parent's lowest mapping then: [heap end, this) was free
  uint64_t heap_end;      // this kernel's heap end now (every brk keeps it)
  uint64_t adopt_brk;     // set by the host in the parent after kVfork: the child's heap end (0: unchanged)
  uint32_t hole_count;
  uint32_t reserved;
  struct {
    uint64_t start;
    uint64_t end;
  } holes[kVforkHolesMax];
};
static_assert(sizeof(VforkParentMemory) <= kPageSize, "the vfork page is one page");
inline constexpr uint64_t kKernelStackBottom = 0x10000;
inline constexpr uint64_t kKernelStackTop = 0x20000;
// IST stack for faults that may arrive with a broken stack (#DF, #NMI, #MC, #PF).
inline constexpr uint64_t kFaultStackBottom = 0x20000;
inline constexpr uint64_t kFaultStackTop = 0x28000;
// kvmclock's pvclock page; readable from ring 3 so that a vDSO can use it.
inline constexpr uint64_t kPvclockAddr = 0x30000;
// What the vDSO needs besides the pvclock: on the same ring-3-readable page.
inline constexpr uint64_t kVdsoDataAddr = kPvclockAddr + 0x800;
struct VdsoData {
  int64_t realtime_offset_ns;   // kvmclock + this = CLOCK_REALTIME
  int64_t monotonic_offset_ns;  // kvmclock + this = CLOCK_MONOTONIC
};
// What the app may learn about its VM (<hyperlet/guest.h>), on the same page.
// The auxv entry kAuxvGuestInfo points at it; it is absent when run natively.
inline constexpr uint64_t kGuestInfoAddr = kPvclockAddr + 0xc00;
inline constexpr uint64_t kAuxvGuestInfo = 0x4859;  // "HY"; Linux's AT_* stop below 64
struct GuestInfo {
  uint32_t abi_version;
  uint32_t reserved;
  uint64_t memory_size;
  // Host CLOCK_MONOTONIC (which is also the guest's) at each point, in ns.
  uint64_t launched_ns;     // hyperlet's main() began
  uint64_t vm_created_ns;
  uint64_t image_loaded_ns;
};

// Syscalls only hyperlet knows; Linux answers -ENOSYS, so the same binary runs natively.
inline constexpr uint64_t kSyscallReady = 0x10000001;  // "ready to serve"; returns 0
// Made by the guest kernel alone (kKernelHostSyscall; the app's own get ENOSYS):
// a signalfd is an app fd whose host side is an eventfd (flags: O_CLOEXEC,
// O_NONBLOCK; returns the fd), which the guest kernel keeps readable exactly
// while a signal it watches is pending (kSyscallSignalfdReady: fd, readable),
// so that poll, select and epoll see it; its reads are answered in the guest
// (kernel/syscalls/signalfd.cpp).
inline constexpr uint64_t kSyscallSignalfd = 0x10000005;
inline constexpr uint64_t kSyscallSignalfdReady = 0x10000006;

// Room for the vDSO image, readable and executable from ring 3.
inline constexpr uint64_t kVdsoAddr = 0x40000;
inline constexpr uint64_t kVdsoMaxSize = 0x10000;
// Kernel stacks of the app's threads other than the first (which keeps
// kKernelStackTop): kernel-only memory, one kThreadStackSize slot per thread.
inline constexpr uint64_t kThreadStacksBottom = 0x60000;
inline constexpr uint64_t kThreadStacksTop = 0x100000;
inline constexpr uint64_t kThreadStackSize = 0x2000;
inline constexpr uint64_t kKernelImageBase = 0x100000;
inline constexpr uint64_t kKernelImageLimit = 0x200000;
// Everything from here up to the page tables is the app's.
inline constexpr uint64_t kUserSpaceStart = 0x200000;
// Where a static-pie (ET_DYN) image is placed.
inline constexpr uint64_t kPieLoadBase = 0x400000;

// ---- GDT selectors (STAR-compatible order: kernel code, kernel data, user data, user code) ----
inline constexpr uint16_t kKernelCodeSelector = 0x08;
inline constexpr uint16_t kKernelDataSelector = 0x10;
inline constexpr uint16_t kUserDataSelector = 0x18 | 3;
inline constexpr uint16_t kUserCodeSelector = 0x20 | 3;
inline constexpr uint16_t kTssSelector = 0x28;  // vCPU N's TSS: kTssSelector + N * 16

// ---- vCPUs (--cpus) ----
// vCPU 0 keeps the fixed pages above (hypercall arguments at kHypercallArgsAddr,
// fault stack at kFaultStackTop); vCPU N > 0 has a CpuArea in the guest
// kernel's .bss (KernelHeader.cpu_areas) and its own TSS at kTssAddr + N *
// kTssStride, with its own descriptor in the GDT.
inline constexpr uint32_t kMaxCpus = 16;
inline constexpr uint64_t kTssStride = 128;
inline constexpr uint32_t kGdtEntries = 5 + 2 * kMaxCpus;  // null, 4 segments, a TSS (2 slots) per vCPU
// The LSTAR entry of vCPU N > 0 is KernelHeader.syscall_entry_cpus + N * this.
inline constexpr uint64_t kSyscallEntryStride = 64;

// Each vCPU's run clock, kept by the host on the pvclock page: the time the vCPU
// spent inside KVM_RUN up to its latest entry, and when that entry was (host
// CLOCK_MONOTONIC ns; 0 until the host first wrote it). The guest kernel measures
// what each app thread ran against it (CPU-time clocks, getrusage, times), so
// time its vCPU spent on the host — a forwarded call, a halt — is not CPU time.
struct VcpuRunClock {
  uint64_t run_ns;
  uint64_t entered_monotonic_ns;
};
inline constexpr uint64_t kRunClocksAddr = kPvclockAddr + 0x400;
static_assert(kMaxCpus * sizeof(VcpuRunClock) <= kVdsoDataAddr - kRunClocksAddr, "run clocks end before the vDSO data");
inline constexpr uint64_t kCpuStackSize = 0x2000;

// ---- Syscall entry ----
// On kvm_pvm a ring-3 `syscall` never reaches ring 0, so the loader rewrites each
// `syscall` (0f 05) of the app into `int 0x81` (cd 81): same length, and a vector
// nothing else uses, so real breakpoints stay breakpoints.
inline constexpr uint8_t kSyscallTrapVector = 0x81;
// The external interrupt the host injects (KVM_INTERRUPT) to end a thread's time slice.
inline constexpr uint8_t kPreemptVector = 0x20;
inline constexpr uint8_t kSyscallTrapOpcode[2] = {0xcd, kSyscallTrapVector};

// A direct syscall: the loader rewrites a site `mov $N, %eax; syscall` whose N is
// one of kDirectSyscalls into `out %eax, $kDirectSyscallPort` (e7 10, also 2
// bytes). vCPU 0's TSS I/O bitmap opens that one port to ring 3 exactly while the
// guest kernel has nothing to see in such calls (kernel/syscalls/direct_forward.cpp);
// then the `out` reaches the host with the call in the registers (rax the number,
// rdi rsi rdx r10 r8 r9 the arguments) and the host puts the result in rax. While
// the port is closed the `out` raises #GP, which the guest kernel takes as the
// syscall. The host may also send a call back that way (a number not in the set,
// or an answer the kernel must finish: kDirectSyscallFinishAddr). The guest
// kernel opens the port only under kBootFlagDirectSyscalls.
inline constexpr uint8_t kDirectSyscallPort = 0x10;
inline constexpr uint8_t kDirectSyscallOpcode[2] = {0xe7, kDirectSyscallPort};
// The calls the guest kernel forwards to the host untouched (its default branch,
// nothing before or after but the tail for EINTR, EPIPE and pending signals):
// x86-64 numbers of read, write, open, close, stat, fstat, lstat, poll, lseek,
// ioctl, pread64, pwrite64, readv, writev, access, pipe, select, dup, dup2,
// sendfile, socket, connect, accept, sendto, recvfrom, sendmsg, recvmsg,
// shutdown, bind, listen, getsockname, getpeername, socketpair, setsockopt,
// getsockopt, fcntl, flock, fsync, fdatasync, truncate, ftruncate, getcwd, chdir,
// fchdir, rename, mkdir, rmdir, unlink, fchmod, statfs, fstatfs, getdents64,
// epoll_wait, epoll_ctl, openat, mkdirat, newfstatat, unlinkat, renameat,
// faccessat, pselect6, ppoll, epoll_pwait, timerfd_create, timerfd_settime,
// timerfd_gettime, accept4, eventfd2, epoll_create1, dup3, pipe2, preadv,
// pwritev, recvmmsg, sendmmsg, renameat2, getrandom, statx, faccessat2. (getrandom
// the guest kernel answers from its boot pool, to spare a trip to the host; a direct
// one costs less than the trap into the guest kernel.)
inline constexpr uint16_t kDirectSyscalls[] = {
    0,   1,   2,   3,   4,   5,   6,   7,   8,   16,  17,  18,  19,  20,  21,  22,  23,  32,  33,  40,
    41,  42,  43,  44,  45,  46,  47,  48,  49,  50,  51,  52,  53,  54,  55,  72,  73,  74,  75,  76,
    77,  79,  80,  81,  82,  83,  84,  87,  91,  137, 138, 217, 232, 233, 257, 258, 262, 263, 264, 269,
    270, 271, 281, 283, 286, 287, 288, 290, 291, 292, 293, 295, 296, 299, 307, 316, 318, 332, 439};
// More the host takes from ring 3 but the guest kernel's fast path does not
// forward (while the port is closed the guest kernel answers them as before):
// exit_group, which ends the run exactly as the guest kernel's kExit hypercall
// would (the guest kernel only passes the status on), and hyperlet's ready(), so
// that a snapshot taken there resumes in ring 3 instead of in the guest kernel's
// syscall return path (~60 emulated instructions on kvm_pvm at every restore
// and reset). And set_robust_list, which the guest kernel only checks the size
// of (it keeps no robust list): glibc makes it in every forked child.
inline constexpr uint64_t kExitGroupSyscall = 231;
inline constexpr uint64_t kSetRobustListSyscall = 273;
constexpr bool is_direct_syscall(uint64_t number) {
  if (number == kExitGroupSyscall || number == kSyscallReady || number == kSetRobustListSyscall) return true;
  for (const uint16_t direct : kDirectSyscalls) {
    if (direct == number) return true;
  }
  return false;
}
// vCPU 0's TSS carries a 4-byte I/O bitmap right after its 104 bytes, covering
// ports 0-31 (the CPU reads two bytes for a check, so the limit covers one more).
// kDirectSyscallPort's 4 bits (a 32-bit out) are in kTssIoBitmapPortByte.
inline constexpr uint32_t kTssIoBitmapOffset = 104;
inline constexpr uint32_t kTssIoBitmapBytes = 4;
inline constexpr uint64_t kTssIoBitmapPortByte = kTssAddr + kTssIoBitmapOffset + kDirectSyscallPort / 8;
inline constexpr uint8_t kTssIoBitmapOpen = 0xf0;    // ports 0x10-0x13 open, 0x14-0x17 closed
inline constexpr uint8_t kTssIoBitmapClosed = 0xff;

// ---- Hypercalls ----
// A hypercall is a 32-bit `out` to kHypercallPortBase + number; the value written
// is the guest-physical address of the argument struct (always kHypercallArgsAddr
// today). The host checks that address and every address inside the struct.
inline constexpr uint16_t kHypercallPortBase = 0x700;

enum class Hypercall : uint16_t {
  kExit = 0,               // ExitArgs: the app ended; never returns.
  kHostSyscall = 1,        // SyscallArgs: a Linux syscall the host performs (I/O, sleep, random).
  kFault = 2,              // FaultArgs: an unhandled CPU exception; never returns.
  kDiscard = 3,            // DiscardArgs: give pages back; they read as zero afterwards.
  kTrace = 4,              // SyscallArgs: a syscall the guest handled itself (only with --trace).
  kSleep = 5,              // SleepArgs: no app thread can run until a timeout or a parked call's readiness.
  kDeadlock = 6,           // DeadlockArgs: every app thread waits with no timeout; never returns.
  kThreadsStarted = 7,     // none: a second thread now lives (PreemptState); time slices begin.
  kKernelHostSyscall = 8,  // SyscallArgs: as kHostSyscall, made by the guest kernel for itself (it alone
                           // reaches the fds it keeps above the app's limit)
  kParkableSyscall = 9,    // ParkableSyscallArgs: as kHostSyscall while other app threads could run: a call
                           // that would block is not performed but parked (result kParked)
  kFileMapping = 10,       // FileMappingArgs: map an app file over app pages (MAP_SHARED), move or sync one
  kKickCpus = 11,          // CpusArgs: wake these idle vCPUs from their kSleep (work became runnable)
  kShootdown = 12,         // CpusArgs: interrupt these vCPUs (kPreemptVector) so that they flush their TLB
  kVectorState = 13,       // VectorStateArgs: save this vCPU's XSAVE state to guest memory, then load
                           // another (kBootFlagHostVectorState: ring 0 cannot run xsave64 there)
  kSyscallSite = 14,       // SyscallSiteArgs: a `syscall` the app just executed, left unrewritten: rewrite it
  kFork = 15,              // ForkArgs: the app forks: a new host process continues as a new VM over a
                           // copy-on-write copy of this one's memory, returning here with result 0
  kExec = 16,              // ExecArgs: execve: the VM boots the image at `path` in place; returns only
                           // on failure
  kVfork = 17,             // ForkArgs: as kFork for vfork and posix_spawn (CLONE_VM | CLONE_VFORK): this
                           // VM waits until the child execs or ends, then holds the app pages it wrote
  kExecAt = 18,            // ExecAtArgs: execveat: as kExec, `path` relative to a directory fd, or
                           // an fd's own file (AT_EMPTY_PATH: fexecve)
  kCount
};

struct ExitArgs {
  int64_t status;
  int64_t signal;  // non-zero: the app was killed by this signal (status is 128 + signal)
};

struct SyscallArgs {
  uint64_t number;
  uint64_t args[6];
  int64_t result;  // filled by the host (kHostSyscall) or by the guest (kTrace)
};

// A parked call: the host did nothing and, when host_watches is set, watches
// what the call waits for (until the same waiter's next kParkableSyscall);
// when that may be ready it sets the waiter's bit in PreemptState.ready_waiters
// and interrupts the guest (kPreemptVector). The guest runs other threads and
// then makes the same call again. With timeout_ns set, the call gives up that
// long after it was first parked and answers timeout_result (poll's 0,
// nanosleep's 0, SO_RCVTIMEO's -EAGAIN).
inline constexpr int64_t kParked = INT64_MIN;
struct ParkableSyscallArgs {
  SyscallArgs call;
  uint32_t waiter;        // guest: the calling thread's slot, < kMaxParkedWaiters
  uint32_t host_watches;  // host: 1 when something will set the waiter's ready bit
  uint64_t timeout_ns;    // host: 0 = none
  int64_t timeout_result;
};

struct FaultArgs {
  uint64_t vector;
  uint64_t error_code;
  uint64_t rip;
  uint64_t cs;
  uint64_t rflags;
  uint64_t rsp;
  uint64_t cr2;  // faulting address for a page fault
  uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp;
};

struct DiscardArgs {
  uint64_t address;
  uint64_t length;
  int64_t result;
};

// MAP_SHARED file mappings are the host file's own pages, mapped over the guest
// pages at `address`, so that every mapping of a file, its reads and writes
// and other processes see one copy (the page cache's).
// Shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, and MAP_SHARED of
// /dev/zero) is a file of its own on the host, fresh and zero, so that a
// forked child shares it with its parent as Linux's does.
enum class FileMappingOp : uint32_t {
  kMap = 0,             // `fd` (an app fd) from `offset`; `writable`: the app asked for PROT_WRITE
  kMove = 1,            // the file mapped at `source` (from there on) now at `address` too (mremap)
  kSync = 2,            // msync: write what is mapped in the range to the file
  kShareAnonymous = 3,  // fresh shared anonymous memory over [address, address + length)
};
struct FileMappingArgs {
  FileMappingOp op;
  uint32_t writable;
  uint64_t address;  // page-aligned, like length: app pages only
  uint64_t length;
  uint64_t fd;
  uint64_t offset;  // page-aligned
  uint64_t source;
  int64_t result;  // 0 or -errno
};

struct SleepArgs {
  // Relative, CLOCK_MONOTONIC; the host also returns as soon as a parked call's
  // waiter becomes ready (PreemptState.ready_waiters), and kSleepForever waits
  // for that alone. 0 means "yield": the host answers with sched_yield at once
  // (a vCPU spinning for the kernel lock gives the holder's host thread a CPU).
  uint64_t nanoseconds;
};
inline constexpr uint64_t kSleepForever = UINT64_MAX;

struct DeadlockArgs {
  uint64_t threads;         // live app threads, all waiting
  uint64_t futex_address;   // what the running thread waits on
};

struct CpusArgs {
  uint64_t cpus;  // bit N: vCPU N
};

// The vCPU's XSAVE area (standard format, the components in BootInfo.xsave_features)
// written to `save_address` (0: none), then the one at `load_address` (0: none)
// made the vCPU's, `size` bytes each (at most 4096). result: 0, or -EFAULT (an
// address outside guest memory), -EINVAL (a size too large, or an area KVM
// refuses: the vCPU's state is then unchanged).
struct VectorStateArgs {
  uint64_t save_address;
  uint64_t load_address;
  uint64_t size;
  int64_t result;
};

// The 2 bytes at `address` (a `syscall` the app executed: kvm_pvm sent it to the
// LSTAR address in ring 3, with its return address in rcx) become the trap.
// result: 0 (rewritten, or it already was), -EINVAL (not app memory, or not a
// `syscall`: nothing written).
struct SyscallSiteArgs {
  uint64_t address;
  int64_t result;
};

// fork: the host process forks, and its child runs a new VM with this vCPU's
// state over its copy-on-write copy of guest memory. The parent's result is
// the child's pid (the host's pid of the child's hyperlet, which is also its
// guest pid) or -errno (EAGAIN: --processes allows no more; ENOSYS: the VM has
// more than one vCPU); the child's is 0, with child_pid its own pid.
struct ForkArgs {
  int64_t result;
  uint64_t child_pid;
};

// execve of the image at `path` (app memory, resolved against the app's working
// directory and volumes) with `argv` and `envp` (NULL-terminated arrays of
// strings in app memory). On success the host boots the image in this VM (new
// memory, the guest kernel afresh) with the same fds minus the close-on-exec
// ones and BootInfo's process fields from these; the call does not return.
// result: -errno (ENOENT, EACCES, ENOEXEC, E2BIG, EFAULT, ENOSYS with --cpus
// above 1), the app's memory untouched.
// Signal state a process keeps across exec beyond dispositions and the mask,
// as Linux's: the pending signals of the calling thread and of the process
// (their siginfo words, real-time instances in the order sent; a timer's signal
// stays pending although the timer goes), and its signalfds (an fd without
// O_CLOEXEC stays a signalfd watching the same set). The host drops the
// signalfds whose fds close-on-exec closed.
inline constexpr uint32_t kExecCarriedSignals = 64;
inline constexpr uint32_t kExecCarriedSignalfds = 32;

struct ExecPendingSignal {
  uint32_t signal;  // 1..64
  uint32_t thread;  // 1: pending for the calling thread (tgkill, raise); 0: for the process (kill)
  int32_t code;     // siginfo words (the guest kernel's PendingInfo)
  int32_t pid;
  int32_t uid;
  int32_t reserved;
  uint64_t value;
};

struct ExecSignalfd {
  int64_t fd;
  uint64_t mask;         // bit N-1: signal N
  uint64_t description;  // equal for an fd and its dups
};

struct ExecCarried {
  uint32_t pending_count;   // entries of `pending` in use (at most kExecCarriedSignals)
  uint32_t signalfd_count;  // entries of `signalfds` in use (at most kExecCarriedSignalfds)
  ExecPendingSignal pending[kExecCarriedSignals];
  ExecSignalfd signalfds[kExecCarriedSignalfds];
};

struct ExecArgs {
  uint64_t path;
  uint64_t argv;
  uint64_t envp;
  uint64_t signals_ignored;  // bit N-1: signal N is ignored (stays so across exec)
  uint64_t signals_blocked;  // the calling thread's mask (kept across exec)
  uint32_t process_id;
  uint32_t parent_process_id;
  int64_t result;
  ExecCarried carried;
};

// execveat (kExecAt): ExecArgs (result there), and where `path` is found.
struct ExecAtArgs {
  ExecArgs exec;
  int64_t dirfd;   // AT_FDCWD (-100), or an app fd: a directory, or with AT_EMPTY_PATH and path "" the file
  uint64_t flags;  // AT_EMPTY_PATH (0x1000), AT_SYMLINK_NOFOLLOW (0x100)
};

union HypercallArgs {
  CpusArgs cpus;
  ExitArgs exit;
  SleepArgs sleep;
  DeadlockArgs deadlock;
  SyscallArgs syscall;
  ParkableSyscallArgs parkable;
  FaultArgs fault;
  DiscardArgs discard;
  FileMappingArgs file_mapping;
  VectorStateArgs vector_state;
  SyscallSiteArgs syscall_site;
  ForkArgs fork;
  ExecArgs exec;
  ExecAtArgs exec_at;
};
static_assert(sizeof(HypercallArgs) <= kPageSize - 8);
// Non-zero: the host made a direct syscall whose answer the guest kernel must
// finish (EINTR, EPIPE, a pending signal). Its SyscallArgs (number, arguments,
// result) are in vCPU 0's HypercallArgs; the `out` runs again, raises #GP (the
// host closed the port) and the kernel finishes the call instead of making it.
inline constexpr uint64_t kDirectSyscallFinishAddr = kHypercallArgsAddr + kPageSize - 8;
inline constexpr uint64_t kDirectSyscallFinish = 1;  // finish it at the kPreemptVector the host injects
// The host closed the port only to send this call back to the guest kernel (a
// number not in kDirectSyscalls): the #GP reopens it.
inline constexpr uint64_t kDirectSyscallSentBack = 2;

// What vCPU N > 0 has of its own (KernelHeader.cpu_areas[N - 1]; kernel-only memory).
struct alignas(4096) CpuArea {
  uint8_t hypercall_args[kPageSize];   // its HypercallArgs
  uint8_t fault_stack[kCpuStackSize];  // its TSS's IST1
  uint8_t idle_stack[kCpuStackSize];   // where it starts (KernelHeader.secondary_entry) and waits for a thread
};

// ---- Boot information: written by the host at kBootInfoAddr before the first instruction ----
// A page-directory entry that maps a whole 2 MiB region (its PT page is reserved
// at pte_base + region index * 4096 in case the region is split later).
inline constexpr uint64_t kPdeLargePage = 1ull << 7;

inline constexpr uint32_t kBootFlagTrace = 1u << 0;        // report every syscall (kTrace)
inline constexpr uint32_t kBootFlagSyscallTrap = 1u << 1;  // app syscalls arrive as int 0x81
// Direct syscalls (kDirectSyscallOpcode) may be let through to the host: the
// loader wrote such sites (trap entry, one vCPU) and the host answers the port.
inline constexpr uint32_t kBootFlagDirectSyscalls = 1u << 3;
// The app's ring 3 runs with the host's XCR0 (kvm_pvm: CPUID and XGETBV are not
// intercepted there, so glibc uses AVX and AVX-512) while the guest's emulated
// ring 0 can run fxsave64 but not xsave64: the kernel saves and loads vector
// state through the host (kVectorState), which reads it with KVM_GET_XSAVE.
inline constexpr uint32_t kBootFlagHostVectorState = 1u << 2;

inline constexpr uint32_t kExePathMax = 256;
inline constexpr uint32_t kEntropyPoolSize = 256;
// Room the guest kernel keeps per thread for its XSAVE area: x87, SSE and AVX
// take 832 bytes, AVX-512 and PKRU 2696; the host enables (or, with
// kBootFlagHostVectorState, saves) no state that would not fit.
inline constexpr uint32_t kXsaveAreaCapacity = 2752;

// Linux's utsname fields: 64 bytes and the NUL (__NEW_UTS_LEN + 1).
inline constexpr uint32_t kHostnameMax = 65;

struct BootInfo {
  uint32_t abi_version;
  uint32_t flags;
  uint64_t memory_size;
  // Where the app's pieces are (all page-aligned, identity-mapped, ring-3 accessible).
  uint64_t image_start;
  uint64_t image_end;
  uint64_t heap_start;       // brk starts here
  uint64_t mmap_top;         // mmap hands out addresses below this, downwards
  uint64_t stack_bottom;     // lowest address of the main stack (a guard gap lies below)
  uint64_t stack_top;
  uint64_t page_tables_base; // start of the kernel-only page-table region
  uint64_t pte_base;         // PTE of address A is at pte_base + (A / kPageSize) * 8, once
                             // its 2 MiB region is split (a PDE without kPdeLargePage)
  uint64_t pde_base;         // PDE of address A is at pde_base + (A >> 21) * 8
  // Ring-3 entry.
  uint64_t entry;
  uint64_t initial_rsp;
  // Boot timestamps taken by the guest kernel (kvmclock ns), read by the host for --stats.
  uint64_t kernel_entry_ns;
  uint64_t app_entry_ns;
  char exe_path[kExePathMax];  // what readlink("/proc/self/exe") answers
  // Fresh host entropy for the app's first getrandom calls, served once each
  // byte and then wiped, so startup's getrandom costs no VM exit.
  uint8_t entropy[kEntropyPoolSize];
  // The XSAVE state the host enabled (XCR0, with CR4.OSXSAVE set), which the
  // guest kernel saves and restores with xsave64/xrstor64 at thread switches;
  // the host enables only state whose area (CPUID leaf 0xD) fits in
  // kXsaveAreaCapacity. 0 when the CPU or KVM offers no XSAVE: then
  // fxsave64/fxrstor64. With kBootFlagHostVectorState (kvm_pvm), the host's XCR0
  // instead, saved through the host.
  uint64_t xsave_features;
  // What uname(2) answers as the nodename (--hostname), NUL-terminated; empty
  // means the default, "hyperlet". Appended last: a BootInfo without it (a host
  // that does not write it) reads as zeros, the default.
  char hostname[kHostnameMax];
  // vCPUs (--cpus); 0 (a host that does not write it) means 1. Appended last.
  uint32_t cpu_count;
  // Bytes of the XSAVE area for xsave_features (CPUID leaf 0xD as the app sees
  // it), at most kXsaveAreaCapacity - 4; 0 with xsave_features 0. The guest's
  // own CPUID cannot tell it where ring 0 is emulated (kvm_pvm). Appended last.
  uint32_t xsave_size;
  // After an execve: the process's pid and its parent's (0: the run's first
  // process, pid 1), the signals it ignores and the mask it had (ExecArgs).
  // Appended last.
  uint32_t process_id;
  uint32_t parent_process_id;
  uint64_t signals_ignored;
  uint64_t signals_blocked;
  // Bytes of the app's heap and mappings that may be accessible at once
  // (--memory); the address space beyond it (memory_size) holds reservations,
  // PROT_NONE mappings, which cost no memory. 0 (a host that does not write
  // it): the address space is the only limit. Appended last.
  uint64_t memory_budget;
  // After an execve: the pending signals and signalfds the process keeps
  // (ExecArgs::carried, signalfds closed by close-on-exec dropped). Appended last.
  ExecCarried exec_carried;
};
static_assert(sizeof(BootInfo) <= kPageSize);

// ---- The kernel image's header: first bytes of the embedded kernel, at kKernelImageBase ----
inline constexpr uint64_t kKernelMagic = 0x6c656e72656b6c68ULL;  // "hlkernel"
inline constexpr uint32_t kExceptionVectors = 32;

struct KernelHeader {
  uint64_t magic;
  uint32_t abi_version;
  uint32_t reserved;
  uint64_t entry;                 // ring 0, rdi = &BootInfo; ends by entering ring 3
  uint64_t syscall_entry;         // LSTAR target (hardware syscall path)
  uint64_t syscall_trap_entry;    // IDT gate for kSyscallTrapVector (DPL 3)
  uint64_t exception_entries[kExceptionVectors];
  uint64_t preempt_entry;         // IDT gate for kPreemptVector (DPL 0: only the host injects it)
  // vCPUs other than the first (--cpus): each starts at secondary_entry in
  // ring 0 with rsp = its CpuArea's idle_stack top and rdi = its index.
  uint64_t secondary_entry;
  uint64_t syscall_entry_cpus;  // LSTAR of vCPU N > 0: this + N * kSyscallEntryStride
  uint64_t cpu_areas;           // CpuArea[kMaxCpus - 1] for vCPUs 1..
};

// CPU exception vectors the host names in its reports.
enum class Exception : uint8_t {
  kDivideError = 0,
  kDebug = 1,
  kNmi = 2,
  kBreakpoint = 3,
  kOverflow = 4,
  kBoundRange = 5,
  kInvalidOpcode = 6,
  kDeviceNotAvailable = 7,
  kDoubleFault = 8,
  kInvalidTss = 10,
  kSegmentNotPresent = 11,
  kStackFault = 12,
  kGeneralProtection = 13,
  kPageFault = 14,
  kX87Floating = 16,
  kAlignmentCheck = 17,
  kMachineCheck = 18,
  kSimdFloating = 19,
};

}  // namespace hyperlet::abi
