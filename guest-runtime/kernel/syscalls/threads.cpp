// Threads on the one vCPU: clone with glibc's (or musl's) pthread flags, futex
// wait and wake, sched_yield, exit of one thread, gettid.
//
// A thread runs until it blocks in a futex wait, yields or exits, or until the
// host ends its time slice (10 ms, only while the app has more than one
// thread) by injecting abi::kPreemptVector, which arrives only in ring 3
// (entry.S: preempt_entry; handle_preempt below). Each thread has its own
// kernel stack (the first keeps the boot stack, the others take a slot of
// kernel-only memory at abi::kThreadStacksBottom), so a thread that blocks
// simply stays inside its syscall on its own stack. A switch saves the
// outgoing thread's callee-saved registers and rsp on its kernel stack (entry.S:
// thread_switch), its x87/SSE/AVX state and its FS base; then it points
// TSS.rsp0 and the LSTAR path's stack at the next thread's kernel stack, loads
// its FS base and vector state and returns into it. The vector state is saved
// with xsave64 (every component the host enabled in XCR0: ymm upper halves
// too) where the host set CR4.OSXSAVE (BootInfo.xsave_features; hardware KVM);
// on kvm_pvm, whose app runs with the host's XCR0 (AVX-512 included) while its
// emulated ring 0 runs fxsave64 but not xsave64, by the host in one round trip
// per switch (vector_state.h); with fxsave64 where neither. Nothing else in the kernel touches vector registers: it is
// built with -mgeneral-regs-only, so syscalls leave them as the app had them.
//
// Until the first clone none of this runs: a single-threaded app pays nothing
// on its syscalls or at boot (the thread table is .bss, never touched).
#include <linux/futex.h>
#include <linux/sched.h>

#include "../boot_info.h"
#include "../errno.h"
#include "../hypercall.h"
#include "../msr.h"
#include "../signal_state.h"
#include "../smp.h"
#include "../time.h"
#include "../trap_frame.h"
#include "../user_memory.h"
#include "../vector_state.h"
#include "syscalls.h"

extern "C" {
// entry.S
extern uint64_t current_kernel_stack_top;  // the LSTAR path's kernel stack (vCPU 0)
extern uint64_t kernel_stack_top_cpus[];   // the same for vCPU N > 0 (entry.S: syscall_entry_cpus)
void thread_switch(uint64_t* save_rsp, uint64_t next_rsp);
void thread_start();  // a new thread's first return to ring 3: gives the kernel lock back
}
static_assert(hyperlet::abi::kPreemptVector == 0x20, "entry.S: PREEMPT_VECTOR");

