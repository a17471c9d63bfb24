// The signal syscalls: rt_sigaction, rt_sigprocmask (per thread), sigaltstack
// (per thread), rt_sigpending, kill, tkill, tgkill, rt_sigreturn, and what
// sends a signal (SIGPIPE after a broken pipe, a signal sent to hyperlet).
// Sending only queues the signal and sets the attention word; the return to
// ring 3 delivers it (signal_delivery.cpp: frames, handlers, default actions).
//
// A signal whose action is to terminate ends the run at once with 128 +
// signal, as a shell reports it (abort() and uncaught exceptions: 134), unless
// every thread blocks it: then it stays pending until one unblocks it.
#include <asm/signal.h>
#include <asm/unistd_64.h>
#include <linux/signal.h>

#include "../errno.h"
#include "../hypercall.h"
#include "../signal_state.h"
#include "../time.h"
#include "../user_memory.h"
#include "syscalls.h"

namespace hyperlet::kernel {

ProcessSignals process_signals;

namespace {

int32_t own_pid() { return static_cast<int32_t>(process_id()); }

constexpr uint64_t kSigsetSize = 8;
constexpr int32_t kSiUser = 0;
constexpr int32_t kSiTkill = -6;
constexpr int kMaxThreadSlots =
    1 + static_cast<int>((abi::kThreadStacksTop - abi::kThreadStacksBottom) / abi::kThreadStackSize);

// Zeroed (.bss: a single-threaded app's boot touches none of it); an
// alternate stack of size 0 is "none" (SS_DISABLE).
ThreadSignals per_thread[kMaxThreadSlots];

uint64_t watched_by_signalfds;  // syscalls/signalfd.cpp

bool ignored(uint64_t signal) {
  const uint64_t handler = process_signals.actions[signal].handler;
  return handler == kSigIgnore || (handler == kSigDefault && default_keeps_running(signal));
}

// The thread that should take a process-wide `signal` now: the current one if
// it does not block it, else a runnable one that does not, else a waiting one
// (whose wait is then interrupted). -1: every thread blocks it.
// Whether the thread in `slot` takes `signal` now: not blocked, or awaited by
// its rt_sigtimedwait.
bool takes(int slot, uint64_t signal) {
  const ThreadSignals& thread = thread_signals(slot);
  return ((thread.blocked & ~thread.waiting_for) & signal_bit(signal)) == 0;
}

int choose_thread(uint64_t signal) {
  const int self = current_thread_slot();  // -1 on an idle vCPU firing a timer
  if (self >= 0 && takes(self, signal)) return self;
  int waiting = -1;
  for (int slot = 0; slot < thread_slots_in_use(); ++slot) {
    const int state = thread_slot_state(slot);
    if (state == 0 || !takes(slot, signal)) continue;
    if (state != 3) return slot;
    if (waiting < 0) waiting = slot;
  }
  return waiting;
}

// A thread in a futex wait that must run a handler: its wait ends (EINTR, or
// restarted after the handler with SA_RESTART).
void wake_for_handler(int slot) {
  if (slot < 0) return;
  // Running on another vCPU (--cpus): interrupted there, it takes the signal on its way back to ring 3.
  if (thread_slot_state(slot) == 1) return interrupt_thread_elsewhere(slot);
  if (thread_slot_state(slot) != 3) return;
  uint64_t number = __NR_futex;
  if (interrupt_wait(thread_slot_tid(slot), -kRestartSys, &number)) {
    ThreadSignals& target = thread_signals(slot);
    target.restart_number = number;  // a futex wait, or a parked host call (read, accept...)
    target.restart_armed = true;
  }
}

// Queues `signal` for the thread in `slot` (or for the process: slot -1).
// `queued` (if given) says whether it now waits in a pending set.
int64_t send(int slot, uint64_t signal, const PendingInfo& info, bool* queued = nullptr) {
  if (queued != nullptr) *queued = false;
  if (signal > kSignalCount) return error(EINVAL);
  if (signal == 0) return 0;
  const uint64_t bit = signal_bit(signal);
  const int taker = slot >= 0 ? (takes(slot, signal) ? slot : -1) : choose_thread(signal);
  if (signal == kSigKill) hypercall_exit(128 + kSigKill, kSigKill);
  // A signal rt_sigtimedwait awaits is taken there, whatever its action.
  const bool awaited = taker >= 0 && (thread_signals(taker).waiting_for & bit) != 0;
  if (taker >= 0 && !awaited && ignored(signal)) return 0;
  if (taker >= 0 && !awaited && process_signals.actions[signal].handler == kSigDefault) {
    hypercall_exit(static_cast<int64_t>(128 + signal), static_cast<int64_t>(signal));
  }
  if (!queue_signal(slot, signal, info)) return error(EAGAIN);
  if (queued != nullptr) *queued = true;
  shared_signal_state().attention = 1;
  signalfd_signal_queued(signal);
  if (taker >= 0) wake_for_handler(taker);
  return 0;
}

}  // namespace

// SignalState.handled, read by the host: one bit per signal with an action,
// or watched by a signalfd.
void publish_handled(uint64_t signal) {
  volatile abi::SignalState& shared = shared_signal_state();
  const uint64_t bit = signal_bit(signal);
  const bool taken = process_signals.actions[signal].handler != kSigDefault || (watched_by_signalfds & bit) != 0;
  shared.handled = taken ? shared.handled | bit : shared.handled & ~bit;
  constexpr uint64_t kSigChld = 17;
  constexpr uint64_t kNoChildWait = 2;  // SA_NOCLDWAIT
  if (signal == kSigChld) {
    const KernelSigaction& action = process_signals.actions[signal];
    shared.reap_children = action.handler == kSigIgnore || (action.flags & kNoChildWait) != 0 ? 1 : 0;
  }
}

ThreadSignals& thread_signals(int slot) { return per_thread[slot]; }

void signals_after_fork() {
  process_signals.pending = 0;
  forget_all_queued();
  for (int slot = 0; slot < thread_slots_in_use(); ++slot) per_thread[slot].pending = 0;
  // Signals sent to the parent's hyperlet were the parent's.
  shared_signal_state().from_host = 0;
}
ThreadSignals& current_signals() { return per_thread[current_thread_slot()]; }

void set_signalfd_watched(uint64_t watched) {
  const uint64_t changed = watched ^ watched_by_signalfds;
  watched_by_signalfds = watched;
  for (uint64_t left = changed; left != 0; left &= left - 1) {
    publish_handled(static_cast<uint64_t>(__builtin_ctzll(left)) + 1);
  }
}

int64_t send_signal(int slot, uint64_t signal, const PendingInfo& info, bool* queued) {
  return send(slot, signal, info, queued);
}

bool signal_attention() { return shared_signal_state().attention != 0; }

void signals_thread_created(int parent_slot, int child_slot) {
  ThreadSignals& child = per_thread[child_slot];
  child = ThreadSignals{};
  forget_queued(child_slot);
  child.blocked = per_thread[parent_slot].blocked;
}

int64_t signal_interrupts_wait(uint64_t number) {
  ThreadSignals& self = current_signals();
  const uint64_t deliverable = (self.pending | process_signals.pending) & ~self.blocked;
  for (uint64_t signal = 1; signal <= kSignalCount; ++signal) {
    if ((deliverable & signal_bit(signal)) != 0 && !ignored(signal)) {
      self.restart_number = number;
      self.restart_armed = true;
      return -kRestartSys;
    }
  }
  return 0;
}

void route_pending_signals() {
  volatile abi::SignalState& shared = shared_signal_state();
  // The host ORs into from_host while other vCPUs run: taken atomically.
  if (const uint64_t from_host = __atomic_exchange_n(&shared.from_host, 0, __ATOMIC_SEQ_CST); from_host != 0) {
    const auto* infos = reinterpret_cast<const volatile abi::HostSignalInfo*>(abi::kHostSignalInfoAddr);
    for (uint64_t left = from_host; left != 0; left &= left - 1) {
      const uint64_t signal = static_cast<uint64_t>(__builtin_ctzll(left)) + 1;
      const volatile abi::HostSignalInfo& info = infos[signal - 1];
      // The host wrote it before the bit (abi::HostSignalInfo); the status is
      // siginfo's word at 24, where PendingInfo keeps a value.
      send(-1, signal, PendingInfo{info.code, info.pid, 0, 0, static_cast<uint32_t>(info.status)});
    }
  }
  // Each process-wide signal to a thread that can take it; if that thread
  // waits (in schedule(), the current one may), its wait ends.
  for (uint64_t left = process_signals.pending; left != 0; left &= left - 1) {
    wake_for_handler(choose_thread(static_cast<uint64_t>(__builtin_ctzll(left)) + 1));
  }
}

// Linux sends SIGPIPE to a writer whose pipe or stream socket has no reader left
// (not for sends with MSG_NOSIGNAL). With the default action the app ends as if
// killed by it, so `hyperlet run APP | head` ends as natively; blocked or ignored,
// the call returns EPIPE; with a handler, the handler runs and the call returns EPIPE.
int64_t after_broken_pipe(uint64_t number, const uint64_t (&args)[6], int64_t result) {
  constexpr uint64_t kSigPipe = 13;
  constexpr uint64_t kMsgNoSignal = 0x4000;
  bool raises = false;
  switch (number) {
    case __NR_write:
    case __NR_writev:
    case __NR_pwritev:
    case __NR_pwritev2:
    case __NR_sendfile:
    case __NR_splice:
    case __NR_vmsplice:
      raises = true;
      break;
    case __NR_sendto:
    case __NR_sendmmsg:
      raises = (args[3] & kMsgNoSignal) == 0;
      break;
    case __NR_sendmsg:
      raises = (args[2] & kMsgNoSignal) == 0;
      break;
    default:
      break;
  }
  if (raises) send(current_thread_slot(), kSigPipe, PendingInfo{kSiUser, own_pid(), 0, 0, 0});
  return result;
}

namespace {

// What Linux restarts after a handler with SA_RESTART (ERESTARTSYS); the rest
// (poll, epoll_wait, select, sleeps, ...) answer EINTR when a handler runs.
int64_t restart_code(uint64_t number) {
  switch (number) {
    case __NR_read:
    case __NR_readv:
    case __NR_pread64:
    case __NR_preadv:
    case __NR_write:
    case __NR_writev:
    case __NR_pwrite64:
    case __NR_pwritev:
    case __NR_accept:
    case __NR_accept4:
    case __NR_recvfrom:
    case __NR_recvmsg:
    case __NR_sendto:
    case __NR_sendmsg:
    case __NR_wait4:
    case __NR_ioctl:
    case __NR_flock:
    case __NR_fcntl:
    case __NR_openat:
    case __NR_open:
    case __NR_futex:
      return -kRestartSys;
    default:
      return -kRestartNoHand;
  }
}

}  // namespace

int64_t after_host_interrupted(uint64_t number, int64_t /*result*/) {
  ThreadSignals& self = current_signals();
  self.restart_number = number;
  self.restart_armed = true;
  // With nothing to deliver (a late kick of a signal already handled:
  // stop_signals.cpp), the return path makes the call again, as Linux never
  // answers EINTR without a handler.
  shared_signal_state().attention = 1;
  return restart_code(number);
}

int64_t parked_call_interrupted(uint64_t number, int64_t result) {
  return result == -kRestartSys ? restart_code(number) : result;
}

int64_t sys_kill(uint64_t pid, uint64_t signal) {
  const auto target = static_cast<int64_t>(pid);
  // Another process is another VM: the host signals its own children only.
  if (target > 0 && target != own_pid()) {
    const uint64_t args[6] = {pid, signal, 0, 0, 0, 0};
    return forward_to_host(__NR_kill, args);
  }
  if (target == own_pid()) return send(-1, signal, PendingInfo{kSiUser, own_pid(), 0, 0, 0});
  // A group (0: this process's; -PGID) or every process (-1): the host knows
  // the groups and reaches the other processes; it answers 1 when this one
  // is in the group too.
  if (signal > kSignalCount) return error(EINVAL);
  const uint64_t args[6] = {pid, signal, 0, 0, 0, 0};
  const int64_t result = forward_to_host(__NR_kill, args);
  if (result != 1) return result;
  return send(-1, signal, PendingInfo{kSiUser, own_pid(), 0, 0, 0});
}

int64_t sys_tgkill(uint64_t process, uint64_t thread, uint64_t signal) {
  if (static_cast<int64_t>(process) <= 0 || static_cast<int64_t>(thread) <= 0) return error(EINVAL);
  if (signal > kSignalCount) return error(EINVAL);
  const int slot = thread_slot_of(thread);
  if (process != process_id() || slot < 0) return error(ESRCH);
  return send(slot, signal, PendingInfo{kSiTkill, own_pid(), 0, 0, 0});
}

// sigqueue and pthread_sigqueue: the app's own siginfo (SI_QUEUE and its
// si_value), which Linux takes as given from a process signalling itself; a
// code that would impersonate kill or tgkill only from the sender itself.
// `self`: the target is the sender (then any si_code is allowed);
// `exists`: the target lives (else ESRCH, as Linux answers before the signal number).
int64_t queue_info(int slot, bool self, bool exists, uint64_t signal, uint64_t info) {
  struct UserSiginfo {
    int32_t signo, error, code, pad;
    int32_t pid;
    int32_t uid;
    uint64_t value;
  };
  const auto* in = user_pointer<UserSiginfo>(info);
  if (in == nullptr) return error(EFAULT);
  if ((in->code >= 0 || in->code == kSiTkill) && !self) return error(EPERM);
  if (!exists) return error(ESRCH);
  if (signal > kSignalCount) return error(EINVAL);
  return send(slot, signal, PendingInfo{in->code, in->pid, in->uid, 0, in->value});
}

int64_t sys_rt_sigqueueinfo(uint64_t pid, uint64_t signal, uint64_t info) {
  const bool self = static_cast<int32_t>(pid) == own_pid();  // a pid_t
  return queue_info(-1, self, self, signal, info);
}

int64_t sys_rt_tgsigqueueinfo(uint64_t process, uint64_t thread, uint64_t signal, uint64_t info) {
  if (static_cast<int64_t>(process) <= 0 || static_cast<int64_t>(thread) <= 0) return error(EINVAL);
  const int slot = thread_slot_of(thread);
  return queue_info(slot, thread == current_tid(), process == process_id() && slot >= 0, signal, info);
}

int64_t sys_rt_sigaction(uint64_t signal, uint64_t action, uint64_t old_action, uint64_t set_size) {
  if (set_size != kSigsetSize || signal == 0 || signal > kSignalCount) return error(EINVAL);
  if (action != 0 && (signal == kSigKill || signal == kSigStop)) return error(EINVAL);
  const KernelSigaction* in = nullptr;
  if (action != 0 && (in = user_pointer<KernelSigaction>(action)) == nullptr) return error(EFAULT);
  KernelSigaction& slot = process_signals.actions[signal];
  if (old_action != 0) {
    auto* out = user_pointer<KernelSigaction>(old_action);
    if (out == nullptr) return error(EFAULT);
    *out = slot;
  }
  if (in != nullptr) {
    slot = *in;
    slot.mask &= ~kUnblockable;
    // Linux discards a pending signal whose action becomes "ignore".
    if (ignored(signal)) discard_signal(signal);
    publish_handled(signal);
  }
  return 0;
}

int64_t sys_rt_sigprocmask(uint64_t how, uint64_t set, uint64_t old_set, uint64_t set_size) {
  if (set_size != kSigsetSize) return error(EINVAL);
  ThreadSignals& self = current_signals();
  const uint64_t* in = nullptr;
  if (set != 0 && (in = user_pointer<uint64_t>(set)) == nullptr) return error(EFAULT);
  if (old_set != 0) {
    auto* out = user_pointer<uint64_t>(old_set);
    if (out == nullptr) return error(EFAULT);
    *out = self.blocked;
  }
  if (in == nullptr) return 0;
  uint64_t blocked = self.blocked;
  switch (how) {
    case SIG_BLOCK:
      blocked |= *in;
      break;
    case SIG_UNBLOCK:
      blocked &= ~*in;
      break;
    case SIG_SETMASK:
      blocked = *in;
      break;
    default:
      return error(EINVAL);
  }
  self.blocked = blocked & ~kUnblockable;
  // What this unblocks and is pending is delivered on the way back to ring 3.
  if (((self.pending | process_signals.pending) & ~self.blocked) != 0) shared_signal_state().attention = 1;
  return 0;
}

int64_t sys_rt_sigpending(uint64_t set, uint64_t set_size) {
  if (set_size > kSigsetSize) return error(EINVAL);
  auto* out = user_pointer<uint8_t>(set, set_size);
  if (out == nullptr) return error(EFAULT);
  const ThreadSignals& self = current_signals();
  const uint64_t pending = (self.pending | process_signals.pending) & self.blocked;
  for (uint64_t i = 0; i < set_size; ++i) out[i] = static_cast<uint8_t>(pending >> (8 * i));
  return 0;
}

int64_t sys_sigaltstack(uint64_t stack, uint64_t old_stack) {
  ThreadSignals& self = current_signals();
  const SignalStack* in = nullptr;
  if (stack != 0 && (in = user_pointer<SignalStack>(stack)) == nullptr) return error(EFAULT);
  const uint64_t user_rsp = current_user_rsp();
  const SignalStack& current = self.alternate_stack;
  const bool on_stack = current.size != 0 && user_rsp > current.sp && user_rsp - current.sp <= current.size;
  if (old_stack != 0) {
    auto* out = user_pointer<SignalStack>(old_stack);
    if (out == nullptr) return error(EFAULT);
    *out = current;
    out->flags = on_stack ? SS_ONSTACK : current.size == 0 ? SS_DISABLE : current.flags;
  }
  if (in != nullptr) {
    if (on_stack) return error(EPERM);
    const int32_t mode = in->flags & ~static_cast<int32_t>(SS_AUTODISARM);
    if (mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK) return error(EINVAL);
    if (mode == SS_DISABLE) {
      self.alternate_stack = SignalStack{0, 0, 0, 0};
    } else {
      if (in->size < MINSIGSTKSZ) return error(ENOMEM);
      self.alternate_stack = SignalStack{in->sp, in->flags & static_cast<int32_t>(SS_AUTODISARM), 0, in->size};
    }
  }
  return 0;
}

// Waits with `mask` as the thread's mask until a signal it does not block is
// delivered (or ends the run); always -EINTR, the handler's frame carrying the
// mask from before, which rt_sigreturn (or, with no handler, the return path)
// puts back, as Linux's saved_sigmask.
int64_t suspend_with(uint64_t mask) {
  ThreadSignals& self = current_signals();
  self.saved_mask = self.blocked;
  self.mask_saved = true;
  self.blocked = mask & ~kUnblockable;
  for (;;) {
    uint64_t deliverable = (self.pending | process_signals.pending) & ~self.blocked;
    for (uint64_t left = deliverable; left != 0; left &= left - 1) {
      const uint64_t signal = static_cast<uint64_t>(__builtin_ctzll(left)) + 1;
      if (ignored(signal)) {  // discarded, as Linux never wakes a sleeper for it
        discard_signal(signal);
        deliverable &= ~signal_bit(signal);
      }
    }
    if (deliverable != 0) break;
    wait_for_signal();
  }
  self.restart_armed = false;
  shared_signal_state().attention = 1;
  return error(EINTR);
}

int64_t sys_rt_sigsuspend(uint64_t set, uint64_t set_size) {
  if (set_size != kSigsetSize) return error(EINVAL);
  const auto* in = user_pointer<uint64_t>(set);
  if (in == nullptr) return error(EFAULT);
  return suspend_with(*in);
}

int64_t sys_pause() { return suspend_with(current_signals().blocked); }

// sigwait, sigwaitinfo, sigtimedwait: takes a signal of `set` without running
// its handler, waiting for one (the set unblocked meanwhile, as Linux does) up
// to the relative timeout; EAGAIN when it passes, EINTR when another signal's
// handler must run.
int64_t sys_rt_sigtimedwait(uint64_t set, uint64_t info, uint64_t timeout, uint64_t set_size) {
  struct Timespec {
    int64_t seconds;
    int64_t nanoseconds;
  };
  constexpr uint64_t kSigInfoSize = 128;  // Linux's siginfo_t
  if (set_size != kSigsetSize) return error(EINVAL);
  const auto* wanted_set = user_pointer<uint64_t>(set);
  if (wanted_set == nullptr) return error(EFAULT);
  const uint64_t wanted = *wanted_set & ~kUnblockable;
  uint8_t* info_out = nullptr;
  if (info != 0 && (info_out = user_pointer<uint8_t>(info, kSigInfoSize)) == nullptr) return error(EFAULT);
  uint64_t deadline = 0;
  if (timeout != 0) {
    const auto* time = user_pointer<Timespec>(timeout);
    if (time == nullptr) return error(EFAULT);
    if (time->seconds < 0 || time->nanoseconds < 0 || time->nanoseconds >= 1'000'000'000) return error(EINVAL);
    const uint64_t seconds =
        time->seconds > (int64_t{1} << 33) ? uint64_t{1} << 33 : static_cast<uint64_t>(time->seconds);
    deadline = kvmclock_ns() + seconds * 1'000'000'000 + static_cast<uint64_t>(time->nanoseconds);
  }
  ThreadSignals& self = current_signals();
  for (bool first = true;; first = false) {
    const uint64_t ready = (self.pending | process_signals.pending) & wanted;
    if (ready != 0) {
      const uint64_t signal = static_cast<uint64_t>(__builtin_ctzll(ready)) + 1;
      const PendingInfo pending = take_signal(signal);
      update_signal_attention();
      if (info_out != nullptr) write_siginfo(info_out, signal, pending);
      return static_cast<int64_t>(signal);
    }
    // Woken for a signal outside the set: its handler runs on the way out.
    if (!first && ((self.pending | process_signals.pending) & ~self.blocked) != 0) return error(EINTR);
    if (timeout != 0 && kvmclock_ns() >= deadline) return error(EAGAIN);
    self.waiting_for = wanted;  // a signal of the set picks this thread meanwhile
    wait_for_signal(deadline);
    self.waiting_for = 0;
    self.restart_armed = false;
  }
}

// The frame is restored on the way back to ring 3 (signal_delivery.cpp), where
// every register is at hand; what this returns is overwritten there.
int64_t sys_rt_sigreturn() {
  current_signals().sigreturn_requested = true;
  shared_signal_state().attention = 1;
  return 0;
}

}  // namespace hyperlet::kernel
