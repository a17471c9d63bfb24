// The syscalls the guest kernel answers itself, one family per file. Anything not
// listed here goes to the host (host_forward.cpp), which answers -ENOSYS for what
// it does not know either.
#pragma once

#include <asm/unistd_64.h>
#include <stdint.h>

namespace hyperlet::kernel {

struct TrapFrame;      // trap_frame.h
struct ThreadSignals;  // signal_state.h

// memory.cpp
void init_memory();
// The app's memory (its budget, else the address space) and how much of it is in use.
struct MemoryUse {
  uint64_t total;
  uint64_t used;
};
MemoryUse memory_use();
int64_t sys_brk(uint64_t address);
int64_t sys_mmap(uint64_t address, uint64_t length, uint64_t prot, uint64_t flags, uint64_t fd,
                 uint64_t offset);
int64_t sys_munmap(uint64_t address, uint64_t length);
int64_t sys_mprotect(uint64_t address, uint64_t length, uint64_t prot);
int64_t sys_mremap(uint64_t old_address, uint64_t old_length, uint64_t new_length, uint64_t flags,
                   uint64_t new_address);
int64_t sys_madvise(uint64_t address, uint64_t length, uint64_t advice);
int64_t sys_msync(uint64_t address, uint64_t length, uint64_t flags);
// Whether `address` is in a MAP_SHARED mapping (a file's, or shared anonymous
// memory), which other processes may map too.
bool in_shared_mapping(uint64_t address);
// vfork (abi::VforkParentMemory): before the hypercall, in the parent; as the
// child begins, the parent's free app memory; in the parent once the child
// exec'd or ended, the child's heap end becomes its own.
void prepare_for_vfork();
void describe_free_memory_for_vfork();
void adopt_heap_of_vfork_child();

// process.cpp
int64_t sys_arch_prctl(uint64_t code, uint64_t address);
int64_t sys_prlimit64(uint64_t pid, uint64_t resource, uint64_t new_limit, uint64_t old_limit);
int64_t sys_uname(uint64_t buffer);
// system_info.cpp
int64_t sys_sysinfo(uint64_t out);
int64_t sys_sched_getaffinity(uint64_t pid, uint64_t size, uint64_t mask);
int64_t sys_sched_setaffinity(uint64_t pid, uint64_t size, uint64_t mask);
[[noreturn]] void sys_exit_group(uint64_t status);

// fork.cpp
// The app's pid (1 for the run's first process; a forked child's is its host
// process's pid) and its parent's (0 for the first).
uint32_t process_id();
uint32_t parent_process_id();
// clone without CLONE_THREAD (its arguments in `args`, the SyscallFrame's
// start), or the fork and vfork syscalls, which are clone(SIGCHLD) and
// clone(CLONE_VM | CLONE_VFORK | SIGCHLD) with no other argument.
enum class ForkCall { kClone, kFork, kVfork };
int64_t sys_fork_process(const uint64_t (&args)[6], ForkCall kind = ForkCall::kClone);

// exec.cpp
int64_t sys_execve(uint64_t path, uint64_t argv, uint64_t envp);
int64_t sys_execveat(uint64_t dirfd, uint64_t path, uint64_t argv, uint64_t envp, uint64_t flags);
// At boot after an exec: BootInfo's ignored signals, mask, pending signals
// and signalfds become the process's.
void signals_after_exec();

// threads.cpp
uint32_t current_tid();
// In a forked child: the calling thread is the process's only one, with tid
// `tid`; `clear_child_tid` as CLONE_CHILD_CLEARTID set it (0: none).
void become_only_thread(uint32_t tid, uint64_t clear_child_tid);
// A forked child of an app on several vCPUs starts on one: the calling
// thread, whichever vCPU it forked on, is vCPU 0's (its TSS and syscall
// stack); the others start again when the child's second thread appears.
// Call before become_only_thread, which reads vCPU 0's run clock.
void become_only_cpu();
void interrupt_thread_elsewhere(int slot);  // a thread running on another vCPU enters the kernel soon
uint64_t current_thread_stack_top();  // the running thread's kernel stack (its syscall frame is at the top)
int64_t sys_clone(const uint64_t (&args)[6]);  // args is the SyscallFrame's start
int64_t sys_futex(uint64_t address, uint64_t op, uint64_t value, uint64_t timeout, uint64_t address2,
                  uint64_t value3);
int64_t sys_sched_yield();
int64_t sys_set_tid_address(uint64_t address);
int64_t sys_set_robust_list(uint64_t head, uint64_t length);
[[noreturn]] void sys_exit_thread(uint64_t status);
bool thread_alive(uint64_t tid);
// The thread in `slot`, which the current one cloned, may run now: `parent` is
// the parent's user register state on its return from clone (deliver_signals),
// whose callee-saved registers the child starts with, as on Linux.
void start_cloned_thread(int slot, const TrapFrame& parent);
// Whether another app thread lives: then a forwarded call that would block is
// parked (forward_parkable) instead of blocking the vCPU.
bool other_threads_live();
// A forwarded call made while other threads live: if it would block, the host
// parks it and this thread waits in the guest, off the vCPU, until the host
// finds it ready (then the call is made again) or its timeout passes.
int64_t forward_parkable(uint64_t number, const uint64_t (&args)[6]);
// For signals: threads by their slot in the thread table (0 = the first thread).
int current_thread_slot();         // -1: none (an idle vCPU in schedule())
int thread_slot_of(uint64_t tid);  // -1: no such live thread
// CPU time (abi::VcpuRunClock): what thread `tid` (0: the caller's) has run;
// false if there is no such live thread.
bool thread_cpu_ns(uint32_t tid, uint64_t& ns);
// What all the process's threads have run, the exited ones included.
uint64_t process_cpu_ns();
int thread_slots_in_use();         // slots [0, this) may hold threads
int thread_slot_state(int slot);   // 0 free, 1 running, 2 runnable, 3 waiting, 4 starting (cloned)
uint32_t thread_slot_tid(int slot);
// Makes thread `tid`, if it waits (a futex), runnable with `result` as its
// syscall's result; false if it does not wait.
// `*number` (if given) is the syscall the thread waited in, which a restart makes again.
bool interrupt_wait(uint32_t tid, int64_t result, uint64_t* number = nullptr);
// Waits, with no futex, until interrupt_wait (a signal) ends the wait or the
// kvmclock deadline passes (-ETIMEDOUT; 0: none); meanwhile the vCPU runs other
// threads or sleeps on the host (a signal from outside may come), never ending
// the run as a deadlock.
int64_t wait_for_signal(uint64_t deadline_ns = 0);

// signals.cpp
int64_t sys_rt_sigaction(uint64_t signal, uint64_t action, uint64_t old_action, uint64_t set_size);
int64_t sys_rt_sigprocmask(uint64_t how, uint64_t set, uint64_t old_set, uint64_t set_size);
int64_t sys_sigaltstack(uint64_t stack, uint64_t old_stack);
int64_t sys_kill(uint64_t pid, uint64_t signal);
// A forwarded write-like call failed with EPIPE: SIGPIPE's default action ends
// the app (status 141); otherwise `result` goes back to it.
int64_t after_broken_pipe(uint64_t number, const uint64_t (&args)[6], int64_t result);
int64_t sys_tgkill(uint64_t process, uint64_t thread, uint64_t signal);
int64_t sys_rt_sigpending(uint64_t set, uint64_t set_size);
int64_t sys_rt_sigreturn();
int64_t sys_rt_sigsuspend(uint64_t set, uint64_t set_size);
int64_t sys_pause();
int64_t sys_rt_sigtimedwait(uint64_t set, uint64_t info, uint64_t timeout, uint64_t set_size);
int64_t sys_rt_sigqueueinfo(uint64_t pid, uint64_t signal, uint64_t info);
int64_t sys_rt_tgsigqueueinfo(uint64_t process, uint64_t thread, uint64_t signal, uint64_t info);
// A new thread (slot) inherits its creator's mask, with nothing pending and no alternate stack.
void signals_thread_created(int parent_slot, int child_slot);
// A forked child keeps the actions, masks and alternate stacks, and nothing pending.
void signals_after_fork();
// Something about signals needs looking at (abi::SignalState::attention).
bool signal_attention();
// A wait about to begin (in syscall `number`: a futex, or a parked host call)
// while a signal the thread would take is pending: the wait's result (a
// restart code), else 0.
int64_t signal_interrupts_wait(uint64_t number = __NR_futex);
// Signals pending for the process (or sent to hyperlet) that a waiting thread
// must take: interrupt its wait (schedule() calls this).
void route_pending_signals();
// A forwarded syscall the host answered EINTR: the result becomes Linux's
// internal restart code (signal delivery decides: EINTR if a handler runs,
// else the call is made again).
int64_t after_host_interrupted(uint64_t number, int64_t result);
// A parked host call a signal ended (ERESTARTSYS): Linux's code for that call
// (poll, epoll_wait, select and sleeps answer EINTR even after SA_RESTART).
int64_t parked_call_interrupted(uint64_t number, int64_t result);

// timers.cpp
int64_t sys_alarm(uint64_t seconds);
int64_t sys_setitimer(uint64_t which, uint64_t value, uint64_t old_value);
int64_t sys_getitimer(uint64_t which, uint64_t value);
int64_t sys_timer_create(uint64_t clock, uint64_t event, uint64_t id_out);
int64_t sys_timer_settime(uint64_t id, uint64_t flags, uint64_t value, uint64_t old_value);
int64_t sys_timer_gettime(uint64_t id, uint64_t value);
int64_t sys_timer_getoverrun(uint64_t id);
int64_t sys_timer_delete(uint64_t id);
// A forked child has none of its parent's timers (alarm, setitimer, timer_create).
void forget_timers();
// Sends the signals of the timers due at `now` (kvmclock ns).
void fire_due_timers(uint64_t now);
// The earliest expiry of a timer that signals (kvmclock ns; for a CPU-time
// timer the earliest moment it could be due); 0: none.
uint64_t timer_deadline();
// The same for a vCPU about to idle: with one vCPU, the wall-clock timers' only.
uint64_t timer_deadline_when_idle();
// Whether a timer that signals is armed: a single thread's host calls then park.
bool timers_armed();
// The signal of timer slot `timer - 1` was taken: it may queue another; answers its overrun.
int32_t timer_signal_taken(int32_t timer);

// sleep_restart.cpp: a relative nanosleep or clock_nanosleep notes its
// deadline as it begins; one interrupted without a handler goes on as
// restart_syscall for the time it had left.
void note_sleep_start(uint64_t number, const uint64_t (&args)[6]);
uint64_t syscall_to_restart(const ThreadSignals& self);
int64_t sys_restart_syscall();

// signalfd.cpp
int64_t sys_signalfd4(uint64_t fd, uint64_t mask, uint64_t size, uint64_t flags);
// Whether any signalfd is open: only then does the rest cost anything.
bool signalfds_open();
// exec: the open signalfds (at most `capacity`); answers the count.
uint32_t signalfds_for_exec(abi::ExecSignalfd* out, uint32_t capacity);
// Boot after an exec: the carried signalfds are signalfds again, readable
// while a signal they watch is pending.
void signalfds_after_exec(const abi::ExecSignalfd* in, uint32_t count);
// read of a signalfd: answered here (true, `result`); false: `fd` is no signalfd.
bool signalfd_read(uint64_t fd, uint64_t buffer, uint64_t length, int64_t& result);
// readv of a signalfd: the same records across the app's iovecs.
bool signalfd_readv(uint64_t fd, uint64_t iovecs, uint64_t count, int64_t& result);
// After the host answered: a dup of a signalfd (dup, dup2, dup3, fcntl F_DUPFD) is one too.
void signalfd_after_forward(uint64_t number, const uint64_t (&args)[6], int64_t result);
// Before a call goes to the host: close, dup2 and dup3 end a signalfd; poll,
// select and the epoll waits find each signalfd's host fd readable exactly
// while a signal it watches is pending.
void signalfd_before_forward(uint64_t number, const uint64_t (&args)[6]);
void signalfd_sync();

// cpu_time.cpp: the CPU-time clocks, getrusage and times
// A CPU-time clock's value (clocks::cpu_clock says which ids are); -EINVAL for
// one of no live thread of the app, or of another process.
int64_t cpu_clock_ns(uint64_t clock, int64_t& ns);
int64_t sys_getrusage(uint64_t who, uint64_t usage);
int64_t sys_times(uint64_t buffer);

// time.cpp
int64_t sys_clock_gettime(uint64_t clock, uint64_t timespec);
int64_t sys_clock_getres(uint64_t clock, uint64_t timespec);
int64_t sys_gettimeofday(uint64_t timeval, uint64_t timezone);
int64_t sys_time(uint64_t result);

// random.cpp
int64_t sys_getrandom(uint64_t buffer, uint64_t length, uint64_t flags, const uint64_t (&args)[6]);

// self_exe.cpp (readlink and readlinkat of /proc/self/exe)
int64_t sys_readlink(uint64_t number, uint64_t path, uint64_t buffer, uint64_t size,
                     const uint64_t (&args)[6]);

// host_forward.cpp
int64_t forward_to_host(uint64_t number, const uint64_t (&args)[6]);
// A host syscall the guest kernel makes for itself (not on the app's behalf):
// only these reach the fds it keeps above the app's fd limit.
int64_t kernel_call_to_host(uint64_t number, const uint64_t (&args)[6]);

// direct_forward.cpp: entry.S forwards the common I/O calls itself while no
// blocker is set; each owner of a reason sets or clears its bit as it changes.
enum class DirectForwardBlocker : uint8_t {
  kOtherThreads = 1,  // a call that would block must park (forward_parkable)
  kTimers = 2,        // likewise: a timer may fire during the call
  kSignalfds = 4,     // reads, dups and waits look at signalfds
  kCpus = 8,          // more than one vCPU: per-vCPU argument pages
};
void set_direct_forward_blocker(DirectForwardBlocker blocker, bool blocks);
// Opens or closes ring 3's direct-syscall port to match (kernel_main calls it
// once: the host writes the TSS with the port closed).
void update_direct_syscall_port();
// What dispatch does after the host answered a forwarded call (signalfd dups,
// EINTR as a restart, EPIPE as SIGPIPE).
int64_t finish_forwarded(uint64_t number, const uint64_t (&args)[6], int64_t result);
// At a kPreemptVector: a direct syscall the host answered with something to
// finish (abi::kDirectSyscallFinish) gets finish_forwarded's tail; `frame`, the
// app's state just after the `out`, becomes that call's return.
void finish_direct_syscall(TrapFrame& frame);

}  // namespace hyperlet::kernel