namespace hyperlet::kernel {

namespace {

constexpr uint64_t kTssRsp0 = abi::kTssAddr + 4;  // vCPU N's: + N * abi::kTssStride
constexpr int kMaxThreads =
    1 + static_cast<int>((abi::kThreadStacksTop - abi::kThreadStacksBottom) / abi::kThreadStackSize);
// What pthread_create passes (CLONE_DETACHED is ignored by Linux since 2.6).
constexpr uint64_t kThreadFlags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                                  CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID |
                                  CLONE_DETACHED;
constexpr uint64_t kExitSignalMask = 0xff;

// kStarting: cloned, and waits for its parent's return path to hand over the
// parent's callee-saved registers (start_cloned_thread) before it may run.
enum class State : uint32_t { kFree = 0, kRunning, kRunnable, kWaiting, kStarting };

static_assert(abi::kXsaveAreaCapacity % 64 == 0 && abi::kXsaveAreaCapacity >= 512 + 64);

struct alignas(64) Thread {
  // The XSAVE area (or the fxsave64 area, its first 512 bytes) while the
  // thread is switched out: 64-byte aligned, as xsave64 requires. Thread{}
  // zeroes its header, which xrstor64 requires of a standard-format area.
  uint8_t fpu[abi::kXsaveAreaCapacity];
  uint64_t saved_rsp;
  uint64_t kernel_stack_top;
  uint64_t fs_base;
  uint64_t clear_child_tid;
  uint64_t futex_address;
  uint64_t deadline_ns;    // kvmclock ns; meaningful when has_deadline
  int64_t wake_result;     // what the blocked syscall returns: 0, -ETIMEDOUT, or kRetryOnHost
  int64_t timeout_result;  // wake_result when the deadline passes
  uint32_t futex_bitset;
  uint32_t tid;
  State state;
  bool has_deadline;
  bool parked_on_host;  // waiting for the host to set its ready bit (a parked call)
  uint64_t waiting_in;  // the syscall a waiting thread is in (a signal's restart makes it again), or kNoSyscall
  // 1 + the vCPU whose rsp is on this thread's kernel stack (it runs there, or
  // that vCPU waits there for work after the thread blocked or exited); 0: none.
  // Only that vCPU may switch to it, and clone never reuses its slot meanwhile.
  uint32_t cpu_plus_one;
  // CPU time: what the thread ran up to when it last stopped running
  // (charge_cpu_time), and its vCPU's run clock (vcpu_run_ns) at its latest
  // switch-in; while it runs, cpu_ns_of adds the stretch since then.
  uint64_t cpu_ns;
  uint64_t run_clock_at_switch;
};

// waiting_in of a wait that restarts no syscall (wait_for_signal: its caller
// decides). Not 0, which is read's number.
constexpr uint64_t kNoSyscall = ~uint64_t{0};

// wake_result of a parked call whose waiter the host found ready: make the call again.
constexpr int64_t kRetryOnHost = INT64_MIN;

Thread threads[kMaxThreads];
// Each vCPU's thread (nullptr: a vCPU that has not run one yet, on its idle stack).
Thread* cpu_current[abi::kMaxCpus] = {&threads[0]};
uint64_t idle_saved_rsp[abi::kMaxCpus];  // where a vCPU's idle context was left (never resumed)

Thread*& current_ref() { return cpu_current[this_cpu()]; }
#define current (current_ref())
int slots_used = 1;  // threads[0, slots_used) may be in use; 1 until the first clone
int live_threads = 1;
uint32_t next_tid = 2;
bool first_exited;
uint64_t first_exit_status;
uint64_t exited_threads_cpu_ns;  // what threads whose slots clone reused had run

// What the host reads after every exit: it time-slices while live_threads > 1.
volatile abi::PreemptState& preempt_state() {
  return *reinterpret_cast<volatile abi::PreemptState*>(abi::kPreemptStateAddr);
}

// The parent's vector state for a clone child, as Linux copies it.
void save_fpu(Thread& thread) { save_vector_registers(thread.fpu); }

// CPU time: what `thread` ran on vCPU `cpu` since its switch-in goes to its
// total, when it stops running (schedule()). An exited thread's slot keeps its
// total until clone reuses the slot. Returns the run clock it read (each read
// is ~45 emulated instructions on kvm_pvm, so a switch makes one).
uint64_t charge_cpu_time(Thread& thread, uint32_t cpu) {
  const uint64_t run_clock = vcpu_run_ns(cpu);
  thread.cpu_ns += run_clock - thread.run_clock_at_switch;
  thread.run_clock_at_switch = run_clock;
  return run_clock;
}

// Runs `next` instead of the current thread; returns when the current thread
// is switched back to (an exiting thread never is).
// `run_clock`: vCPU `cpu`'s run clock when the scheduler last read it; the
// scheduler's own search for work counts for no thread.
void switch_to(Thread& next, uint64_t run_clock) {
  const uint32_t cpu = this_cpu();
  Thread* previous = cpu_current[cpu];
  next.state = State::kRunning;
  next.run_clock_at_switch = run_clock;  // also when it simply goes on: it waited meanwhile
  if (&next == previous) return;
  void* vector_save_area = nullptr;
  if (previous != nullptr && previous->state != State::kFree) {
    vector_save_area = previous->fpu;
    previous->fs_base = read_msr(kMsrFsBase);
  }
  cpu_current[cpu] = &next;
  next.cpu_plus_one = cpu + 1;
  *reinterpret_cast<volatile uint64_t*>(kTssRsp0 + cpu * abi::kTssStride) = next.kernel_stack_top;
  (cpu == 0 ? current_kernel_stack_top : kernel_stack_top_cpus[cpu]) = next.kernel_stack_top;
  write_msr(kMsrFsBase, next.fs_base);
  switch_vector_registers(vector_save_area, next.fpu);
  // Another vCPU may take `previous` once this one gives the kernel lock back,
  // which it does only on `next`'s stack.
  uint64_t* save = &idle_saved_rsp[cpu];
  if (previous != nullptr) {
    previous->cpu_plus_one = 0;
    save = &previous->saved_rsp;
  }
  thread_switch(save, next.saved_rsp);
}

// Threads whose parked calls the host found ready (PreemptState.ready_waiters)
// become runnable and make their calls again. A bit for a thread that is not
// parked (its call timed out, or it exited) is stale and means nothing.
void wake_ready_waiters() {
  for (int word = 0; word < 2; ++word) {
    uint64_t bits = 0;
    volatile uint64_t& shared = preempt_state().ready_waiters[word];
    if (shared == 0) continue;
    asm volatile("xchgq %0, %1" : "+r"(bits), "+m"(shared) : : "memory");
    for (; bits != 0; bits &= bits - 1) {
      const int slot = word * 64 + __builtin_ctzll(bits);
      if (slot >= slots_used) continue;
      Thread& thread = threads[slot];
      if (thread.state != State::kWaiting || !thread.parked_on_host) continue;
      thread.state = State::kRunnable;
      thread.wake_result = kRetryOnHost;
      kick_idle_cpus();
    }
  }
}

// Makes waiting threads whose timeout has passed runnable; answers the
// earliest deadline still ahead (0 if none).
uint64_t expire_timeouts(uint64_t now) {
  uint64_t earliest = 0;
  for (int i = 0; i < slots_used; ++i) {
    Thread& thread = threads[i];
    if (thread.state != State::kWaiting || !thread.has_deadline) continue;
    if (thread.deadline_ns <= now) {
      thread.state = State::kRunnable;
      thread.wake_result = thread.timeout_result;
      kick_idle_cpus();
    } else if (earliest == 0 || thread.deadline_ns < earliest) {
      earliest = thread.deadline_ns;
    }
  }
  return earliest;
}

// The current thread has blocked, yielded or exited (its state says which):
// run the next runnable thread, round robin. With none, sleep on the host
// until the earliest futex timeout; with no timeout either, nothing can ever
// run again, and the run ends as a deadlock instead of hanging.
void schedule() {
  const uint32_t cpu = this_cpu();
  // The current thread stops running here: its CPU time so far is counted.
  uint64_t run_clock = cpu_current[cpu] != nullptr ? charge_cpu_time(*cpu_current[cpu], cpu) : vcpu_run_ns(cpu);
  for (;;) {
    wake_ready_waiters();
    // A signal may have to wake a waiting thread (one sent to hyperlet, say).
    if (signal_attention()) route_pending_signals();
    fire_due_timers(kvmclock_ns());  // may wake a waiting thread, as a pthread_kill would
    uint64_t earliest = expire_timeouts(kvmclock_ns());
    if (const uint64_t timer = timer_deadline_when_idle(); timer != 0 && (earliest == 0 || timer < earliest)) {
      earliest = timer;
    }
    const Thread* self = cpu_current[cpu];
    const int start = self != nullptr ? static_cast<int>(self - threads) : slots_used - 1;
    bool parked_on_host = false;
    bool busy_elsewhere = false;  // another vCPU runs a thread, or is about to
    for (int step = 1; step <= slots_used; ++step) {
      Thread& candidate = threads[(start + step) % slots_used];
      const bool ours = candidate.cpu_plus_one == 0 || candidate.cpu_plus_one == cpu + 1;
      if (candidate.state == State::kRunnable && ours) return switch_to(candidate, run_clock);
      parked_on_host = parked_on_host || (candidate.state == State::kWaiting && candidate.parked_on_host);
      busy_elsewhere =
          busy_elsewhere || candidate.state == State::kRunning || (candidate.state == State::kRunnable && !ours);
    }
    if (cpu_count > 1 && (parked_on_host || earliest != 0 || busy_elsewhere)) {
      // Nothing for this vCPU now: it sleeps on the host without the lock
      // until a deadline, a parked call's readiness or another vCPU's kick.
      const uint64_t now = kvmclock_ns();
      if (earliest == 0 || earliest > now) {
        const uint64_t bit = uint64_t{1} << cpu;
        __atomic_or_fetch(&idle_cpus, bit, __ATOMIC_SEQ_CST);
        hypercall_args().sleep.nanoseconds = earliest == 0 ? abi::kSleepForever : earliest - now;
        kernel_unlock_for_idle();
        hypercall(abi::Hypercall::kSleep);
        kernel_lock_after_idle();
        run_clock = vcpu_run_ns(cpu);
        __atomic_and_fetch(&idle_cpus, ~bit, __ATOMIC_SEQ_CST);
      }
      continue;
    }
    if (parked_on_host) {
      // The host wakes us when a parked call's waiter is ready, or at the deadline.
      const uint64_t now = kvmclock_ns();
      if (earliest == 0 || earliest > now) {
        hypercall_args().sleep.nanoseconds = earliest == 0 ? abi::kSleepForever : earliest - now;
        hypercall(abi::Hypercall::kSleep);
        run_clock = vcpu_run_ns(cpu);
      }
      continue;
    }
    if (earliest == 0) {
      abi::DeadlockArgs& args = hypercall_args().deadlock;
      args.threads = static_cast<uint64_t>(live_threads);
      args.futex_address = 0;
      for (int i = 0; i < slots_used && args.futex_address == 0; ++i) {
        if (threads[i].state == State::kWaiting) args.futex_address = threads[i].futex_address;
      }
      hypercall(abi::Hypercall::kDeadlock);
      for (;;) asm volatile("hlt");
    }
    const uint64_t now = kvmclock_ns();
    if (earliest > now) {
      hypercall_args().sleep.nanoseconds = earliest - now;
      hypercall(abi::Hypercall::kSleep);
      run_clock = vcpu_run_ns(cpu);
    }
  }
}

// The running thread gives way: if another is runnable too, idle vCPUs may take one of them.
void kick_if_another_runnable() {
  if (cpu_count == 1 || idle_cpus == 0) return;
  const Thread* self = current;
  for (int i = 0; i < slots_used; ++i) {
    if (&threads[i] != self && threads[i].state == State::kRunnable) return kick_idle_cpus();
  }
}

// Wakes up to `count` threads waiting on `address` whose bitset meets `bitset`.
int64_t wake(uint64_t address, uint64_t count, uint32_t bitset) {
  int64_t woken = 0;
  for (int i = 0; i < slots_used && static_cast<uint64_t>(woken) < count; ++i) {
    Thread& thread = threads[i];
    if (thread.state == State::kWaiting && thread.futex_address == address && (thread.futex_bitset & bitset) != 0) {
      thread.state = State::kRunnable;
      thread.wake_result = 0;
      ++woken;
    }
  }
  if (woken != 0) kick_idle_cpus();
  return woken;
}

struct Timespec {
  int64_t seconds;
  int64_t nanoseconds;
};

int64_t wait(uint64_t address, uint32_t expected, uint64_t timeout, bool absolute, bool realtime, uint32_t bitset) {
  auto* word = user_pointer<uint32_t>(address);
  if (word == nullptr) return error(EFAULT);
  if (bitset == 0) return error(EINVAL);
  bool has_deadline = false;
  uint64_t deadline = 0;
  const uint64_t now = kvmclock_ns();
  if (timeout != 0) {
    const auto* time = user_pointer<Timespec>(timeout);
    if (time == nullptr) return error(EFAULT);
    if (time->seconds < 0 || time->nanoseconds < 0 || time->nanoseconds >= 1'000'000'000) {
      return error(EINVAL);
    }
    int64_t ns =
        time->seconds > (int64_t{1} << 33) ? int64_t{1} << 62 : time->seconds * 1'000'000'000 + time->nanoseconds;
    if (absolute) {
      const auto& offsets = *reinterpret_cast<const abi::VdsoData*>(abi::kVdsoDataAddr);
      ns -= realtime ? offsets.realtime_offset_ns : offsets.monotonic_offset_ns;
    } else {
      ns += static_cast<int64_t>(now);
    }
    has_deadline = true;
    deadline = ns > 0 ? static_cast<uint64_t>(ns) : 1;
  }
  if (*word != expected) return error(EAGAIN);
  if (has_deadline && deadline <= now) return error(ETIMEDOUT);
  // A signal already pending for a handler ends the wait before it starts, as on Linux.
  if (signal_attention()) {
    if (const int64_t interrupted = signal_interrupts_wait(); interrupted != 0) return interrupted;
  }
  Thread& self = *current;
  self.state = State::kWaiting;
  self.futex_address = address;
  self.futex_bitset = bitset;
  self.has_deadline = has_deadline;
  self.deadline_ns = deadline;
  self.wake_result = 0;
  self.timeout_result = error(ETIMEDOUT);
  self.parked_on_host = false;
  self.waiting_in = __NR_futex;
  schedule();
  return current->wake_result;
}

// Moves up to `count` waiters of `from` to wait on `to` instead.
int64_t requeue(uint64_t from, uint64_t to, uint64_t count) {
  int64_t moved = 0;
  for (int i = 0; i < slots_used && static_cast<uint64_t>(moved) < count; ++i) {
    Thread& thread = threads[i];
    if (thread.state == State::kWaiting && thread.futex_address == from) {
      thread.futex_address = to;
      ++moved;
    }
  }
  return moved;
}

// The first clone makes the boot thread a proper table entry.
void adopt_first_thread() {
  Thread& first = threads[0];
  first.tid = process_id();
  first.state = State::kRunning;
  first.kernel_stack_top = abi::kKernelStackTop;
  first.cpu_plus_one = this_cpu() + 1;  // called on the first thread's own stack
}

}  // namespace

int64_t sys_futex(uint64_t address, uint64_t op, uint64_t value, uint64_t timeout, uint64_t address2, uint64_t value3) {
  // As Linux: a futex word is 4-byte aligned and in the app's memory, even for
  // a wake, which never reads it.
  if ((address & (sizeof(uint32_t) - 1)) != 0) return error(EINVAL);
  if (!in_user_space(address, sizeof(uint32_t))) return error(EFAULT);
  const uint64_t command = op & FUTEX_CMD_MASK;
  const bool realtime = (op & FUTEX_CLOCK_REALTIME) != 0;
  if ((op & FUTEX_PRIVATE_FLAG) == 0 && in_shared_mapping(address)) {
    // A process-shared futex: its other waiters and wakers may be other
    // processes, that is other VMs. The host's futex on the same host pages
    // joins them (devices/shared_futexes.cpp).
    const uint64_t args[6] = {address, op, value, timeout, address2, value3};
    return forward_to_host(__NR_futex, args);  // parked while anything else may need the vCPU
  }
  switch (command) {
    case FUTEX_WAIT:
      return wait(address, static_cast<uint32_t>(value), timeout, false, false, FUTEX_BITSET_MATCH_ANY);
    case FUTEX_WAIT_BITSET:
      return wait(address, static_cast<uint32_t>(value), timeout, true, realtime, static_cast<uint32_t>(value3));
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET: {
      const uint32_t bitset = command == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY : static_cast<uint32_t>(value3);
      if (bitset == 0) return error(EINVAL);
      if (slots_used == 1) return 0;  // one thread, and it is not waiting
      return wake(address, value, bitset);
    }
    case FUTEX_CMP_REQUEUE:
    case FUTEX_REQUEUE: {
      auto* word = user_pointer<uint32_t>(address);
      if (word == nullptr || user_pointer<uint32_t>(address2) == nullptr) return error(EFAULT);
      if (command == FUTEX_CMP_REQUEUE && *word != static_cast<uint32_t>(value3)) return error(EAGAIN);
      if (slots_used == 1) return 0;
      const int64_t woken = wake(address, value, FUTEX_BITSET_MATCH_ANY);
      return woken + requeue(address, address2, timeout /* val2 */);
    }
    default:
      return error(ENOSYS);
  }
}

int64_t sys_clone(const uint64_t (&args)[6]) {
  const uint64_t flags = args[0];
  const uint64_t stack = args[1];
  const uint64_t parent_tid = args[2];
  const uint64_t child_tid = args[3];
  const uint64_t tls = args[4];
  // A new process (fork, vfork, posix_spawn) is a new VM.
  if ((flags & CLONE_THREAD) == 0) return sys_fork_process(args);
  if ((flags & CLONE_VM) == 0) return error(EINVAL);
  if ((flags & CLONE_SIGHAND) == 0 || (flags & ~(kThreadFlags | kExitSignalMask)) != 0) return error(EINVAL);
  // The child's FS base is loaded with wrmsr at its first switch.
  if ((flags & CLONE_SETTLS) != 0 && !segment_base_ok(tls)) return error(EPERM);
  uint32_t* parent_tid_word = nullptr;
  uint32_t* child_tid_word = nullptr;
  if ((flags & CLONE_PARENT_SETTID) != 0 && (parent_tid_word = user_pointer<uint32_t>(parent_tid)) == nullptr) {
    return error(EFAULT);
  }
  if ((flags & CLONE_CHILD_SETTID) != 0 && (child_tid_word = user_pointer<uint32_t>(child_tid)) == nullptr) {
    return error(EFAULT);
  }
  if (slots_used == 1) adopt_first_thread();
  int slot = 1;
  // A slot whose kernel stack a vCPU still stands on (it exited there) is not free yet.
  while (slot < kMaxThreads && (threads[slot].state != State::kFree || threads[slot].cpu_plus_one != 0)) ++slot;
  if (slot == kMaxThreads) return error(EAGAIN);
  if (slot == slots_used) ++slots_used;

  Thread& child = threads[slot];
  exited_threads_cpu_ns += child.cpu_ns;  // the slot's previous thread, if it had one
  child = Thread{};
  child.tid = next_tid++;
  child.kernel_stack_top = abi::kThreadStacksBottom + static_cast<uint64_t>(slot) * abi::kThreadStackSize;
  child.fs_base = (flags & CLONE_SETTLS) != 0 ? tls : read_msr(kMsrFsBase);
  child.clear_child_tid = (flags & CLONE_CHILD_CLEARTID) != 0 ? child_tid : 0;
  save_fpu(child);  // the child starts with the parent's SSE/x87 state

  // The child returns from this syscall in ring 3 with the parent's registers,
  // rax = 0 and the new stack, as on Linux: a copy of the parent's
  // SyscallFrame on its kernel stack, under which thread_switch finds the
  // callee-saved registers it pops and returns to entry.S's syscall_return.
  // Those (rbx, rbp, r12-r15) are the app's only once the parent's C++ has
  // returned, so the parent's return path hands them over (start_cloned_thread)
  // and the child waits in kStarting until then. Go's runtime·clone passes the
  // child's function in r12 and its m in r13.
  const auto& parent_frame = reinterpret_cast<const SyscallFrame&>(args);
  auto* frame = reinterpret_cast<SyscallFrame*>(child.kernel_stack_top - sizeof(SyscallFrame));
  *frame = parent_frame;
  frame->rax = 0;
  if (stack != 0) frame->rsp = stack;
  auto* words = reinterpret_cast<uint64_t*>(frame);
  words[-1] = reinterpret_cast<uint64_t>(&thread_start);
  for (int i = 2; i <= 7; ++i) words[-i] = 0;
  child.saved_rsp = reinterpret_cast<uint64_t>(&words[-7]);

  const int parent_slot = static_cast<int>(current - threads);
  signals_thread_created(parent_slot, slot);
  if (parent_tid_word != nullptr) *parent_tid_word = child.tid;
  if (child_tid_word != nullptr) *child_tid_word = child.tid;
  child.state = State::kStarting;
  thread_signals(parent_slot).child_awaiting_registers = slot + 1;
  shared_signal_state().attention = 1;  // the parent's return path calls deliver_signals
  ++live_threads;
  preempt_state().live_threads = static_cast<uint32_t>(live_threads);
  set_direct_forward_blocker(DirectForwardBlocker::kOtherThreads, true);
  // The host learns of a second thread only at an exit, and a clone makes
  // none: one hypercall when time slices must begin.
  if (live_threads == 2) hypercall(abi::Hypercall::kThreadsStarted);
  return child.tid;
}

bool other_threads_live() { return live_threads > 1; }

void become_only_thread(uint32_t tid, uint64_t clear_child_tid) {
  Thread* self = current;
  for (int slot = 0; slot < slots_used; ++slot) {
    if (&threads[slot] == self) continue;
    threads[slot].state = State::kFree;
    threads[slot].cpu_plus_one = 0;
  }
  // Before the first clone the boot thread is not in the table yet: current_tid()
  // answers process_id() for it.
  if (self->state != State::kFree) self->tid = tid;
  self->clear_child_tid = clear_child_tid;
  self->futex_address = 0;
  // A new process starts with no CPU time: the host restarted every run clock
  // (abi::VcpuRunClock) at the fork, so all this vCPU's clock will count is the child's.
  for (int slot = 0; slot < slots_used; ++slot) threads[slot].cpu_ns = 0;
  exited_threads_cpu_ns = 0;
  forget_vcpu_run_clocks(cpu_count);
  self->run_clock_at_switch = 0;
  live_threads = 1;
  first_exited = false;
  preempt_state().live_threads = 1;
  set_direct_forward_blocker(DirectForwardBlocker::kOtherThreads, false);
}

void become_only_cpu() {
  if (cpu_count == 1) return;
  const uint32_t forked_on = this_cpu();
  Thread* self = current;  // found through the vCPU it forked on
  for (Thread*& running : cpu_current) running = nullptr;
  cpu_current[0] = self;
  for (int slot = 0; slot < slots_used; ++slot) threads[slot].cpu_plus_one = 0;
  self->cpu_plus_one = 1;
  forget_other_cpus(forked_on);
  // The host gave this vCPU vCPU 0's TSS and LSTAR stub: their kernel stack is this thread's.
  const uint64_t stack_top = current_thread_stack_top();
  *reinterpret_cast<volatile uint64_t*>(kTssRsp0) = stack_top;
  current_kernel_stack_top = stack_top;
}

void start_cloned_thread(int slot, const TrapFrame& parent) {
  Thread& child = threads[slot];
  if (child.state != State::kStarting) return;
  // thread_switch pops r15, r14, r13, r12, rbp, rbx from saved_rsp upward (entry.S).
  auto* words = reinterpret_cast<uint64_t*>(child.saved_rsp);
  words[0] = parent.r15;
  words[1] = parent.r14;
  words[2] = parent.r13;
  words[3] = parent.r12;
  words[4] = parent.rbp;
  words[5] = parent.rbx;
  child.state = State::kRunnable;
  kick_idle_cpus();
}

namespace {

// A relative nanosleep or clock_nanosleep that a signal ends writes the time
// it had left, as Linux's does.
void sleep_time_left(uint64_t number, const uint64_t (&args)[6], uint64_t deadline) {
  constexpr uint64_t kTimerAbstime = 1;
  uint64_t remaining = 0;
  if (number == __NR_nanosleep) remaining = args[1];
  if (number == __NR_clock_nanosleep && (args[1] & kTimerAbstime) == 0) remaining = args[3];
  if (remaining == 0 || deadline == 0) return;
  auto* out = user_pointer<Timespec>(remaining);
  if (out == nullptr) return;
  const uint64_t now = kvmclock_ns();
  const uint64_t left = deadline > now ? deadline - now : 0;
  *out = Timespec{static_cast<int64_t>(left / 1'000'000'000), static_cast<int64_t>(left % 1'000'000'000)};
}

}  // namespace

int64_t forward_parkable(uint64_t number, const uint64_t (&args)[6]) {
  // One thread parks too while a timer is armed or a signal waits: its table entry now.
  if (slots_used == 1 && threads[0].state == State::kFree) adopt_first_thread();
  Thread& self = *current;
  bool has_deadline = false;
  uint64_t deadline = 0;
  int64_t timeout_result = 0;
  for (;;) {
    abi::ParkableSyscallArgs& call = hypercall_args().parkable;
    call.call.number = number;
    for (int i = 0; i < 6; ++i) call.call.args[i] = args[i];
    call.waiter = static_cast<uint32_t>(&self - threads);
    call.host_watches = 0;
    call.timeout_ns = 0;
    call.timeout_result = 0;
    hypercall(abi::Hypercall::kParkableSyscall);
    if (call.call.result != abi::kParked) return call.call.result;
    // The deadline counts from the first time the call parked, however often
    // a wake-up turns out early and the call parks again.
    const uint64_t now = kvmclock_ns();
    if (!has_deadline && call.timeout_ns != 0) {
      has_deadline = true;
      deadline = now + call.timeout_ns;
      timeout_result = call.timeout_result;
    }
    if (has_deadline && deadline <= now) return timeout_result;
    // A signal already pending for a handler ends the wait before it starts (EINTR,
    // or the call made again after the handler with SA_RESTART).
    if (signal_attention()) {
      if (const int64_t interrupted = signal_interrupts_wait(number); interrupted != 0) {
        sleep_time_left(number, args, has_deadline ? deadline : 0);
        return parked_call_interrupted(number, interrupted);
      }
    }
    self.state = State::kWaiting;
    self.futex_address = 0;
    self.futex_bitset = 0;  // no futex wake matches it
    self.waiting_in = number;
    self.parked_on_host = call.host_watches != 0;
    self.has_deadline = has_deadline;
    self.deadline_ns = deadline;
    self.timeout_result = timeout_result;
    self.wake_result = kRetryOnHost;
    schedule();
    self.parked_on_host = false;
    if (self.wake_result == kRetryOnHost) continue;
    if (self.wake_result == timeout_result) return timeout_result;
    sleep_time_left(number, args, has_deadline ? deadline : 0);
    return parked_call_interrupted(number, self.wake_result);
  }
}

int64_t sys_sched_yield() {
  if (slots_used == 1) return 0;
  current->state = State::kRunnable;
  kick_if_another_runnable();
  schedule();
  return 0;
}

int64_t sys_set_tid_address(uint64_t address) {
  current->clear_child_tid = address;
  return current_tid();
}

void interrupt_thread_elsewhere(int slot) {
  if (cpu_count == 1) return;
  const Thread& thread = threads[slot];
  if (thread.state != State::kRunning || thread.cpu_plus_one == 0 || thread.cpu_plus_one == this_cpu() + 1) return;
  // The host injects kPreemptVector there (as for a TLB shootdown); the way
  // back to ring 3 looks at the signal attention word.
  hypercall_args().cpus.cpus = uint64_t{1} << (thread.cpu_plus_one - 1);
  hypercall(abi::Hypercall::kShootdown);
}

uint32_t current_tid() {
  const Thread* self = current;  // none on an idle vCPU (a timer fired in schedule())
  const uint32_t tid = self != nullptr ? self->tid : 0;
  return tid != 0 ? tid : process_id();  // the first thread's tid is the pid, in the table or not yet
}

uint64_t current_thread_stack_top() {
  const uint64_t top = current->kernel_stack_top;
  return top != 0 ? top : abi::kKernelStackTop;
}

uint32_t this_cpu() {
  if (cpu_count == 1) return 0;
  uint64_t rsp;
  asm volatile("mov %%rsp, %0" : "=r"(rsp));
  if (rsp >= abi::kThreadStacksBottom && rsp < abi::kThreadStacksTop) {
    const uint32_t plus_one = threads[1 + (rsp - abi::kThreadStacksBottom) / abi::kThreadStackSize].cpu_plus_one;
    return plus_one - 1;
  }
  if (rsp >= abi::kKernelStackBottom && rsp < abi::kKernelStackTop) {
    const uint32_t plus_one = threads[0].cpu_plus_one;
    return plus_one != 0 ? plus_one - 1 : 0;  // before the first clone: the boot vCPU
  }
  const uint64_t areas = reinterpret_cast<uint64_t>(&cpu_areas[0]);
  if (rsp > areas && rsp <= areas + (abi::kMaxCpus - 1) * sizeof(abi::CpuArea)) {
    return 1 + static_cast<uint32_t>((rsp - 1 - areas) / sizeof(abi::CpuArea));
  }
  return 0;  // vCPU 0's fault stack
}

// No list is kept: nothing walks one when a thread ends (robust mutexes'
// owner-died recovery is not built), so only Linux's size check shows. The host
// answers the same from ring 3 (devices/robust_list.cpp).
int64_t sys_set_robust_list(uint64_t, uint64_t length) {
  if (length != 24) return error(EINVAL);  // sizeof(struct robust_list_head)
  return 0;
}

bool thread_alive(uint64_t tid) {
  if (tid == current_tid()) return true;
  for (int i = 0; i < slots_used; ++i) {
    if (threads[i].state != State::kFree && threads[i].tid == tid) return true;
  }
  return false;
}

// Signals (syscalls/signals.cpp, signal_delivery.cpp) keep per-thread state by slot.
int current_thread_slot() {
  const Thread* self = current;
  return self != nullptr ? static_cast<int>(self - threads) : -1;  // -1: an idle vCPU (schedule())
}

int thread_slot_of(uint64_t tid) {
  if (current != nullptr && tid == current_tid()) return current_thread_slot();
  for (int i = 0; i < slots_used; ++i) {
    if (threads[i].state != State::kFree && threads[i].tid == tid) return i;
  }
  return -1;
}

int thread_slots_in_use() { return slots_used; }

int thread_slot_state(int slot) {
  if (slots_used == 1 && threads[0].state == State::kFree) {  // before the first clone (or wait_for_signal)
    return static_cast<int>(slot == 0 ? State::kRunning : State::kFree);
  }
  return static_cast<int>(threads[slot].state);
}

uint32_t thread_slot_tid(int slot) { return slot == current_thread_slot() ? current_tid() : threads[slot].tid; }

namespace {

// What `thread` ran: its total, plus the stretch since its switch-in while it
// runs on a vCPU now. The boot thread runs before the first clone made it a
// table entry (kFree then); a thread in schedule() has stopped running.
uint64_t cpu_ns_of(const Thread& thread) {
  const bool boot_thread_alone = slots_used == 1 && &thread == &threads[0] && thread.state == State::kFree;
  if (thread.state != State::kRunning && !boot_thread_alone) return thread.cpu_ns;
  for (uint32_t cpu = 0; cpu < cpu_count; ++cpu) {
    if (cpu_current[cpu] != &thread) continue;
    return thread.cpu_ns + (vcpu_run_ns(cpu) - thread.run_clock_at_switch);
  }
  return thread.cpu_ns;
}

}  // namespace

bool thread_cpu_ns(uint32_t tid, uint64_t& ns) {
  const Thread* self = current;
  if (tid == 0 || tid == current_tid()) {
    if (self == nullptr) return false;  // an idle vCPU has no thread
    ns = cpu_ns_of(*self);
    return true;
  }
  const int slot = thread_slot_of(tid);
  if (slot < 0) return false;
  ns = cpu_ns_of(threads[slot]);
  return true;
}

uint64_t process_cpu_ns() {
  uint64_t total = exited_threads_cpu_ns;
  for (int slot = 0; slot < slots_used; ++slot) total += cpu_ns_of(threads[slot]);
  return total;
}

int64_t wait_for_signal(uint64_t deadline_ns) {
  if (threads[0].state == State::kFree) adopt_first_thread();
  Thread& self = *current;
  self.state = State::kWaiting;
  self.futex_address = 0;
  self.futex_bitset = 0;  // no futex wake matches it
  // Always a deadline (by default never reached): with no thread runnable the
  // vCPU sleeps on the host, where a signal may come from, instead of "deadlock".
  self.has_deadline = true;
  self.deadline_ns = deadline_ns != 0 ? deadline_ns : ~uint64_t{0} >> 2;
  self.wake_result = 0;
  self.timeout_result = error(ETIMEDOUT);
  self.parked_on_host = false;
  self.waiting_in = kNoSyscall;
  schedule();
  return current->wake_result;
}

bool interrupt_wait(uint32_t tid, int64_t result, uint64_t* number) {
  for (int i = 0; i < slots_used; ++i) {
    Thread& thread = threads[i];
    if (thread.state == State::kWaiting && thread.tid == tid) {
      // A parked host call's waiter stays registered with the host: a later
      // ready bit for it is stale and ignored (it no longer waits on the host).
      thread.state = State::kRunnable;
      thread.wake_result = result;
      thread.parked_on_host = false;
      if (number != nullptr && thread.waiting_in != kNoSyscall) *number = thread.waiting_in;
      kick_idle_cpus();
      return true;
    }
  }
  return false;
}

void sys_exit_thread(uint64_t status) {
  if (live_threads == 1) sys_exit_group(first_exited ? first_exit_status : status);
  Thread& self = *current;
  // pthread_join waits for this word to become 0 (CLONE_CHILD_CLEARTID).
  if (auto* word = user_pointer<uint32_t>(self.clear_child_tid); word != nullptr) {
    *word = 0;
    wake(self.clear_child_tid, 1, FUTEX_BITSET_MATCH_ANY);
  }
  if (&self == &threads[0]) {
    // As in Linux, the process's exit status is then its first thread's.
    first_exited = true;
    first_exit_status = status;
  }
  // Its kernel stack stays in use until the switch below, and nothing can take
  // the slot before then: no interrupts in ring 0, and clone skips a slot whose
  // stack a vCPU stands on (cpu_plus_one).
  self.state = State::kFree;
  --live_threads;
  preempt_state().live_threads = static_cast<uint32_t>(live_threads);
  set_direct_forward_blocker(DirectForwardBlocker::kOtherThreads, live_threads > 1);
  schedule();
  for (;;) asm volatile("hlt");
}

}  // namespace hyperlet::kernel

// entry.S: preempt_entry, on the interrupted thread's kernel stack, interrupts
// off. The thread's user registers are in `frame`, its SSE state still in the
// CPU (switch_to saves it), so it becomes runnable and the next runnable
// thread, round robin, runs; with none other, this one simply continues.
extern "C" void handle_preempt(hyperlet::kernel::TrapFrame* frame) {
  using namespace hyperlet::kernel;
  const KernelLockGuard lock;  // (its TLB flush is what a shootdown's interrupt is for)
  preempt_state().preemptions = preempt_state().preemptions + 1;
  finish_direct_syscall(*frame);  // the host's interrupt may be for that
  // The host interrupts at a timer's expiry too (PreemptState.timer_deadline_ns).
  if (timer_deadline() != 0) fire_due_timers(kvmclock_ns());
  if (slots_used == 1) return;  // no thread was ever made: nothing else to run
  // A slice end, or the host found a parked call ready: either way the next
  // runnable thread, round robin, gets the vCPU (schedule() wakes the ready ones).
  if (live_threads <= 1 && preempt_state().ready_waiters[0] == 0 && preempt_state().ready_waiters[1] == 0) return;
  current->state = State::kRunnable;
  kick_if_another_runnable();  // another vCPU may take this one if it runs another
  schedule();                  // returns when this thread is switched back to
}

// entry.S: secondary_entry. vCPU `cpu` > 0 starts here on its idle stack, in
// ring 0, when the app's second thread appears; it waits for a runnable thread
// and never comes back to this stack.
extern "C" [[noreturn]] void secondary_main(uint64_t cpu) {
  using namespace hyperlet::kernel;
  cpu_count = boot_info().cpu_count;
  kernel_lock();
  cpu_current[cpu] = nullptr;
  schedule();
  for (;;) asm volatile("hlt");
}
